"""A lean HTTP/1.1 server for XML-RPC endpoints: the hub's Standard Profile and client callbacks.

SAMP traffic is a stream of small POSTs on keep-alive connections. A general
web framework spends most of a hub's time on routing, header objects and
request handler instances, so these endpoints run on a plain
:class:`asyncio.Protocol` instead, with llhttp (:mod:`.framing`) reading the
requests. Requests on one connection are answered in order; requests on
different connections run concurrently. ``GET`` and ``HEAD`` get a short page
saying what the endpoint is. Everything else gets an HTTP error with a reason.
The Web Profile, which needs CORS and header checks, stays on tornado.

No peer can make the server hold more than a bounded amount for it
(:mod:`.limits`): a connection is not read while its answers are not taken
(``pause_writing``) or while enough requests are already read ahead, and
idle, slow and stuck connections are closed after their timeouts.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from typing import Any, Protocol, cast

from jupyter_samp.core.xmlrpc import decode_call, encode_fault, encode_response
from jupyter_samp.transport.body_budget import LARGE_BODY, BodyBudget
from jupyter_samp.transport.faults import (
    busy_with_large_bodies,
    fault_for,
    too_large,
    undecodable,
)
from jupyter_samp.transport.framing import BodyTooLarge, FramingError, Request, RequestReader
from jupyter_samp.transport.limits import ACCEPT_BATCH, ConnectionBook, ServerLimits
from jupyter_samp.transport.listen import listening_sockets

log = logging.getLogger("jupyter_samp.xmlrpc")

#: Default cap on one request body, in bytes.
DEFAULT_MAX_BODY = 16 * 1024 * 1024

#: Paths the endpoint answers on (the query string is ignored).
PATHS = frozenset({"/", "/xmlrpc"})

ABOUT_PAGE = b"""<!DOCTYPE html><html><head><title>SAMP endpoint</title></head><body>
<p>This is a SAMP XML-RPC endpoint of jupyter_samp. SAMP software talks to it
with HTTP POST.</p></body></html>
"""
_REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
    431: "Request Header Fields Too Large", 501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


def decode_request(body: bytes) -> tuple[str, list[Any]] | Exception:
    """The call in ``body``, or the exception that says why it cannot be read.

    Any exception, the decoder's own bugs included: it is answered as a fault.
    """
    try:
        return decode_call(body)
    except Exception as exc:
        return exc


async def decode_aside(body: bytes, slots: asyncio.Semaphore) -> tuple[str, list[Any]] | Exception:
    """:func:`decode_request` in a worker thread, holding one of ``slots`` (see LARGE_BODY)."""
    async with slots:
        return await asyncio.to_thread(decode_request, body)


class CallEndpoint(Protocol):
    """What serves the calls: a profile or a client's callback receiver."""

    max_body: int

    def handle_call(self, method: str, params: list[Any]) -> Any:
        """Run one call and return its result, or an awaitable of it.

        Raise :class:`~jupyter_samp.errors.HubFault` to answer a fault.
        """


