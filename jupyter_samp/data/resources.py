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
and single ``Range`` requests. Bodies are streamed: each piece of the payload
is produced (in a worker thread) and written in chunks of :data:`CHUNK`
bytes, each one only after the socket has taken the previous one; the next
piece is produced while the last chunk of the current one is being written.
A download therefore holds one piece and one chunk, whatever its size and
however slowly its peer reads. How ranges are served depends on the payload
(see :mod:`jupyter_samp.data.payload`): binary VOTables encode only the rows
a range touches; documents of unknown size (TABLEDATA) are generated and
skipped, and their size is measured once, when first needed (``HEAD``,
``Range``; requests arriving meanwhile share that one measurement), or learnt
from the first complete fetch.

Nothing a peer does grows the server without bound:

* at most ``max_downloads`` GET responses are sent at once, and at most
  ``max_downloads_per_resource`` of one resource (so a resource under attack
  leaves room for the others); beyond that a GET is answered ``503`` with
  ``Retry-After``. ``HEAD`` requests send no body and are not counted;
* a download whose peer takes no chunk for ``stall_timeout`` seconds is
  dropped (logged as a warning);
* :attr:`Resource.transfers` keeps the last :data:`TRANSFER_HISTORY`
  responses; the totals (:attr:`Resource.bytes_sent`,
  :attr:`Resource.completed`, :attr:`Resource.requests`) count them all;
* a request with a body is answered ``400`` and its connection closed before
  the body is read; a connection idle for :data:`IDLE_TIMEOUT` is closed;
