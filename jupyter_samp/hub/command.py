"""``jupyter-samp hub``: run a stand-alone hub until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from jupyter_samp.errors import HubAlreadyRunningError
from jupyter_samp.hub.hub import Hub
from jupyter_samp.hub.samp_hub_options import (
    LOG_LEVELS,
    add_samp_hub_arguments,
    client_timeout,
    configure_logging,
    idle_timeout,
    log_level,
)
from jupyter_samp.hub.web.options import add_web_arguments, web_hub_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the hub command's options on ``parser``."""
    parser.add_argument("-f", "--lockfile", help="where to write the hub record (default: ~/.samp)")
    parser.add_argument("-d", "--addr", default="127.0.0.1", help="address to listen on")
    parser.add_argument("-p", "--port", type=int, default=0, help="XML-RPC port (0: any free port)")
    parser.add_argument(
        "-t", "--timeout", type=float, default=None, metavar="SECONDS",
        help="stop after this many seconds with no client registered",
    )
    parser.add_argument(
        "-c", "--client-timeout", type=float, default=30.0, metavar="SECONDS",
        help="how long a client may take to accept a message (default 30)",
    )
    parser.add_argument(
        "--mode", choices=("single", "multiple"), default="single",
        help="single: ~/.samp; multiple: a new ~/.samp-1/samp-hub-<id>",
    )
    parser.add_argument("-l", "--label", help="a label for this hub, written to its record")
    parser.add_argument(
        "-L", "--log-level", default="info", type=log_level,
        choices=LOG_LEVELS, help="how much to log",
    )
    add_web_arguments(parser)
    add_samp_hub_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the hub with parsed ``args``; return the process exit status."""
    configure_logging(args)
    hub = Hub(
        lockfile=args.lockfile,
        addr=args.addr,
        port=args.port,
        mode=args.mode,
        idle_timeout=idle_timeout(args),
        client_timeout=client_timeout(args),
        label=args.label,
        secret=args.secret,
        **web_hub_options(args),
    )
    try:
        asyncio.run(_serve(hub))
    except HubAlreadyRunningError as exc:
        print(f"jupyter-samp hub: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"jupyter-samp hub: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(hub: Hub) -> None:
    await hub.start()
    # Handle signals before saying we are ready, so a signal sent as soon as
    # the address is printed still stops the hub cleanly.
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()  # keep a reference: tasks are weakly held

    def stop() -> None:
        task = loop.create_task(hub.stop())
        stopping.add(task)
        task.add_done_callback(stopping.discard)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    print(f"SAMP hub listening at {hub.url}", flush=True)
    print(f"SAMP_HUB={hub.env_value}", flush=True)
    await hub.wait_stopped()
