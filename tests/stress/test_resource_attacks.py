"""Attacks on the kernel-side resource server by a local process that was given its URLs.

The server runs in this process (as it does in a kernel), so its memory is
this process's: each test measures resident memory here, and a well-behaved
download of another resource shows the server kept serving others. Figures
go to ``artifacts/stress/`` and into docs/stress.rst.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator

import pytest
from tornado.httpclient import AsyncHTTPClient

from jupyter_samp.data.resources import (
    RETRY_AFTER,
    TRANSFER_HISTORY,
    Resource,
    ResourceServer,
)

from .report import record, rss_mb

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for memory figures")

BIG = 50 << 20  # the resource the attacker asks for
OTHER = 8 << 20  # the one a well-behaved consumer downloads meanwhile
STALLED = 200  # connections that ask for BIG and never read
RCVBUF = 4096


def _pattern(size: int) -> bytes:
    """``size`` bytes with every page written (zeros could stay unmapped and cost no RSS)."""
    return bytes(range(256)) * (size // 256)


def _path(resource: Resource) -> str:
    return "/" + resource.url.split("/", 3)[3]


async def _stalled_get(port: int, resource: Resource) -> socket.socket:
    """A socket with a tiny receive buffer that has sent a GET for ``resource``."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        request = f"GET {_path(resource)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        await loop.sock_sendall(sock, request.encode())
    except BaseException:
        sock.close()
        raise
    return sock


async def _answer(sock: socket.socket, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """Read a response's head (and up to one receive buffer of body): status, headers, body."""
    loop = asyncio.get_running_loop()
    data = b""
    while b"\r\n\r\n" not in data:
        piece = await asyncio.wait_for(loop.sock_recv(sock, RCVBUF), timeout)
        assert piece, f"the connection closed after {data!r}"
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    length = int(headers.get("Content-Length", "0"))
    while len(body) < min(length, RCVBUF):
        piece = await asyncio.wait_for(loop.sock_recv(sock, RCVBUF), timeout)
        if not piece:
            break
        body += piece
    return int(status_line.split()[1]), headers, body


async def _download(url: str) -> int:
    """Fetch ``url`` whole, as a well-behaved consumer does; returns the bytes received."""
    received = 0

    def count(piece: bytes) -> None:
        nonlocal received
        received += len(piece)

    client = AsyncHTTPClient(force_instance=True, max_body_size=1 << 30)
    try:
        await client.fetch(url, streaming_callback=count, request_timeout=60)
    finally:
        client.close()
    return received


@contextlib.asynccontextmanager
async def _stalled(port: int, resource: Resource, count: int) -> AsyncIterator[list[socket.socket]]:
    """``count`` connections that GET ``resource`` and never read, closed at the end."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(await _stalled_get(port, resource))
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _settled_rss() -> float:
    gc.collect()
    return rss_mb(os.getpid())


async def test_stalled_downloads_cannot_grow_memory() -> None:
    """200 GETs of a 50 MB resource that never read, all admitted: each holds about a chunk.

    Before the fix each held its 1 MiB piece and the next one: 82 -> 489 MB.
    The caps are lifted here so that all 200 are downloads; the next test
    checks the caps themselves.
    """
    async with ResourceServer(max_downloads=STALLED + 1,
                              max_downloads_per_resource=STALLED) as server:
        big = server.publish(_pattern(BIG), filename="big.bin")
        other = server.publish(_pattern(OTHER), filename="other.bin")
        assert await _download(other.url) == OTHER  # warm-up: threads, client, allocator
        before = _settled_rss()
        async with _stalled(server.port, big, STALLED) as sockets:
            answers = await asyncio.gather(*(_answer(sock) for sock in sockets))
            assert [status for status, _, _ in answers] == [200] * STALLED
            assert server.downloads == STALLED
            started = time.perf_counter()
            assert await _download(other.url) == OTHER  # served meanwhile
            other_seconds = time.perf_counter() - started
            during = _settled_rss()
    record("attack-stalled-downloads", {
        "stalled_downloads": STALLED, "resource_mb": BIG >> 20,
        "rss_mb_before": round(before, 1), "rss_mb_during": round(during, 1),
        "other_download_mb": OTHER >> 20, "other_download_seconds": round(other_seconds, 3),
    })
    assert during - before < 64, f"memory grew from {before:.1f} to {during:.1f} MiB"


async def test_downloads_beyond_the_caps_are_refused_then_freed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """200 stalled GETs against the default caps: 16 are served, 184 get 503 with Retry-After.

    Another resource is still downloaded meanwhile, and the stalled ones are
    dropped after the stall timeout, which frees their places.
    """
    async with ResourceServer(stall_timeout=2.0) as server:
        per_resource = server.max_downloads_per_resource
        big = server.publish(_pattern(BIG), filename="big.bin")
        other = server.publish(_pattern(OTHER), filename="other.bin")
        assert await _download(other.url) == OTHER
        dropped = asyncio.Event()

        def on_progress(resource: Resource, sent: int, total: int | None) -> None:
            ended = [t for t in resource.transfers if t.method == "GET" and t.finished]
            if len(ended) == per_resource:
                dropped.set()

        big.observe(on_progress)
        before = _settled_rss()
        with caplog.at_level(logging.WARNING, "jupyter_samp.data"):
            async with _stalled(server.port, big, STALLED) as sockets:
                answers = await asyncio.gather(*(_answer(sock) for sock in sockets))
                assert await _download(other.url) == OTHER  # served meanwhile
                during = _settled_rss()
                await asyncio.wait_for(dropped.wait(), 60)
        refused = [(headers, body) for status, headers, body in answers if status == 503]
        assert sum(status == 200 for status, _, _ in answers) == per_resource
        assert len(refused) == STALLED - per_resource
        for headers, body in refused:
            assert headers["Retry-After"] == str(RETRY_AFTER)
            assert headers["Content-Type"] == "text/plain; charset=utf-8"
            reason = f"503 Service Unavailable: {per_resource} downloads of this resource"
            assert body.startswith(reason.encode())
        assert caplog.text.count("dropped the download of big.bin") == per_resource
        assert server.downloads == 0
        assert await _download(big.url) == BIG  # the places are free again
    record("attack-downloads-over-cap", {
        "requests": STALLED, "served": per_resource, "refused_503": len(refused),
        "rss_mb_before": round(before, 1), "rss_mb_during": round(during, 1),
    })
    assert during - before < 64, f"memory grew from {before:.1f} to {during:.1f} MiB"


async def _pipelined_heads(port: int, resource: Resource, count: int) -> int:
    """Send ``count`` HEADs on one keep-alive connection at once; count the answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"HEAD {_path(resource)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    async def send() -> None:
        writer.write(request * count)
        await writer.drain()

    sending = asyncio.ensure_future(send())
    answered, tail = 0, b""
    try:
        while answered < count:
            data = await asyncio.wait_for(reader.read(1 << 16), 30)
            assert data, f"the connection closed after {answered} answers"
            tail += data
            answered += tail.count(b"\r\n\r\n")  # HEAD answers have no body
            tail = tail[tail.rfind(b"\r\n\r\n") + 4 :] if b"\r\n\r\n" in tail else tail
        await sending
    finally:
        sending.cancel()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return answered


async def test_ten_thousand_heads_leave_transfers_bounded() -> None:
    """10,000 HEADs, pipelined on 4 connections: the record of transfers stays bounded.

    Before the fix every HEAD added a record for as long as the resource was
    published: 10,000 HEADs, 10,000 records.
    """
    heads, connections = 10_000, 4
    async with ResourceServer() as server:
        resource = server.publish(_pattern(1 << 20), filename="t.bin")
        started = time.perf_counter()
        answered = await asyncio.gather(
            *(_pipelined_heads(server.port, resource, heads // connections)
              for _ in range(connections))
        )
        seconds = time.perf_counter() - started
        assert sum(answered) == heads
        kept = len(resource.transfers)
        assert kept <= TRANSFER_HISTORY
        assert resource.requests["HEAD"] == heads
        assert await _download(resource.url) == 1 << 20  # still served, and recorded
        assert resource.transfers[-1].method == "GET" and resource.completed == 1
    record("attack-head-flood", {
        "heads": heads, "connections": connections, "transfers_kept": kept,
        "seconds": round(seconds, 2),
    })


async def test_request_bodies_are_not_buffered() -> None:
    """4 connections each send a GET with a 90 MB body, one byte short of its length.

    Before the fix tornado buffered every body (up to 100 MB each) before the
    handler ran: 141 -> 497 MB for these 4, and more with more connections.
    """
    size, connections = 90 << 20, 4
    body = memoryview(b"a" * size)  # allocated before the first measurement
    loop = asyncio.get_running_loop()
    async with ResourceServer() as server:
        resource = server.publish(b"x", filename="x")
        head = (f"GET {_path(resource)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Length: {size}\r\n\r\n").encode()
        before = _settled_rss()
        sockets: list[socket.socket] = []
        try:
            for _ in range(connections):
                sock = socket.socket()
                sockets.append(sock)
                sock.setblocking(False)
                await loop.sock_connect(sock, ("127.0.0.1", server.port))
                with contextlib.suppress(OSError):  # the server closes it: the point
                    await loop.sock_sendall(sock, head)
                    await asyncio.wait_for(loop.sock_sendall(sock, body[:-1]), 30)
            during = _settled_rss()
        finally:
            for sock in sockets:
                sock.close()
        assert await _download(resource.url) == 1
    record("attack-request-bodies", {
        "connections": connections, "body_mb": size >> 20,
        "rss_mb_before": round(before, 1), "rss_mb_during": round(during, 1),
    })
    assert during - before < 64, f"memory grew from {before:.1f} to {during:.1f} MiB"


async def test_a_connection_flood_stays_under_the_cap() -> None:
    """600 idle connections: the server holds at most its cap, and downloads still work."""
    cap = 64
    loop = asyncio.get_running_loop()
    async with ResourceServer(max_connections=cap) as server:
        other = server.publish(_pattern(OTHER), filename="other.bin")
        book = server.book
        assert book is not None
        flood: list[socket.socket] = []
        try:
            for _ in range(600):
                sock = socket.socket()
                sock.setblocking(False)
                flood.append(sock)
                await loop.sock_connect(sock, ("127.0.0.1", server.port))
            await book.until(lambda: book.evicted >= 600 - cap)
            assert len(book.open) <= cap
            started = time.perf_counter()
            assert await _download(other.url) == OTHER
            took = time.perf_counter() - started
        finally:
            for sock in flood:
                sock.close()
    record("attack-resource-connection-flood", {
        "connections": 600, "cap": cap, "evicted": book.evicted, "download_s": round(took, 3)})
