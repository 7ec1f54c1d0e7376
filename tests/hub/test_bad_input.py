"""What the hub does with bad requests and bad clients, over real HTTP.

Every case checks the answer (a fault that says what was wrong, or an error
response) and then that the hub still serves new clients normally.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jupyter_samp.core.xmlrpc import encode_call
from jupyter_samp.errors import (
    HubFault,
    InvalidRequestError,
    NoSuchClientError,
    NotCallableError,
    NotRegisteredError,
    RegistrationRefusedError,
)
from jupyter_samp.hub import Hub
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.testing.rawclient import (
    PROMPT,
    BlackHole,
    RawClient,
    assert_hub_serves,
    dead_url,
    echo,
    echo_responder,
    standard_hub,
    within,
)


@pytest.fixture
async def anon(hub: Hub) -> AsyncIterator[RawClient]:
    """An unregistered client of the ``hub`` fixture, for raw posts."""
    client = RawClient.from_lockfile(Path(hub.lockfile or ""))
    yield client
    await client.close()


@pytest.fixture
async def member(hub: Hub) -> AsyncIterator[RawClient]:
    """A registered client of the ``hub`` fixture."""
    client = await RawClient.connect(Path(hub.lockfile or ""), name="member", subscriptions={})
    yield client
    await client.close()


def _call_body(method: str, *params: object) -> bytes:
    return encode_call(method, list(params))


def _raw_body(method: str, *values: str) -> bytes:
    params = "".join(f"<param>{value}</param>" for value in values)
    return (
        f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName>"
        f"<params>{params}</params></methodCall>"
    ).encode()


# ---------------------------------------------------------------- malformed requests


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"this is not XML",
        b"<methodCall><methodName>samp.hub.ping</methodName><params>",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'x'>]><methodCall>"
        b"<methodName>samp.hub.ping</methodName></methodCall>",
        b"<methodResponse><params><param><value>x</value></param></params></methodResponse>",
        b"<methodCall><methodName>samp.hub.ping</methodName><params><param><value><nil/>"
        b"</value></param></params></methodCall>",
        b"<methodCall><methodName>samp.hub.ping</methodName><params><param><value><base64>"
        b"eA==</base64></value></param></params></methodCall>",
    ],
    ids=["empty", "text", "truncated", "doctype", "response", "nil", "base64"],
)
async def test_malformed_xml_rpc_gets_a_fault(hub: Hub, anon: RawClient, body: bytes) -> None:
    fault = await anon.post_fault(body)
    assert fault.string.startswith("Malformed XML-RPC request"), fault
    await assert_hub_serves(Path(hub.lockfile or ""))


async def test_deeply_nested_request_gets_a_fault(hub: Hub, member: RawClient) -> None:
    deep = "<value><array><data>" * 5000 + "<value>x</value>" + "</data></array></value>" * 5000
    fault = await member.post_fault(
        _raw_body("samp.hub.declareMetadata", f"<value>{member.private_key}</value>", deep)
    )
    assert "nested" in fault.string
    await assert_hub_serves(Path(hub.lockfile or ""))


@pytest.mark.parametrize(
    "method",
    ["samp.hub.not-a-method", "samp.hub.", "samp.client.receiveCall", "system.listMethods", "x"],
)
async def test_unknown_method_gets_a_fault(hub: Hub, member: RawClient, method: str) -> None:
    with pytest.raises(InvalidRequestError, match="Unknown method"):
        await member.raw(method, member.private_key)
    with pytest.raises(InvalidRequestError, match="Unknown method"):
        await member.raw(method)
    await assert_hub_serves(Path(hub.lockfile or ""))


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("getMetadata", (), "getMetadata(string, string) got (string)"),
        ("getMetadata", ("c1", "c2"), "got (string, string, string)"),
        ("declareMetadata", ("not a map",), "declareMetadata(string, map) got (string, string)"),
        ("declareSubscriptions", (["a.b"],), "got (string, list)"),
        ("notify", ("c1",), "notify(string, string, map) got (string, string)"),
        ("notify", ("c1", ["x"]), "got (string, string, list)"),
        ("call", ("c1", {"t": "x"}, echo()), "got (string, string, map, map)"),
        ("callAndWait", ("c1", echo()), "callAndWait(string, string, map, string) got"),
        ("reply", ("id",), "reply(string, string, map) got (string, string)"),
        ("unregister", ("extra",), "unregister(string) got (string, string)"),
        ("getRegisteredClients", ({},), "got (string, map)"),
    ],
)
async def test_wrong_argument_count_or_types_get_a_fault(
    hub: Hub, member: RawClient, method: str, params: tuple[object, ...], expected: str
) -> None:
    with pytest.raises(InvalidRequestError, match="Bad arguments") as caught:
        await member.hub(method, *params)
    assert expected in str(caught.value)
    await member.hub("getRegisteredClients")  # the client is still fine
    await assert_hub_serves(Path(hub.lockfile or ""))


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("samp.hub.register", ()),
        ("samp.hub.register", ({"secret": "x"},)),
        ("samp.hub.register", ("a", "b")),
        ("samp.hub.setXmlrpcCallback", ("key",)),
        ("samp.hub.ping", ("a", "b")),
        ("samp.hub.ping", ({}, {})),
    ],
)
async def test_wrong_arguments_to_profile_methods_get_a_fault(
    hub: Hub, anon: RawClient, method: str, params: tuple[object, ...]
) -> None:
    with pytest.raises(InvalidRequestError, match="Bad arguments"):
        await anon.raw(method, *params)
    await assert_hub_serves(Path(hub.lockfile or ""))


async def test_ping_with_zero_or_one_argument(hub: Hub, anon: RawClient) -> None:
    assert await anon.raw("samp.hub.ping") == ""
    assert await anon.raw("samp.hub.ping", "any-key") == ""


async def test_typed_xml_rpc_scalars_are_tolerated(hub: Hub, member: RawClient) -> None:
    key = f"<value>{member.private_key}</value>"
    body = _raw_body(
        "samp.hub.declareMetadata",
        key,
        (
            "<value><struct><member><name>n</name><value><int>7</int></value></member>"
            "<member><name>b</name><value><boolean>1</boolean></value></member>"
            "<member><name>d</name><value><double>2.5</double></value></member></struct></value>"
        ),
    )
    answer = await member.post(body)
    assert answer.status == 200
    assert await member.hub("getMetadata", member.public_id) == {"n": "7", "b": "1", "d": "2.5"}


# ---------------------------------------------------------------- bad characters


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("caf\u00e9", "0xe9"),
        ("\u2603 snowman", "0x2603"),
        ("c1\u0085control", "0x85"),
        ("del\u009f", "0x9f"),
    ],
    ids=["latin", "bmp", "nel", "c1"],
)
async def test_non_ascii_in_a_string_gets_a_fault_naming_it(
    hub: Hub, member: RawClient, text: str, named: str
) -> None:
    with pytest.raises(InvalidRequestError, match=named):
        await member.hub("declareMetadata", {"samp.name": text})
    with pytest.raises(InvalidRequestError, match=named):
        await member.hub("declareSubscriptions", {text: {}})
    with pytest.raises(InvalidRequestError, match=named):
        await member.hub("notifyAll", echo(value=text))
    assert await member.hub("getMetadata", member.public_id) == {"samp.name": "member"}
    await assert_hub_serves(Path(hub.lockfile or ""))


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f"])
async def test_control_characters_get_a_fault_naming_them(
    hub: Hub, member: RawClient, char: str
) -> None:
    member_xml = f"<member><name>samp.name</name><value>bad{char}</value></member>"
    value = f"<value><struct>{member_xml}</struct></value>"
    if char == "\x00":  # XML cannot even carry it raw; try the character reference
        value = value.replace("\x00", "&#0;")
    fault = await member.post_fault(
        _raw_body("samp.hub.declareMetadata", f"<value>{member.private_key}</value>", value)
    )
    assert f"0x{ord(char):02x}" in fault.string, fault
    await assert_hub_serves(Path(hub.lockfile or ""))


async def test_every_legal_character_survives_the_hub(hub: Hub) -> None:
    legal = "".join(chr(c) for c in [0x09, 0x0A, 0x0D, *range(0x20, 0x80)])
    lockfile = Path(hub.lockfile or "")
    async with (
        await RawClient.connect(
            lockfile, subscriptions={"test.echo": {}}, responder=echo_responder
        ) as echoer,
        await RawClient.connect(lockfile, subscriptions={}) as sender,
    ):
        params = {legal: legal, "": "", "list": ["", legal, {"": []}]}
        message = {"samp.mtype": "test.echo", "samp.params": params}
        answer = await sender.hub("callAndWait", echoer.public_id, message, "10")
        assert answer == {"samp.status": "samp.ok", "samp.result": params}


# ---------------------------------------------------------------- bad credentials


async def test_unknown_private_key_gets_a_fault(
    hub: Hub, anon: RawClient, member: RawClient
) -> None:
    for method, params in [
        ("declareMetadata", ({},)),
        ("getRegisteredClients", ()),
        ("notifyAll", (echo(),)),
        ("unregister", ()),
        ("setXmlrpcCallback", ("http://127.0.0.1:1/",)),
    ]:
        with pytest.raises(NotRegisteredError, match="Unknown private key"):
            await anon.raw(f"samp.hub.{method}", "k-not-a-real-key", *params)
    key = member.private_key
    await member.hub("unregister")
    with pytest.raises(NotRegisteredError):
        await anon.raw("samp.hub.getRegisteredClients", key)
    member.private_key = None
    await assert_hub_serves(Path(hub.lockfile or ""))


async def test_wrong_secret_gets_a_fault(hub: Hub, anon: RawClient) -> None:
    for secret in (anon.secret + "-NOT!", "", anon.secret.upper() + "x"):
        with pytest.raises(RegistrationRefusedError):
            await anon.raw("samp.hub.register", secret)
    assert hub.clients == ()
    await assert_hub_serves(Path(hub.lockfile or ""))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "not a url", "http://", "file:///tmp/x"])
async def test_bad_callback_url_gets_a_fault(hub: Hub, member: RawClient, url: str) -> None:
    with pytest.raises(InvalidRequestError, match="callback URL"):
        await member.hub("setXmlrpcCallback", url)
    await assert_hub_serves(Path(hub.lockfile or ""))


# ---------------------------------------------------------------- HTTP level


async def test_oversized_body_gets_a_fault(samp_env: SampEnvironment) -> None:
    async with standard_hub(lockfile=samp_env.lockfile, max_body=4096) as hub:
        client = RawClient.from_lockfile(samp_env.lockfile)
        try:
            body = _call_body("samp.hub.ping", "x" * 5000)
            fault = await client.post_fault(body)
            assert "too large" in fault.string and "4096" in fault.string
            assert await client.raw("samp.hub.ping", "x" * 3000) == ""
        finally:
            await client.close()
        assert hub.running
        await assert_hub_serves(samp_env.lockfile)


async def test_body_over_the_default_16_mib_gets_a_fault(hub: Hub, anon: RawClient) -> None:
    body = _call_body("samp.hub.ping", "x" * (16 * 1024 * 1024 + 10))
    fault = await anon.post_fault(body)
    assert "too large" in fault.string
    await assert_hub_serves(Path(hub.lockfile or ""))


async def test_get_and_other_http_methods(hub: Hub) -> None:
    assert hub.url is not None
    host, port = hub.url.split("//")[1].split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET /xmlrpc HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = await within(reader.readuntil(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 200")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        assert b"SAMP" in await within(reader.readexactly(length))
        writer.write(f"PUT /xmlrpc HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode())
        head = await within(reader.readuntil(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 405")
    finally:
        writer.close()
        await writer.wait_closed()
    await assert_hub_serves(Path(hub.lockfile or ""))


async def test_client_that_hangs_up_mid_request(hub: Hub) -> None:
    assert hub.url is not None
    host, port = hub.url.split("//")[1].split("/")[0].split(":")
    for garbage in (
        b"POST /xmlrpc HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<methodCall>",
        b"\x00\xff garbage that is not HTTP\r\n\r\n",
        b"POST /xmlrpc HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    ):
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(garbage)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    await assert_hub_serves(Path(hub.lockfile or ""))


# ---------------------------------------------------------------- bad clients


async def _register_at(lockfile: Path, url: str, subscriptions: dict[str, object]) -> RawClient:
    """A client whose callback URL is ``url`` (no server of ours behind it)."""
    client = RawClient.from_lockfile(lockfile)
    await client.register()
    await client.hub("setXmlrpcCallback", url)
    await client.hub("declareSubscriptions", subscriptions)
    return client


async def test_dead_callback_client_is_answered_for_and_evicted(hub: Hub) -> None:
    lockfile = Path(hub.lockfile or "")
    async with (
        await RawClient.connect(
            lockfile, name="watcher", subscriptions={"samp.hub.event.unregister": {}}
        ) as watcher,
        await RawClient.connect(lockfile, name="sender", subscriptions={}) as sender,
    ):
        dead = await _register_at(lockfile, dead_url(), {"test.echo": {}})
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            msg_id = await sender.hub("call", dead.public_id, "to-the-dead", echo())
            response = await sender.next_response()
            assert loop.time() - started < 5.0
            assert (response.responder, response.tag) == (dead.public_id, "to-the-dead")
            assert response.response["samp.status"] == "samp.error"
            assert "samp.errortxt" in response.response["samp.error"]
            assert msg_id
            gone = await watcher.next_notification("samp.hub.event.unregister")
            assert gone.sender == watcher.hub_id
            assert gone.message["samp.params"] == {"id": dead.public_id}
            assert dead.public_id not in await sender.hub("getRegisteredClients")
            assert dead.public_id not in [c.public_id for c in hub.clients]
            with pytest.raises(NotRegisteredError):
                await dead.hub("getRegisteredClients")
            with pytest.raises(NoSuchClientError, match="no longer registered"):
                await sender.hub("notify", dead.public_id, echo())
        finally:
            dead.private_key = None
            await dead.close()
    await assert_hub_serves(lockfile)


async def test_call_and_wait_to_a_dead_client_faults_promptly(hub: Hub) -> None:
    lockfile = Path(hub.lockfile or "")
    async with await RawClient.connect(lockfile, name="sender", subscriptions={}) as sender:
        dead = await _register_at(lockfile, dead_url(), {"test.echo": {}})
        try:
            with pytest.raises(HubFault) as caught:
                await sender.hub("callAndWait", dead.public_id, echo(), "0", timeout=PROMPT)
            assert "refused" in str(caught.value).lower() or "failed" in str(caught.value)
            assert dead.public_id not in await sender.hub("getRegisteredClients")
        finally:
            dead.private_key = None
            await dead.close()
    await assert_hub_serves(lockfile)


async def test_notification_to_a_dead_client_evicts_it(hub: Hub) -> None:
    lockfile = Path(hub.lockfile or "")
    async with await RawClient.connect(
        lockfile, name="watcher", subscriptions={"samp.hub.event.unregister": {}}
    ) as watcher:
        dead = await _register_at(lockfile, dead_url(), {"test.echo": {}})
        try:
            assert await watcher.hub("notifyAll", echo()) == [dead.public_id]
            gone = await watcher.next_notification("samp.hub.event.unregister")
            assert gone.message["samp.params"] == {"id": dead.public_id}
        finally:
            dead.private_key = None
            await dead.close()
    await assert_hub_serves(lockfile)


async def test_client_that_never_answers_does_not_hold_up_others(samp_env: SampEnvironment) -> None:
    client_timeout = 2.0
    lockfile = samp_env.lockfile
    async with standard_hub(lockfile=lockfile, client_timeout=client_timeout), BlackHole() as hole:
        async with (
            await RawClient.connect(lockfile, name="sender", subscriptions={}) as sender,
            await RawClient.connect(
                lockfile, name="echoer", subscriptions={"test.echo": {}}, responder=echo_responder
            ) as echoer,
            await RawClient.connect(lockfile, name="third", subscriptions={}) as third,
        ):
            stuck = await _register_at(lockfile, hole.url, {"test.echo": {}})
            try:
                loop = asyncio.get_running_loop()
                started = loop.time()
                waiting = asyncio.ensure_future(
                    sender.hub("callAndWait", stuck.public_id, echo(), "0", timeout=30)
                )
                await sender.hub("call", stuck.public_id, "stuck-call", echo())
                await within(hole.accepted.wait())

                # Meanwhile the hub keeps serving everyone else without delay.
                for n in range(10):
                    before = loop.time()
                    answer = await third.hub("callAndWait", echoer.public_id, echo(n=str(n)), "10")
                    assert answer["samp.result"] == {"n": str(n)}
                    assert loop.time() - before < 0.5
                    await third.hub("notify", echoer.public_id, echo(n=str(n)))
                    assert (await echoer.next_notification()).message == echo(n=str(n))
                assert not waiting.done(), "the stuck delivery ended too soon"

                with pytest.raises(NotCallableError, match="no answer within"):
                    await within(waiting, client_timeout + PROMPT)
                response = await sender.next_response(timeout=client_timeout + PROMPT)
                elapsed = loop.time() - started
                assert (response.responder, response.tag) == (stuck.public_id, "stuck-call")
                assert response.response["samp.status"] == "samp.error"
                assert client_timeout * 0.9 <= elapsed < client_timeout + PROMPT
                # A slow client is not a dead one: it stays registered.
                assert stuck.public_id in await third.hub("getRegisteredClients")
            finally:
                await stuck.close()
        await assert_hub_serves(lockfile)


async def test_callback_that_answers_a_fault_or_garbage(hub: Hub) -> None:
    """A recipient whose callback endpoint answers nonsense: the caller hears of it."""
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets
    from tornado.web import Application, RequestHandler

    class Nonsense(RequestHandler):
        def post(self) -> None:
            self.set_status(500)
            self.finish("not XML-RPC")

    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(Application([(r"/.*", Nonsense)], log_function=lambda h: None))
    server.add_sockets(sockets)
    lockfile = Path(hub.lockfile or "")
    try:
        async with await RawClient.connect(lockfile, name="sender", subscriptions={}) as sender:
            url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/"
            odd = await _register_at(lockfile, url, {"test.echo": {}})
            try:
                await sender.hub("call", odd.public_id, "odd", echo())
                response = await sender.next_response()
                assert response.response["samp.status"] == "samp.error"
                with pytest.raises(NotCallableError):
                    await sender.hub("callAndWait", odd.public_id, echo(), "0")
            finally:
                await odd.close()
    finally:
        server.stop()
        await server.close_all_connections()
    await assert_hub_serves(lockfile)


async def test_a_recipient_that_answers_a_fault_is_reported_as_answering(hub: Hub) -> None:
    """An exception in the recipient (Aladin's NullPointerException) is its answer, not silence.

    Both callAndWait and call get a samp.error response from the recipient
    naming the fault and its text; the client raises ErrorResponse, not
    NotCallableError, which would say the recipient cannot be called.
    """
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets
    from tornado.web import Application, RequestHandler

    from jupyter_samp import ErrorResponse, connect
    from jupyter_samp.core.message import RECIPIENT_FAULT
    from jupyter_samp.core.xmlrpc import encode_fault

    class Throws(RequestHandler):
        def post(self) -> None:
            self.set_header("Content-Type", "text/xml")
            self.finish(encode_fault(1, "java.lang.NullPointerException"))

    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(Application([(r"/.*", Throws)], log_function=lambda h: None))
    server.add_sockets(sockets)
    lockfile = Path(hub.lockfile or "")
    try:
        url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/"
        odd = await _register_at(lockfile, url, {"script.aladin.send": {}})
        try:
            async with connect("caller", hub=lockfile) as caller:
                with pytest.raises(ErrorResponse, match=r"XML-RPC fault.*NullPointerException"):
                    await caller.call_and_wait(odd.public_id, "script.aladin.send",
                                               {"script": "get FoV"}, timeout=10)
                response = await caller.call(odd.public_id, "script.aladin.send",
                                             {"script": "get FoV"}, timeout=10, check=False)
                assert response.status == "samp.error"
                assert "NullPointerException" in (response.errortxt or "")
                assert response.error is not None
                assert response.error["samp.code"] == RECIPIENT_FAULT  # not taken: retry later
                assert response.responder_id == odd.public_id
        finally:
            await odd.close()
    finally:
        server.stop()
        await server.close_all_connections()
    await assert_hub_serves(lockfile)


async def test_a_response_the_hub_refuses_still_answers_the_caller(hub: Hub) -> None:
    """Aladin's status carries a degree sign: its caller gets an error now, not a timeout.

    The recipient gets a fault naming the character; the caller (async call
    and callAndWait alike) a samp.error response from the recipient saying
    why its answer could not be passed on.
    """
    from jupyter_samp import ErrorResponse, connect

    def degrees(sender: str, msg_id: str, message: dict[str, object]) -> dict[str, object]:
        return {"samp.status": "samp.ok", "samp.result": {"status": "Centre 83\u00b0 -5\u00b0"}}

    lockfile = Path(hub.lockfile or "")
    odd = await RawClient.connect(lockfile, name="odd", subscriptions={"x.status": {}},
                                  responder=degrees)
    try:
        async with connect("caller", hub=lockfile) as caller:
            await caller.flush()
            response = await caller.call(odd.public_id, "x.status", {}, timeout=30, check=False)
            assert response.status == "samp.error" and response.responder_id == odd.public_id
            assert "breaks SAMP's rules" in (response.errortxt or "")
            assert "0xb0" in (response.errortxt or "")
            with pytest.raises(ErrorResponse, match="cannot pass it on"):
                await caller.call_and_wait(odd.public_id, "x.status", {}, timeout=30)
    finally:
        await odd.close()
    await assert_hub_serves(lockfile)
