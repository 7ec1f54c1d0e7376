"""Recipients (and hubs) whose answers cannot be decoded: the caller hears of it at once.

A raw recipient, a tiny HTTP server on 127.0.0.1, answers every callback
with something the hub cannot decode (an unknown encoding, UTF-32, garbage,
an entity bomb, HTTP 500, nothing at all). A caller's ``callAndWait`` with no
timeout must get a fault within seconds, an asynchronous ``call`` a
``samp.error`` response, a notification nothing but a log line; no task may
die with an exception nobody retrieves, and two canary clients keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from jupyter_samp.client.hubproxy import StandardHubProxy
from jupyter_samp.errors import HubFault, ProtocolError
from jupyter_samp.hub import xmlrpc_delivery as delivery
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.testing.rawclient import RawClient, echo, echo_responder, standard_hub

#: Seconds within which a failed delivery must reach the caller.
PROMPTLY = 5.0

_LAUGHS = "".join(f"<!ENTITY l{i} '{('&l' + str(i - 1) + ';') * 10}'>" for i in range(1, 10))
_RESPONSE = "<methodResponse><params><param><value>{}</value></param></params></methodResponse>"


def _xml(body: bytes, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


ANSWERS = {
    "unknown-encoding": (
        _xml(b"<?xml version='1.0' encoding='x-no-such'?>" + _RESPONSE.format("").encode()),
        "encoding",
    ),
    "utf-32": (
        # Expat takes the UTF-32 byte-order mark for UTF-16's, then fails.
        _xml(("<?xml version='1.0' encoding='utf-32'?>" + _RESPONSE.format("")).encode("utf-32")),
        "encoding|malformed",
    ),
    "garbage": (_xml(b"\x00\xff\xfe not XML at all"), "malformed"),
    "entity-bomb": (
        _xml(f"<?x <method?><!DOCTYPE m [<!ENTITY l0 'lol'>{_LAUGHS}]>"
             f"{_RESPONSE.format('&l9;')}".encode()),
        "DTD",
    ),
    "http-500": (_xml(b"oops", "500 Internal Server Error"), "HTTP 500"),
    "no-answer": (b"", "closed"),
}


@dataclass
class BadPeer:
    """An HTTP server that reads each request and sends ``answer`` (then closes)."""

    answer: bytes
    url: str = ""
    requests: int = 0
    _server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> BadPeer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/xmlrpc"
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            self.requests += 1
            writer.write(self.answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def unretrieved() -> AsyncIterator[list[dict[str, Any]]]:
    """What the loop's exception handler was given (e.g. "Task exception was never retrieved")."""
    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


@dataclass
class Scene:
    sender: RawClient
    listener: RawClient
    recipient: RawClient


@contextlib.asynccontextmanager
async def scene(samp_env: SampEnvironment, peer: BadPeer) -> AsyncIterator[Scene]:
    """A hub, a bad recipient whose callback is ``peer``, and two canary clients."""
    async with standard_hub(lockfile=samp_env.lockfile, client_timeout=30.0):
        lockfile = samp_env.lockfile
        async with (
            await RawClient.connect(lockfile, name="canary-listener",
                                    subscriptions={"test.echo": {}},
                                    responder=echo_responder) as listener,
            await RawClient.connect(lockfile, name="canary-sender",
                                    subscriptions={}) as sender,
            await RawClient.connect(lockfile, name="bad", callable=False) as recipient,
        ):
            await recipient.hub("setXmlrpcCallback", peer.url)
            await recipient.hub("declareSubscriptions", {"test.echo": {}})
            yield Scene(sender, listener, recipient)


async def _canary_works(scene: Scene, n: str) -> float:
    started = time.perf_counter()
    answer = await scene.sender.hub("callAndWait", scene.listener.public_id, echo(n=n), "10")
    assert answer == {"samp.status": "samp.ok", "samp.result": {"n": n}}
    await scene.listener.hub("ping")
    return time.perf_counter() - started


def _no_unretrieved(seen: list[dict[str, Any]]) -> None:
    gc.collect()  # a dead task reports its exception when it is collected
    assert not seen, [context.get("message") for context in seen]


