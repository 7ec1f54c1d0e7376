"""A local HTTP server for data other applications fetch: tables, images, files.

SAMP moves data by reference: a ``table.load.votable`` message carries a URL,
and the recipient downloads it. :class:`ResourceServer` provides such URLs on
127.0.0.1 (port 0, so any free port), on the running event loop::

    server = ResourceServer()
    server.start()
    resource = server.publish(payload, content_type="application/fits",
                              filename="image.fits")
    resource.url      # http://127.0.0.1:PORT/<43 random characters>/image.fits
    resource.withdraw()

Only someone who was given the URL can fetch it: the path holds
``secrets.token_urlsafe(32)``. Unknown tokens (and a known token with another
file name) answer 404, withdrawn resources 410.

Responses carry ``Content-Type`` and ``Content-Length``, and answer ``HEAD``
and single ``Range`` requests. Bodies are streamed: each piece is produced
(in a worker thread) while the previous one is being written, and the next
is not asked for before the socket has taken the previous one, so memory
stays at a couple of pieces whatever the size. How ranges are served depends
on the payload (see :mod:`jupyter_samp.data.payload`): binary VOTables encode
only the rows a range touches; documents of unknown size (TABLEDATA) are
generated and skipped, and their size is measured once, when first needed
(``HEAD``, ``Range``), or learnt from the first complete fetch.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.web import Application, RequestHandler

from jupyter_samp.data.payload import (
    BytesPayload,
    FilePayload,
    Payload,
    StreamPayload,
)
from jupyter_samp.errors import InvalidValueError
from jupyter_samp.transport.listen import listening_sockets

log = logging.getLogger("jupyter_samp.data")

#: ``callback(resource, bytes_sent, total)``: progress of one response.
ProgressObserver = Callable[["Resource", int, "int | None"], None]


@dataclass
class Transfer:
    """One response being sent (or sent) to one consumer.

    Attributes
    ----------
    consumer : str
        ``"address:port"`` of the fetching connection.
    method : str
        ``GET`` or ``HEAD``.
    start : int
        First byte offset served (non-zero for a range).
    total : int or None
        Bytes this response carries, when known.
    bytes_sent : int
        Bytes written to the socket so far.
    complete : bool
        True once every byte was written.
    """

    consumer: str
    method: str
    start: int
    total: int | None
    bytes_sent: int = 0
    complete: bool = False
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None


class Resource:
    """A published payload: its URL, its traffic, and how to withdraw it.

    Attributes
    ----------
    url : str
        The address to hand to other applications.
    token, filename, content_type : str
        The parts of the URL and the announced media type.
    payload : Payload
        Where the bytes come from.
    transfers : list of Transfer
        Every response, in order.
    """

    def __init__(
        self, server: ResourceServer, token: str, filename: str, content_type: str,
        payload: Payload,
    ) -> None:
        self._server = server
        self.token = token
        self.filename = filename
        self.content_type = content_type
        self.payload = payload
        self.url = f"{server.base_url}/{token}/{quote(filename)}"
        self.transfers: list[Transfer] = []
        self._observers: list[ProgressObserver] = []
        self.withdrawn = False

    def __repr__(self) -> str:
        state = "withdrawn" if self.withdrawn else "published"
        return f"<Resource {self.filename} {state} at {self.url}>"

    @property
    def length(self) -> int | None:
        """The size in bytes, when known."""
        return self.payload.length()

    @property
    def bytes_sent(self) -> int:
        """Bytes sent to all consumers together."""
        return sum(transfer.bytes_sent for transfer in self.transfers)

    @property
    def consumers(self) -> dict[str, int]:
        """Bytes sent per consumer (``"address:port"``)."""
        totals: dict[str, int] = {}
        for transfer in self.transfers:
            totals[transfer.consumer] = totals.get(transfer.consumer, 0) + transfer.bytes_sent
        return totals

    @property
    def completed(self) -> int:
        """How many GET responses delivered their whole body."""
        return sum(1 for t in self.transfers if t.complete and t.method == "GET")

    def observe(self, observer: ProgressObserver) -> Callable[[], None]:
        """Call ``observer(resource, bytes_sent, total)`` as each response progresses.

        ``bytes_sent`` counts the bytes of one response so far and ``total``
        is that response's size (None if unknown), so a progress bar can show
        ``bytes_sent / total``. It is called once more when the response
        ends, completed or not (see :attr:`transfers`). Returns a function that
        stops the observation.
        Exceptions raised by an observer are logged and otherwise ignored.
        """
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def _progress(self, transfer: Transfer) -> None:
        for observer in list(self._observers):
            try:
                observer(self, transfer.bytes_sent, transfer.total)
            except Exception:
                log.exception("progress observer %r failed", observer)

    def withdraw(self) -> None:
        """Stop serving: later requests get 410 Gone (responses under way finish)."""
        if not self.withdrawn:
            self.withdrawn = True
            self._server._withdraw(self)


Source = Payload | bytes | bytearray | memoryview | Path | Callable[[], Any]


def as_payload(source: Source) -> Payload:
    """Turn what :meth:`ResourceServer.publish` accepts into a :class:`Payload`.

    Raises
    ------
    InvalidValueError
        ``source`` is none of the accepted kinds.
    FileNotFoundError
        A path that is not an existing file.
    """
    if isinstance(source, Payload):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return BytesPayload(source)
    if isinstance(source, Path):
        return FilePayload(source)
    if callable(source):
        return StreamPayload(lambda: _pieces(source()))
    raise InvalidValueError(
        f"cannot publish a {type(source).__name__}: give bytes, a Path, a Payload, "
        "or a function returning bytes or an iterable of bytes"
    )


def _pieces(produced: Any) -> Iterable[bytes]:
    if isinstance(produced, (bytes, bytearray, memoryview)):
        return [bytes(produced)]
    pieces: Iterable[bytes] = produced
    return pieces


class ResourceServer:
    """Serve published resources over HTTP on a loopback address.

    Parameters
    ----------
    addr : str
        Address to listen on; keep the default 127.0.0.1 unless the data must
        be reachable from other machines.
    port : int
        Port; 0 picks a free one.
    """

    def __init__(self, addr: str = "127.0.0.1", port: int = 0) -> None:
        self.addr = addr
        self.port = port
        self._server: HTTPServer | None = None
        self._resources: dict[str, Resource] = {}
        self._withdrawn: set[str] = set()

    @property
    def base_url(self) -> str:
        """``http://ADDR:PORT`` (the server must be started)."""
        if self._server is None:
            raise RuntimeError("the resource server is not started")
        return f"http://{self.addr}:{self.port}"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._server is not None

    def start(self) -> ResourceServer:
        """Listen (on the running event loop); returns self. Starting twice is harmless."""
        if self._server is None:
            app = Application(
                [(r"/([^/]*)/([^/]*)", ResourceHandler, {"server": self})],
                log_function=lambda handler: None,
            )
            sockets = listening_sockets(self.addr, self.port)
            self.port = sockets[0].getsockname()[1]
            self._server = HTTPServer(app)
            self._server.add_sockets(sockets)
        return self

    async def close(self) -> None:
        """Withdraw everything, stop listening and close open connections."""
        for resource in list(self._resources.values()):
            resource.withdraw()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    async def __aenter__(self) -> ResourceServer:
        return self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def publish(
        self, source: Source, *, content_type: str = "application/octet-stream",
        filename: str = "data",
    ) -> Resource:
        """Make ``source`` available at a new unguessable URL.

        Parameters
        ----------
        source : Payload, bytes, pathlib.Path or callable
            What to serve: a :class:`Payload`; bytes; a ``Path`` (the file is
            served as it is, read at each request); or a function returning
            bytes or an iterable of bytes (called for each request).
        content_type : str
            The ``Content-Type`` header.
        filename : str
            Last part of the URL (some applications guess formats from it).

        Raises
        ------
        InvalidValueError
            An unsupported source, or a file name with ``/`` or nothing in it.
        FileNotFoundError
            A path that is not an existing file.
        """
        if not filename or "/" in filename or filename in (".", ".."):
            raise InvalidValueError(f"bad file name for a resource: {filename!r}")
        payload = as_payload(source)
        self.start()
        token = secrets.token_urlsafe(32)
        resource = Resource(self, token, filename, content_type, payload)
        self._resources[token] = resource
        return resource

    def lookup(self, token: str) -> Resource | None:
        """The published resource with this token, if any."""
        return self._resources.get(token)

    def is_withdrawn(self, token: str) -> bool:
        """True if ``token`` belonged to a resource that was withdrawn."""
        return token in self._withdrawn

    @property
    def resources(self) -> list[Resource]:
        """Resources currently published."""
        return list(self._resources.values())

    def _withdraw(self, resource: Resource) -> None:
        self._resources.pop(resource.token, None)
        self._withdrawn.add(resource.token)


