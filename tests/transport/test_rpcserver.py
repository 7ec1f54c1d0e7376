"""RpcServer on the wire: raw HTTP/1.1 bytes in, answers and connection handling out."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import select
import socket
import warnings
import xmlrpc.client
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple

import pytest

from jupyter_samp.core.xmlrpc import Fault, decode_response, encode_call
from jupyter_samp.errors import InvalidRequestError
from jupyter_samp.transport.rpcserver import ABOUT_PAGE, RpcServer, _Connection
from jupyter_samp.transport.timeouts import within

PROMPT = 5.0
MAX_BODY = 2000


class Endpoint:
    """A test endpoint: ``echo``, ``slow`` (waits for ``release``), ``boom`` and friends."""

    def __init__(self) -> None:
        self.max_body = MAX_BODY
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.slow_started = asyncio.Event()
        self.slow_finished = asyncio.Event()
        self.slow_cancelled = asyncio.Event()

    def handle_call(self, method: str, params: list[Any]) -> Any:
        self.calls.append(method)
        if method == "echo":
            return params
        if method == "slow":
            return self._slow(params)
        if method == "boom":
            raise RuntimeError("kaput")
        if method == "later_boom":
            return self._later_boom()
        if method == "unencodable":
            return 42
        raise InvalidRequestError(f"no method {method}")

    async def _slow(self, params: list[Any]) -> list[Any]:
        self.slow_started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.slow_cancelled.set()
            raise
        self.slow_finished.set()
        return params

    async def _later_boom(self) -> None:
        raise RuntimeError("kaput later")


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def value(self) -> Any:
        """The XML-RPC result (or Fault) in the body."""
        assert self.status == 200, self
        return decode_response(self.body)


class Wire:
    """One raw client connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, *requests: bytes) -> None:
        self.writer.write(b"".join(requests))

    async def reply(self, *, head_only: bool = False) -> Reply:
        """Read one answer (Content-Length framed, as the server always sends)."""
        head = await within(self.reader.readuntil(b"\r\n\r\n"), PROMPT)
        start, *lines = head.decode("latin-1").split("\r\n")
        fields = (line.partition(":") for line in lines if line)
        headers = {name.lower(): value.strip() for name, _, value in fields}
        length = 0 if head_only else int(headers.get("content-length", "0"))
        body = await within(self.reader.readexactly(length), PROMPT)
        return Reply(int(start.split(" ")[1]), headers, body)

    async def call(self, request: bytes) -> Any:
        """Send one request and return its decoded answer."""
        self.send(request)
        return (await self.reply()).value()

    async def rest(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        try:
            return await within(self.reader.read(), PROMPT)
        except ConnectionResetError:
            return b""


def http(start: str, *headers: str, body: bytes = b"") -> bytes:
    """A raw request; a Content-Length is added unless a Transfer-Encoding is given."""
    lines = [start, "Host: 127.0.0.1", *headers]
    if not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def post(method: str, *params: Any, path: str = "/xmlrpc", version: str = "HTTP/1.1",
         headers: tuple[str, ...] = ()) -> bytes:
    """A POST of an XML-RPC call."""
    return http(f"POST {path} {version}", *headers, body=encode_call(method, list(params)))


def chunked(body: bytes, size: int = 100) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint()


@pytest.fixture
async def server(endpoint: Endpoint) -> AsyncIterator[RpcServer]:
    server = RpcServer(endpoint, "127.0.0.1")
    await server.start()
    yield server
    endpoint.release.set()
    await server.stop(grace=0)


@pytest.fixture
async def connect(server: RpcServer) -> AsyncIterator[Callable[[], Awaitable[Wire]]]:
    """Opens raw connections to ``server``; all are closed at the end."""
    wires: list[Wire] = []

    async def open_wire() -> Wire:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        wires.append(Wire(reader, writer))
        return wires[-1]

    yield open_wire
    for wire in wires:
        wire.writer.close()
        with contextlib.suppress(ConnectionError):
            await wire.writer.wait_closed()


Connect = Callable[[], Awaitable[Wire]]

# ---------------------------------------------------------------- calls and paths


async def test_start_returns_the_bound_port(server: RpcServer) -> None:
    """start(0) picks a free port and reports it."""
    assert server.port is not None and server.port > 0


async def test_post_is_answered_with_the_result(connect: Connect) -> None:
    """A POSTed call gets 200, text/xml and the endpoint's result."""
    wire = await connect()
    wire.send(post("echo", "a", ["b", "c"], {"k": "v"}))
    reply = await wire.reply()
    assert reply.status == 200 and reply.headers["content-type"] == "text/xml"
    assert reply.value() == ["a", ["b", "c"], {"k": "v"}]


@pytest.mark.parametrize("path", ["/", "/xmlrpc", "/xmlrpc?client=1", "/?x"])
async def test_both_paths_answer_and_the_query_is_ignored(connect: Connect, path: str) -> None:
    """``/`` and ``/xmlrpc`` (with any query string) reach the endpoint."""
    wire = await connect()
    assert await wire.call(post("echo", "x", path=path)) == ["x"]


@pytest.mark.parametrize("path", ["/other", "/xmlrpc/", "/XMLRPC", "*"])
async def test_unknown_path_is_404_and_closes(connect: Connect, path: str) -> None:
    """Any other path gets 404 with Connection: close, then the server hangs up."""
    wire = await connect()
    wire.send(post("echo", "x", path=path))
    reply = await wire.reply()
    assert reply.status == 404 and reply.headers["connection"] == "close"
    assert b"/xmlrpc" in reply.body
    assert await wire.rest() == b""


async def test_get_returns_the_about_page_and_keeps_alive(connect: Connect) -> None:
    """GET gets a short HTML page; the connection stays usable."""
    wire = await connect()
    wire.send(http("GET /xmlrpc HTTP/1.1"))
    reply = await wire.reply()
    assert (reply.status, reply.headers["content-type"]) == (200, "text/html")
    assert reply.body == ABOUT_PAGE
    assert await wire.call(post("echo", "after")) == ["after"]


async def test_head_gives_the_page_length_without_a_body(connect: Connect) -> None:
    """HEAD gets the GET headers and no body bytes (the next answer follows at once)."""
    wire = await connect()
    wire.send(http("HEAD / HTTP/1.1"), post("echo", "next"))
    reply = await wire.reply(head_only=True)
    assert reply.status == 200 and int(reply.headers["content-length"]) == len(ABOUT_PAGE)
    assert (await wire.reply()).value() == ["next"]


async def test_head_to_an_unknown_path_is_404_without_a_body(connect: Connect) -> None:
    """An answer to HEAD has no body (RFC 9110 9.3.2), an error included."""
    wire = await connect()
    wire.send(http("HEAD /other HTTP/1.1"))
    reply = await wire.reply(head_only=True)
    assert reply.status == 404 and int(reply.headers["content-length"]) > 0
    assert await wire.rest() == b""


@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "post"])
async def test_other_methods_are_405_and_close(connect: Connect, method: str) -> None:
    """Methods other than POST, GET and HEAD get 405 and the connection closes."""
    wire = await connect()
    wire.send(http(f"{method} /xmlrpc HTTP/1.1", body=b"x"))
    reply = await wire.reply()
    assert reply.status == 405 and b"POST" in reply.body
    assert await wire.rest() == b""


