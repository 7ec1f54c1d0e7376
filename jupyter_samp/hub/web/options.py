"""The Web Profile options of the ``jupyter-samp hub`` command."""

from __future__ import annotations

import argparse
from typing import Any

from jupyter_samp.core.restrictions import DEFAULT_SAFE_MTYPES
from jupyter_samp.hub.web.prompt import choose_consent
from jupyter_samp.hub.web.server import DEFAULT_WEB_PORT
from jupyter_samp.hub.web.translator import DEFAULT_MAX_SIZE, DEFAULT_TIME_LIMIT


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``--web-profile``, ``--web-port``, ``--web-consent`` and friends."""
    group = parser.add_argument_group("Web Profile (browser pages)")
    group.add_argument(
        "--web-profile", action=argparse.BooleanOptionalAction, default=True,
        help="serve the Web Profile for browser pages (default: on)",
    )
    group.add_argument(
        "--web-port", type=int, default=DEFAULT_WEB_PORT, metavar="PORT",
        help=f"Web Profile port (default {DEFAULT_WEB_PORT}, the standard one)",
    )
    group.add_argument(
        "--web-consent", choices=("prompt", "deny", "accept", "samp"), default=None,
        help="how to answer a web page that asks to register: ask on this terminal, "
        "refuse, accept without asking (unsafe: for tests only), or ask a connected "
        "client that subscribes to x-jupyter-samp.web.consent (a notebook). "
        "Default: prompt if standard input is a terminal, else deny",
    )
    group.add_argument(
        "--web-consent-timeout", type=float, default=120.0, metavar="SECONDS",
        help="refuse a registration nobody answered within this time (default 120)",
    )
    group.add_argument(
        "--web-idle-timeout", type=float, default=600.0, metavar="SECONDS",
        help="unregister a web page that made no request for this long (default 600)",
    )
    group.add_argument(
        "--web-translator-max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="BYTES",
        help="largest resource the URL translator passes to a web page "
        f"(default {DEFAULT_MAX_SIZE}, 1 GiB)",
    )
    group.add_argument(
        "--web-translator-time-limit", type=float, default=DEFAULT_TIME_LIMIT,
        metavar="SECONDS",
        help=f"longest time one URL translation may take (default {DEFAULT_TIME_LIMIT:g})",
    )
    group.add_argument(
        "--web-mtype", action="append", default=[], metavar="PATTERN",
        help="also let web pages send MTypes matching PATTERN (repeatable)",
    )


def web_hub_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~jupyter_samp.hub.Hub` keyword arguments for the parsed options."""
    if args.web_consent == "accept":
        print("jupyter-samp hub: WARNING: every web page that asks will be registered "
              "without asking you (--web-consent accept)", flush=True)
    return {
        "web_profile": args.web_profile,
        "web_port": args.web_port,
        "web_consent": "samp" if args.web_consent == "samp" else choose_consent(args.web_consent),
        "web_consent_timeout": args.web_consent_timeout,
        "web_idle_timeout": args.web_idle_timeout,
        "web_mtypes": (*DEFAULT_SAFE_MTYPES, *args.web_mtype),
        "web_translator_max_size": args.web_translator_max_size,
        "web_translator_time_limit": args.web_translator_time_limit,
    }