class RpcServer:
    """Serves one :class:`CallEndpoint` over HTTP on a local address.

    Parameters
    ----------
    endpoint : CallEndpoint
        Runs the calls; its ``max_body`` caps request bodies.
    addr : str
        Address to listen on (every address the name resolves to).
    limits : ServerLimits, optional
        Caps and timeouts for the peers' connections.
    """

    def __init__(
        self, endpoint: CallEndpoint, addr: str = "127.0.0.1", limits: ServerLimits | None = None
    ) -> None:
        self.endpoint = endpoint
        self.addr = addr
        self.port: int | None = None
        self.book = ConnectionBook(limits or ServerLimits())
        self._servers: list[asyncio.Server] = []
        # Every connection set up and not yet lost, admitted to the book or
        # not: stop() returns only when it is empty.
        self._live: set[_Connection] = set()
        self._all_closed = asyncio.Event()
        self.stopped = False
        #: Held while a large body is decoded in a worker thread (see LARGE_BODY).
        self.large_decodes = asyncio.Semaphore(1)
        #: Bytes of large bodies held by all connections (being read, waiting, decoding).
        self.body_budget = BodyBudget(self.book.limits.max_large_body_bytes)

    async def start(self, port: int = 0) -> int:
        """Listen on ``port`` (0 for a free one) and return the port.

        Raises
        ------
        OSError
            If the address cannot be bound.
        """
        loop = asyncio.get_running_loop()
        self.stopped = False
        sockets = listening_sockets(self.addr, port)
        try:
            for sock in sockets:
                server = await loop.create_server(
                    lambda: _Connection(self), sock=sock, backlog=ACCEPT_BATCH
                )
                self._servers.append(server)
        except BaseException:
            await self.stop()
            for sock in sockets:
                sock.close()
            raise
        self.book.start()
        self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self, grace: float = 1.0) -> None:
        """Stop listening and close every open connection.

        Calls under way get up to ``grace`` seconds to write their answers
        (the hub fails its waiting calls just before it stops); then they are
        cancelled. Answers still being written get as long to go out; a
        connection whose peer does not read them is then dropped. When this
        returns, every connection is closed.
        """
        self.stopped = True
        self.book.stop()
        servers, self._servers = self._servers, []
        await _close_listening(servers)
        tasks = {c.task for c in self._connections() if c.task is not None}
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for connection in self._connections():
            connection.abort()
        if not await self._closed_within(grace):
            for connection in self._connections():
                connection.drop()
            await self._closed_within(grace)
        for server in servers:
            await server.wait_closed()

    def _connections(self) -> list[_Connection]:
        return [c for c in self.book.open if isinstance(c, _Connection)]

    async def _closed_within(self, timeout: float) -> bool:
        """Wait until every connection has closed; False if some are still open."""
        if self._live:
            self._all_closed.clear()
            waiter = asyncio.ensure_future(self._all_closed.wait())
            try:
                await asyncio.wait({waiter}, timeout=max(timeout, 0.1))
            finally:
                waiter.cancel()
        return not self._live

    def made(self, connection: _Connection) -> None:
        """A connection was set up (whether it is then admitted or not)."""
        self._live.add(connection)

    def closed(self, connection: _Connection) -> None:
        """A connection closed: forget it."""
        self.book.remove(connection)
        self._live.discard(connection)
        if not self._live:
            self._all_closed.set()

    @property
    def connections(self) -> int:
        """How many client connections are open."""
        return len(self.book.open)


async def _close_listening(servers: list[asyncio.Server]) -> None:
    """Close ``servers`` without leaving open a connection they were accepting.

    asyncio accepts a batch of queued connections in one loop turn and builds
    their transports in tasks that run in a later one. A transport built
    after its server was closed fails an assertion half-way (CPython
    gh-109564) and is left with its socket open, for the garbage collector
    to find. So: stop accepting, let the tasks already scheduled build their
    transports (they run before this coroutine resumes: the loop runs
    callbacks in the order they were scheduled), and only then close.

    Parameters
    ----------
    servers : list of asyncio.Server
        The servers to close.
    """
    loop = asyncio.get_running_loop()
    _stop_accepting(loop, servers)
    await asyncio.sleep(0)  # one loop turn, not a wait for time
    for server in servers:
        server.close()
    # The transports built in the last turn call connection_made in the
    # next: after this turn each has, so stop() knows it and waits for it to
    # close, even if the loop is stopped right after stop() returns.
    await asyncio.sleep(0)


def _stop_accepting(loop: asyncio.AbstractEventLoop, servers: list[asyncio.Server]) -> None:
    """Stop accepting new connections on ``servers``, keeping their sockets open."""
    for server in servers:
        for sock in server.sockets:
            try:
                loop.remove_reader(sock.fileno())
            except NotImplementedError:
                return  # a proactor loop (Windows) accepts without a reader


