"""Run astropy's SAMP hub (pyvo.samp's copy if installed) with its Web Profile on.

A stand-alone helper of ``bench_web.py``: registrations through the Web
Profile are accepted without asking (its terminal consent dialog is replaced
by one that always says yes). It writes the lockfile it is given, serves the
Web Profile on port 21012, and stops when it gets SIGTERM or SIGINT::

    python _astropy_web_hub.py --lockfile /tmp/x/samp-hub.lock
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from types import ModuleType
from typing import Any


def _hub_module() -> ModuleType:
    try:
        import pyvo.samp.hub as module
    except ImportError:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*astropy\.samp.*deprecated.*")
            import astropy.samp.hub as module
    return module


def _accept(request: Any, answers: Any) -> None:
    """The consent dialog, answering yes to every request."""
    answers.put(True)


def main(argv: list[str] | None = None) -> int:
    """Start the hub, wait for a signal, stop the hub."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lockfile", required=True)
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    module = _hub_module()
    # the hub thread looks the dialog up in its module at each request
    setattr(module, "web_profile_text_dialog", _accept)  # noqa: B010
    hub = module.SAMPHubServer(web_profile=True, lockfile=args.lockfile, mode="single")
    hub.start(wait=False)
    print("ready", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
