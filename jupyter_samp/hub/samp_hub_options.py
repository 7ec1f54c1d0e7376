"""astropy's ``samp_hub`` options on ``jupyter-samp hub``, so its command lines run unchanged.

``-f``, ``-d``, ``-p``, ``-t``, ``-c``, ``-l`` and ``-L`` are short names of our
own options (declared in :mod:`jupyter_samp.hub.command`); here are the rest:
``-k/--secret``, ``-w`` (``--no-web-profile``), ``-P/--pool-size`` (accepted,
our hub pools its connections itself), ``-O/--log-output`` and ``-m/--multi``.
As in ``samp_hub``, a timeout of 0 means "none".
"""

from __future__ import annotations

import argparse
import logging

#: ``--log-level`` values: ours and samp_hub's (any case).
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: Our default for ``--client-timeout`` (samp_hub's default, 0, means "no limit").
DEFAULT_CLIENT_TIMEOUT = 30.0


def add_samp_hub_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the samp_hub options that have no counterpart among ours."""
    group = parser.add_argument_group("samp_hub compatibility")
    group.add_argument("-k", "--secret", metavar="CODE",
                       help="the samp.secret clients register with (default: random)")
    group.add_argument("-w", dest="web_profile", action="store_false",
                       help="same as --no-web-profile")
    group.add_argument("-P", "--pool-size", type=int, default=20, metavar="SIZE",
                       help="accepted for samp_hub compatibility; has no effect")
    group.add_argument("-O", "--log-output", default="", metavar="FILE",
                       help="write the log to FILE instead of standard error")
    group.add_argument("-m", "--multi", dest="mode", action="store_const", const="multiple",
                       help="same as --mode multiple")


def log_level(text: str) -> str:
    """A ``--log-level`` value in any case (``INFO`` as samp_hub writes it, or ``info``)."""
    return text.lower()


def configure_logging(args: argparse.Namespace) -> None:
    """Log at ``--log-level`` to standard error, or to ``--log-output`` if given."""
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        filename=args.log_output or None,
    )


def idle_timeout(args: argparse.Namespace) -> float | None:
    """``--timeout``, where 0 (samp_hub's default) means none."""
    return args.timeout if args.timeout else None


def client_timeout(args: argparse.Namespace) -> float:
    """``--client-timeout``, where 0 (samp_hub's default) means our default."""
    return args.client_timeout if args.client_timeout else DEFAULT_CLIENT_TIMEOUT
