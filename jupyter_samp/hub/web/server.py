"""The Web Profile's HTTP server: loopback sockets, routes, orderly shutdown.

Routes (all behind the loopback, ``Host`` and CORS gates of
:mod:`jupyter_samp.hub.web.cors`):

``/``                        XML-RPC ``samp.webhub.*`` (POST), preflights (OPTIONS)
``/crossdomain.xml``         Adobe Flash policy file (GET/HEAD)
``/clientaccesspolicy.xml``  Microsoft Silverlight policy file (GET/HEAD)
``/proxied/<token>?<url>``   the URL translator (GET/HEAD)

It listens on 127.0.0.1 and, where the machine has IPv6, on ::1 too
(browsers may try ``localhost`` as ::1 first). The open connections are
capped as the Standard Profile's are (:mod:`jupyter_samp.transport.capped_http`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from tornado.web import Application, HTTPError

from jupyter_samp.hub.service import HubService
from jupyter_samp.hub.web.consent import Consent
from jupyter_samp.hub.web.cors import (
    CLIENTACCESSPOLICY_XML,
    CROSSDOMAIN_XML,
    LocalOnlyHandler,
    PolicyFileHandler,
)
from jupyter_samp.hub.web.profile import WebProfile
from jupyter_samp.hub.web.translator import (
    DEFAULT_MAX_SIZE,
    DEFAULT_TIME_LIMIT,
    Translator,
    TranslatorHandler,
)
from jupyter_samp.transport.capped_http import CappedHTTPServer
from jupyter_samp.transport.limits import ConnectionBook, ServerLimits, default_max_connections
from jupyter_samp.transport.listen import listening_sockets
from jupyter_samp.transport.rpcserver import DEFAULT_MAX_BODY
from jupyter_samp.transport.tornado_handler import XmlRpcHandler

log = logging.getLogger("jupyter_samp.hub.web")

#: The Web Profile's well-known port (SAMP 1.3 section 5.2).
DEFAULT_WEB_PORT = 21012



def default_web_max_connections() -> int:
    """The Web Profile's default cap: a quarter of the Standard Profile's.

    The Standard Profile takes at most half of the file descriptors
    (:func:`~jupyter_samp.transport.limits.default_max_connections`); the
    Web Profile shares the other half with the hub's connections to its
    clients. A browser opens at most a handful of connections to one host,
    so a quarter leaves room for many browsers.
    """
    return max(16, default_max_connections() // 4)


class _InFlight:
    """Counts requests being served, so shutdown can let answers go out first."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def begin(self) -> None:
        self.count += 1
        self.idle.clear()

    def end(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self.idle.set()


class WebXmlRpcHandler(LocalOnlyHandler, XmlRpcHandler):
    """The XML-RPC endpoint with the Web Profile's gates, CORS, and a "gone" signal.

    ``gone`` is a future done when the peer closes the connection, so a
    parked long poll can stop waiting for a page that went away.
    """

    def initialize(self, endpoint: Any, in_flight: _InFlight | None = None) -> None:
        """Take the profile and the request counter from the route."""
        super().initialize(endpoint)
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight = in_flight
        self._counted = False

    def prepare(self) -> Any:
        """Count the request, then apply the gates and the body limit."""
        if self._in_flight is not None:
            self._in_flight.begin()
            self._counted = True
        return super().prepare()

    def on_finish(self) -> None:
        """The answer is written: no longer in flight."""
        self._uncount()

    def on_connection_close(self) -> None:
        """The peer went away: release whatever waits on its behalf."""
        if not self.gone.done():
            self.gone.set_result(None)
        self._uncount()

    def _uncount(self) -> None:
        if self._counted and self._in_flight is not None:
            self._counted = False
            self._in_flight.end()


class NotFoundHandler(LocalOnlyHandler):
    """Anything else: 404 (after the same gates, so strangers still get 403)."""

    def prepare(self) -> Any:
        """Apply the gates, then answer 404."""
        super().prepare()
        if not self._finished:
            raise HTTPError(404)


class WebProfileServer:
    """The Web Profile: its protocol object, its URL translator and its HTTP server.

    Parameters
    ----------
    service : HubService
        The hub's router on the event loop.
    consent : callable, optional
        The consent callable (default: refuse everyone).
    flash, silverlight : bool
        Serve ``/crossdomain.xml`` and ``/clientaccesspolicy.xml``.
    translator_max_size : int
        Largest resource the URL translator serves, in bytes.
    translator_time_limit : float
        Longest time one translation may take, in seconds.
    max_body : int
        Largest request body accepted, in bytes.
    limits : ServerLimits, optional
        ``max_connections`` caps the open connections (default:
        :func:`default_web_max_connections`);
        ``idle_timeout`` and ``body_timeout`` bound each one.
    **options
        Passed to :class:`~jupyter_samp.hub.web.profile.WebProfile`
        (``consent_timeout``, ``idle_timeout``, ``queue_limit``, ...).
    """

    def __init__(
        self,
        service: HubService,
        consent: Consent | None = None,
        *,
        flash: bool = True,
        silverlight: bool = True,
        translator_max_size: int = DEFAULT_MAX_SIZE,
        translator_time_limit: float = DEFAULT_TIME_LIMIT,
        max_body: int = DEFAULT_MAX_BODY,
        limits: ServerLimits | None = None,
        **options: Any,
    ) -> None:
        self.profile = WebProfile(service, consent, max_body=max_body, **options)
        self.translator = Translator(
            self.profile.clients,
            self.profile.tracker,
            max_size=translator_max_size,
            time_limit=translator_time_limit,
        )
        self.max_body = max_body
        self.limits = limits or ServerLimits(max_connections=default_web_max_connections())
        self.port: int | None = None
        self._flash, self._silverlight = flash, silverlight
        self._in_flight = _InFlight()
        self._server: CappedHTTPServer | None = None

    @property
    def url(self) -> str:
        """The XML-RPC endpoint, ``http://127.0.0.1:<port>/``."""
        return f"http://127.0.0.1:{self.port}/"

    def listen(self, port: int = DEFAULT_WEB_PORT) -> int:
        """Bind 127.0.0.1 (and ::1 if possible) and start serving; return the port.

        Raises
        ------
        OSError
            If 127.0.0.1:``port`` cannot be bound (typically: another hub has it).
        """
        sockets = [bind_loopback(socket.AF_INET, port)]
        self.port = sockets[0].getsockname()[1]
        try:
            sockets.append(bind_loopback(socket.AF_INET6, self.port))
        except OSError as exc:
            log.debug("Web Profile not on [::1]:%d: %s", self.port, exc)
        # tornado uses idle_connection_timeout as the deadline for a request's
        # head too, so a page's idle or trickling connections are closed.
        self._server = CappedHTTPServer(
            self._application(), max_body_size=self.max_body * 2 + (1 << 20),
            idle_connection_timeout=self.limits.idle_timeout,
            body_timeout=self.limits.body_timeout, limits=self.limits,
        )
        self._server.add_sockets(sockets)
        self.profile.base_url = f"http://127.0.0.1:{self.port}"
        log.info("Web Profile listening at %s", self.url)
        return self.port

    @property
    def book(self) -> ConnectionBook | None:
        """The open connections and their cap, while listening."""
        return self._server.book if self._server is not None else None

    def _application(self) -> Application:
        routes: list[Any] = [
            (r"/", WebXmlRpcHandler, {"endpoint": self.profile, "in_flight": self._in_flight}),
            (r"/proxied/([^/]*)", TranslatorHandler, {"translator": self.translator}),
        ]
        if self._flash:
            args = {"body": CROSSDOMAIN_XML, "content_type": "text/x-cross-domain-policy"}
            routes.append((r"/crossdomain\.xml", PolicyFileHandler, args))
        if self._silverlight:
            args = {"body": CLIENTACCESSPOLICY_XML, "content_type": "text/xml"}
            routes.append((r"/clientaccesspolicy\.xml", PolicyFileHandler, args))
        return Application(
            routes, default_handler_class=NotFoundHandler, log_function=lambda handler: None
        )

    def close_clients(self) -> None:
        """Refuse new registrations and release every parked poll (answers go out)."""
        self.profile.close()

    async def stop(self, grace: float = 2.0) -> None:
        """Stop listening, let answers under way go out (up to ``grace`` s), close all."""
        self.profile.close()
        if self._server is None:
            return
        server, self._server = self._server, None
        server.stop()
        try:
            await asyncio.wait_for(self._in_flight.idle.wait(), grace)
        except asyncio.TimeoutError:
            log.debug("%d web requests still open at shutdown", self._in_flight.count)
        await server.close_all_connections()
        self.translator.close()


def bind_loopback(family: socket.AddressFamily, port: int) -> socket.socket:
    """A listening non-blocking socket on the loopback address of ``family``.

    Raises
    ------
    OSError
        If the address cannot be bound (port busy, no IPv6 here); nothing
        is left open then.
    """
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    return listening_sockets(host, port)[0]
