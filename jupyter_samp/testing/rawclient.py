"""A recording SAMP client, for testing a hub or an application against one.

:class:`RawClient` registers with a hub's Standard Profile and makes raw
``samp.hub.*`` calls (:meth:`RawClient.hub`), with no logic of its own; its
callback server (tornado, on 127.0.0.1, port 0) records every
``samp.client.*`` callback it receives into asyncio queues, and it answers
calls only when given a ``responder``. A test therefore sees exactly what
the hub (or the application under test) sent, and when.

Example (pytest with pytest-asyncio)::

    from jupyter_samp.testing import samp_environment
    from jupyter_samp.testing.rawclient import RawClient, echo, echo_responder, standard_hub

    async def test_a_call_is_answered(tmp_path):
        with samp_environment(tmp_path) as env:
            async with standard_hub(lockfile=env.lockfile):
                listener = await RawClient.connect(
                    env.lockfile, name="listener", subscriptions={"test.echo": {}},
                    responder=echo_responder)
                sender = await RawClient.connect(env.lockfile, name="sender")
                answer = await sender.hub("callAndWait", listener.public_id,
                                          echo(n="1"), "10")
                assert answer["samp.result"] == {"n": "1"}
                await sender.close()
                await listener.close()

The helpers raise ``AssertionError`` where a test expects something that did
not happen (no lockfile, no callback within :data:`PROMPT` seconds), and
:class:`~jupyter_samp.errors.HubFault` for a fault the hub answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, NamedTuple

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyter_samp.core.xmlrpc import Fault, decode_call, decode_response, encode_response
from jupyter_samp.errors import HubFault
from jupyter_samp.hub import Hub
from jupyter_samp.lockfile import read_lockfile
from jupyter_samp.transport.http import HttpPool, HttpResponse
from jupyter_samp.transport.xmlrpc import xmlrpc_call


def standard_hub(**options: Any) -> Hub:
    """Our hub with the Standard Profile only.

    The Web Profile listens on the fixed port 21012, which a hermetic test
    must not take; tests of the Web Profile live elsewhere.
    """
    options.setdefault("web_profile", False)
    return Hub(**options)


#: Generous deadline for anything that should happen "at once".
PROMPT = 10.0

Responder = Callable[[str, str, dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


class Notification(NamedTuple):
    """A ``receiveNotification`` the client got: who sent it, and the message map."""

    sender: str
    message: dict[str, Any]


class Call(NamedTuple):
    """A ``receiveCall`` the client got: sender, msg-id and the message map."""

    sender: str
    msg_id: str
    message: dict[str, Any]


class Response(NamedTuple):
    """A ``receiveResponse`` the client got: responder, msg-tag and the response map."""

    responder: str
    tag: str
    response: dict[str, Any]


def echo_responder(sender: str, msg_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """Answer ``samp.ok`` with the message's params as the result."""
    return {"samp.status": "samp.ok", "samp.result": message.get("samp.params", {})}


def echo(**params: str) -> dict[str, Any]:
    """A ``test.echo`` message."""
    return {"samp.mtype": "test.echo", "samp.params": params}


async def within(awaitable: Awaitable[Any], timeout: float = PROMPT) -> Any:
    """Await with a deadline (a failed test must not hang)."""
    return await asyncio.wait_for(awaitable, timeout)


class _CallbackHandler(RequestHandler):
    def initialize(self, client: RawClient) -> None:
        self.client = client

    async def post(self) -> None:
        method, params = decode_call(self.request.body)
        self.client.record(method, params)
        self.set_header("Content-Type", "text/xml")
        self.finish(encode_response(""))