# ---------------------------------------------------------------- bad HTTP


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"hello\r\n\r\n",
        b"GET /\r\n\r\n",
        b"POST /xmlrpc FOO/1.1\r\n\r\n",
        b"POST /xmlrpc HTTP/1.1\r\nno colon\r\n\r\n",
        b"POST /xmlrpc HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
        b"POST /xmlrpc HTTP/1.1\r\nContent-Length: \xb2\r\n\r\nxx",
        b"POST /xmlrpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /xmlrpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
        b"POST /xmlrpc HTTP/1.1\r\nX: " + b"a" * 65600,
    ],
    ids=[
        "no-spaces", "http-0.9", "not-http", "header-no-colon", "bad-length",
        "superscript-length", "bad-chunk-size", "hex-prefixed-chunk-size", "huge-head",
    ],
)
async def test_garbage_is_4xx_and_closes(connect: Connect, request_bytes: bytes) -> None:
    """Unparseable requests get an HTTP error that says why, and the server hangs up."""
    wire = await connect()
    wire.send(request_bytes)
    reply = await wire.reply()
    assert reply.status in (400, 405, 431, 505) and reply.headers["connection"] == "close"
    assert reply.body.strip()
    assert await wire.rest() == b""


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/0.9", "HTTP/3"])
async def test_unsupported_version_is_505(connect: Connect, version: str) -> None:
    """A version other than HTTP/1.x gets 505 (400 if malformed) and the connection closes."""
    wire = await connect()
    wire.send(post("echo", "x", version=version))
    reply = await wire.reply()
    assert reply.status in (400, 505) and reply.headers["connection"] == "close"
    assert await wire.rest() == b""