@pytest.mark.parametrize(("answer", "said"), ANSWERS.values(), ids=ANSWERS.keys())
async def test_call_and_wait_without_timeout_gets_the_error_at_once(
    samp_env: SampEnvironment, unretrieved: list[dict[str, Any]], answer: bytes, said: str
) -> None:
    async with BadPeer(answer) as peer, scene(samp_env, peer) as s:
        started = time.monotonic()
        with pytest.raises(HubFault, match=said):
            # "0": no timeout at all; before the fix this waited 12 hours.
            await asyncio.wait_for(
                s.sender.hub("callAndWait", s.recipient.public_id, echo(n="1"), "0",
                             timeout=None), PROMPTLY)
        assert time.monotonic() - started < PROMPTLY
        assert peer.requests >= 1 or said == "closed"
        await _canary_works(s, "after")
    _no_unretrieved(unretrieved)


@pytest.mark.parametrize(("answer", "said"), ANSWERS.values(), ids=ANSWERS.keys())
async def test_async_call_gets_a_samp_error_response(
    samp_env: SampEnvironment, unretrieved: list[dict[str, Any]], answer: bytes, said: str
) -> None:
    async with BadPeer(answer) as peer, scene(samp_env, peer) as s:
        msg_id = await s.sender.hub("call", s.recipient.public_id, "tag-bad", echo(n="2"))
        assert msg_id
        got = await s.sender.next_response(timeout=PROMPTLY)
        assert got.responder == s.recipient.public_id and got.tag == "tag-bad"
        assert got.response["samp.status"] == "samp.error"
        assert re.search(said, got.response["samp.error"]["samp.errortxt"])
        # A notification fails quietly (a log line), and nothing is left behind.
        await s.sender.hub("notify", s.recipient.public_id, echo(n="3"))
        latency = await _canary_works(s, "after")
        assert latency < PROMPTLY
        # The hub still knows the bad recipient (it answered, badly: it is not gone).
        assert s.recipient.public_id in await s.sender.hub("getRegisteredClients")
    _no_unretrieved(unretrieved)


async def test_a_bug_in_delivery_still_answers_the_caller(
    samp_env: SampEnvironment, unretrieved: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not only the expected errors: any exception becomes an error for the caller."""
    async with BadPeer(_xml(_RESPONSE.format("").encode())) as peer, scene(samp_env, peer) as s:
        real = delivery.xmlrpc_call

        async def broken(pool: Any, url: str, *args: Any, **kwargs: Any) -> Any:
            if url == peer.url:
                raise RuntimeError("a bug in the delivery path")
            return await real(pool, url, *args, **kwargs)

        monkeypatch.setattr(delivery, "xmlrpc_call", broken)
        with pytest.raises(HubFault, match="RuntimeError: a bug"):
            await asyncio.wait_for(
                s.sender.hub("callAndWait", s.recipient.public_id, echo(n="1"), "0",
                             timeout=None), PROMPTLY)
        await s.sender.hub("call", s.recipient.public_id, "tag-bug", echo(n="2"))
        got = await s.sender.next_response(timeout=PROMPTLY)
        assert got.response["samp.status"] == "samp.error"
        assert "internal error" in got.response["samp.error"]["samp.errortxt"]
        await _canary_works(s, "after")
    _no_unretrieved(unretrieved)


@pytest.mark.parametrize(
    ("answer", "said"), [ANSWERS[name] for name in ("unknown-encoding", "utf-32", "garbage",
                                                    "entity-bomb")],
    ids=["unknown-encoding", "utf-32", "garbage", "entity-bomb"],
)
async def test_client_gets_a_protocol_error_from_an_undecodable_hub(
    unretrieved: list[dict[str, Any]], answer: bytes, said: str
) -> None:
    """The client's side of the same contract: a package error, promptly, no hang."""
    async with BadPeer(answer) as peer:
        proxy = StandardHubProxy("file:///nonexistent")
        proxy.url = peer.url
        try:
            with pytest.raises(ProtocolError, match=said):
                await asyncio.wait_for(proxy.ping(timeout=PROMPTLY), PROMPTLY)
        finally:
            proxy.close()
    _no_unretrieved(unretrieved)


async def test_the_hubs_own_port_answers_an_unknown_encoding_with_a_fault(
    samp_env: SampEnvironment,
) -> None:
    """The same body sent to the hub: a fault that says so, not a dropped connection."""
    async with (
        standard_hub(lockfile=samp_env.lockfile),
        RawClient.from_lockfile(samp_env.lockfile) as anon,  # after the hub wrote the lockfile
    ):
        body = (b"<?xml version='1.0' encoding='x-no-such'?><methodCall><methodName>"
                b"samp.hub.ping</methodName></methodCall>")
        fault = await anon.post_fault(body)
        assert "encoding" in fault.string and "x-no-such" in fault.string
