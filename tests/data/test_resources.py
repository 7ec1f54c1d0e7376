"""The resource server: tokens, 404/410, HEAD, Range, streaming, progress, limits."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.iostream import IOStream

from jupyter_samp.data.codecs.votable import plan_votable
from jupyter_samp.data.payload import BLOCK, FILE_BLOCK, StreamPayload
from jupyter_samp.data.resources import (
    CHUNK,
    RETRY_AFTER,
    TRANSFER_HISTORY,
    Resource,
    ResourceServer,
)
from jupyter_samp.errors import InvalidValueError


@pytest.fixture
async def server() -> AsyncIterator[ResourceServer]:
    async with ResourceServer() as running:
        yield running


async def fetch(url: str, method: str = "GET", **headers: str) -> HTTPResponse:
    """Fetch with tornado, returning error responses instead of raising."""
    client = AsyncHTTPClient(force_instance=True)
    try:
        return await client.fetch(url, method=method, headers=headers, raise_error=False,
                                  decompress_response=False)
    finally:
        client.close()


def table(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(rows, dtype=float), "n": np.arange(rows)})


async def stalled_get(server: ResourceServer, resource: Resource) -> tuple[socket.socket, bytes]:
    """GET ``resource`` with a 4 KiB receive buffer and read no more than the response head.

    Returns the socket (the caller closes it) and what was read.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        path = "/" + resource.url.split("/", 3)[3]
        await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            piece = await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
            assert piece, "the server closed the connection"
            head += piece
    except BaseException:
        sock.close()
        raise
    return sock, head


async def test_get_serves_bytes_with_type_and_length(server: ResourceServer) -> None:
    resource = server.publish(b"hello world", content_type="text/plain", filename="hi.txt")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/[A-Za-z0-9_-]{43}/hi\.txt", resource.url)
    response = await fetch(resource.url)
    assert response.code == 200 and response.body == b"hello world"
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Length"] == "11"
    assert response.headers["Accept-Ranges"] == "bytes"


async def test_tokens_are_unguessable_and_distinct(server: ResourceServer) -> None:
    urls = {server.publish(b"x", filename="a").token for _ in range(200)}
    assert len(urls) == 200
    assert all(len(token) == 43 for token in urls)


async def test_unknown_token_404_and_withdrawn_410(server: ResourceServer) -> None:
    resource = server.publish(b"data", filename="d.bin")
    other = server.publish(b"secret", filename="s.bin")
    base = server.base_url
    assert (await fetch(f"{base}/{'A' * 43}/d.bin")).code == 404
    assert (await fetch(f"{base}/{resource.token}/s.bin")).code == 404  # another's file name
    assert (await fetch(f"{base}/{resource.token}/../{other.token}/s.bin")).code == 404
    assert (await fetch(f"{base}/{resource.token}/..")).code == 404
    assert (await fetch(f"{base}/{resource.token}/%2e%2e")).code == 404
    assert (await fetch(f"{base}/{resource.token}")).code == 404
    assert (await fetch(f"{base}/")).code == 404
    resource.withdraw()
    assert (await fetch(resource.url)).code == 410
    assert (await fetch(other.url)).body == b"secret"