# ---------------------------------------------------------------- connection handling


async def test_http11_keeps_the_connection_alive(server: RpcServer, connect: Connect) -> None:
    """Several calls on one HTTP/1.1 connection; the server holds just that one."""
    wire = await connect()
    for n in range(3):
        wire.send(post("echo", str(n)))
        reply = await wire.reply()
        assert reply.value() == [str(n)] and "connection" not in reply.headers
        assert server.connections == 1


async def test_connection_close_is_honoured(server: RpcServer, connect: Connect) -> None:
    """``Connection: close`` gets the answer, marked close, then the server hangs up."""
    wire = await connect()
    wire.send(post("echo", "bye", headers=("Connection: close",)))
    reply = await wire.reply()
    assert reply.value() == ["bye"] and reply.headers["connection"] == "close"
    assert await wire.rest() == b""
    assert server.connections == 0


async def test_http10_closes_after_the_answer(connect: Connect) -> None:
    """An HTTP/1.0 request without keep-alive is answered, then the connection closes."""
    wire = await connect()
    wire.send(post("echo", "old", version="HTTP/1.0"))
    assert (await wire.reply()).value() == ["old"]
    assert await wire.rest() == b""


async def test_http10_keep_alive_stays_open(connect: Connect) -> None:
    """An HTTP/1.0 request with ``Connection: keep-alive`` keeps the connection."""
    wire = await connect()
    keep = ("Connection: keep-alive",)
    for n in range(2):
        assert await wire.call(post("echo", str(n), version="HTTP/1.0", headers=keep)) == [str(n)]


async def test_chunked_request_body_is_read(connect: Connect) -> None:
    """A chunked request body is reassembled before decoding."""
    wire = await connect()
    body = encode_call("echo", ["chunky" * 20])
    request = http("POST /xmlrpc HTTP/1.1", "Transfer-Encoding: chunked", body=chunked(body, 37))
    assert await wire.call(request) == ["chunky" * 20]


async def test_expect_100_continue_gets_an_interim_answer(connect: Connect) -> None:
    """With ``Expect: 100-continue`` the server says 100 before the client sends the body."""
    wire = await connect()
    body = encode_call("echo", ["continued"])
    head = f"POST /xmlrpc HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n"
    wire.send(head.encode())
    interim = await within(wire.reader.readuntil(b"\r\n\r\n"), PROMPT)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    wire.send(body)
    assert (await wire.reply()).value() == ["continued"]


async def test_expect_100_continue_without_a_body_gets_no_interim(connect: Connect) -> None:
    """A request with nothing to send gets its answer directly, no 100."""
    wire = await connect()
    wire.send(http("GET / HTTP/1.1", "Expect: 100-continue"))
    assert (await wire.reply()).status == 200


async def test_pipelined_requests_are_answered_in_order(connect: Connect) -> None:
    """Requests sent back to back in one write get their answers in the same order."""
    wire = await connect()
    wire.send(*(post("echo", str(n)) for n in range(5)), http("GET / HTTP/1.1"))
    for n in range(5):
        assert (await wire.reply()).value() == [str(n)]
    assert (await wire.reply()).body == ABOUT_PAGE


async def test_requests_sent_before_a_half_close_are_all_answered(
    endpoint: Endpoint, connect: Connect
) -> None:
    """A client that shuts down its sending side still gets every answer, then EOF."""
    wire = await connect()
    wire.send(post("echo", "a"), post("slow", "b"))
    wire.writer.write_eof()
    await within(endpoint.slow_started.wait(), PROMPT)
    endpoint.release.set()
    assert (await wire.reply()).value() == ["a"]
    assert (await wire.reply()).value() == ["b"]
    assert await wire.rest() == b""


