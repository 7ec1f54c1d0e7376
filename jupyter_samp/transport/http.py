"""A small HTTP/1.1 POST client with a keep-alive connection pool, on tornado streams.

SAMP traffic is many small XML-RPC POSTs to a handful of loopback peers, so
reusing connections matters more than anything a general client offers.
Each request gets its own connection (an idle one if the pool has it), so a
slow peer never holds up a request to another. Servers that close after each
answer (HTTP/1.0, ``Connection: close``) and chunked answers work too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from tornado.httputil import HTTPHeaders
from tornado.iostream import IOStream, StreamClosedError

from jupyter_samp.errors import ClientTimeoutError, ProtocolError, TransportError
from jupyter_samp.transport.timeouts import within

#: Largest answer accepted, in bytes; SAMP answers are small maps.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_HEADER_END = rb"\r?\n\r?\n"


@dataclass(frozen=True)
class HttpResponse:
    """Status, headers and body of an answer."""

    status: int
    headers: HTTPHeaders
    body: bytes


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
        self._idle: dict[tuple[str, int], list[IOStream]] = {}
        self._targets: dict[str, _Target] = {}
        self._closed = False

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
        stream, reused = await self._connect(target, timeout)
        try:
            return await self._exchange(target, stream, request, timeout, reused)
        except _StaleConnection:
            stream, _ = await self._connect(target, timeout, fresh=True)
            return await self._exchange(target, stream, request, timeout, False)

    async def _exchange(
        self,
        target: _Target,
        stream: IOStream,
        request: bytes,
        timeout: float | None,
        reused: bool,
    ) -> HttpResponse:
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout, stream.close) if timeout else None
        started = False
        try:
            await stream.write(request)
            head = await stream.read_until_regex(_HEADER_END, max_bytes=65536)
            started = True
            status, headers, version = _parse_head(head)
            body, reusable = await _read_body(stream, headers, version)
        except StreamClosedError as exc:
            if timer is not None and timer.when() <= loop.time():
                raise ClientTimeoutError(
                    f"no answer from {target.host_header} in {timeout} s"
                ) from None
            if not started and reused:
                # The peer closed an idle keep-alive connection before we
                # wrote; nothing was processed, so one retry is safe.
                raise _StaleConnection() from exc
            raise TransportError(f"{target.host_header} closed the connection: {exc}") from exc
        except BaseException:
            # Cancelled or failed half-way: the connection's state is unknown.
            stream.close()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if reusable:
            self._release(target, stream)
        else:
            stream.close()
        return HttpResponse(status, headers, body)

    async def _connect(
        self, target: _Target, timeout: float | None, fresh: bool = False
    ) -> tuple[IOStream, bool]:
        idle = self._idle.get((target.host, target.port))
        while idle and not fresh:
            stream = idle.pop()
            if not stream.closed():
                return stream, True
        return await _open(target, timeout), False

    def _release(self, target: _Target, stream: IOStream) -> None:
        idle = self._idle.setdefault((target.host, target.port), [])
        if self._closed or len(idle) >= self.max_idle:
            stream.close()
        else:
            idle.append(stream)

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse_url(url)
            if len(self._targets) < 10000:
                self._targets[url] = target
        return target

    def close(self) -> None:
        """Close every idle connection; later requests still work."""
        for streams in self._idle.values():
            for stream in streams:
                stream.close()
        self._idle.clear()


class _StaleConnection(Exception):
    """A reused keep-alive connection had been closed by the peer."""


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


async def _open(target: _Target, timeout: float | None) -> IOStream:
    family, address = await _resolve(target.host, target.port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    stream = IOStream(sock, max_buffer_size=MAX_RESPONSE_BYTES + 65536)
    try:
        await within(stream.connect(address), timeout)
    except asyncio.TimeoutError:
        stream.close()
        raise ClientTimeoutError(
            f"could not connect to {target.host_header} in {timeout} s"
        ) from None
    except (StreamClosedError, OSError) as exc:
        stream.close()
        cause = getattr(exc, "real_error", None) or exc
        refused = isinstance(cause, ConnectionRefusedError)
        raise TransportError(
            f"cannot connect to {target.host_header}: {cause}", refused=refused
        ) from exc
    stream.set_nodelay(True)
    return stream


async def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not infos:
            raise TransportError(f"cannot resolve {host}") from None
        family, _, _, _, address = infos[0]
        return family, (str(address[0]), int(address[1]))
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return family, (host, port)


def _parse_head(head: bytes) -> tuple[int, HTTPHeaders, str]:
    text = head.decode("latin-1")
    status_line, _, rest = text.partition("\n")
    parts = status_line.strip().split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProtocolError(f"bad HTTP status line {status_line.strip()!r}")
    return int(parts[1]), HTTPHeaders.parse(rest), parts[0]


async def _read_body(stream: IOStream, headers: HTTPHeaders, version: str) -> tuple[bytes, bool]:
    keep_alive = version == "HTTP/1.1" and "close" not in headers.get("Connection", "").lower()
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return await _read_chunks(stream), keep_alive
    length = headers.get("Content-Length")
    if length is not None:
        size = int(length) if length.isdigit() else -1
        if size < 0 or size > MAX_RESPONSE_BYTES:
            raise ProtocolError(f"bad or oversized Content-Length {length!r}")
        return await stream.read_bytes(size), keep_alive
    try:
        return await stream.read_until_close(), False
    except StreamClosedError:
        return b"", False


async def _read_chunks(stream: IOStream) -> bytes:
    pieces: list[bytes] = []
    total = 0
    while True:
        line = await stream.read_until(b"\n", max_bytes=1024)
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await stream.read_until_regex(rb"\r?\n", max_bytes=65536)
            return b"".join(pieces)
        total += size
        if total > MAX_RESPONSE_BYTES:
            raise ProtocolError("chunked answer larger than allowed")
        pieces.append(await stream.read_bytes(size))
        await stream.read_until(b"\n", max_bytes=2)
