"""How a client talks to its hub: the Standard Profile's ``samp.hub.*`` calls.

:class:`HubConnection` is what :class:`~jupyter_samp.client.Client` needs of
a route to a hub; :class:`StandardHubProxy` is the usual one (a lockfile, XML-RPC
over HTTP, callbacks to the client's own server). Another route, such as the
browser relay of :mod:`jupyter_samp.remote`, implements the same protocol.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Protocol
from urllib.parse import urlsplit

from jupyter_samp.errors import (
    ClientTimeoutError,
    FetchError,
    HubUnavailableError,
    ProtocolError,
    TransportError,
)
from jupyter_samp.lockfile import read_lockurl
from jupyter_samp.transport.http import HttpPool
from jupyter_samp.transport.xmlrpc import xmlrpc_call


class CallbackTarget(Protocol):
    """The client's callback server, as a connection sees it."""

    async def start(self) -> str:
        """Start listening (once) and return the callback URL."""


class HubConnection(Protocol):
    """One registration's route to a hub."""

    url: str | None
    private_key: str | None

    def read_lockfile(self) -> dict[str, str]:
        """Find the hub (raises :class:`HubUnavailableError` if there is none)."""

    async def ping(self, timeout: float = 5.0) -> None:
        """Check that the hub answers (raises :class:`HubUnavailableError`)."""

    async def register(self) -> dict[str, str]:
        """Register; return the registration map (private key, self and hub ids)."""

    async def call(self, name: str, *args: Any, timeout: float | None = None) -> Any:
        """Call hub method ``name`` with the private key first."""

    async def attach_callbacks(self, server: CallbackTarget) -> None:
        """Have the hub deliver this registration's callbacks to the client."""

    def follows_lockfile(self) -> bool:
        """Whether the hub is found through a lockfile (watched for replacement)."""

    def shares_files(self) -> bool:
        """Whether the hub's other clients run on this machine and can read its files."""

    async def fetch_remote(self, url: str, max_bytes: int, timeout: float) -> bytes:
        """Download a URL that names the computer of the hub's applications, if the route can.

        Raises :class:`FetchError` when it cannot.
        """

    def close(self) -> None:
        """Release what the connection holds."""


class StandardHubProxy:
    """One hub, as named by a lockfile.

    Parameters
    ----------
    lockfile_url : str
        URL of the lockfile (``file:`` or ``http:``).
    request_timeout : float
        Seconds to wait for the hub to answer an ordinary call.
    """

    def __init__(self, lockfile_url: str, request_timeout: float = 30.0) -> None:
        self.lockfile_url = lockfile_url
        self.request_timeout = request_timeout
        self.pool = HttpPool()
        self.url: str | None = None
        self._secret: str | None = None
        self.private_key: str | None = None

    def read_lockfile(self) -> dict[str, str]:
        """Read the lockfile and remember the hub's URL and secret.

        Raises
        ------
        HubUnavailableError
            If there is no usable lockfile.
        """
        info = read_lockurl(self.lockfile_url)
        self.url, self._secret = info["samp.hub.xmlrpc.url"], info["samp.secret"]
        return info

    async def ping(self, timeout: float = 5.0) -> None:
        """Check that the hub answers.

        Raises
        ------
        HubUnavailableError
            If it does not.
        """
        await self._call("samp.hub.ping", [], timeout)

    async def register(self) -> dict[str, str]:
        """Register with the hub's secret and remember the private key."""
        info = await self._call("samp.hub.register", [self._secret], self.request_timeout)
        if not isinstance(info, dict) or "samp.private-key" not in info:
            raise ProtocolError(f"hub answered register with {info!r}")
        self.private_key = info["samp.private-key"]
        return info

    async def call(self, name: str, *args: Any, timeout: float | None = None) -> Any:
        """Call ``samp.hub.<name>`` with our private key first.

        Raises
        ------
        HubFault
            If the hub refuses.
        HubUnavailableError
            If the hub cannot be reached.
        ClientTimeoutError
            If it does not answer within the timeout.
        """
        wait = self.request_timeout if timeout is None else timeout
        return await self._call("samp.hub." + name, [self.private_key, *args], wait)

    async def attach_callbacks(self, server: CallbackTarget) -> None:
        """Give the hub the URL of the client's callback server."""
        await self.call("setXmlrpcCallback", await server.start())

    def follows_lockfile(self) -> bool:
        """True: the Standard Profile finds its hub through the lockfile."""
        return True

    async def fetch_remote(self, url: str, max_bytes: int, timeout: float) -> bytes:
        """The Standard Profile has no way to reach the hub's machine's files.

        Raises
        ------
        FetchError
            Always.
        """
        raise FetchError(f"cannot fetch {url}: it names the computer the hub runs on, and "
                         "the Standard Profile has no URL translator")

    def shares_files(self) -> bool:
        """True when the hub listens on this machine (loopback, or its own host name).

        No DNS lookup is made: a name other than ``localhost`` or the host's
        own counts as another machine.
        """
        host = urlsplit(self.url or "").hostname or ""
        if host in ("localhost", socket.gethostname()):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    async def _call(self, method: str, params: list[Any], timeout: float | None) -> Any:
        if self.url is None:
            raise HubUnavailableError("not connected to a hub")
        try:
            return await xmlrpc_call(self.pool, self.url, method, params, timeout=timeout)
        except TransportError as exc:
            raise HubUnavailableError(f"the hub at {self.url} is not answering: {exc}") from exc
        except ClientTimeoutError as exc:
            raise ClientTimeoutError(f"{method}: {exc}") from exc

    def close(self) -> None:
        """Close pooled connections."""
        self.pool.close()