async def test_half_close_in_the_middle_of_a_request_closes(connect: Connect) -> None:
    """A request cut short by a half-close can never complete: the server closes."""
    wire = await connect()
    wire.send(post("echo", "a")[:-10])
    wire.writer.write_eof()
    assert await wire.rest() == b""


async def test_pipelined_request_waits_for_a_slow_call(
    endpoint: Endpoint, connect: Connect
) -> None:
    """A request behind a slow one is not run until the slow one is answered."""
    wire = await connect()
    wire.send(post("slow", "first"), post("echo", "second"))
    await within(endpoint.slow_started.wait(), PROMPT)
    assert endpoint.calls == ["slow"]
    endpoint.release.set()
    assert (await wire.reply()).value() == ["first"]
    assert (await wire.reply()).value() == ["second"]


async def test_pipelining_beyond_max_body_is_held_until_the_call_ends(
    endpoint: Endpoint, connect: Connect
) -> None:
    """More pipelined bytes than max_body behind a slow call are still all answered, in order."""
    wire, other = await connect(), await connect()
    padding = "p" * 500
    wire.send(post("slow", "first"))
    await within(endpoint.slow_started.wait(), PROMPT)
    wire.send(*(post("echo", str(n), padding) for n in range(8)))
    # A round trip on another connection lets the server read those bytes while busy.
    assert await other.call(post("echo", "barrier")) == ["barrier"]
    endpoint.release.set()
    assert (await wire.reply()).value() == ["first"]
    for n in range(8):
        assert (await wire.reply()).value() == [str(n), padding]


async def test_bare_lf_request_then_crlf_request(connect: Connect) -> None:
    """A bare-LF request pipelined before a CRLF one: both are answered."""
    wire = await connect()
    body = encode_call("echo", ["lf"])
    wire.send(b"POST /xmlrpc HTTP/1.1\nContent-Length: %d\n\n%s" % (len(body), body))
    wire.send(post("echo", "crlf"))
    assert (await wire.reply()).value() == ["lf"]
    assert (await wire.reply()).value() == ["crlf"]


async def test_upgrade_request_is_answered_as_plain_http(connect: Connect) -> None:
    """``Upgrade: h2c`` on a POST with a body (Java's HttpClient) is ignored: the call is served.

    llhttp stops at such a request; the server used to drop the connection
    without an answer.
    """
    wire = await connect()
    upgrade = ("Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABk")
    assert await wire.call(post("echo", "h2c", headers=upgrade)) == ["h2c"]
    assert await wire.call(post("echo", "after")) == ["after"]


async def test_bare_lf_chunked_body_is_refused_not_awaited(connect: Connect) -> None:
    """A chunked body with bare-LF lines gets 400 at once instead of waiting for more."""
    wire = await connect()
    wire.send(b"POST /xmlrpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n")
    assert (await wire.reply()).status == 400
    assert await wire.rest() == b""


# ---------------------------------------------------------------- faults


async def test_oversized_body_gets_a_fault_and_the_connection_stays_usable(
    connect: Connect,
) -> None:
    """A body over max_body is read to its end and answered with fault 10."""
    wire = await connect()
    wire.send(post("echo", "x" * MAX_BODY), post("echo", "small"))
    fault = (await wire.reply()).value()
    assert isinstance(fault, Fault) and fault.code == 10 and str(MAX_BODY) in fault.string
    assert (await wire.reply()).value() == ["small"]


async def test_oversized_chunked_body_gets_a_fault_and_the_connection_stays_usable(
    connect: Connect,
) -> None:
    """A chunked body over max_body is also consumed and answered with fault 10."""
    wire = await connect()
    body = chunked(encode_call("echo", ["y" * MAX_BODY]))
    wire.send(http("POST / HTTP/1.1", "Transfer-Encoding: chunked", body=body))
    fault = (await wire.reply()).value()
    assert isinstance(fault, Fault) and fault.code == 10
    assert await wire.call(post("echo", "small")) == ["small"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"this is not XML",
        b"<methodCall><methodName>echo</methodName><params>",
        b"<methodResponse><params><param><value>x</value></param></params></methodResponse>",
        b"<methodCall><methodName>echo</methodName><params><param><value><nil/></value>"
        b"</param></params></methodCall>",
    ],
    ids=["empty", "text", "truncated", "response", "nil"],
)
async def test_malformed_xml_gets_a_fault(connect: Connect, body: bytes) -> None:
    """A body that is not a SAMP XML-RPC call gets fault 10; the connection stays usable."""
    wire = await connect()
    fault = await wire.call(http("POST /xmlrpc HTTP/1.1", body=body))
    assert isinstance(fault, Fault) and fault.code == 10 and "Malformed" in fault.string
    assert await wire.call(post("echo", "ok")) == ["ok"]