class ResourceHandler(RequestHandler):
    """GET and HEAD of one resource (see the module docstring)."""

    server: ResourceServer

    def initialize(self, server: ResourceServer) -> None:
        self.server = server

    def compute_etag(self) -> None:
        return None  # the body is streamed: there is nothing to hash

    async def get(self, token: str, filename: str) -> None:
        await self._serve(token, filename, head=False)

    async def head(self, token: str, filename: str) -> None:
        await self._serve(token, filename, head=True)

    def _find(self, token: str, filename: str) -> Resource | None:
        resource = self.server.lookup(token)
        if resource is None or resource.filename != filename:
            status = 410 if self.server.is_withdrawn(token) else 404
            self._refuse(status)
            return None
        return resource

    def _refuse(self, status: int, length: int | None = None) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        if length is not None:
            self.set_header("Content-Range", f"bytes */{length}")
        self.finish(f"{status} {self._reason}\n".encode())

    async def _serve(self, token: str, filename: str, *, head: bool) -> None:
        resource = self._find(token, filename)  # tornado has already unquoted both
        if resource is None:
            return
        length = await _length(resource.payload, self.request.headers.get("Range"), head)
        try:
            span = _parse_range(self.request.headers.get("Range"), length)
        except _Unsatisfiable:
            self._refuse(416, length)
            return
        start, count = (0, length) if span is None else span
        self._headers_for(resource, start, count, length, span is not None)
        transfer = Transfer(self._consumer(), self.request.method or "GET", start, count)
        resource.transfers.append(transfer)
        if head:
            transfer.complete = True
            transfer.finished = time.monotonic()
            self.finish()
            return
        await self._stream(resource, transfer, start, count)

    def _headers_for(
        self, resource: Resource, start: int, count: int | None, length: int | None, partial: bool
    ) -> None:
        self.set_header("Content-Type", resource.content_type)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Accept-Ranges", "bytes")
        if count is not None:
            self.set_header("Content-Length", str(count))
        if partial and count is not None:
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{start + count - 1}/{length}")

    def _consumer(self) -> str:
        address = getattr(self.request.connection, "context", None)
        peer = getattr(address, "address", None)
        if isinstance(peer, tuple) and len(peer) >= 2:
            return f"{peer[0]}:{peer[1]}"
        return str(self.request.remote_ip)

    async def _stream(
        self, resource: Resource, transfer: Transfer, start: int, count: int | None
    ) -> None:
        pieces = resource.payload.open(start)
        remaining = count
        # Produce the next piece in a thread while the socket drains the last one.
        upcoming = asyncio.ensure_future(asyncio.to_thread(next, pieces, None))
        try:
            while remaining is None or remaining > 0:
                piece = await upcoming
                if piece is None:
                    break
                if remaining is not None:
                    piece = piece[:remaining]
                    remaining -= len(piece)
                if remaining is None or remaining > 0:
                    upcoming = asyncio.ensure_future(asyncio.to_thread(next, pieces, None))
                if not piece:
                    continue
                self.write(bytes(piece))
                await self.flush()
                transfer.bytes_sent += len(piece)
                resource._progress(transfer)
            await self.finish()
            transfer.complete = True
        except StreamClosedError:
            log.debug("%s closed the connection during %s", transfer.consumer, resource.url)
        finally:
            await _settle(upcoming)
            _close(pieces)
            transfer.finished = time.monotonic()
            resource._progress(transfer)  # a last call, so observers see the end
        if transfer.complete and start == 0 and isinstance(resource.payload, StreamPayload):
            resource.payload.learn_length(transfer.bytes_sent)