class RawClient:
    """One SAMP client: registration, raw hub calls, recorded callbacks.

    Parameters
    ----------
    hub_url, secret : str
        From the hub's lockfile (see :meth:`from_lockfile`).
    responder : callable, optional
        ``responder(sender, msg_id, message) -> response``: when given, every
        received call is answered with ``samp.hub.reply`` (after the callback
        has returned, as real clients do).
    """

    def __init__(self, hub_url: str, secret: str, *, responder: Responder | None = None) -> None:
        self.hub_url = hub_url
        self.secret = secret
        self.responder = responder
        self.pool = HttpPool()
        self.notifications: asyncio.Queue[Notification] = asyncio.Queue()
        self.calls: asyncio.Queue[Call] = asyncio.Queue()
        self.responses: asyncio.Queue[Response] = asyncio.Queue()
        self.keys_seen: set[str] = set()
        self.private_key: str | None = None
        self.public_id: str | None = None
        self.hub_id: str | None = None
        self.callback_url: str | None = None
        self._server: HTTPServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_lockfile(cls, lockfile: Path, **kwargs: Any) -> RawClient:
        """A client of the hub whose record ``lockfile`` holds."""
        info = read_lockfile(lockfile)
        assert info is not None, f"no lockfile at {lockfile}"
        return cls(info["samp.hub.xmlrpc.url"], info["samp.secret"], **kwargs)

    @classmethod
    async def connect(
        cls,
        lockfile: Path,
        *,
        name: str | None = None,
        subscriptions: dict[str, Any] | None = None,
        callable: bool = True,
        responder: Responder | None = None,
    ) -> RawClient:
        """Register, declare metadata, become callable and subscribe, in that order."""
        client = cls.from_lockfile(lockfile, responder=responder)
        try:
            await client.register()
            if name is not None:
                await client.hub("declareMetadata", {"samp.name": name})
            if callable:
                await client.listen()
            if subscriptions is not None:
                await client.hub("declareSubscriptions", subscriptions)
        except BaseException:
            await client.close()
            raise
        return client

    # ------------------------------------------------------------ hub calls

    async def raw(self, method: str, *params: Any, timeout: float | None = PROMPT) -> Any:
        """Call ``method`` (full name) with exactly ``params``."""
        return await xmlrpc_call(self.pool, self.hub_url, method, params, timeout=timeout)

    async def hub(self, method: str, *params: Any, timeout: float | None = PROMPT) -> Any:
        """Call ``samp.hub.<method>(private-key, *params)``."""
        assert self.private_key is not None, "not registered"
        return await self.raw(f"samp.hub.{method}", self.private_key, *params, timeout=timeout)

    async def post(self, body: bytes, *, timeout: float = PROMPT) -> HttpResponse:
        """POST raw bytes to the hub's endpoint."""
        return await self.pool.post(self.hub_url, body, timeout=timeout)

    async def post_fault(self, body: bytes) -> Fault:
        """POST raw bytes and return the fault the hub must answer."""
        answer = await self.post(body)
        assert answer.status == 200, answer
        result = decode_response(answer.body)
        assert isinstance(result, Fault), f"expected a fault, got {result!r}"
        return result

    async def register(self) -> dict[str, str]:
        """``samp.hub.register`` with the lockfile's secret."""
        info = await self.raw("samp.hub.register", self.secret)
        self.private_key = info["samp.private-key"]
        self.public_id = info["samp.self-id"]
        self.hub_id = info["samp.hub-id"]
        return info

    async def listen(self) -> str:
        """Start the callback server and tell the hub its URL."""
        sockets = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        port = sockets[0].getsockname()[1]
        app = Application([(r"/.*", _CallbackHandler, {"client": self})], log_function=_quiet)
        self._server = HTTPServer(app)
        self._server.add_sockets(sockets)
        self.callback_url = f"http://127.0.0.1:{port}/xmlrpc"
        await self.hub("setXmlrpcCallback", self.callback_url)
        return self.callback_url

    async def unregister(self) -> None:
        """Unregister (faults ignored: the hub may have gone or evicted us)."""
        if self.private_key is None:
            return
        with contextlib.suppress(HubFault, ConnectionError):
            await self.hub("unregister")
        self.private_key = None

    async def close(self) -> None:
        """Unregister, stop the callback server, close connections."""
        try:
            await self.unregister()
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(set(self._tasks))
            if self._server is not None:
                self._server.stop()
                await self._server.close_all_connections()
                self._server = None
            self.pool.close()

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    # ------------------------------------------------------------ callbacks

    def record(self, method: str, params: list[Any]) -> None:
        """Queue one received callback (and answer calls if a responder is set)."""
        key, *rest = params
        self.keys_seen.add(key)
        if method == "samp.client.receiveNotification":
            self.notifications.put_nowait(Notification(*rest))
        elif method == "samp.client.receiveCall":
            call = Call(*rest)
            self.calls.put_nowait(call)
            if self.responder is not None:
                self._spawn(self._answer(call))
        elif method == "samp.client.receiveResponse":
            self.responses.put_nowait(Response(*rest))
        else:
            raise ValueError(f"unexpected callback {method}")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, call: Call) -> None:
        assert self.responder is not None
        response = self.responder(call.sender, call.msg_id, call.message)
        if not isinstance(response, dict):
            response = await response
        await self.hub("reply", call.msg_id, response)

    async def next_notification(
        self, mtype: str | None = None, timeout: float = PROMPT
    ) -> Notification:
        """The next notification (of ``mtype``, skipping others), with a deadline."""
        return await within(_next(self.notifications, mtype), timeout)

    async def next_call(self, timeout: float = PROMPT) -> Call:
        """The next received call, with a deadline."""
        return await within(self.calls.get(), timeout)

    async def next_response(self, timeout: float = PROMPT) -> Response:
        """The next received response, with a deadline."""
        return await within(self.responses.get(), timeout)


async def _next(queue: asyncio.Queue[Notification], mtype: str | None) -> Notification:
    while True:
        item = await queue.get()
        if mtype is None or item.message.get("samp.mtype") == mtype:
            return item


def _quiet(handler: RequestHandler) -> None:
    pass


def dead_url() -> str:
    """An http URL where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/xmlrpc"


class BlackHole:
    """A TCP server that accepts connections and reads, but never answers."""

    def __init__(self) -> None:
        self.accepted = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.url = ""

    async def __aenter__(self) -> BlackHole:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/xmlrpc"
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self.accepted.set()
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for writer in self._writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self._server.wait_closed()


async def assert_hub_serves(lockfile: Path) -> None:
    """Check that the hub at ``lockfile`` still serves new clients normally.

    Two fresh clients register; one echoes ``test.echo``; the other sends it
    a notification, an asynchronous call and a synchronous call.
    """
    async with (
        await RawClient.connect(
            lockfile, name="listener", subscriptions={"test.echo": {}}, responder=echo_responder
        ) as listener,
        await RawClient.connect(lockfile, name="sender", subscriptions={}) as sender,
    ):
        assert listener.public_id in await sender.hub("getRegisteredClients")
        await sender.hub("notify", listener.public_id, echo(n="1"))
        got = await listener.next_notification("test.echo")
        assert got == (sender.public_id, echo(n="1"))
        msg_id = await sender.hub("call", listener.public_id, "tag-1", echo(n="2"))
        response = await sender.next_response()
        assert response.responder == listener.public_id and response.tag == "tag-1"
        assert response.response["samp.result"] == {"n": "2"}
        assert (await listener.next_call()).msg_id == msg_id
        answer = await sender.hub("callAndWait", listener.public_id, echo(n="3"), "10")
        assert answer == {"samp.status": "samp.ok", "samp.result": {"n": "3"}}
