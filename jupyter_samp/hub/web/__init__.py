"""The SAMP Web Profile: browser pages as (restricted) SAMP clients.

Modules, one job each:

``profile``     the ``samp.webhub.*`` methods, consent, long polls, idle eviction
``callbacks``   the per-client callback queue and its long poll
``clients``     transport state of each web client
``consent``     the consent request, :func:`accept_all`, :func:`deny_all`, timeouts
``prompt``      asking for consent on the terminal
``cors``        loopback-only access, Host check, CORS headers, policy files
``urltracker``  which URLs each web client may have translated
``translator``  the URL translator (``/proxied/<token>?<url>``)
``server``      the HTTP server tying them together
"""

from jupyter_samp.hub.web.consent import Consent, WebRegistration, accept_all, deny_all
from jupyter_samp.hub.web.prompt import TerminalPrompt
from jupyter_samp.hub.web.server import DEFAULT_WEB_PORT, WebProfileServer

__all__ = [
    "DEFAULT_WEB_PORT",
    "Consent",
    "TerminalPrompt",
    "WebProfileServer",
    "WebRegistration",
    "accept_all",
    "deny_all",
]