async def test_path_traversal_on_the_raw_socket(server: ResourceServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    resource = server.publish(b"public", filename="p.txt")
    for path in (f"/{resource.token}/../../{secret}", "/../../etc/passwd",
                 f"/{resource.token}/%2F..%2Fsecret.txt"):
        stream = IOStream(__import__("socket").socket())
        await stream.connect(("127.0.0.1", server.port))
        await stream.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        answer = await stream.read_until_close()
        assert b"top secret" not in answer and (b" 404 " in answer or b" 400 " in answer)


async def test_head_gives_length_without_body(server: ResourceServer) -> None:
    plan = plan_votable(table(1000))
    resource = server.publish(plan.payload(), content_type="application/x-votable+xml",
                              filename="t.vot")
    response = await fetch(resource.url, "HEAD")
    assert response.code == 200 and response.body == b""
    assert int(response.headers["Content-Length"]) == plan.content_length()
    assert resource.transfers[-1].method == "HEAD"


@pytest.mark.parametrize("serialization", ["binary2", "tabledata"])
async def test_ranges_match_the_full_document(server: ResourceServer, serialization: str) -> None:
    plan = plan_votable(table(5000), serialization=serialization)
    full = plan.to_bytes(chunk_rows=300)
    resource = server.publish(plan.payload(chunk_rows=300), filename="t.vot")
    size = len(full)
    for spec, expected in [
        (f"bytes=0-{size - 1}", full),
        ("bytes=100-199", full[100:200]),
        ("bytes=5000-", full[5000:]),
        ("bytes=-17", full[-17:]),
        (f"bytes={size - 3}-{size + 100}", full[-3:]),
    ]:
        response = await fetch(resource.url, Range=spec)
        assert response.code == 206, spec
        assert response.body == expected, spec
        assert response.headers["Content-Length"] == str(len(expected))
        first = size - len(expected)
        if spec not in ("bytes=-17",) and not spec.startswith(f"bytes={size - 3}"):
            first = int(spec[6:].split("-")[0])
        last = first + len(expected) - 1
        assert response.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert (await fetch(resource.url, Range=f"bytes={size}-")).code == 416
    multi = await fetch(resource.url, Range="bytes=0-1,5-6")  # several ranges: whole body
    assert multi.code == 200 and multi.body == full


async def test_unknown_length_is_learnt_from_first_fetch(server: ResourceServer) -> None:
    calls = []

    def produce() -> list[bytes]:
        calls.append(1)
        return [b"abc", b"", b"defg"]

    payload = StreamPayload(produce)
    resource = server.publish(payload, filename="s.txt")
    response = await fetch(resource.url)
    assert response.body == b"abcdefg"
    assert payload.length() == 7 and resource.completed == 1
    head = await fetch(resource.url, "HEAD")
    assert head.headers["Content-Length"] == "7"


async def test_callable_and_file_sources(server: ResourceServer, tmp_path: Path) -> None:
    path = tmp_path / "image.fits"
    path.write_bytes(bytes(range(256)) * 10_000)
    file_resource = server.publish(path, content_type="application/fits", filename="image.fits")
    response = await fetch(file_resource.url)
    assert response.body == path.read_bytes()
    part = await fetch(file_resource.url, Range="bytes=1000-1999")
    assert part.body == path.read_bytes()[1000:2000]
    called = server.publish(lambda: b"made on demand", filename="x")
    assert (await fetch(called.url)).body == b"made on demand"
    with pytest.raises(InvalidValueError):
        server.publish(object(), filename="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        server.publish(b"x", filename="a/b")
    with pytest.raises(FileNotFoundError):
        server.publish(tmp_path / "missing.fits", filename="m.fits")


async def test_progress_and_per_consumer_counts(server: ResourceServer) -> None:
    plan = plan_votable(table(200_000))
    resource = server.publish(plan.payload(chunk_rows=30_000), filename="t.vot")
    seen: list[tuple[int, int | None]] = []
    stop = resource.observe(lambda r, sent, total: seen.append((sent, total)))
    first, second = await asyncio.gather(fetch(resource.url), fetch(resource.url))
    stop()
    total = plan.content_length(30_000)
    assert len(first.body) == len(second.body) == total
    assert seen[-1] == (total, total) or (total, total) in seen
    assert all(b <= total for b, _ in seen) and len(seen) > 4
    assert len(resource.consumers) == 2
    assert all(count == total for count in resource.consumers.values())
    assert resource.bytes_sent == 2 * total and resource.completed == 2
    assert resource.requests == {"GET": 2}


async def test_bytes_and_file_ranges_across_pieces_and_chunks(
    server: ResourceServer, tmp_path: Path
) -> None:
    data = bytes(range(256)) * ((3 * BLOCK) // 256) + b"tail!"
    path = tmp_path / "d.bin"
    path.write_bytes(data)
    for resource in (server.publish(data, filename="d.bin"), server.publish(path, filename="f")):
        assert (await fetch(resource.url)).body == data
        for first, last in [(BLOCK - 5, BLOCK + CHUNK + 5), (CHUNK - 1, CHUNK),
                            (FILE_BLOCK - 1, 2 * FILE_BLOCK), (len(data) - 3, len(data) - 1),
                            (0, 0)]:
            response = await fetch(resource.url, Range=f"bytes={first}-{last}")
            assert response.code == 206 and response.body == data[first : last + 1], (first, last)


async def test_streaming_a_large_table_keeps_memory_bounded(server: ResourceServer) -> None:
    rows = 2_000_000
    df = pd.DataFrame({"a": np.arange(rows, dtype=float), "b": np.arange(rows, dtype=float)})
    plan = plan_votable(df)
    resource = server.publish(plan.payload(), filename="big.vot")
    size = plan.content_length()
    assert size is not None and size > 40_000_000
    received = 0

    def count(piece: bytes) -> None:
        nonlocal received
        received += len(piece)

    tracemalloc.start()
    try:
        client = AsyncHTTPClient(force_instance=True, max_body_size=1 << 30)
        try:
            await client.fetch(resource.url, streaming_callback=count, request_timeout=120)
        finally:
            client.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    # A few chunks of ~4 MB (binary rows plus base64 text) at most: not the document.
    assert peak < 0.5 * size, (peak, size)


async def test_client_going_away_mid_stream(server: ResourceServer) -> None:
    plan = plan_votable(table(300_000))
    resource = server.publish(plan.payload(chunk_rows=3000), filename="t.vot")
    stream = IOStream(__import__("socket").socket())
    await stream.connect(("127.0.0.1", server.port))
    path = resource.url.split(str(server.port), 1)[1]
    await stream.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await stream.read_bytes(10_000, partial=True)
    ended = asyncio.Event()
    def on_progress(*args: object) -> None:
        if resource.transfers[-1].finished is not None:
            ended.set()

    resource.observe(on_progress)
    stream.close()
    await asyncio.wait_for(ended.wait(), 10)
    assert not resource.transfers[-1].complete
    response = await fetch(resource.url)  # the server is still fine
    assert response.code == 200


async def test_close_withdraws_everything() -> None:
    server = ResourceServer().start()
    resource = server.publish(b"x", filename="x")
    await server.close()
    assert resource.withdrawn and not server.running
    with pytest.raises(RuntimeError):
        _ = server.base_url


@pytest.mark.parametrize("options", [
    {"max_downloads": 0}, {"max_downloads": True}, {"max_downloads": 2.5},
    {"max_downloads_per_resource": -1}, {"stall_timeout": 0}, {"stall_timeout": float("nan")},
    {"stall_timeout": "30"},
])
def test_limits_must_be_positive(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        ResourceServer(**options)


async def test_downloads_beyond_the_caps_get_503_with_retry_after() -> None:
    async with ResourceServer(max_downloads=2, max_downloads_per_resource=1) as server:
        first = server.publish(bytes(16 << 20), filename="first.bin")
        second = server.publish(bytes(16 << 20), filename="second.bin")
        small = server.publish(b"small", filename="small.txt")
        stalled = []
        try:
            sock, head = await stalled_get(server, first)
            stalled.append(sock)
            assert head.startswith(b"HTTP/1.1 200 ")
            again = await fetch(first.url)  # the resource's own cap
            assert again.code == 503 and again.headers["Retry-After"] == str(RETRY_AFTER)
            assert again.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert b"1 downloads of this resource are in progress" in again.body
            assert (await fetch(first.url, "HEAD")).code == 200  # HEADs are not downloads
            sock, head = await stalled_get(server, second)
            stalled.append(sock)
            assert server.downloads == 2
            busy = await fetch(small.url)  # the server's cap
            assert busy.code == 503 and busy.headers["Retry-After"] == str(RETRY_AFTER)
            assert busy.body.startswith(b"503 Service Unavailable: 2 downloads are in progress")
            sock, head = await stalled_get(server, small)
            stalled.append(sock)
            assert head.startswith(b"HTTP/1.1 503 ")
            loop = asyncio.get_running_loop()
            while await asyncio.wait_for(loop.sock_recv(sock, 4096), 10):
                pass  # the server closes a refused connection after the answer
        finally:
            for sock in stalled:
                sock.close()
        assert first.requests == {"GET": 1, "HEAD": 1}  # refusals are not responses served


async def test_a_download_whose_peer_stops_reading_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ResourceServer(max_downloads=1, stall_timeout=0.5) as server:
        big = server.publish(bytes(64 << 20), filename="big.bin")
        ended = asyncio.Event()

        def on_progress(resource: Resource, sent: int, total: int | None) -> None:
            if resource.transfers[-1].finished is not None:
                ended.set()

        big.observe(on_progress)
        sock, _ = await stalled_get(server, big)
        try:
            with caplog.at_level(logging.WARNING, "jupyter_samp.data"):
                await asyncio.wait_for(ended.wait(), 30)
        finally:
            sock.close()
        assert not big.transfers[-1].complete
        assert "dropped the download of big.bin by 127.0.0.1:" in caplog.text
        assert "it took no data for 0.5 s" in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        # Its place is free again (max_downloads=1).
        assert (await fetch(big.url, Range="bytes=0-9")).code == 206


async def test_close_waits_for_stalled_downloads_to_end(caplog: pytest.LogCaptureFixture) -> None:
    server = ResourceServer().start()
    big = server.publish(bytes(64 << 20), filename="big.bin")
    sock, _ = await stalled_get(server, big)
    try:
        await asyncio.wait_for(server.close(), 10)
    finally:
        sock.close()
    assert server.downloads == 0 and big.transfers[-1].finished is not None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_concurrent_heads_share_one_measurement(server: ResourceServer) -> None:
    """HEADs of a document of unknown size generate it once, not once each."""
    calls = 0
    release = threading.Event()

    def produce() -> Iterator[bytes]:
        nonlocal calls
        calls += 1
        assert release.wait(10), "the measurement was not released"
        yield b"abc"
        yield b"defg"

    resource = server.publish(StreamPayload(produce), filename="s.txt")
    measure, waiting = resource._measure, 0

    async def counted() -> int:
        nonlocal waiting
        waiting += 1
        if waiting == 5:  # every request is waiting for the size: let it be computed
            release.set()
        return await measure()

    resource._measure = counted  # type: ignore[method-assign]
    heads = await asyncio.gather(*(fetch(resource.url, "HEAD") for _ in range(5)))
    assert [h.headers["Content-Length"] for h in heads] == ["7"] * 5
    assert calls == 1 and resource.requests == {"HEAD": 5}


async def test_transfers_keep_the_last_responses_and_count_them_all(
    server: ResourceServer,
) -> None:
    resource = server.publish(b"0123456789", filename="d.bin")
    for _ in range(TRANSFER_HISTORY + 5):
        assert (await fetch(resource.url, "HEAD")).code == 200
    assert (await fetch(resource.url)).body == b"0123456789"
    assert len(resource.transfers) == TRANSFER_HISTORY
    assert resource.transfers[-1].method == "GET" and resource.transfers[-1].complete
    assert resource.requests == {"HEAD": TRANSFER_HISTORY + 5, "GET": 1}
    assert resource.bytes_sent == 10 and resource.completed == 1


def test_default_limits() -> None:
    server = ResourceServer()
    assert (server.max_downloads, server.max_downloads_per_resource) == (64, 16)
    assert server.stall_timeout == 30.0
    assert ResourceServer(max_downloads=2).max_downloads_per_resource == 1


async def test_a_request_body_is_refused_before_it_is_read(server: ResourceServer) -> None:
    resource = server.publish(b"x", filename="x")
    stream = IOStream(socket.socket())
    await stream.connect(("127.0.0.1", server.port))
    path = "/" + resource.url.split("/", 3)[3]
    await stream.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {100 << 20}\r\n\r\n"
                       .encode())
    answer = await asyncio.wait_for(stream.read_until_close(), 10)  # closed without the body
    assert answer.startswith(b"HTTP/1.1 400 ")