class _Connection(asyncio.Protocol):
    """One client connection; answers its requests one after the other."""

    def __init__(self, server: RpcServer) -> None:
        self.server = server
        self.book = server.book
        self.peer = ""
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self._reader = RequestReader(server.endpoint.max_body, budget=server.body_budget)
        self._pipeline: deque[Request | FramingError] = deque()
        self._queued_bytes = 0
        self._busy = False
        self._closing = False  # close once the answer being written is out
        self._broken = False  # the stream could not be read: read no more of it
        self._eof = False
        self._write_paused = False
        self._reading_paused = False
        self._since = 0.0  # when the connection became idle, a request began, or writes stalled

    # ------------------------------------------------------------ asyncio hooks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio's).
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        self._since = asyncio.get_running_loop().time()
        self.server.made(self)
        # Accepted just before the server stopped but set up only now, or over a cap.
        if self.server.stopped or not self.book.admit(self):
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.closed(self)
        self.transport = None
        self._reader.release()
        for item in self._pipeline:
            if isinstance(item, Request):
                self.server.body_budget.give_back(item.held)
        self._pipeline.clear()
        # A call under way (callAndWait) still runs to the end: the hub's state
        # must not depend on whether the caller stayed to hear the answer.

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return  # nothing after a framing error can be trusted
        was_between = not self._reader.in_message
        try:
            requests = self._reader.feed(data)
        except FramingError as exc:
            self._queue(exc.completed)
            self._pipeline.append(exc)  # answered in turn, after the requests before it
            self._broken = True
        else:
            self._queue(requests)
        if was_between and self._reader.in_message:
            self._since = asyncio.get_running_loop().time()
        # An interim answer belongs to the request being read: only when it is next.
        if self._reader.take_continue() and not self._busy and not self._pipeline:
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._advance()

    def eof_received(self) -> bool:
        # A client may shut down its side once its request is sent: keep the
        # connection open to answer what it sent, then close (see _advance).
        self._eof = True
        self._advance()
        return True

    def pause_writing(self) -> None:
        self._write_paused = True
        self.book.busy(self)
        self._since = asyncio.get_running_loop().time()
        self._update_reading()
        self.book.stalled(self)

    def resume_writing(self) -> None:
        self._write_paused = False
        self.book.drained(self)
        self._advance()

    # ------------------------------------------------------------ the book's view

    def overdue(self, now: float, limits: ServerLimits) -> str | None:
        """Why this connection is past a deadline, or None (see :class:`ServerLimits`)."""
        waited = now - self._since
        if self._write_paused:
            return "its peer does not read" if waited > limits.write_timeout else None
        if self._busy or self._pipeline:
            return None  # a call under way has deadlines of its own
        if self._reader.in_head:
            return "the request head was too slow" if waited > limits.head_timeout else None
        if self._reader.in_message:
            return "the request body was too slow" if waited > limits.body_timeout else None
        return "it was idle" if waited > limits.idle_timeout else None

    def unsent(self) -> int:
        """Bytes of answers written but not yet taken by the peer."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def shut(self, reason: str) -> None:
        """Close now: a cap or a timeout (the book has counted it)."""
        log.debug("closing a connection from %s: %s", self.peer, reason)
        self._closing = self._broken = True
        self.drop()

    def abort(self) -> None:
        """Close the connection and cancel its call, if any (the server is stopping)."""
        if self.task is not None:
            self.task.cancel()
            self.drop()
        elif self.transport is not None:
            self.transport.close()  # lets an answer still being written go out

    def drop(self) -> None:
        """Close at once, dropping anything not yet written."""
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------ requests

    def _queue(self, requests: list[Request]) -> None:
        for request in requests:
            self._pipeline.append(request)
            self._queued_bytes += len(request.body)
        self._update_reading()

    def _update_reading(self) -> None:
        """Read only while answers are taken and little is read ahead."""
        limits = self.book.limits
        full = (
            len(self._pipeline) >= limits.max_pipelined
            or self._queued_bytes >= limits.max_queued_bytes
        )
        pause = self._write_paused or full or self._broken
        if self.transport is None or pause == self._reading_paused:
            return
        self._reading_paused = pause
        if pause:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _advance(self) -> None:
        """Answer queued requests in order until one needs to wait."""
        while self._pipeline and not self._busy and not self._write_paused:
            if self.transport is None or self._closing:
                return
            item = self._pipeline.popleft()
            if isinstance(item, FramingError):
                self._error(item)
                return
            self._queued_bytes -= len(item.body)
            self._start(item)
        if self._busy or self.transport is None:
            return
        self._update_reading()
        if self._eof and not self._pipeline:
            self.transport.close()  # no more requests can arrive, and all are answered
        elif not self._pipeline and not self._reader.in_message and not self._write_paused:
            self._since = asyncio.get_running_loop().time()
            self.book.quiet(self)

    def _start(self, request: Request) -> None:
        self._closing = self._closing or not request.keep_alive
        head = request.method == "HEAD"  # its answers have no body (RFC 9110 9.3.2)
        if request.path not in PATHS:
            where = request.path[:100]
            self._error(FramingError(f"no SAMP endpoint at {where!r}; use /xmlrpc", 404), head)
        elif request.method in ("GET", "HEAD"):
            self._answer(200, "text/html", ABOUT_PAGE, head)
        elif request.method != "POST":
            method = request.method[:20]
            self._error(FramingError(f"method {method} not allowed: SAMP uses POST", 405))
        elif request.too_big:
            self._fault(*too_large(self.server.endpoint.max_body))
        elif request.busy:
            self._fault(*busy_with_large_bodies(self.server.body_budget.limit))
        else:
            self._call(request.body, request.held)
            return
        self.server.body_budget.give_back(request.held)  # the body was not kept

    def _call(self, body: bytes, held: int) -> None:
        if len(body) > LARGE_BODY:
            self._busy = True  # later requests on this connection wait their turn
            self.book.busy(self)
            self.task = asyncio.get_running_loop().create_task(self._decode_aside(body, held))
            return
        self.server.body_budget.give_back(held)
        decoded = decode_request(body)
        if isinstance(decoded, Exception):
            self._fault(*undecodable(decoded))
        else:
            self._run(*decoded)

    async def _decode_aside(self, body: bytes, held: int) -> None:
        """Decode a large body in a worker thread, one at a time per server, then run it."""
        try:
            decoded = await decode_aside(body, self.server.large_decodes)
        finally:
            del body  # what the budget counted: the decoded call is the endpoint's
            self.server.body_budget.give_back(held)
            self.task = None
            self._busy = False
        if isinstance(decoded, Exception):
            self._fault(*undecodable(decoded))
        else:
            self._run(*decoded)
        self._advance()

    def _run(self, call: str, params: list[Any]) -> None:
        try:
            result = self.server.endpoint.handle_call(call, params)
        except Exception as exc:
            self._answer_error(call, exc)
            return
        if inspect.isawaitable(result):
            self._busy = True
            self.book.busy(self)  # a connection carrying a call is never closed to make room
            self.task = asyncio.get_running_loop().create_task(self._finish(call, result))
        else:
            self._answer_result(call, result)

    async def _finish(self, call: str, pending: Any) -> None:
        try:
            result = await pending
        except Exception as exc:
            self._answer_error(call, exc)
        else:
            self._answer_result(call, result)
        finally:
            self.task = None
            self._busy = False
        self._advance()

    # ------------------------------------------------------------ answers

    def _answer_result(self, call: str, result: Any) -> None:
        try:
            body = encode_response(result)
        except Exception as exc:
            self._answer_error(call, exc)
            return
        self._answer(200, "text/xml", body)

    def _answer_error(self, call: str, exc: Exception) -> None:
        self._fault(*fault_for(exc, call))

    def _fault(self, code: int, message: str) -> None:
        log.debug("fault %d: %s", code, message)
        self._answer(200, "text/xml", encode_fault(code, message))

    def _error(self, error: FramingError, head: bool = False) -> None:
        """Answer an error and close: the rest of the stream cannot be trusted.

        ``head`` leaves the text out, for a request known to be a ``HEAD``.
        """
        self._closing = True
        self._pipeline.clear()
        if isinstance(error, BodyTooLarge):
            # An XML-RPC client shows a fault's text; an HTTP error it may not.
            self._fault(*too_large(error.limit))
            return
        log.debug("HTTP %d: %s", error.status, error)
        text = str(error).encode("utf-8", "replace") + b"\n"
        self._answer(error.status, "text/plain", text, head)

    def _answer(self, status: int, kind: str, body: bytes, head: bool = False) -> None:
        """Write one answer; for a ``HEAD`` request (``head``), its headers only."""
        close = b"Connection: close\r\n" if self._closing else b""
        fields = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode("latin-1")
        self._write(fields + close + b"\r\n" + (b"" if head else body))
        if self._closing and self.transport is not None:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
