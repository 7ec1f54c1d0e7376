"""A small HTTP/1.1 POST client with a keep-alive connection pool, on asyncio.

SAMP traffic is many small XML-RPC POSTs to a handful of loopback peers, so
reusing connections matters more than anything a general client offers.
Each request gets its own connection (an idle one if the pool has it), so a
slow peer never holds up a request to another. Servers that close after each
answer (HTTP/1.0, ``Connection: close``) and chunked answers work too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

from jupyter_samp.errors import ClientTimeoutError, ProtocolError, TransportError
from jupyter_samp.transport.framing import FramingError, Response, ResponseReader
from jupyter_samp.transport.timeouts import within

#: Largest answer accepted, in bytes; SAMP answers are small maps.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_MAX_CACHED_TARGETS = 256


@dataclass(frozen=True)
class HttpResponse:
    """Status, headers (lower-case names) and body of an answer."""

    status: int
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    path: str
    host_header: str


class HttpPool:
    """Keep-alive connections to HTTP peers, reused across requests.

    Parameters
    ----------
    max_idle : int
        Idle connections kept per peer; more are closed after use.
    """

    def __init__(self, max_idle: int = 16) -> None:
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._targets: dict[str, _Target] = {}
        # close() bumps the generation; a connection of an older one that
        # comes back from a request still under way is closed, not pooled.
        self._generation = 0

    async def post(
        self, url: str, body: bytes, *, timeout: float | None = None, content_type: str = "text/xml"
    ) -> HttpResponse:
        """POST ``body`` to ``url`` and return the answer.

        Raises
        ------
        TransportError
            If the peer cannot be reached (``refused`` set when nothing
            listens) or drops the connection before answering.
        ClientTimeoutError
            If no complete answer arrives within ``timeout`` seconds.
        ProtocolError
            If the answer is not valid HTTP or is larger than allowed.
        """
        target = self._target(url)
        request = _request_head(target, len(body), content_type) + body
        connection = self._idle_connection(target)
        if connection is not None:
            try:
                return await self._exchange(target, connection, request, timeout)
            except _StaleConnection:
                pass  # the peer closed it while idle: nothing was processed, so retry once
        connection = await _open(target, timeout)
        connection.generation = self._generation
        try:
            return await self._exchange(target, connection, request, timeout)
        except _StaleConnection as exc:
            raise TransportError(f"{target.host_header} closed the connection: {exc}") from None

    async def _exchange(
        self, target: _Target, connection: _Connection, request: bytes, timeout: float | None
    ) -> HttpResponse:
        waiter = connection.send(request)
        timer = None
        if timeout is not None:
            timer = asyncio.get_running_loop().call_later(timeout, connection.time_out)
        try:
            response = await waiter
        except _TimedOut:
            where = target.host_header
            raise ClientTimeoutError(f"no answer from {where} in {timeout} s") from None
        except BaseException:
            connection.abort()  # cancelled or failed half-way: its state is unknown
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if connection.reusable:
            self._release(target, connection)
        else:
            connection.abort()
        return response

    def _idle_connection(self, target: _Target) -> _Connection | None:
        key = (target.host, target.port)
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            connection.on_lost = None
            if connection.reusable:
                if not idle:
                    del self._idle[key]
                return connection
        # Peers come and go (every client has its own callback address):
        # an empty list would stay behind for each.
        self._idle.pop(key, None)
        return None

    def _release(self, target: _Target, connection: _Connection) -> None:
        key = (target.host, target.port)
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self.max_idle or connection.generation != self._generation:
            connection.abort()
            if not idle:
                del self._idle[key]
        else:
            idle.append(connection)
            # A peer that closes an idle connection (or goes away) takes it out of the pool.
            connection.on_lost = lambda: self._forget_idle(key, connection)

    def _forget_idle(self, key: tuple[str, int], connection: _Connection) -> None:
        idle = self._idle.get(key)
        if idle is not None and connection in idle:
            idle.remove(connection)
            if not idle:
                del self._idle[key]

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse_url(url)
            if len(self._targets) >= _MAX_CACHED_TARGETS:
                # Clients come and go, each with its own URL: forget the oldest.
                del self._targets[next(iter(self._targets))]
            self._targets[url] = target
        return target

    def close(self) -> None:
        """Close every idle connection, and each busy one when its request ends.

        Later requests still work, on new connections.
        """
        self._generation += 1
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()


class _StaleConnection(Exception):
    """The connection closed before any byte of the answer arrived."""


class _TimedOut(Exception):
    """The request's deadline passed."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self.generation = 0
        self.on_lost: Callable[[], None] | None = None  # set while pooled idle
        self._reader = ResponseReader(MAX_RESPONSE_BYTES)
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio's).
        self.transport = cast(asyncio.Transport, transport)
        self.reusable = True

    def send(self, request: bytes) -> asyncio.Future[HttpResponse]:
        """Write one request and return a future of its answer.

        Raises
        ------
        _StaleConnection
            If the peer closed the connection before the request could go
            (it may accept and close at once: over a cap, or stopping).
        """
        if self.transport is None:
            raise _StaleConnection("closed by the peer before the request was sent")
        assert self._waiter is None, "one request at a time"
        self._waiter = asyncio.get_running_loop().create_future()
        self.reusable = False
        self._started = False
        self.transport.write(request)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: this stream cannot be trusted
            self.abort()
            return
        self._started = True
        try:
            answers = self._reader.feed(data)
        except FramingError as exc:
            if exc.completed:  # the answer came whole; what followed it was junk
                self._complete(exc.completed[0], keep=False)
            else:
                self._fail(exc)
            self.abort()
            return
        if answers:
            # One request, one answer: anything after it was never asked for.
            extra = len(answers) > 1 or self._reader.in_message
            self._complete(answers[0], keep=answers[0].keep_alive and not extra)

    def _complete(self, answer: Response, keep: bool) -> None:
        waiter, self._waiter = self._waiter, None
        self.reusable = keep
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpResponse(answer.status, answer.headers, answer.body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.reusable = False
        if self.on_lost is not None:
            on_lost, self.on_lost = self.on_lost, None
            on_lost()
        if self._waiter is None or self._waiter.done():
            return
        answer = self._reader.finish()
        if answer is not None:
            self._complete(answer, keep=False)
            return
        reason = exc or "closed by the peer"
        self._fail(TransportError(f"connection closed: {reason}") if self._started
                   else _StaleConnection(str(reason)))

    def time_out(self) -> None:
        """The deadline passed: fail the request and drop the connection."""
        self._fail(_TimedOut())
        self.abort()

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self._waiter = None

    def abort(self) -> None:
        """Close at once, without waiting for buffered writes."""
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()


def _parse_url(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ProtocolError(f"not an http URL: {url!r}")
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(parts.hostname, port, path, parts.netloc)


def _request_head(target: _Target, length: int, content_type: str) -> bytes:
    return (
        f"POST {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
        f"User-Agent: jupyter_samp\r\n\r\n"
    ).encode("latin-1")


async def _open(target: _Target, timeout: float | None) -> _Connection:
    loop = asyncio.get_running_loop()
    connecting = asyncio.ensure_future(
        loop.create_connection(_Connection, target.host, target.port)
    )
    try:
        _, connection = await within(connecting, timeout)
    except asyncio.TimeoutError:
        raise ClientTimeoutError(
            f"could not connect to {target.host_header} in {timeout} s"
        ) from None
    except OSError as exc:
        refused = isinstance(exc, ConnectionRefusedError) or "refused" in str(exc).lower()
        raise TransportError(
            f"cannot connect to {target.host_header}: {exc}", refused=refused
        ) from exc
    except BaseException:
        # Cancelled in the very turn the connection was made: close it, or
        # nothing ever will.
        if connecting.done() and not connecting.cancelled() and not connecting.exception():
            connecting.result()[0].close()
        raise
    return connection
