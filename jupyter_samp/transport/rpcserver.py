"""A lean HTTP/1.1 server for XML-RPC endpoints: the hub's Standard Profile and client callbacks.

SAMP traffic is a stream of small POSTs on keep-alive connections. A general
web framework spends most of a hub's time on routing, header objects and
request handler instances, so these endpoints run on a plain
:class:`asyncio.Protocol` instead: it reads a head and a body (``Content-Length``
or chunked, with a size limit), decodes the call, hands it to the endpoint and
writes the answer. Requests on one connection are answered in order; requests
on different connections run concurrently. ``GET`` and ``HEAD`` get a short
page saying what the endpoint is. Everything else gets an HTTP error with a
reason. The Web Profile, which needs CORS and header checks, stays on tornado.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Protocol

from jupyter_samp.core.xmlrpc import decode_call, encode_fault, encode_response
from jupyter_samp.errors import HubFault, InvalidValueError, ProtocolError
from jupyter_samp.transport.framing import BodyReader, Head, take_head
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
    505: "HTTP Version Not Supported",
}


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
    """

    def __init__(self, endpoint: CallEndpoint, addr: str = "127.0.0.1") -> None:
        self.endpoint = endpoint
        self.addr = addr
        self.port: int | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: set[_Connection] = set()
        self._all_closed = asyncio.Event()
        self.stopped = False

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
                server = await loop.create_server(lambda: _Connection(self), sock=sock)
                self._servers.append(server)
        except BaseException:
            await self.stop()
            for sock in sockets:
                sock.close()
            raise
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
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        tasks = {c._task for c in self._connections if c._task is not None}
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for connection in list(self._connections):
            connection.abort()
        if not await self._closed_within(grace):
            for connection in list(self._connections):
                connection.drop()
            await self._closed_within(grace)
        for server in servers:
            await server.wait_closed()

    async def _closed_within(self, timeout: float) -> bool:
        """Wait until every connection has closed; False if some are still open."""
        if self._connections:
            self._all_closed.clear()
            waiter = asyncio.ensure_future(self._all_closed.wait())
            try:
                await asyncio.wait({waiter}, timeout=max(timeout, 0.1))
            finally:
                waiter.cancel()
        return not self._connections

    @property
    def connections(self) -> int:
        """How many client connections are open."""
        return len(self._connections)


class _Connection(asyncio.Protocol):
    """One client connection; answers its requests one after the other."""

    def __init__(self, server: RpcServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._head: Head | None = None
        self._body: BodyReader | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._closing = False
        self._eof = False

    # ------------------------------------------------------------ asyncio hooks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.server.stopped:
            # Accepted just before the server stopped, but set up only now.
            transport.close()
            return
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        if not self.server._connections:
            self.server._all_closed.set()
        self.transport = None
        # A call under way (callAndWait) still runs to the end: the hub's state
        # must not depend on whether the caller stayed to hear the answer.

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._advance()
        elif len(self._buffer) > self.server.endpoint.max_body and self.transport is not None:
            # A client pipelining more than we hold waits until this call is answered.
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        # A client may shut down its side once its request is sent: keep the
        # connection open to answer what it sent, then close (see _advance).
        self._eof = True
        if not self._busy:
            self._advance()
        return True

    def abort(self) -> None:
        """Close the connection and cancel its call, if any (the server is stopping)."""
        if self._task is not None:
            self._task.cancel()
            if self.transport is not None:
                self.transport.abort()
        elif self.transport is not None:
            self.transport.close()  # lets an answer still being written go out

    def drop(self) -> None:
        """Close at once, dropping anything not yet written."""
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------ requests

    def _advance(self) -> None:
        """Read and start the next complete request in the buffer, if there is one."""
        while not self._busy and not self._closing and self.transport is not None:
            try:
                if not self._read_request():
                    break
            except ProtocolError as exc:
                self._error(400, str(exc))
                return
        if self._eof and not self._busy and self.transport is not None:
            self.transport.close()  # no more requests can arrive, and all are answered

    def _read_request(self) -> bool:
        if self._head is None:
            self._head = take_head(self._buffer)
            if self._head is None:
                return False
            if not self._accept_head(self._head):
                return False
        assert self._body is not None
        if not self._body.feed(self._buffer):
            return False
        head, body = self._head, self._body
        self._head = self._body = None
        self._start(head, body)
        return True

    def _accept_head(self, head: Head) -> bool:
        """Check the start line; set up the body reader. False if answered with an error."""
        if len(head.start) != 3 or not head.start[2].startswith("HTTP/1."):
            version = head.start[2] if len(head.start) == 3 else ""
            status = 505 if version.startswith("HTTP/") else 400
            self._error(status, f"bad request line {' '.join(head.start)[:100]!r}")
            return False
        method, target, _ = head.start
        if target.split("?", 1)[0] not in PATHS:
            self._error(404, f"no SAMP endpoint at {target[:100]!r}; use /xmlrpc")
            return False
        if method not in ("POST", "GET", "HEAD"):
            self._error(405, f"method {method[:20]} not allowed: SAMP uses POST")
            return False
        self._body = BodyReader(head.headers, self.server.endpoint.max_body)
        if "100-continue" in head.headers.get("expect", "").lower() and not self._body.done:
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _start(self, head: Head, body: BodyReader) -> None:
        method, _, version = head.start
        self._closing = not head.keep_alive(version)
        if method != "POST":
            page = ABOUT_PAGE if method == "GET" else b""
            self._answer(200, "text/html", page, length=len(ABOUT_PAGE))
            return
        if body.too_big:
            limit = self.server.endpoint.max_body
            self._fault(10, f"Request body too large: the limit is {limit} bytes")
            return
        try:
            call, params = decode_call(body.body)
        except ProtocolError as exc:
            self._fault(10, f"Malformed XML-RPC request: {exc}")
            return
        self._run(call, params)

    def _run(self, call: str, params: list[Any]) -> None:
        try:
            result = self.server.endpoint.handle_call(call, params)
        except Exception as exc:
            self._answer_error(call, exc)
            return
        if inspect.isawaitable(result):
            self._busy = True
            self._task = asyncio.get_running_loop().create_task(self._finish(call, result))
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
            self._task = None
            self._busy = False
        if self.transport is not None:
            self.transport.resume_reading()
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
        if isinstance(exc, HubFault):
            self._fault(exc.fault_code, str(exc))
        elif isinstance(exc, InvalidValueError):
            self._fault(10, str(exc))
        else:  # a bug must still produce an answer, not a dead socket
            log.error("internal error in %s", call, exc_info=exc)
            self._fault(1, f"Internal error in {call}: {type(exc).__name__}: {exc}")

    def _fault(self, code: int, message: str) -> None:
        log.debug("fault %d: %s", code, message)
        self._answer(200, "text/xml", encode_fault(code, message))

    def _error(self, status: int, reason: str) -> None:
        """Answer an HTTP error and close: the rest of the stream cannot be trusted."""
        log.debug("HTTP %d: %s", status, reason)
        self._closing = True
        self._answer(status, "text/plain", reason.encode("utf-8", "replace") + b"\n")

    def _answer(self, status: int, kind: str, body: bytes, length: int | None = None) -> None:
        close = b"Connection: close\r\n" if self._closing else b""
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n"
        ).encode("latin-1")
        self._write(head + close + b"\r\n" + body)
        if self._closing and self.transport is not None:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
