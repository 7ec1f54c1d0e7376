"""The bound on large request bodies held at once: in the reader, and on a live server."""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_samp.core.xmlrpc import encode_call
from jupyter_samp.transport.body_budget import LARGE_BODY, BodyBudget
from jupyter_samp.transport.faults import BUSY
from jupyter_samp.transport.framing import RequestReader
from jupyter_samp.transport.http import HttpPool
from jupyter_samp.transport.limits import ServerLimits
from jupyter_samp.transport.rpcserver import RpcServer
from jupyter_samp.transport.xmlrpc import xmlrpc_call

MAX_BODY = 4 * LARGE_BODY


def _post(body: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _chunked_post(body: bytes, piece: int = 65536) -> bytes:
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i:i + piece]), body[i:i + piece])
        for i in range(0, len(body), piece)
    )
    return b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


def test_small_bodies_take_nothing() -> None:
    budget = BodyBudget(LARGE_BODY)
    [request] = RequestReader(MAX_BODY, budget=budget).feed(_post(b"x" * LARGE_BODY))
    assert (request.held, request.busy, budget.held) == (0, False, 0)


def test_a_declared_large_body_takes_its_length_before_it_is_read() -> None:
    budget = BodyBudget(2 * LARGE_BODY)
    reader = RequestReader(MAX_BODY, budget=budget)
    data = _post(b"x" * (LARGE_BODY + 1))
    assert reader.feed(data[:100]) == []
    assert budget.held == LARGE_BODY + 1
    [request] = reader.feed(data[100:])
    size = LARGE_BODY + 1
    assert (request.held, request.busy, len(request.body)) == (size, False, size)


def test_a_body_that_does_not_fit_is_read_and_dropped_as_busy() -> None:
    budget = BodyBudget(2 * LARGE_BODY)
    first, second = RequestReader(MAX_BODY, budget=budget), RequestReader(MAX_BODY, budget=budget)
    big = _post(b"x" * (LARGE_BODY + 10))
    assert first.feed(big[:200]) == []  # holds its share, still reading
    [refused] = second.feed(big + _post(b"next"))[:1]
    assert (refused.busy, refused.body, refused.held) == (True, b"", 0)
    assert budget.held == LARGE_BODY + 10 and budget.refused == 1


def test_a_chunked_body_takes_its_share_as_it_grows() -> None:
    budget = BodyBudget(MAX_BODY)
    body = b"y" * (3 * LARGE_BODY)
    [request] = RequestReader(MAX_BODY, budget=budget).feed(_chunked_post(body))
    assert request.body == body and request.held == len(body) and not request.busy


def test_a_chunked_body_past_the_budget_is_dropped_and_gives_back_its_share() -> None:
    budget = BodyBudget(2 * LARGE_BODY)
    [request] = RequestReader(MAX_BODY, budget=budget).feed(_chunked_post(b"y" * (3 * LARGE_BODY)))
    assert (request.busy, request.body, request.held, budget.held) == (True, b"", 0, 0)


def test_release_gives_back_a_body_cut_short() -> None:
    budget = BodyBudget(MAX_BODY)
    reader = RequestReader(MAX_BODY, budget=budget)
    reader.feed(_post(b"x" * (LARGE_BODY + 1))[:1000])
    reader.release()
    assert budget.held == 0


def test_an_upgrade_request_counts_its_body_once() -> None:
    budget = BodyBudget(MAX_BODY)
    body = b"z" * (LARGE_BODY + 5)
    head = b"POST / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: %d\r\n\r\n"
    [request] = RequestReader(MAX_BODY, budget=budget).feed(head % len(body) + body)
    assert request.body == body and request.held == len(body) == budget.held


class _Echo:
    """An endpoint answering every call with the size of its first parameter."""

    max_body = MAX_BODY

    def handle_call(self, method: str, params: list[Any]) -> Any:
        return str(len(params[0]))


async def test_a_server_answers_busy_while_its_budget_is_held_then_serves_again() -> None:
    """A large call arriving while another is being read gets a busy fault; nothing is lost."""
    payload = "p" * (LARGE_BODY + 1000)
    body = encode_call("echo", [payload])
    server = RpcServer(_Echo(), limits=ServerLimits(max_large_body_bytes=len(body) + 100))
    port = await server.start()
    url = f"http://127.0.0.1:{port}/xmlrpc"
    pool = HttpPool()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_post(body)[:-10])  # holds the budget, not complete
        await writer.drain()
        await _wait_for(lambda: server.body_budget.held > 0)
        refused = await pool.post(url, body, timeout=30)
        assert f"<int>{BUSY}</int>" in refused.body.decode()
        assert "retry this request later" in refused.body.decode()
        writer.write(_post(body)[-10:])  # the first call completes and is answered
        answer = await asyncio.wait_for(reader.read(65536), 30)
        assert str(len(payload)).encode() in answer
        writer.close()
        assert await xmlrpc_call(pool, url, "echo", [payload], timeout=30) == str(len(payload))
    finally:
        pool.close()
        await server.stop()
    assert server.body_budget.held == 0


async def _wait_for(condition: Any, deadline: float = 10.0) -> None:
    """Until ``condition()`` holds, checking at each turn of the loop, for at most ``deadline``."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0)
    await asyncio.wait_for(poll(), deadline)
