"""A lean SAMP load generator: raw asyncio HTTP/XML-RPC, one process per worker.

Used by ``bench_hub.py`` (and importable on its own). The point is to load a
hub without the load generator being the bottleneck, so the hot path avoids
everything general: requests are pre-formatted byte templates, answers and
callbacks are parsed with a few regular expressions (falling back to
:mod:`xmlrpc.client` only when a peer writes something unexpected), and HTTP
is a small :class:`asyncio.Protocol` on keep-alive connections (one per
flow, so nothing queues inside the load generator).

A *worker* (:func:`worker_main`, run in its own process) registers
``senders`` and ``receivers`` SAMP clients with the hub, each with its own
callback server, and runs ``flows`` closed loops spread over the senders.
Every loop sends one message, waits for it to complete, records the round
trip, and sends the next:

``sync``
    ``samp.hub.callAndWait`` to a receiver, which replies at once; complete
    when the hub answers the call.
``async``
    ``samp.hub.call`` with a unique tag; the receiver replies with
    ``samp.hub.reply``; complete when ``receiveResponse`` reaches the sender.
``notify``
    ``samp.hub.notify``; complete when ``receiveNotification`` reaches the
    receiver (the loop waits for the delivery, so the hub cannot queue an
    unbounded backlog and the count is of messages delivered).

Only completions inside the measurement window (after a warm-up) count. An
operation with no outcome after ``op_timeout`` seconds counts as *lost* (a
hub that drops a reply), and its loop carries on with a fresh connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import re
import socket
import time
import traceback
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MODES = ("sync", "async", "notify")
CALL_MTYPE = "bench.echo"
NOTIFY_MTYPE = "bench.notify"

_HEAD_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)")
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r]*chunked")
_CONN_CLOSE = re.compile(rb"\r\nconnection:[^\r]*close")
_CONN_KEEP = re.compile(rb"\r\nconnection:[^\r]*keep-alive")
_METHOD = re.compile(rb"<methodName>\s*samp\.client\.(\w+)\s*</methodName>")
_STRING_PARAM = re.compile(
    rb"<param>\s*<value>(?:\s*<string>([^<]*)</string>\s*|([^<]*))</value>\s*</param>"
)
_TOKEN = re.compile(rb"<name>bench\.k</name>\s*<value>\s*(?:<string>)?\s*([^<\s]+)")
_EMPTY_RESPONSE = (
    b"<?xml version='1.0'?>\n<methodResponse><params><param><value><string></string>"
    b"</value></param></params></methodResponse>\n"
)
_OK_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
    + str(len(_EMPTY_RESPONSE)).encode()
    + b"\r\n\r\n"
    + _EMPTY_RESPONSE
)
_CLOSE_ANSWER = _OK_ANSWER.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _s(text: str) -> str:
    """A string parameter (``text`` may be a ``%s`` slot)."""
    return f"<param><value><string>{text}</string></value></param>"


def _call(method: str, *params: str) -> str:
    """A ``methodCall`` document from already encoded ``<param>`` elements."""
    return (
        f"<?xml version='1.0'?>\n<methodCall><methodName>{method}</methodName>"
        f"<params>{''.join(params)}</params></methodCall>\n"
    )


def _message(mtype: str, token: bool) -> str:
    """A message parameter; with ``token``, ``bench.k`` holds a ``%s`` slot."""
    inner = "<member><name>bench.k</name><value><string>%s</string></value></member>"
    return (
        "<param><value><struct><member><name>samp.mtype</name><value><string>"
        f"{mtype}</string></value></member><member><name>samp.params</name><value>"
        f"<struct>{inner if token else ''}</struct></value></member></struct></value></param>"
    )


_OK_RESPONSE = (
    "<param><value><struct><member><name>samp.status</name><value><string>samp.ok"
    "</string></value></member><member><name>samp.result</name><value><struct></struct>"
    "</value></member></struct></value></param>"
)


# ---------------------------------------------------------------- HTTP client


class _ClientProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.must_close = False
        self._buf = bytearray()
        self._waiter: asyncio.Future[bytes] | None = None
        self._body_at = -1
        self._body_end = -1
        self._chunked = False
        self._until_close = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            if self._until_close:
                waiter.set_result(bytes(self._buf[self._body_at :]))
            else:
                waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def request(self, data: bytes) -> asyncio.Future[bytes]:
        """Send one request; the future gets the answer's body."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._body_at = -1
        self.transport.write(data)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if self._waiter is None:
            return
        if self._body_at < 0:
            end = buf.find(_HEAD_END)
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            self._body_at = end + 4
            keep = head.startswith(b"http/1.1") or bool(_CONN_KEEP.search(head))
            self.must_close = not keep or bool(_CONN_CLOSE.search(head))
            self._chunked = bool(_CHUNKED.search(head))
            length = _CONTENT_LENGTH.search(head)
            self._until_close = not self._chunked and length is None
            self._body_end = self._body_at + int(length.group(1)) if length else -1
        if self._until_close:
            return
        if self._chunked:
            found = _dechunk(buf, self._body_at)
            if found is None:
                return
            body, end = found
        else:
            if len(buf) < self._body_end:
                return
            body, end = bytes(buf[self._body_at : self._body_end]), self._body_end
        del buf[:end]
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result(body)

    def close(self) -> None:
        """Close the connection."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a complete chunked body from ``buf[start:]``; None if incomplete."""
    pieces: list[bytes] = []
    pos = start
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";")[0].strip() or b"0", 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n", pos)
            while trailer_end > pos:  # skip trailer lines
                pos = trailer_end + 2
                trailer_end = buf.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return b"".join(pieces), trailer_end + 2
        if len(buf) < pos + size + 2:
            return None
        pieces.append(bytes(buf[pos : pos + size]))
        pos += size + 2