* at most ``max_connections`` connections are open: at the cap the one idle
  longest is closed to make room, never one whose response is being sent
  (:class:`~jupyter_samp.transport.capped_http.CappedHTTPServer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from asyncio import Future
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError
from tornado.web import Application, RequestHandler

from jupyter_samp.data.payload import (
    BytesPayload,
    FilePayload,
    Payload,
    Piece,
    StreamPayload,
)
from jupyter_samp.errors import InvalidValueError
from jupyter_samp.transport.capped_http import CappedHTTPServer
from jupyter_samp.transport.limits import ConnectionBook, ServerLimits
from jupyter_samp.transport.listen import listening_sockets

log = logging.getLogger("jupyter_samp.data")

#: ``callback(resource, bytes_sent, total)``: progress of one response.
ProgressObserver = Callable[["Resource", int, "int | None"], None]

#: Bytes handed to tornado at a time. A download waits until the socket has
#: taken a chunk before writing the next, so one whose peer does not read
#: holds at most this much in tornado's buffers.
CHUNK = 128 << 10
#: GET responses sent at once, over all resources (the default).
MAX_DOWNLOADS = 64
#: Seconds a download may wait for its peer to take a chunk (the default).
STALL_TIMEOUT = 30.0
#: Seconds a client refused with 503 is asked to wait (``Retry-After``).
RETRY_AFTER = 5
#: Responses kept in :attr:`Resource.transfers`; older ones are only counted.
TRANSFER_HISTORY = 100
#: Progress observers hear about a response at most once per this many bytes
#: (and at its end): chunks are small, and a notebook progress bar sends a
#: message to the browser at each call.
PROGRESS_STEP = 1 << 20
#: Connections open at once (the default); downloads are capped lower, so the
#: rest are idle keep-alive connections and HEAD or refused requests.
MAX_CONNECTIONS = 256
#: Seconds a connection may stay open between requests, or take to send a
#: request head (tornado's default is an hour, which lets idle peers pile up).
IDLE_TIMEOUT = 60.0


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
    reported: int = field(default=0, repr=False)  # bytes_sent at the last progress call


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
    transfers : collections.deque of Transfer
        The last :data:`TRANSFER_HISTORY` responses, oldest first (older ones
        are forgotten, so a peer repeating requests cannot grow it).
    requests : collections.Counter
        Responses begun per method (``"GET"``, ``"HEAD"``) since publication,
        including those no longer in :attr:`transfers`.
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
        self.transfers: deque[Transfer] = deque(maxlen=TRANSFER_HISTORY)
        self.requests: Counter[str] = Counter()
        self._bytes_sent = 0
        self._completed = 0
        self._measuring: asyncio.Future[int] | None = None
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
        """Bytes sent to all consumers together, by every response since publication."""
        return self._bytes_sent

    @property
    def consumers(self) -> dict[str, int]:
        """Bytes sent per consumer (``"address:port"``), over the responses in :attr:`transfers`."""
        totals: dict[str, int] = {}
        for transfer in self.transfers:
            totals[transfer.consumer] = totals.get(transfer.consumer, 0) + transfer.bytes_sent
        return totals

    @property
    def completed(self) -> int:
        """How many GET responses delivered their whole body, since publication."""
        return self._completed

    def observe(self, observer: ProgressObserver) -> Callable[[], None]:
        """Call ``observer(resource, bytes_sent, total)`` as each response progresses.

        ``bytes_sent`` counts the bytes of one response so far and ``total``
        is that response's size (None if unknown), so a progress bar can show
        ``bytes_sent / total``. It is called about once per
        :data:`PROGRESS_STEP` bytes, and once more when the response ends,
        completed or not (see :attr:`transfers`). Returns a function that
        stops the observation.
        Exceptions raised by an observer are logged and otherwise ignored.
        """
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def withdraw(self) -> None:
        """Stop serving: later requests get 410 Gone (responses under way finish)."""
        if not self.withdrawn:
            self.withdrawn = True
            self._server._withdraw(self)

    # ---------------------------------------------------- used by the handler

    def _begin(self, consumer: str, method: str, start: int, total: int | None) -> Transfer:
        """Record a response that starts now (the oldest record may be dropped)."""
        transfer = Transfer(consumer, method, start, total)
        self.transfers.append(transfer)
        self.requests[method] += 1
        return transfer

    def _sent(self, transfer: Transfer, count: int) -> None:
        """Count ``count`` bytes the socket took, telling observers every PROGRESS_STEP."""
        transfer.bytes_sent += count
        self._bytes_sent += count
        if transfer.bytes_sent - transfer.reported >= PROGRESS_STEP:
            self._progress(transfer)

    def _end(self, transfer: Transfer, complete: bool) -> None:
        """Mark a response as ended, then call the observers a last time."""
        transfer.complete = complete
        transfer.finished = time.monotonic()
        if complete and transfer.method == "GET":
            self._completed += 1
        self._progress(transfer)

    def _progress(self, transfer: Transfer) -> None:
        transfer.reported = transfer.bytes_sent
        for observer in list(self._observers):
            try:
                observer(self, transfer.bytes_sent, transfer.total)
            except Exception:
                log.exception("progress observer %r failed", observer)

    async def _size_for(self, range_header: str | None, head: bool) -> int | None:
        """The payload's size, measured (in a thread) only when a range or HEAD needs it.

        Raises
        ------
        Exception
            Whatever the payload raised while it was generated to be measured.
        """
        size = self.payload.length()
        if size is None and (head or range_header):
            size = await self._measure()
        return size

    async def _measure(self) -> int:
        """Generate the payload once to measure it, however many requests ask meanwhile."""
        if self._measuring is None:
            self._measuring = asyncio.ensure_future(asyncio.to_thread(self.payload.measure))
            self._measuring.add_done_callback(self._measured)
        # Shielded: one waiting request going away must not cancel it for the others.
        return await asyncio.shield(self._measuring)

    def _measured(self, future: asyncio.Future[int]) -> None:
        # A payload remembers a size it measured; a failed measurement is
        # forgotten so that a later request tries again.
        self._measuring = None
        if not future.cancelled():
            future.exception()  # marks it retrieved: the waiters have their copy


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


class _Downloads:
    """GET responses in progress, overall and per resource, against their caps."""

    def __init__(self, limit: int, per_resource: int) -> None:
        self.limit = limit
        self.per_resource = per_resource
        self.active = 0
        self._by_token: dict[str, int] = {}  # only tokens with a download in progress
        self._idle: asyncio.Event | None = None

    def refusal(self, token: str) -> str | None:
        """Why a new download of ``token`` cannot start now, or None if it can."""
        if self.active >= self.limit:
            return f"{self.limit} downloads are in progress, the most this server sends at once"
        if self._by_token.get(token, 0) >= self.per_resource:
            return (f"{self.per_resource} downloads of this resource are in progress, "
                    "the most it is sent at once")
        return None

    def take(self, token: str) -> None:
        """Count a download of ``token`` that starts (after :meth:`refusal` said yes)."""
        self.active += 1
        self._by_token[token] = self._by_token.get(token, 0) + 1

    def give_back(self, token: str) -> None:
        """Count a download of ``token`` that ended, however it ended."""
        self.active -= 1
        left = self._by_token.pop(token) - 1
        if left:
            self._by_token[token] = left
        if not self.active and self._idle is not None:
            self._idle.set()

    async def drained(self) -> None:
        """Wait until no download is in progress."""
        while self.active:
            if self._idle is None or self._idle.is_set():
                self._idle = asyncio.Event()
            await self._idle.wait()


def _require_positive(name: str, value: Any, *, integer: bool) -> None:
    """Check a limit given to :class:`ResourceServer` (bools are refused).

    Raises
    ------
    InvalidValueError
        ``value`` is not a positive integer (``integer``) or number.
    """
    number = isinstance(value, int) or (not integer and isinstance(value, float))
    if isinstance(value, bool) or not number or not value > 0:  # "not >": NaN too
        what = "integer" if integer else "number"
        raise InvalidValueError(f"{name} must be a positive {what}, not {value!r}")


class ResourceServer:
    """Serve published resources over HTTP on a loopback address.

    Parameters
    ----------
    addr : str
        Address to listen on; keep the default 127.0.0.1 unless the data must
        be reachable from other machines.
    port : int
        Port; 0 picks a free one.
    max_downloads : int
        GET responses sent at once, over all resources; more are answered
        ``503 Service Unavailable`` with ``Retry-After``.
    max_downloads_per_resource : int, optional
        The same for one resource; by default a quarter of ``max_downloads``
        (at least 1), so peers stuck on one resource leave room for others.
    stall_timeout : float
        Seconds a download may wait for its peer to take a chunk before it
        is dropped (its connection closed, with a warning in the log).
    max_connections : int
        Connections open at once; at the cap the one idle longest is closed.

    Raises
    ------
    InvalidValueError
        A limit or the timeout is not a positive number.
    """

    def __init__(
        self, addr: str = "127.0.0.1", port: int = 0, *, max_downloads: int = MAX_DOWNLOADS,
        max_downloads_per_resource: int | None = None, stall_timeout: float = STALL_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        _require_positive("max_downloads", max_downloads, integer=True)
        if max_downloads_per_resource is None:
            max_downloads_per_resource = max(1, max_downloads // 4)
        _require_positive("max_downloads_per_resource", max_downloads_per_resource, integer=True)
        _require_positive("stall_timeout", stall_timeout, integer=False)
        _require_positive("max_connections", max_connections, integer=True)
        self.stall_timeout = float(stall_timeout)
        self.limits = ServerLimits(max_connections=max_connections, idle_timeout=IDLE_TIMEOUT)
        self.addr = addr
        self.port = port
        #: A public prefix that reaches this server's paths from elsewhere
        #: (a Jupyter server's data endpoint, see :mod:`jupyter_samp.remote`):
        #: resources published while it is set get URLs under it.
        self.public_base: str | None = None
        self._downloads = _Downloads(max_downloads, max_downloads_per_resource)
        self._server: CappedHTTPServer | None = None
        self._resources: dict[str, Resource] = {}
        self._withdrawn: set[str] = set()

    @property
    def base_url(self) -> str:
        """Where resources published now are found: :attr:`public_base`, else ``http://ADDR:PORT``.

        The server must be started.
        """
        if self._server is None:
            raise RuntimeError("the resource server is not started")
        return self.public_base or self.local_url

    @property
    def local_url(self) -> str:
        """``http://ADDR:PORT``, where the server listens (it must be started)."""
        return f"http://{self.addr}:{self.port}"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._server is not None

    @property
    def downloads(self) -> int:
        """GET responses being sent now, over all resources."""
        return self._downloads.active

    @property
    def max_downloads(self) -> int:
        """GET responses sent at once, over all resources, before others get 503."""
        return self._downloads.limit

    @property
    def max_downloads_per_resource(self) -> int:
        """GET responses of one resource sent at once, before others get 503."""
        return self._downloads.per_resource

    def start(self) -> ResourceServer:
        """Listen (on the running event loop); returns self. Starting twice is harmless."""
        if self._server is None:
            app = Application(
                [(r"/([^/]*)/([^/]*)", ResourceHandler, {"server": self})],
                log_function=lambda handler: None,
            )
            sockets = listening_sockets(self.addr, self.port)
            self.port = sockets[0].getsockname()[1]
            # GET and HEAD carry no body: tornado would otherwise buffer up to
            # 100 MB of one before the handler runs, on every connection.
            self._server = CappedHTTPServer(
                app, max_body_size=0, idle_connection_timeout=IDLE_TIMEOUT, limits=self.limits
            )
            self._server.add_sockets(sockets)
        return self

    @property
    def book(self) -> ConnectionBook | None:
        """The open connections and their cap, while listening."""
        return self._server.book if self._server is not None else None

    async def close(self) -> None:
        """Withdraw everything, stop listening, close open connections.

        Returns once the downloads that were under way have ended (their
        connections closed, the piece being produced for each, if any, done),
        so none is left running when the event loop stops.
        """
        for resource in list(self._resources.values()):
            resource.withdraw()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None
            await self._downloads.drained()

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


class _Stalled(Exception):
    """The peer took no chunk within the stall timeout."""


class _Chunks:
    """A payload's bytes from an offset, as bytes objects of at most :data:`CHUNK` each.

    Pieces are produced in a worker thread. The next one is asked for when
    the last chunk of the current one is handed out, and the current one is
    let go then: a download holds at most one piece and one chunk, and
    producing the next piece overlaps with sending the end of the last.

    Parameters
    ----------
    iterator : iterator of Piece
        From :meth:`Payload.open`.
    count : int or None
        Bytes to hand out; None for all the payload has.
    """

    def __init__(self, iterator: Iterator[Piece], count: int | None) -> None:
        self._iterator = iterator
        self._remaining = count
        self._rest: Piece | None = None  # what is left of the current piece
        self._next: asyncio.Future[Any] | None = None

    async def next(self) -> bytes | None:
        """The next chunk, or None at the end.

        Raises
        ------
        Exception
            Whatever the payload raised while producing a piece.
        """
        while not self._rest:
            if self._remaining == 0:
                return None
            piece = await self._produced()
            if piece is None:
                return None
            self._rest = self._trimmed(piece)
        chunk, self._rest = _split(self._rest)
        if not self._rest and self._remaining != 0:
            self._prefetch()
        return chunk

    async def close(self) -> None:
        """Let a piece still being produced finish, then close the payload's iterator."""
        if self._next is not None:
            try:
                await self._next  # a generator cannot be closed while it runs
            except Exception:
                log.debug("producing a piece failed after the response ended", exc_info=True)
            self._next = None
        self._rest = None
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()

    def _prefetch(self) -> None:
        if self._next is None:
            self._next = asyncio.ensure_future(asyncio.to_thread(next, self._iterator, None))

    async def _produced(self) -> Piece | None:
        self._prefetch()
        assert self._next is not None
        upcoming, self._next = self._next, None
        piece = await upcoming
        if piece is None or isinstance(piece, (bytes, memoryview)):
            return piece
        return memoryview(piece).cast("B")  # a function's bytearray, say: by byte, uncopied

    def _trimmed(self, piece: Piece) -> Piece:
        """``piece`` cut to the bytes still wanted (a view: no copy)."""
        if self._remaining is None:
            return piece
        if len(piece) > self._remaining:
            piece = memoryview(piece)[: self._remaining]
        self._remaining -= len(piece)
        return piece


def _split(piece: Piece) -> tuple[bytes, Piece | None]:
    """The first chunk of ``piece`` as bytes (tornado writes only bytes), and the rest.

    A bytes piece that fits is passed on as it is; otherwise one chunk is
    copied and the rest stays a view.
    """
    if isinstance(piece, bytes) and len(piece) <= CHUNK:
        return piece, None
    view = memoryview(piece)
    rest = view[CHUNK:]
    return bytes(view[:CHUNK]), (rest if len(rest) else None)


class ResourceHandler(RequestHandler):
    """GET and HEAD of one resource (see the module docstring)."""

    server: ResourceServer

    def initialize(self, server: ResourceServer) -> None:
        self.server = server

    def compute_etag(self) -> None:
        return None  # the body is streamed: there is nothing to hash

    async def get(self, token: str, filename: str) -> None:
        resource = self._find(token, filename)  # tornado has already unquoted both
        if resource is None:
            return
        downloads = self.server._downloads
        refusal = downloads.refusal(token)
        if refusal is not None:
            log.debug("refused a download of %s: %s", resource.filename, refusal)
            with contextlib.suppress(StreamClosedError):  # the peer did not wait for it
                await self._refuse(503, detail=refusal, retry_after=RETRY_AFTER)
            self._drop_connection()  # the peer is to come back later, not to hold a connection
            return
        downloads.take(token)
        try:
            await self._serve(resource, head=False)
        finally:
            downloads.give_back(token)

    async def head(self, token: str, filename: str) -> None:
        resource = self._find(token, filename)
        if resource is not None:
            await self._serve(resource, head=True)

    def _find(self, token: str, filename: str) -> Resource | None:
        resource = self.server.lookup(token)
        if resource is None or resource.filename != filename:
            status = 410 if self.server.is_withdrawn(token) else 404
            self._refuse(status)
            return None
        return resource

    def _refuse(
        self, status: int, length: int | None = None, *, detail: str | None = None,
        retry_after: int | None = None,
    ) -> Future[None]:
        """Answer ``status`` with a one-line plain-text body (and ``detail`` after it).

        Returns tornado's future for the answer being written.
        """
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        if length is not None:
            self.set_header("Content-Range", f"bytes */{length}")
        if retry_after is not None:
            self.set_header("Retry-After", str(retry_after))
        line = f"{status} {self._reason}" + (f": {detail}" if detail else "")
        return self.finish(f"{line}\n".encode())

    async def _serve(self, resource: Resource, *, head: bool) -> None:
        range_header = self.request.headers.get("Range")
        length = await resource._size_for(range_header, head)
        try:
            span = _parse_range(range_header, length)
        except _Unsatisfiable:
            self._refuse(416, length)
            return
        start, count = (0, length) if span is None else span
        self._headers_for(resource, start, count, length, span is not None)
        transfer = resource._begin(self._consumer(), "HEAD" if head else "GET", start, count)
        if head:
            resource._end(transfer, complete=True)
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
        """Send the body; a peer that goes away or stops reading ends it, incomplete."""
        chunks = _Chunks(resource.payload.open(start), count)
        complete = False
        try:
            await self._send_chunks(resource, transfer, chunks)
            await self.finish()
            complete = True
        except StreamClosedError:
            log.debug("%s closed the connection during %s", transfer.consumer, resource.filename)
        except _Stalled:
            log.warning(
                "dropped the download of %s by %s: it took no data for %g s "
                "(%d of %s bytes sent)", resource.filename, transfer.consumer,
                self.server.stall_timeout, transfer.bytes_sent,
                "?" if transfer.total is None else transfer.total,
            )
            self._drop_connection()
        finally:
            await chunks.close()
            resource._end(transfer, complete)  # a last progress call, so observers see the end
        if complete and start == 0 and isinstance(resource.payload, StreamPayload):
            resource.payload.learn_length(transfer.bytes_sent)

    def _drop_connection(self) -> None:
        """Close the connection, and with it whatever tornado still buffers for it."""
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.close()

    async def _send_chunks(self, resource: Resource, transfer: Transfer, chunks: _Chunks) -> None:
        """Write every chunk (the headers go with the first), each once the socket took the last.

        Raises
        ------
        StreamClosedError
            The peer closed the connection.
        _Stalled
            The peer took no chunk within the stall timeout.
        """
        while (chunk := await chunks.next()) is not None:
            await self._send_chunk(chunk)
            resource._sent(transfer, len(chunk))

    async def _send_chunk(self, chunk: bytes) -> None:
        """Write one chunk and wait until the socket has taken it.

        Waiting is what keeps a download's memory to one chunk: tornado
        buffers whatever is written without waiting.

        Raises
        ------
        StreamClosedError
            The peer closed the connection.
        _Stalled
            The chunk was not taken within the stall timeout.
        """
        self.write(chunk)
        try:
            await asyncio.wait_for(self.flush(), self.server.stall_timeout)
        except asyncio.TimeoutError:
            raise _Stalled from None


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
