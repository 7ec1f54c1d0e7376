"""HttpPool against raw asyncio servers answering in every HTTP style, and against RpcServer."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from jupyter_samp.core.xmlrpc import decode_response, encode_call
from jupyter_samp.errors import ClientTimeoutError, ProtocolError, TransportError
from jupyter_samp.transport import http
from jupyter_samp.transport.http import HttpPool
from jupyter_samp.transport.rpcserver import RpcServer
from jupyter_samp.transport.timeouts import within

PROMPT = 5.0
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: Yes\r\n\r\nhello"
Handler = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A tiny server: each connection runs ``handler``; counts connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.accepted = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.received = asyncio.Event()  # a whole request has arrived
        self.hung_up = asyncio.Event()  # a client closed a connection we were reading
        self.url = ""
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/xmlrpc"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def request(self, reader: asyncio.StreamReader) -> bool:
        """Read one request; False if the client hung up instead."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.hung_up.set()
            return False
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        self.heads.append(head)
        self.bodies.append(await reader.readexactly(int(match.group(1)) if match else 0))
        self.received.set()
        return True

    async def until_hang_up(self, reader: asyncio.StreamReader) -> None:
        """Wait (reading and dropping) until the client closes."""
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
        self.hung_up.set()


def answering(*answers: bytes, close: bool = False) -> Handler:
    """Answer each request with the next of ``answers`` (the last repeats); maybe close after."""

    async def handler(server: RawServer, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        n = 0
        while await server.request(reader):
            writer.write(answers[min(n, len(answers) - 1)])
            await writer.drain()
            n += 1
            if close:
                return

    return handler


def dead_url() -> str:
    """An http URL where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/xmlrpc"


@pytest.fixture
async def pool() -> AsyncIterator[HttpPool]:
    pool = HttpPool()
    yield pool
    pool.close()


# ---------------------------------------------------------------- answer styles


async def test_content_length_answer(pool: HttpPool) -> None:
    """Status, lower-case headers and body of a Content-Length answer."""
    async with RawServer(answering(OK)) as server:
        response = await pool.post(server.url, b"<call/>", timeout=PROMPT)
    assert (response.status, response.body) == (200, b"hello")
    assert response.headers["x-test"] == "Yes" and response.headers["content-length"] == "5"


async def test_request_head_names_path_host_type_and_length(pool: HttpPool) -> None:
    """The POST carries the path and query, Host, Content-Type and Content-Length."""
    async with RawServer(answering(OK)) as server:
        url = server.url + "?who=me"
        await pool.post(url, b"12345", timeout=PROMPT, content_type="text/plain")
    head = server.heads[0].decode()
    host = url.split("/")[2]
    assert head.startswith("POST /xmlrpc?who=me HTTP/1.1\r\n")
    assert f"\r\nHost: {host}\r\n" in head and "\r\nContent-Type: text/plain\r\n" in head
    assert "\r\nContent-Length: 5\r\n" in head and server.bodies == [b"12345"]


async def test_keep_alive_answers_reuse_one_connection(pool: HttpPool) -> None:
    """Consecutive posts to a keep-alive peer share one connection."""
    async with RawServer(answering(OK)) as server:
        for _ in range(4):
            assert (await pool.post(server.url, b"x", timeout=PROMPT)).body == b"hello"
    assert server.accepted == 1 and len(server.heads) == 4


async def test_chunked_answer_is_joined_and_connection_reused(pool: HttpPool) -> None:
    """A chunked answer (with an extension and a trailer) is reassembled; the connection stays."""
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"6;ext=1\r\nhello \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n")
    async with RawServer(answering(answer)) as server:
        for _ in range(2):
            assert (await pool.post(server.url, b"x", timeout=PROMPT)).body == b"hello world"
    assert server.accepted == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
    ],
    ids=["http-1.0", "connection-close", "bytes-after-answer"],
)
async def test_answer_that_ends_the_connection_is_not_reused(
    pool: HttpPool, answer: bytes
) -> None:
    """HTTP/1.0, Connection: close or stray trailing bytes: each post opens a new connection."""
    async with RawServer(answering(answer)) as server:
        for _ in range(2):
            assert (await pool.post(server.url, b"x", timeout=PROMPT)).body == b"hello"
    assert server.accepted == 2


async def test_http10_keep_alive_answer_is_reused(pool: HttpPool) -> None:
    """An HTTP/1.0 answer saying keep-alive keeps its connection."""
    answer = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello"
    async with RawServer(answering(answer)) as server:
        for _ in range(2):
            await pool.post(server.url, b"x", timeout=PROMPT)
    assert server.accepted == 1


async def test_answer_without_length_is_read_until_close(pool: HttpPool) -> None:
    """Neither Content-Length nor chunked: the body is everything until the peer closes."""
    answer = b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n" + b"all of it " * 1000
    async with RawServer(answering(answer, close=True)) as server:
        response = await pool.post(server.url, b"x", timeout=PROMPT)
        assert response.body == b"all of it " * 1000
        await pool.post(server.url, b"x", timeout=PROMPT)
    assert server.accepted == 2


async def test_no_content_answer_has_no_body_and_keeps_the_connection(pool: HttpPool) -> None:
    """A 204 without Content-Length ends at its head; the connection is reused."""
    answer = b"HTTP/1.1 204 No Content\r\n\r\n"
    async with RawServer(answering(answer)) as server:
        for _ in range(2):
            response = await pool.post(server.url, b"x", timeout=PROMPT)
            assert (response.status, response.body) == (204, b"")
    assert server.accepted == 1


async def test_interim_answers_are_skipped(pool: HttpPool) -> None:
    """1xx answers before the real one are dropped."""
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n" + OK
    async with RawServer(answering(answer)) as server:
        response = await pool.post(server.url, b"x", timeout=PROMPT)
    assert (response.status, response.body, response.headers["x-test"]) == (200, b"hello", "Yes")


async def test_error_status_is_returned_not_raised(pool: HttpPool) -> None:
    """An HTTP error answer comes back as a response with its status."""
    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"
    async with RawServer(answering(answer)) as server:
        response = await pool.post(server.url, b"x", timeout=PROMPT)
    assert (response.status, response.body) == (404, b"nope")


async def test_answer_split_into_single_bytes(pool: HttpPool) -> None:
    """An answer trickling in byte by byte is put together."""

    async def trickle(server: RawServer, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        for byte in OK:
            writer.write(bytes([byte]))
            await writer.drain()
        await server.until_hang_up(reader)

    async with RawServer(trickle) as server:
        assert (await pool.post(server.url, b"x", timeout=PROMPT)).body == b"hello"


async def test_idle_connections_beyond_max_idle_are_closed() -> None:
    """With max_idle=1, of two connections opened at once only one is kept for reuse."""
    pool = HttpPool(max_idle=1)
    try:
        async with RawServer(answering(OK)) as server:
            await asyncio.gather(*(pool.post(server.url, b"x", timeout=PROMPT) for _ in range(2)))
            assert server.accepted == 2
            await within(server.hung_up.wait(), PROMPT)
            for _ in range(2):
                await pool.post(server.url, b"x", timeout=PROMPT)
        assert server.accepted == 2
    finally:
        pool.close()


async def test_unsolicited_bytes_on_idle_connection_drop_it(pool: HttpPool) -> None:
    """Bytes arriving on an idle pooled connection make the pool close it."""
    go = asyncio.Event()

    async def chatty(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        if server.accepted > 1:
            return await answering(OK)(server, reader, writer)
        await server.request(reader)
        writer.write(OK)
        await go.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await server.until_hang_up(reader)

    async with RawServer(chatty) as server:
        await pool.post(server.url, b"x", timeout=PROMPT)
        go.set()
        await within(server.hung_up.wait(), PROMPT)
        assert (await pool.post(server.url, b"x", timeout=PROMPT)).body == b"hello"
    assert server.accepted == 2


async def test_idle_connection_closed_by_the_peer_leaves_the_pool(pool: HttpPool) -> None:
    """A peer that closes an idle keep-alive connection takes it, and its key, out of the pool."""
    hang_up = asyncio.Event()
    closed = asyncio.Event()

    async def answer_once_then_close(server: RawServer, reader: asyncio.StreamReader,
                                     writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(OK)
        await writer.drain()
        await hang_up.wait()

    async with RawServer(answer_once_then_close) as server:
        await pool.post(server.url, b"x", timeout=PROMPT)
        assert len(pool._idle) == 1
        (connection,) = next(iter(pool._idle.values()))
        lost = connection.on_lost
        assert lost is not None

        def noted() -> None:
            lost()
            closed.set()

        connection.on_lost = noted
        hang_up.set()
        await within(closed.wait(), PROMPT)  # the server closed its end: connection_lost ran
        assert pool._idle == {}


# ---------------------------------------------------------------- failures


async def test_stale_idle_connection_is_retried_once(pool: HttpPool) -> None:
    """The peer drops an idle connection as a request arrives: the post retries on a new one."""

    async def first_connection_dies(server: RawServer, reader: asyncio.StreamReader,
                                    writer: asyncio.StreamWriter) -> None:
        if server.accepted == 1:
            await server.request(reader)
            writer.write(OK)
            await writer.drain()
            await server.request(reader)  # then close without an answer
            return
        await answering(OK)(server, reader, writer)

    async with RawServer(first_connection_dies) as server:
        await pool.post(server.url, b"one", timeout=PROMPT)
        assert (await pool.post(server.url, b"two", timeout=PROMPT)).body == b"hello"
    assert server.accepted == 2 and server.bodies == [b"one", b"two", b"two"]


async def test_fresh_connection_closed_without_answer_is_transport_error(pool: HttpPool) -> None:
    """A new connection closed before any answer is not retried: TransportError."""
    async with RawServer(answering(b"", close=True)) as server:
        with pytest.raises(TransportError, match="closed") as caught:
            await pool.post(server.url, b"x", timeout=PROMPT)
    assert not caught.value.refused and server.accepted == 1


def test_a_connection_lost_before_its_request_went_is_stale_not_an_assertion() -> None:
    """A peer may accept and close at once (over a cap, stopping): the request is stale."""
    connection = http._Connection()
    connection.connection_lost(None)
    with pytest.raises(http._StaleConnection, match="before the request was sent"):
        connection.send(b"POST / HTTP/1.1\r\n\r\n")


async def test_answer_cut_short_is_transport_error(pool: HttpPool) -> None:
    """A peer closing in the middle of a Content-Length body gives TransportError."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"
    async with RawServer(answering(answer, close=True)) as server:
        with pytest.raises(TransportError, match="connection closed"):
            await pool.post(server.url, b"x", timeout=PROMPT)


async def test_timeout_raises_and_drops_the_connection(pool: HttpPool) -> None:
    """No answer in time: ClientTimeoutError, and the connection is closed."""

    async def silent(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        await server.until_hang_up(reader)

    async with RawServer(silent) as server:
        with pytest.raises(ClientTimeoutError):
            await pool.post(server.url, b"x", timeout=0.1)
        await within(server.hung_up.wait(), PROMPT)


async def test_cancelled_post_drops_the_connection(pool: HttpPool) -> None:
    """Cancelling a post half-way closes its connection rather than pooling it."""

    async def silent(server: RawServer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        await server.until_hang_up(reader)

    async with RawServer(silent) as server:
        posting = asyncio.ensure_future(pool.post(server.url, b"x"))
        await within(server.received.wait(), PROMPT)
        posting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await posting
        await within(server.hung_up.wait(), PROMPT)


async def test_nothing_listening_is_refused(pool: HttpPool) -> None:
    """A port where nothing listens gives TransportError with refused set."""
    with pytest.raises(TransportError) as caught:
        await pool.post(dead_url(), b"x", timeout=PROMPT)
    assert caught.value.refused


@pytest.mark.parametrize(
    "answer",
    [
        b"HELLO\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 2\xb2 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
    ],
    ids=["no-version", "letters", "superscript", "not-http"],
)
async def test_bad_status_line_is_protocol_error(pool: HttpPool, answer: bytes) -> None:
    """A bad status line fails at once, even while the peer keeps the connection open."""

    async def bad(server: RawServer, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(answer)
        await server.until_hang_up(reader)

    async with RawServer(bad) as server:
        with pytest.raises(ProtocolError, match="bad HTTP message"):
            await pool.post(server.url, b"x", timeout=PROMPT)


async def test_bad_header_line_is_protocol_error(pool: HttpPool) -> None:
    """A header line without a colon fails as ProtocolError."""
    async with RawServer(answering(b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n")) as server:
        with pytest.raises(ProtocolError, match="bad HTTP message"):
            await pool.post(server.url, b"x", timeout=PROMPT)


async def test_oversized_content_length_is_protocol_error(pool: HttpPool) -> None:
    """A Content-Length over MAX_RESPONSE_BYTES fails before the body is read."""
    big = http.MAX_RESPONSE_BYTES + 1
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % big
    async with RawServer(answering(answer)) as server:
        with pytest.raises(ProtocolError, match="larger than"):
            await pool.post(server.url, b"x", timeout=PROMPT)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"20\r\n" + b"z" * 32 + b"\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n" + b"z" * 32,
    ],
    ids=["chunked", "until-close"],
)
async def test_oversized_answer_body_is_protocol_error(
    pool: HttpPool, answer: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunked or read-to-close body over the limit fails as ProtocolError."""
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 16)
    async with RawServer(answering(answer, close=True)) as server:
        with pytest.raises(ProtocolError, match="larger than"):
            await pool.post(server.url, b"x", timeout=PROMPT)


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/", "ftp://127.0.0.1/x", "http:///x", "nonsense"]
)
async def test_non_http_url_is_protocol_error(pool: HttpPool, url: str) -> None:
    """Only http URLs with a host are accepted."""
    with pytest.raises(ProtocolError, match="not an http URL"):
        await pool.post(url, b"x")


async def test_close_drops_idle_connections_and_pool_still_works(pool: HttpPool) -> None:
    """close() closes idle connections; a later post opens a new one."""
    async with RawServer(answering(OK)) as server:
        await pool.post(server.url, b"x", timeout=PROMPT)
        pool.close()
        await within(server.hung_up.wait(), PROMPT)
        assert (await pool.post(server.url, b"x", timeout=PROMPT)).body == b"hello"
    assert server.accepted == 2


# ---------------------------------------------------------------- against RpcServer


class Echo:
    """An endpoint answering ``echo`` with its params and ``slow`` once ``release`` is set."""

    max_body = 1 << 20

    def __init__(self) -> None:
        self.release = asyncio.Event()

    def handle_call(self, method: str, params: list[Any]) -> Any:
        if method == "slow":
            return self._slow(params)
        return params

    async def _slow(self, params: list[Any]) -> list[Any]:
        await self.release.wait()
        return params


@pytest.fixture
async def rpc() -> AsyncIterator[RpcServer]:
    server = RpcServer(Echo())
    await server.start()
    yield server
    await server.stop(grace=0)


def _url(server: RpcServer) -> str:
    return f"http://127.0.0.1:{server.port}/xmlrpc"


async def test_posts_to_rpc_server_reuse_one_connection(pool: HttpPool, rpc: RpcServer) -> None:
    """Several posts to an RpcServer keep a single connection open."""
    for n in range(5):
        response = await pool.post(_url(rpc), encode_call("echo", [str(n)]), timeout=PROMPT)
        assert decode_response(response.body) == [str(n)]
        assert rpc.connections == 1


async def test_concurrent_posts_use_separate_connections(pool: HttpPool, rpc: RpcServer) -> None:
    """A slow post does not hold up another to the same peer."""
    assert isinstance(rpc.endpoint, Echo)
    slow = asyncio.ensure_future(pool.post(_url(rpc), encode_call("slow", ["s"]), timeout=PROMPT))
    quick = await pool.post(_url(rpc), encode_call("echo", ["q"]), timeout=PROMPT)
    assert decode_response(quick.body) == ["q"] and not slow.done()
    rpc.endpoint.release.set()
    assert decode_response((await within(slow, PROMPT)).body) == ["s"]
    assert rpc.connections == 2


async def test_post_after_rpc_server_restart_succeeds(pool: HttpPool, rpc: RpcServer) -> None:
    """The server closes the idle pooled connection (restart); the next post still succeeds."""
    await pool.post(_url(rpc), encode_call("echo", ["before"]), timeout=PROMPT)
    port = rpc.port
    await rpc.stop()
    await rpc.start(port or 0)
    response = await pool.post(_url(rpc), encode_call("echo", ["after"]), timeout=PROMPT)
    assert decode_response(response.body) == ["after"]
    assert rpc.connections == 1


async def test_connection_busy_at_close_is_closed_when_its_request_ends(pool: HttpPool) -> None:
    """A request under way at close() gets its answer; its connection is then closed, not pooled."""
    gate = asyncio.Event()

    async def answer_when_opened(server: RawServer, reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter) -> None:
        while await server.request(reader):
            await gate.wait()
            writer.write(OK)
            await writer.drain()

    async with RawServer(answer_when_opened) as server:
        post = asyncio.ensure_future(pool.post(server.url, b"x", timeout=PROMPT))
        await within(server.received.wait(), PROMPT)
        pool.close()
        gate.set()
        assert (await post).body == b"hello"
        await within(server.hung_up.wait(), PROMPT)
        assert (await pool.post(server.url, b"x", timeout=PROMPT)).body == b"hello"
    assert server.accepted == 2