class Link:
    """A keep-alive HTTP connection to one XML-RPC URL, reopened when needed."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self._head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: text/xml\r\nUser-Agent: samp-loadgen\r\nContent-Length: "
        ).encode("latin-1")
        self._proto: _ClientProtocol | None = None

    async def post(self, body: bytes, timeout: float) -> bytes:
        """POST ``body`` and return the answer's body.

        Raises
        ------
        TimeoutError
            If no whole answer came within ``timeout`` seconds (the connection is dropped).
        ConnectionError, OSError
            If the connection failed.
        """
        proto = self._proto
        if proto is None or proto.closed:
            loop = asyncio.get_running_loop()
            _, proto = await loop.create_connection(_ClientProtocol, self.host, self.port)
            self._proto = proto
        future = proto.request(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
        timer = asyncio.get_running_loop().call_later(timeout, _expire, future)
        try:
            answer = await future
        except BaseException:
            proto.close()
            self._proto = None
            raise
        finally:
            timer.cancel()
        if proto.must_close:
            proto.close()
            self._proto = None
        return answer

    def close(self) -> None:
        """Close the connection, if open."""
        if self._proto is not None:
            self._proto.close()
            self._proto = None


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("no answer in time"))


# ---------------------------------------------------------------- callback server


class _ServerProtocol(asyncio.Protocol):
    """Serves XML-RPC callbacks: answers ``""`` at once, then hands the body on."""

    def __init__(self, handle: Callable[[bytes], None]) -> None:
        self._handle = handle
        self._buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while True:
            end = buf.find(_HEAD_END)
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            if _CHUNKED.search(head):
                found = _dechunk(buf, end + 4)
                if found is None:
                    return
                body, stop = found
            else:
                length = _CONTENT_LENGTH.search(head)
                stop = end + 4 + (int(length.group(1)) if length else 0)
                if len(buf) < stop:
                    return
                body = bytes(buf[end + 4 : stop])
            del buf[:stop]
            request_line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
            http10 = request_line.endswith(b"http/1.0")
            close = bool(_CONN_CLOSE.search(head)) or (http10 and not _CONN_KEEP.search(head))
            assert self.transport is not None
            self.transport.write(_CLOSE_ANSWER if close else _OK_ANSWER)
            if head.startswith(b"post"):
                try:
                    self._handle(body)
                except Exception:  # a bad callback must not kill the connection
                    traceback.print_exc()
            if close:
                self.transport.close()
                return


def _string_params(body: bytes) -> list[str]:
    """The top-level string parameters of an XML-RPC call, in order."""
    values = []
    for match in _STRING_PARAM.finditer(body):
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        text = raw.decode("utf-8")
        values.append(html.unescape(text) if "&" in text else text)
    return values


def _fault(body: bytes) -> bool:
    return b"<fault>" in body


# ---------------------------------------------------------------- SAMP agents


@dataclass
class WorkerSpec:
    """What one worker process does.

    Attributes
    ----------
    mode : str
        ``sync``, ``async`` or ``notify``.
    hub_url, secret : str
        From the hub's lockfile.
    senders, receivers, flows : int
        SAMP clients that send, SAMP clients that receive, and concurrent
        closed loops (spread over the senders; each loop targets a receiver).
    warmup, duration : float
        Seconds of warm-up (not counted), then of measurement.
    op_timeout : float
        Seconds after which an operation counts as lost.
    name : str
        Prefix of the clients' ``samp.name``.
    """

    mode: str
    hub_url: str
    secret: str
    senders: int = 2
    receivers: int = 2
    flows: int = 4
    warmup: float = 0.5
    duration: float = 5.0
    op_timeout: float = 10.0
    name: str = "loadgen"


@dataclass
class WorkerResult:
    """What one worker measured (latencies in seconds)."""

    completed: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    lost: int = 0
    cpu_seconds: float = 0.0
    window: float = 0.0
    failure: str | None = None
    first_error: str | None = None


class _Agent:
    """One registered SAMP client with its callback server and a pool of hub links."""

    def __init__(self, worker: _Worker, hub_url: str) -> None:
        self.worker = worker
        self.hub_url = hub_url
        self.key = ""
        self.id = ""
        self.url = ""
        self._server: asyncio.base_events.Server | None = None
        self._idle: list[Link] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def register(self, secret: str, name: str, subscriptions: dict[str, Any]) -> None:
        """Register, declare metadata, start the callback server and subscribe."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ServerProtocol(self.on_callback), "127.0.0.1", 0, backlog=256
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/xmlrpc"
        info = await self.setup_call("samp.hub.register", secret)
        self.key, self.id = info["samp.private-key"], info["samp.self-id"]
        await self.setup_call("samp.hub.declareMetadata", self.key, {"samp.name": name})
        await self.setup_call("samp.hub.setXmlrpcCallback", self.key, self.url)
        await self.setup_call("samp.hub.declareSubscriptions", self.key, subscriptions)

    async def setup_call(self, method: str, *params: Any) -> Any:
        """A general (slow-path) XML-RPC call to the hub."""
        body = xmlrpc.client.dumps(params, method).encode("utf-8")
        link = self.take_link()
        try:
            answer = await link.post(body, 30.0)
        finally:
            self.give_link(link)
        return xmlrpc.client.loads(answer)[0][0]

    def take_link(self) -> Link:
        """An idle hub link (or a new one)."""
        return self._idle.pop() if self._idle else Link(self.hub_url)

    def give_link(self, link: Link) -> None:
        """Return a link to the pool."""
        self._idle.append(link)

    def on_callback(self, body: bytes) -> None:
        """Handle one ``samp.client.*`` callback (already answered)."""
        match = _METHOD.search(body)
        if match is None:
            return
        method = match.group(1)
        if method == b"receiveNotification":
            token = _TOKEN.search(body)
            if token is not None:
                self.worker.complete(token.group(1).decode())
        elif method == b"receiveCall":
            strings = _string_params(body)
            if len(strings) < 3:  # an unexpected encoding: decode it properly
                strings = [str(p) for p in xmlrpc.client.loads(body)[0][:3]]
            task = asyncio.get_running_loop().create_task(self._reply(strings[2]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif method == b"receiveResponse":
            strings = _string_params(body)
            if len(strings) < 3:
                strings = [str(p) for p in xmlrpc.client.loads(body)[0][:3]]
            self.worker.complete(strings[2])

    async def _reply(self, msg_id: str) -> None:
        link = self.take_link()
        try:
            answer = await link.post(self.worker.reply_body(self.key, msg_id), self.worker.timeout)
        except (OSError, TimeoutError) as exc:
            self.worker.note_error(f"reply failed: {exc!r}")
            return
        self.give_link(link)
        if _fault(answer):
            self.worker.note_error(f"reply fault: {answer[:300]!r}")

    async def close(self) -> None:
        """Unregister (briefly) and stop the callback server."""
        if self.key:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.setup_call("samp.hub.unregister", self.key), 5.0)
        for link in self._idle:
            link.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()


class _Worker:
    """Runs the closed loops of one worker process."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.timeout = spec.op_timeout
        self.result = WorkerResult()
        self.waiters: dict[str, asyncio.Future[None]] = {}
        self._tokens = itertools.count(1)
        self._reply = _call("samp.hub.reply", _s("%s"), _s("%s"), _OK_RESPONSE)
        self.window_start = self.window_end = 0.0
        self.stopping = False

    def reply_body(self, key: str, msg_id: str) -> bytes:
        """The body of ``samp.hub.reply(key, msg_id, {samp.ok})``."""
        return (self._reply % (_esc(key), _esc(msg_id))).encode("utf-8")

    def complete(self, token: str) -> None:
        """A response or a notification for ``token`` arrived."""
        waiter = self.waiters.pop(token, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def note_error(self, text: str) -> None:
        """Count an error and keep the first message."""
        self.result.errors += 1
        if self.result.first_error is None:
            self.result.first_error = text[:500]

    def record(self, started: float, now: float) -> None:
        """Count a completion inside the measurement window."""
        if self.window_start <= now <= self.window_end:
            self.result.completed += 1
            self.result.latencies.append(now - started)

    async def run(self, ready: Callable[[], None], start_at: Callable[[], float]) -> None:
        """Register, report ``ready()``, wait for ``start_at()``, run the loops, unregister.

        ``start_at()`` returns 0 until the parent sets the start time
        (``time.monotonic()`` of the warm-up's start), and a negative number
        to abort.
        """
        spec = self.spec
        senders = [_Agent(self, spec.hub_url) for _ in range(spec.senders)]
        receivers = [_Agent(self, spec.hub_url) for _ in range(spec.receivers)]
        subscriptions: dict[str, Any] = {CALL_MTYPE: {}, NOTIFY_MTYPE: {}}
        try:
            for i, agent in enumerate(senders):
                await agent.register(spec.secret, f"{spec.name}-send-{i}", {})
            for i, agent in enumerate(receivers):
                await agent.register(spec.secret, f"{spec.name}-recv-{i}", subscriptions)
            ready()
            deadline = time.monotonic() + 120.0
            while start_at() == 0.0 and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            begin = start_at()
            if begin <= 0.0:
                raise RuntimeError("aborted by the parent (or no start signal)")
            self.window_start = begin + spec.warmup
            self.window_end = self.window_start + spec.duration
            await self._run_loops(begin, senders, receivers)
        finally:
            for agent in (*senders, *receivers):
                await agent.close()

    async def _run_loops(
        self, begin: float, senders: list[_Agent], receivers: list[_Agent]
    ) -> None:
        spec = self.spec
        await asyncio.sleep(max(0.0, begin - time.monotonic()))
        loop = asyncio.get_running_loop()
        tasks = []
        for index in range(spec.flows):
            sender = senders[index % len(senders)]
            receiver = receivers[index % len(receivers)]
            tasks.append(loop.create_task(self._flow(sender, receiver.id)))
        await asyncio.sleep(max(0.0, self.window_start - time.monotonic()))
        cpu0 = time.process_time()
        await asyncio.sleep(max(0.0, self.window_end - time.monotonic()))
        self.result.cpu_seconds = time.process_time() - cpu0
        self.result.window = spec.duration
        self.stopping = True
        _, pending = await asyncio.wait(tasks, timeout=self.timeout + 6.0)
        for task in pending:
            task.cancel()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                self.note_error(f"flow crashed: {task.exception()!r}")

    def _template(self, sender: _Agent, target: str) -> bytes:
        mode = self.spec.mode
        key, recipient = _esc(sender.key).replace("%", "%%"), _esc(target).replace("%", "%%")
        if mode == "sync":
            seconds = _s(str(int(self.timeout)))
            text = _call("samp.hub.callAndWait", _s(key), _s(recipient),
                         _message(CALL_MTYPE, token=False), seconds)
            return (text.replace("%%", "%")).encode("utf-8")
        if mode == "async":
            text = _call("samp.hub.call", _s(key), _s(recipient), _s("%s"),
                         _message(CALL_MTYPE, token=False))
        else:
            text = _call("samp.hub.notify", _s(key), _s(recipient),
                         _message(NOTIFY_MTYPE, token=True))
        return text.encode("utf-8")

    async def _flow(self, sender: _Agent, target: str) -> None:
        mode = self.spec.mode
        template = self._template(sender, target)
        link = Link(self.spec.hub_url)
        loop = asyncio.get_running_loop()
        clock = time.monotonic
        timeout = self.timeout
        try:
            while not self.stopping:
                started = clock()
                try:
                    if mode == "sync":
                        answer = await link.post(template, timeout + 5.0)
                        if _fault(answer) and clock() - started >= 0.9 * timeout:
                            self.result.lost += 1  # the hub's own callAndWait timeout
                        elif _fault(answer):
                            self.note_error(f"callAndWait fault: {answer[:300]!r}")
                        else:
                            self.record(started, clock())
                        continue
                    token = f"t{next(self._tokens)}"
                    waiter: asyncio.Future[None] = loop.create_future()
                    self.waiters[token] = waiter
                    try:
                        answer = await link.post(template % token.encode(), timeout)
                        if _fault(answer):
                            self.note_error(f"{mode} fault: {answer[:300]!r}")
                            continue
                        timer = loop.call_later(timeout, _expire, waiter)
                        try:
                            await waiter
                        finally:
                            timer.cancel()
                    finally:
                        self.waiters.pop(token, None)
                    self.record(started, clock())
                except TimeoutError:
                    self.result.lost += 1
                except OSError as exc:  # ConnectionError is an OSError
                    self.note_error(f"{mode}: {exc!r}")
                    await asyncio.sleep(0.01)  # a refused connection: do not spin
        finally:
            link.close()


def run_worker(
    spec: WorkerSpec,
    ready: Callable[[], None] = lambda: None,
    start_at: Callable[[], float] | None = None,
) -> WorkerResult:
    """Run one worker to completion in this process (with its own event loop).

    Without ``start_at`` the loops start 0.1 s after registration.
    """
    worker = _Worker(spec)
    if start_at is None:
        fixed: list[float] = []
        notify = ready

        def signal_ready() -> None:
            fixed.append(time.monotonic() + 0.1)
            notify()

        def start() -> float:
            return fixed[0] if fixed else 0.0

        ready, start_at = signal_ready, start
    try:
        asyncio.run(worker.run(ready, start_at))
    except Exception as exc:
        worker.result.failure = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}"
    return worker.result


def worker_main(index: int, ready: Any, start: Any, results: Any, spec: WorkerSpec) -> None:
    """Process entry point (see ``_common.run_processes``).

    Puts ``index`` on the ``ready`` queue once registered, waits until the
    shared double ``start`` is set (negative: abort), runs, and puts
    ``(index, WorkerResult)`` on ``results``.
    """
    result = run_worker(spec, lambda: ready.put(index), lambda: float(start.value))
    results.put((index, result))
