"""What a peer may hold on an RpcServer: connections, time and memory, each bounded."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from jupyter_samp.transport.limits import ConnectionBook, ServerLimits, default_max_connections
from jupyter_samp.transport.rpcserver import RpcServer, _Connection

from .test_rpcserver import PROMPT, Endpoint, Wire, post

SHORT = 0.3  # seconds: the timeouts under test


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint()


@contextlib.asynccontextmanager
async def _server(endpoint: Endpoint, **limits: float) -> AsyncIterator[RpcServer]:
    server = RpcServer(endpoint, "127.0.0.1", limits=ServerLimits(**limits))  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        endpoint.release.set()
        await server.stop(grace=0)


async def _wire(server: RpcServer, rcvbuf: int | None = None) -> Wire:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    return Wire(reader, writer)


async def _closed_by_server(wire: Wire) -> bool:
    """Read until the server closes (or resets) the connection; True when it did."""
    try:
        await asyncio.wait_for(wire.reader.read(), PROMPT)
    except ConnectionResetError:
        return True  # an abort while we were still writing arrives as a reset
    return wire.reader.at_eof()


def _close(*wires: Wire) -> None:
    for wire in wires:
        wire.writer.close()


# ---------------------------------------------------------------- timeouts


async def test_idle_keep_alive_connection_is_closed(endpoint: Endpoint) -> None:
    """A connection that sends nothing more after its answer is closed after idle_timeout."""
    async with _server(endpoint, idle_timeout=SHORT) as server:
        wire = await _wire(server)
        assert await wire.call(post("echo", "x")) == ["x"]
        assert await _closed_by_server(wire)
        await server.book.until(lambda: server.connections == 0)
        assert server.book.timed_out == 1
        _close(wire)


async def test_slow_head_is_closed(endpoint: Endpoint) -> None:
    """A head that trickles in (slowloris) is cut off after head_timeout, however lively."""
    async with _server(endpoint, head_timeout=SHORT, idle_timeout=SHORT) as server:
        wire = await _wire(server)
        wire.send(b"POST /xmlrpc HTTP/1.1\r\nX-Slow: ")

        async def trickle() -> None:
            while not wire.writer.is_closing():
                wire.send(b"a")
                await asyncio.sleep(SHORT / 10)  # the attacker's pace, not a synchronisation

        trickler = asyncio.ensure_future(trickle())
        try:
            assert await _closed_by_server(wire)
        finally:
            trickler.cancel()
        assert server.book.timed_out == 1
        _close(wire)


async def test_slow_body_is_closed(endpoint: Endpoint) -> None:
    """A body that never completes is cut off after body_timeout."""
    async with _server(endpoint, body_timeout=SHORT) as server:
        wire = await _wire(server)
        wire.send(b"POST /xmlrpc HTTP/1.1\r\nContent-Length: 100\r\n\r\nx")
        assert await _closed_by_server(wire)
        _close(wire)


async def test_a_running_call_is_never_timed_out(endpoint: Endpoint) -> None:
    """A call under way (callAndWait) outlives every connection timeout."""
    async with _server(endpoint, idle_timeout=SHORT, head_timeout=SHORT) as server:
        wire = await _wire(server)
        wire.send(post("slow", "done"))
        await asyncio.wait_for(endpoint.slow_started.wait(), PROMPT)
        server.book.sweep(asyncio.get_running_loop().time() + 100)
        endpoint.release.set()
        assert (await wire.reply()).value() == ["done"]
        _close(wire)


# ---------------------------------------------------------------- caps


async def test_connection_cap_closes_the_longest_quiet(endpoint: Endpoint) -> None:
    """Past the cap a new connection is taken in and the oldest quiet one closed."""
    async with _server(endpoint, max_connections=4) as server:
        wires = [await _wire(server) for _ in range(4)]
        await server.book.until(lambda: server.connections == 4)
        extra = [await _wire(server) for _ in range(8)]
        assert await extra[-1].call(post("echo", "served")) == ["served"]
        assert server.connections <= 4
        assert await _closed_by_server(wires[0])
        assert server.book.evicted >= 8
        _close(*wires, *extra)


async def test_cap_never_closes_a_connection_with_a_call_under_way(endpoint: Endpoint) -> None:
    """When every connection carries a call, a new one is refused; the calls finish."""
    async with _server(endpoint, max_connections=2) as server:
        busy = [await _wire(server) for _ in range(2)]
        for wire in busy:
            wire.send(post("slow", "kept"))
        await server.book.until(lambda: not server.book._quiet)
        refused = await _wire(server)
        assert await _closed_by_server(refused)
        assert server.book.refused == 1
        endpoint.release.set()
        for wire in busy:
            assert (await wire.reply()).value() == ["kept"]
        _close(*busy, refused)


def test_default_cap_leaves_room_below_the_descriptor_limit() -> None:
    """The default cap stays well under the process's file descriptor limit."""
    resource = pytest.importorskip("resource")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert 16 <= default_max_connections() <= max(16, soft // 2)


# ---------------------------------------------------------------- peers that do not read


async def test_peer_that_never_reads_is_not_read_further(endpoint: Endpoint) -> None:
    """Pipelined calls with big answers, never read: the server stops reading, then drops it.

    Without backpressure every answer would pile up in the server's write
    buffer (the attack took a hub from 31 MB to 1.6 GB).
    """
    endpoint.max_body = 1 << 22
    big = "x" * (1 << 20)
    async with _server(endpoint, write_timeout=1.0) as server:
        attacker = await _wire(server, rcvbuf=4096)
        for _ in range(100):
            attacker.send(post("echo", big))
        canary = await _wire(server)
        await server.book.until(lambda: bool(server.book._stalled))
        answered_while_stalled = endpoint.calls.count("echo")
        for n in range(20):  # the canary is served meanwhile
            assert await canary.call(post("echo", str(n))) == [str(n)]
        assert endpoint.calls.count("echo") - answered_while_stalled <= 20 + 1
        unsent = max(c.unsent() for c in server._connections())
        assert unsent < 8 << 20, f"{unsent} bytes held for a peer that does not read"
        # Dropped after write_timeout (waited for without reading, which would unstall it).
        await server.book.until(lambda: server.connections == 1)
        assert endpoint.calls.count("echo") < 20 + 40
        _close(attacker, canary)


async def test_unread_answers_are_bounded_over_all_connections(endpoint: Endpoint) -> None:
    """Many stalled peers together hold at most max_unsent_total; the biggest is dropped."""
    endpoint.max_body = 1 << 23
    big = "y" * (4 << 20)  # more than the kernel's socket buffers take
    async with _server(endpoint, max_unsent_total=4 << 20) as server:
        stalled = [await _wire(server, rcvbuf=4096) for _ in range(6)]
        for wire in stalled:
            for _ in range(3):
                wire.send(post("echo", big))
        await server.book.until(lambda: server.book.evicted >= 1)
        total = sum(c.unsent() for c in server._connections())
        assert total <= (4 << 20) + (4 << 20)  # the bound, plus one answer being written
        _close(*stalled)


def test_book_refuses_rather_than_evicting_a_busy_connection() -> None:
    """The book's own rule, without sockets: only quiet connections make room."""

    class Fake:
        def __init__(self, peer: str) -> None:
            self.peer = peer
            self.reason: str | None = None

        def overdue(self, now: float, limits: ServerLimits) -> str | None:
            return None

        def unsent(self) -> int:
            return 0

        def shut(self, reason: str) -> None:
            self.reason = reason

    book = ConnectionBook(ServerLimits(max_connections=2, max_per_peer=2))
    first, second, third = Fake("a"), Fake("a"), Fake("a")
    assert book.admit(first) and book.admit(second)
    book.busy(first)
    book.busy(second)
    assert not book.admit(third) and book.refused == 1
    book.quiet(second)
    assert book.admit(third) and second.reason is not None and first.reason is None


# ---------------------------------------------------------------- HTTP conformance on the wire


async def test_length_and_chunked_together_is_refused_and_closed(endpoint: Endpoint) -> None:
    """Content-Length with Transfer-Encoding (RFC 9112 6.1): answered 400, then closed."""
    async with _server(endpoint) as server:
        wire = await _wire(server)
        wire.send(b"POST /xmlrpc HTTP/1.1\r\nContent-Length: 4\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        reply = await wire.reply()
        assert reply.status == 400 and reply.headers["connection"] == "close"
        assert await _closed_by_server(wire)
        _close(wire)


async def test_absolute_form_target_is_answered(endpoint: Endpoint) -> None:
    """``POST http://host:port/xmlrpc`` is a valid request target (RFC 9112 3.2.2)."""
    async with _server(endpoint) as server:
        wire = await _wire(server)
        target = f"http://127.0.0.1:{server.port}/xmlrpc"
        assert await wire.call(post("echo", "abs", path=target)) == ["abs"]
        _close(wire)


async def test_no_continue_for_a_declared_length_over_the_cap(endpoint: Endpoint) -> None:
    """A client waiting for 100 Continue with too long a body gets the fault instead."""
    async with _server(endpoint) as server:
        wire = await _wire(server)
        wire.send(b"POST /xmlrpc HTTP/1.1\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % (endpoint.max_body + 1))
        reply = await wire.reply()
        assert reply.status == 200 and b"too large" in reply.body
        assert await _closed_by_server(wire)
        _close(wire)


async def test_long_chunk_extension_is_refused(endpoint: Endpoint) -> None:
    """A 5,000-byte chunk extension line is refused with 400."""
    async with _server(endpoint) as server:
        wire = await _wire(server)
        wire.send(b"POST /xmlrpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"1;" + b"e" * 5000 + b"\r\nx\r\n0\r\n\r\n")
        assert (await wire.reply()).status == 400
        _close(wire)


def test_connection_class_is_what_the_book_holds() -> None:
    """The server's connections satisfy the book's protocol (a static check at run time)."""
    for name in ("overdue", "unsent", "shut"):
        assert callable(getattr(_Connection, name))