@pytest.mark.parametrize("method", ["boom", "later_boom"])
async def test_endpoint_crash_is_fault_1(
    connect: Connect, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception that is not a HubFault (sync or async) answers fault 1 and is logged."""
    wire = await connect()
    fault = await wire.call(post(method))
    assert isinstance(fault, Fault) and fault.code == 1
    assert method in fault.string and "RuntimeError: kaput" in fault.string
    assert "internal error" in caplog.text
    assert await wire.call(post("echo", "still here")) == ["still here"]


async def test_hub_fault_keeps_its_code(connect: Connect) -> None:
    """A HubFault subclass becomes a fault with that class's code and message."""
    wire = await connect()
    fault = await wire.call(post("nosuch"))
    assert fault == Fault(InvalidRequestError.fault_code, "no method nosuch")


async def test_unencodable_result_is_fault_10(connect: Connect) -> None:
    """A result that is not a SAMP value answers fault 10 rather than a dead socket."""
    wire = await connect()
    fault = await wire.call(post("unencodable"))
    assert isinstance(fault, Fault) and fault.code == 10


# ---------------------------------------------------------------- concurrency and stopping


async def test_stuck_call_does_not_delay_another_connection(
    endpoint: Endpoint, connect: Connect
) -> None:
    """While one connection waits on a slow call, another is answered."""
    stuck, free = await connect(), await connect()
    stuck.send(post("slow", "late"))
    await within(endpoint.slow_started.wait(), PROMPT)
    assert await free.call(post("echo", "now")) == ["now"]
    assert not endpoint.slow_finished.is_set()
    endpoint.release.set()
    assert (await stuck.reply()).value() == ["late"]


async def test_stop_cancels_a_running_call_and_drops_its_connection(
    server: RpcServer, endpoint: Endpoint, connect: Connect
) -> None:
    """stop() gives a stuck call its grace, then cancels it and closes without an answer."""
    wire = await connect()
    wire.send(post("slow", "never"))
    await within(endpoint.slow_started.wait(), PROMPT)
    await within(server.stop(grace=0.05), PROMPT)
    await within(endpoint.slow_cancelled.wait(), PROMPT)
    assert await wire.rest() == b""
    assert server.connections == 0


async def test_stop_lets_a_call_finishing_in_its_grace_answer(
    server: RpcServer, endpoint: Endpoint, connect: Connect
) -> None:
    """A call that finishes during stop()'s grace still writes its answer."""
    wire = await connect()
    wire.send(post("slow", "just in time"))
    await within(endpoint.slow_started.wait(), PROMPT)
    stopping = asyncio.ensure_future(server.stop(grace=PROMPT))
    endpoint.release.set()
    await within(stopping, PROMPT)
    assert (await wire.reply()).value() == ["just in time"]
    assert await wire.rest() == b""


async def test_stop_closes_idle_connections_and_the_port(
    server: RpcServer, connect: Connect
) -> None:
    """After stop() idle connections are closed and nothing listens."""
    wire = await connect()
    assert await wire.call(post("echo", "x")) == ["x"]
    await server.stop()
    assert await wire.rest() == b""
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_call_runs_to_the_end_after_the_client_leaves(
    endpoint: Endpoint, connect: Connect
) -> None:
    """A client hanging up during a call does not cancel it."""
    wire = await connect()
    wire.send(post("slow", "orphan"))
    await within(endpoint.slow_started.wait(), PROMPT)
    wire.writer.close()
    await wire.writer.wait_closed()
    endpoint.release.set()
    await within(endpoint.slow_finished.wait(), PROMPT)
    assert not endpoint.slow_cancelled.is_set()


async def test_xmlrpc_client_server_proxy_works(server: RpcServer) -> None:
    """The standard library's ServerProxy gets results and faults right."""
    url = f"http://127.0.0.1:{server.port}/xmlrpc"

    def talk() -> tuple[Any, Any, xmlrpc.client.Fault]:
        with xmlrpc.client.ServerProxy(url) as proxy:
            first = proxy.echo("a", ["b", "c"], {"k": "v"})
            second = proxy.echo()  # on the same kept-alive connection
            try:
                proxy.nosuch("x")
            except xmlrpc.client.Fault as fault:
                return first, second, fault
        raise AssertionError("no fault")

    first, second, fault = await within(asyncio.to_thread(talk), PROMPT)
    assert first == ["a", ["b", "c"], {"k": "v"}] and second == []
    assert fault.faultCode == InvalidRequestError.fault_code
    assert fault.faultString == "no method nosuch"


async def test_connection_set_up_after_stop_is_closed(endpoint: Endpoint) -> None:
    """A connection accepted just before stop() but set up after it is closed at once.

    asyncio accepts a socket in one loop turn and calls ``connection_made``
    in a later one; a stop() in between must not leave that connection open.
    """
    server = RpcServer(endpoint, "127.0.0.1")
    await server.start()
    await server.stop(grace=0)
    left, right = socket.socketpair()
    with right:
        transport, _ = await asyncio.get_running_loop().connect_accepted_socket(
            lambda: _Connection(server), left)
        assert transport.is_closing()
        assert server.connections == 0


#: Connections queued at once around a stop(): fewer than one accept batch.
QUEUED = 8


async def next_turns(count: int) -> None:
    """Let the event loop run exactly ``count`` turns (one ``sleep(0)`` is one turn, not a wait)."""
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.mark.parametrize("turns", range(5))
async def test_stop_while_connections_are_being_accepted_closes_them_all(
    endpoint: Endpoint, turns: int
) -> None:
    """Every connection accepted around stop() is closed when it returns; none is left to the GC.

    asyncio accepts the queued connections in one loop turn, builds their
    transports in tasks that run in the next and calls ``connection_made`` in
    the turn after that. Stopping 0 to 4 turns after the connections are
    queued stops before, between and after each of those steps.
    """
    server = RpcServer(endpoint, "127.0.0.1")
    port = await server.start()
    listening = server._servers[0].sockets[0]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(QUEUED)]
    try:
        # Blocks the loop: the connections are queued, none is accepted yet.
        assert select.select([listening], [], [], PROMPT)[0]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            await next_turns(turns)
            await server.stop(grace=0)
            # Blocks the loop again: a client sees its connection closed only
            # if stop() itself closed it.
            for client in clients:
                assert select.select([client], [], [], PROMPT)[0], "a connection is still open"
            gc.collect()
        assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    finally:
        for client in clients:
            client.close()


