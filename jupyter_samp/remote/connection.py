"""A client's route to the desktop hub through the browser: the Web Profile, relayed.

:class:`BrowserHubConnection` is a
:class:`~jupyter_samp.client.hubproxy.HubConnection`: the client registers,
calls and is called back as usual, while every ``samp.webhub.*`` call is made
by the page (see :mod:`jupyter_samp.remote.relay`). The hub sees a web client
named after the notebook, and asks the user's consent as for any web page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from jupyter_samp.client.hubproxy import CallbackTarget
from jupyter_samp.errors import (
    FetchError,
    HubFault,
    HubUnavailableError,
    ProtocolError,
    SampError,
)
from jupyter_samp.remote.relay import BrowserRelay

PREFIX = "samp.webhub."
#: Seconds a registration may take: the hub asks the user, who may be slow to answer.
REGISTER_TIMEOUT = 600.0


class BrowserHubConnection:
    """One registration with the hub the page reaches.

    Parameters
    ----------
    relay : BrowserRelay
        The kernel's end of the route.
    name : str
        ``samp.name`` for the Web Profile's registration (the consent dialog shows it).
    request_timeout : float
        Seconds to wait for an ordinary call.
    previous_key : str, optional
        The key of this notebook's last registration, if it may still be
        live at the hub (the page that held it closed): it is unregistered
        first, so the hub does not list the notebook twice.
    on_registered : callable, optional
        Called with the new private key once registered.
    """

    def __init__(self, relay: BrowserRelay, name: str, request_timeout: float = 30.0,
                 previous_key: str | None = None,
                 on_registered: Callable[[str], None] | None = None) -> None:
        self.on_registered = on_registered
        self.relay = relay
        self.name = name
        self.request_timeout = request_timeout
        self.previous_key = previous_key
        self.private_key: str | None = None
        self.translator: str | None = None
        self.url: str | None = None

    def read_lockfile(self) -> dict[str, str]:
        """The hub the page reaches (no lockfile: the page said where it is).

        Raises
        ------
        HubUnavailableError
            If no page is connected.
        """
        hello = self.relay.hello or {}
        self.url = str(hello.get("hub") or "") or None
        return {"samp.hub.xmlrpc.url": self.url or "", "samp.secret": ""}

    async def ping(self, timeout: float = 5.0) -> None:
        """Check, through the page, that the hub answers and still knows this registration.

        Once registered the check is a keyed call (``getRegisteredClients``):
        ``samp.webhub.ping`` takes no key, so a hub that restarted on the same
        port would answer it and the notebook would never register again.

        Raises
        ------
        HubUnavailableError
            If no page is connected, the hub does not answer it, or the hub
            no longer knows this registration (it restarted).
        """
        if self.private_key is None:
            await self.relay.call(PREFIX + "ping", [], timeout)
            return
        try:
            await self.relay.call(PREFIX + "getRegisteredClients", [self.private_key], timeout)
        except HubFault as exc:
            raise HubUnavailableError(
                f"the hub no longer knows this notebook (did it restart?): {exc}"
            ) from None

    async def register(self) -> dict[str, str]:
        """Register as a web client (the hub may ask the user first).

        Raises
        ------
        RegistrationRefusedError, HubFault
            If the user or the hub refuses.
        ProtocolError
            If the hub answers something that is not a registration.
        """
        if self.previous_key:
            with contextlib.suppress(SampError):  # gone already, most often
                await self.relay.call(PREFIX + "unregister", [self.previous_key],
                                      self.request_timeout)
        info = await self.relay.call(PREFIX + "register", [{"samp.name": self.name}],
                                     REGISTER_TIMEOUT)
        if not isinstance(info, dict) or "samp.private-key" not in info:
            raise ProtocolError(f"hub answered register with {info!r}")
        self.private_key = str(info["samp.private-key"])
        translator = info.get("samp.url-translator")
        self.translator = translator if isinstance(translator, str) else None
        if self.on_registered is not None:
            self.on_registered(self.private_key)
        return info

    async def call(self, name: str, *args: Any, timeout: float | None = None) -> Any:
        """Call ``samp.webhub.<name>`` with the private key first, through the page.

        Raises
        ------
        HubFault, HubUnavailableError, ClientTimeoutError
            As :meth:`BrowserRelay.call`.
        """
        wait = self.request_timeout if timeout is None else timeout
        return await self.relay.call(PREFIX + name, [self.private_key, *args], wait)

    async def attach_callbacks(self, server: CallbackTarget) -> None:
        """Allow reverse callbacks and have the page pull them for this registration."""
        await self.call("allowReverseCallbacks", "1")
        assert self.private_key is not None
        self.relay.start_pulling(self.private_key)

    def follows_lockfile(self) -> bool:
        """False: the page, not a lockfile, says where the hub is."""
        return False

    def shares_files(self) -> bool:
        """False: the hub and its applications are on the browser's computer, not here."""
        return False

    async def fetch_remote(self, url: str, max_bytes: int, timeout: float) -> bytes:
        """Download ``url``, which names the user's computer, through the page and the hub.

        The hub's URL translator serves only URLs other applications sent
        this registration, which is what a received table's URL is.

        Raises
        ------
        FetchError
            The hub gave no translator, refused, or the download failed.
        HubUnavailableError
            No page is connected.
        """
        if not self.translator:
            raise FetchError("the hub gave this notebook no URL translator to read "
                             f"{url} through")
        return await self.relay.downloads.fetch(self.translator + quote(url, safe=""),
                                                max_bytes, timeout)

    def close(self) -> None:
        """Stop the page's pulling for this registration (if a page is there to tell)."""
        with contextlib.suppress(SampError):
            self.relay.stop_pulling()
