"""The ``jupyter-samp`` command (also reachable as ``jupyter samp``)."""

from __future__ import annotations

import argparse
import sys

from jupyter_samp._version import __version__
from jupyter_samp.hub import command as hub_command


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``jupyter-samp`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="jupyter-samp", description="SAMP hub, client and Jupyter tools."
    )
    parser.add_argument("--version", action="version", version=f"jupyter_samp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    hub = commands.add_parser("hub", help="run a SAMP hub until interrupted")
    hub_command.add_arguments(hub)
    hub.set_defaults(run=hub_command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the chosen subcommand."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