async def test_start_on_a_busy_port_raises_and_leaves_nothing_open(endpoint: Endpoint) -> None:
    """A port that is taken gives an OSError; no socket is left behind (warnings are errors)."""
    first = RpcServer(endpoint, "127.0.0.1")
    port = await first.start()
    try:
        with pytest.raises(OSError):
            await RpcServer(endpoint, "127.0.0.1").start(port)
    finally:
        await first.stop(grace=0)


async def test_a_name_with_several_addresses_listens_on_one_port(endpoint: Endpoint) -> None:
    """``localhost`` binds each of its addresses, all on the same free port."""
    server = RpcServer(endpoint, "localhost")
    port = await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        wire = Wire(reader, writer)
        try:
            assert await wire.call(post("echo", "hi")) == ["hi"]
        finally:
            writer.close()
            await writer.wait_closed()
    finally:
        await server.stop(grace=0)


async def test_stop_drops_a_connection_whose_peer_reads_nothing(endpoint: Endpoint) -> None:
    """Answers a peer never reads do not keep the connection open past stop()."""
    endpoint.max_body = 1 << 24
    server = RpcServer(endpoint, "127.0.0.1")
    port = await server.start()
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        big = "x" * (1 << 20)
        for _ in range(8):  # megabytes of answers pile up unread in the server's buffer
            writer.write(post("echo", big))
        await writer.drain()
        await server.stop(grace=0.2)
        assert server.connections == 0
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
