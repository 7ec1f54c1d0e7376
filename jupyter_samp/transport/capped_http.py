"""tornado's HTTP server with a cap on open connections: the Web Profile and the resource server.

tornado bounds how long a connection may idle or trickle in a head or a
body, but not how many connections are open: any local process could open
connections until the process runs out of file descriptors, and then
tornado's accept handler fails on every turn of the loop. The Standard
Profile server keeps its connections in a
:class:`~jupyter_samp.transport.limits.ConnectionBook`; this server keeps
its own in one too, with the same rule: at the
cap, the connection that has waited longest without a request being answered
is closed to make room; when every connection has a request being answered
(a parked ``pullCallbacks`` long poll, say), the new one is refused. A
connection still sending a head or a body has no request being answered yet,
so a trickling peer can be closed to make room; one whose request is being
answered never is.

The deadlines stay tornado's own (``idle_connection_timeout``,
``body_timeout``); the book only counts and chooses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tornado import httputil
from tornado.http1connection import HTTP1ServerConnection
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream

from jupyter_samp.transport.limits import ConnectionBook, ServerLimits, default_max_connections

log = logging.getLogger("jupyter_samp.http")


class _Held:
    """One accepted connection as the book sees it."""

    def __init__(self, stream: IOStream, peer: str) -> None:
        self.stream = stream
        self.peer = peer

    def overdue(self, now: float, limits: ServerLimits) -> str | None:
        """Never: tornado keeps the deadlines of its connections itself."""
        return None

    def unsent(self) -> int:
        """Not tracked: the book's bound on unread answers is not used here."""
        return 0

    def shut(self, reason: str) -> None:
        """Close the connection now (the book has counted why)."""
        log.debug("closing a connection from %s: %s", self.peer, reason)
        self.stream.close()


class _Watched(httputil.HTTPMessageDelegate):
    """Passes one request through, saying when its body is in and it is being answered."""

    def __init__(
        self, delegate: httputil.HTTPMessageDelegate, answering: Callable[[], None]
    ) -> None:
        self.delegate = delegate
        self.answering = answering

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        # The request is whole and its handler runs from here until the
        # answer is written: from now on it is never closed to make room.
        self.answering()
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


class CappedHTTPServer(HTTPServer):
    """An :class:`~tornado.httpserver.HTTPServer` that holds at most ``max_connections``.

    Takes tornado's arguments plus ``limits``, a
    :class:`~jupyter_samp.transport.limits.ServerLimits` whose
    ``max_connections`` is the cap (default: a quarter of
    :func:`~jupyter_samp.transport.limits.default_max_connections`).
    ``book`` is the :class:`~jupyter_samp.transport.limits.ConnectionBook`
    of the open connections.
    """

    book: ConnectionBook

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        """Take ``limits`` out of tornado's arguments and set up the book."""
        limits = kwargs.pop("limits", None) or ServerLimits(
            max_connections=max(16, default_max_connections() // 4)
        )
        super().initialize(*args, **kwargs)
        self.book = ConnectionBook(limits)
        self._held: dict[IOStream, _Held] = {}

    def handle_stream(self, stream: IOStream, address: tuple) -> None:
        """Serve a new connection, or close it if the cap leaves no room."""
        held = _Held(stream, str(address[0]) if address else "")
        if not self.book.admit(held):  # every connection has a request being answered
            stream.close()
            return
        self._held[stream] = held
        super().handle_stream(stream, address)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        """A connection waits for its next request: it may be closed to make room."""
        delegate = super().start_request(server_conn, request_conn)
        held = self._held_by(server_conn)
        if held is None:
            return delegate
        self.book.quiet(held)
        return _Watched(delegate, lambda: self.book.busy(held))

    def on_close(self, server_conn: object) -> None:
        """A connection closed: forget it."""
        super().on_close(server_conn)
        held = self._held_by(server_conn, forget=True)
        if held is not None:
            self.book.remove(held)

    def _held_by(self, server_conn: object, forget: bool = False) -> _Held | None:
        if not isinstance(server_conn, HTTP1ServerConnection):
            return None
        stream = server_conn.stream
        return self._held.pop(stream, None) if forget else self._held.get(stream)
