"""Run astropy's SAMP hub (from pyvo.samp, else astropy.samp) until SIGTERM or SIGINT.

A stand-alone script (it imports nothing from jupyter_samp) that
:func:`jupyter_samp.testing.peers.astropy_hub` runs in a subprocess::

    python _astropy_hub.py --lockfile /tmp/x/samp-hub.lock

It writes the lockfile it is given (Standard Profile only, no Web Profile),
prints ``ready`` once the hub runs, and stops the hub (which removes the
lockfile) when it is signalled.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from typing import Any


def _hub_class() -> Any:
    try:
        from pyvo.samp import SAMPHubServer
    except ImportError:
        with warnings.catch_warnings():
            # astropy 8 deprecates astropy.samp in favour of pyvo.samp; older
            # astropy versions do not have the class, hence the message filter.
            warnings.filterwarnings("ignore", message=r".*astropy\.samp.*deprecated.*")
            from astropy.samp import SAMPHubServer
    return SAMPHubServer


def main(argv: list[str] | None = None) -> int:
    """Start the hub, wait for a signal, stop the hub."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lockfile", required=True)
    parser.add_argument("--addr", default="127.0.0.1")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    hub = _hub_class()(web_profile=False, lockfile=args.lockfile, mode="single", addr=args.addr)
    hub.start(wait=False)
    print(f"ready {hub.params.get('samp.hub.xmlrpc.url', '')}", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        hub.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
