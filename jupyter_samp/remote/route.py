"""One kernel's browser route: the relay, its widget, its registration, and what to say.

:meth:`BrowserRoute.open` starts the kernel's relay, registers it for the
server extension and creates the widget whose front end connects back. The
page then says whether it reaches the desktop hub; :meth:`BrowserRoute.check`
turns that into a route to use or an error that says what the user can do.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any
from urllib.parse import urlsplit

from jupyter_samp.errors import BlockedByBrowserError, HubUnavailableError
from jupyter_samp.remote import registry
from jupyter_samp.remote.connection import BrowserHubConnection
from jupyter_samp.remote.relay import BrowserRelay

log = logging.getLogger("jupyter_samp.remote")

#: Where a test or an unusual desktop puts the Web Profile instead of port 21012.
HUB_URL_VARIABLE = "JUPYTER_SAMP_WEB_HUB"


class BrowserRoute:
    """The browser route of this kernel, from creation to close.

    Parameters
    ----------
    name : str
        The notebook's ``samp.name``.
    hub_url : str, optional
        The Web Profile endpoint the page calls; default ``JUPYTER_SAMP_WEB_HUB``
        or ``http://127.0.0.1:21012/``.
    """

    def __init__(self, name: str, hub_url: str | None = None) -> None:
        from jupyter_samp.remote.widget import DEFAULT_HUB_URL

        self.name = name
        self.hub_url = hub_url or os.environ.get(HUB_URL_VARIABLE) or DEFAULT_HUB_URL
        self.relay = BrowserRelay()
        self.token = registry.new_token()
        self.widget: Any = None
        self._registration: registry.Registration | None = None
        self._last_key: str | None = None

    async def open(self) -> BrowserRoute:
        """Start the relay, register it, and create the widget (the page connects next).

        Raises
        ------
        OSError
            If the relay cannot listen or the registration cannot be written.
        ImportError
            If anywidget is missing.
        """
        from jupyter_samp.remote.widget import RelayWidget

        registry.remove_stale()
        self._registration = registry.Registration(relay=await self.relay.start(),
                                                   pid=os.getpid())
        registry.write(self.token, self._registration)
        self.widget = RelayWidget(token=self.token, hub_url=self.hub_url)
        return self

    async def check(self, wait: float) -> dict[str, Any]:
        """Wait up to ``wait`` seconds for the page's hello, and judge it.

        Returns the hello when the page reaches the hub.

        Raises
        ------
        ClientTimeoutError
            No page connected in time: no front end shows widgets here.
        BlockedByBrowserError
            The browser keeps the page from the hub (Local Network Access).
        HubUnavailableError
            The page reached nothing at the hub's address.
        """
        hello = await self.relay.wait_for_page(wait)
        state = hello.get("hub_state")
        if state == "available":
            return hello
        if state == "blocked":
            raise BlockedByBrowserError(blocked_message(hello))
        raise HubUnavailableError(
            f"no SAMP hub answers at {self.hub_url} on the computer running your browser "
            f"({hello.get('detail') or 'nothing there'}): start TOPCAT or another hub with "
            f"the Web Profile on, then run %samp connect again"
        )

    def page_is_local(self) -> bool:
        """Whether the page is served from this kernel's own machine.

        Then an embedded hub started here serves the user's desktop too; the
        page must be on a loopback address that this kernel reaches.
        """
        page = urlsplit(str((self.relay.hello or {}).get("page", "")))
        if page.hostname not in ("127.0.0.1", "localhost", "::1") or page.port is None:
            return False
        try:
            with socket.create_connection((page.hostname, page.port), timeout=2):
                return True
        except OSError:
            return False

    def connection(self, request_timeout: float = 30.0) -> BrowserHubConnection:
        """A new registration's connection (the client makes one per connect)."""
        return BrowserHubConnection(self.relay, self.name, request_timeout,
                                    previous_key=self._last_key,
                                    on_registered=self._registered)

    def _registered(self, key: str) -> None:
        self._last_key = key

    @property
    def data_needs_login(self) -> bool:
        """Whether the page found the data endpoint closed to applications without a login."""
        return (self.relay.hello or {}).get("data_open") is False

    @property
    def data_base(self) -> str | None:
        """The public URL prefix of this kernel's data, as the page sees the server."""
        base = (self.relay.hello or {}).get("data_base")
        if isinstance(base, str) and urlsplit(base).scheme in ("http", "https"):
            return base
        return None

    def serve_resources(self, resources_url: str) -> None:
        """Tell the server extension where this kernel's resource server listens.

        Raises
        ------
        OSError
            If the registration cannot be written.
        """
        assert self._registration is not None
        self._registration.resources = resources_url
        registry.write(self.token, self._registration)

    async def close(self) -> None:
        """Close the relay and the widget, and remove the registration."""
        registry.remove(self.token)
        await self.relay.close()
        if self.widget is not None:
            self.widget.close()
            self.widget = None


def blocked_message(hello: dict[str, Any]) -> str:
    """What to tell a user whose browser keeps the page from the local hub."""
    origin = hello.get("origin") or "this notebook's site"
    return (
        f"your browser did not let the notebook's page ({origin}) reach the SAMP hub on "
        f"your computer (Local Network Access: {hello.get('lna', 'unknown')}). Allow this "
        f"site to access apps and devices on your local network (the icon at the left of "
        f"the address bar, or Site settings > Local network access), reload the page, then "
        f"run %samp connect again"
    )