async def _settle(upcoming: asyncio.Future[Any]) -> None:
    """Let a prefetch that is still running end before the generator is closed."""
    if not upcoming.done():
        try:
            await upcoming
        except Exception:
            log.debug("prefetch failed after the response ended", exc_info=True)


def _close(pieces: Any) -> None:
    close = getattr(pieces, "close", None)
    if close is not None:
        close()


async def _length(payload: Payload, range_header: str | None, head: bool) -> int | None:
    """The payload's size; measured (in a thread) only when a range or HEAD needs it."""
    size = payload.length()
    if size is None and (head or range_header):
        size = await asyncio.to_thread(payload.measure)
    return size


class _Unsatisfiable(Exception):
    """The requested range starts beyond the end (answered with 416)."""


def _parse_range(header: str | None, length: int | None) -> tuple[int, int] | None:
    """``(start, count)`` for one satisfiable byte range, or None for everything.

    None means "send everything": no header, a malformed one, several ranges
    (allowed by HTTP: a server may ignore Range), or an unknown length.

    Raises
    ------
    _Unsatisfiable
        The range starts at or beyond the end, or is an empty suffix.
    """
    if not header or length is None or not header.startswith("bytes="):
        return None
    spec = header[len("bytes=") :].strip()
    if "," in spec or "-" not in spec:
        return None
    first, _, last = spec.partition("-")
    try:
        if not first:  # a suffix: the last N bytes
            suffix = int(last)
            if suffix <= 0:
                raise _Unsatisfiable
            begin = max(0, length - suffix)
            return begin, length - begin
        begin = int(first)
        end = int(last) if last else length - 1
    except ValueError:
        return None
    if begin >= length:
        raise _Unsatisfiable
    if begin < 0 or end < begin:
        return None
    end = min(end, length - 1)
    return begin, end - begin + 1
