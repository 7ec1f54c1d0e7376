"""The resource server: tokens, 404/410, HEAD, Range, streaming, progress."""

from __future__ import annotations

import asyncio
import re
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.iostream import IOStream

from jupyter_samp.data.payload import StreamPayload
from jupyter_samp.data.server import ResourceServer
from jupyter_samp.data.votable import plan_votable
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
