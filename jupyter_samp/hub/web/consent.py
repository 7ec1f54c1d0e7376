"""Asking the user before a web page may register with the hub.

Any page the user visits can try to register, so the hub registers a Web
Profile client only after the user agrees. *How* to ask is injected: a
consent callable is ``async def consent(request: WebRegistration) -> bool``.
It is awaited on the event loop, so other clients carry on while it waits;
:func:`ask` turns a timeout or an error into a refusal.

Provided here: :func:`deny_all` (the default of :class:`~jupyter_samp.hub.Hub`)
and :func:`accept_all` (for tests only). :mod:`jupyter_samp.hub.web.prompt`
asks on the terminal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger("jupyter_samp.hub.web")

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Longest text shown for any field of a request; the rest is cut.
MAX_SHOWN = 200


@dataclass(frozen=True)
class WebRegistration:
    """A web page asking to register: what the user is shown before deciding.

    Attributes
    ----------
    name : str
        The ``samp.name`` the page claims. Self-declared: it proves nothing.
    origin : str or None
        The ``Origin`` header of the request (the page's scheme://host:port).
    referer : str or None
        The ``Referer`` header: the URL of the page, when the browser sends it.
    mismatch : bool
        True if both headers are present and the Referer's origin differs
        from the Origin, which looks suspicious.
    address : str or None
        Peer address of the request (always a loopback address).
    """

    name: str
    origin: str | None = None
    referer: str | None = None
    mismatch: bool = False
    address: str | None = None

    @classmethod
    def from_headers(
        cls, name: str, origin: str | None, referer: str | None, address: str | None = None
    ) -> WebRegistration:
        """Build a request, working out the Origin/Referer mismatch flag."""
        mismatch = bool(origin and referer and url_origin(referer) != origin.strip().lower())
        return cls(name, origin, referer, mismatch, address)

    def describe(self) -> list[str]:
        """The lines to show the user, with every field made safe to print."""
        lines = [
            "A web page asks to register with the SAMP hub.",
            f"    Name:   {printable(self.name)}",
            f"    Origin: {printable(self.origin) if self.origin else '(undeclared)'}",
            f"    URL:    {printable(self.referer) if self.referer else '(undeclared)'}",
        ]
        if self.mismatch:
            lines.append("    WARNING: Origin/Referer header mismatch! This looks suspicious.")
        lines += [
            "If you allow it, the page can exchange messages with your SAMP applications",
            "and may be able to read local files and other resources they show it.",
            "Allow only if you have just done something in a trusted web page that should",
            "connect to SAMP.",
        ]
        return lines


def printable(text: str) -> str:
    """Escape control characters and cut long text, so a name cannot fake prompt lines."""
    shown = text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."
    return shown.encode("ascii", "backslashreplace").decode("ascii").translate(_CONTROLS)


_CONTROLS = {code: f"\\x{code:02x}" for code in [*range(32), 127]}


def url_origin(url: str) -> str | None:
    """Return ``scheme://host[:port]`` of ``url``, lower-cased, default port left out."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


Consent = Callable[[WebRegistration], Awaitable[bool]]


async def deny_all(request: WebRegistration) -> bool:
    """Refuse every web registration (the default when nobody can be asked)."""
    log.warning("refused web registration of %r: no way to ask the user", request.name)
    return False


async def accept_all(request: WebRegistration) -> bool:
    """Accept every web registration without asking. For tests only.

    Any web page the user visits could then talk to their desktop
    applications and read what those show it; never use it otherwise.
    """
    log.warning(
        "accepting web registration of %r from %s without asking (accept_all)",
        request.name,
        request.origin or "an undeclared origin",
    )
    return True


async def ask(consent: Consent, request: WebRegistration, timeout: float | None) -> bool:
    """Run ``consent`` for ``request``; a timeout or an error counts as a refusal.

    Parameters
    ----------
    timeout : float or None
        Seconds to wait for an answer; None waits as long as it takes.

    Returns
    -------
    bool
        True only if the consent callable returned exactly True in time.
    """
    try:
        answer = await asyncio.wait_for(consent(request), timeout)
    except asyncio.TimeoutError:
        log.warning("no answer to web registration of %r in %g s: refused",
                    request.name, timeout)
        return False
    except Exception:  # a broken consent callable must not let anyone in
        log.exception("consent callable failed for %r: refused", request.name)
        return False
    return answer is True
