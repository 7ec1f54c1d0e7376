"""A recipient that registers before it can take messages is called again until it can.

The recipient here behaves as Aladin 12 does right after it registers: its
``receiveCall`` answers an XML-RPC fault (a NullPointerException) for the
first calls, then takes them and replies. The hub turns each fault into a
``samp.error`` marked :data:`~jupyter_samp.core.message.RECIPIENT_FAULT`;
a delivery retries those while the recipient is young, and only those.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyter_samp import Hub, connect
from jupyter_samp.client.readiness import call_when_ready
from jupyter_samp.core.message import RECIPIENT_FAULT
from jupyter_samp.core.xmlrpc import decode_call, encode_fault, encode_response
from jupyter_samp.data.delivery import deliver
from jupyter_samp.testing.rawclient import RawClient, echo_responder
from jupyter_samp.testing.waiting import wait_until

NPE = 'java.lang.NullPointerException: Cannot read field "localServer" because "dialog" is null'


@dataclass
class Starting:
    """The recipient: faults for the first ``faults`` calls, then answers with ``responder``."""

    raw: RawClient
    faults: int
    faulted: int = 0

    @property
    def id(self) -> str:
        assert self.raw.public_id is not None
        return self.raw.public_id


class _Handler(RequestHandler):
    def initialize(self, app: Starting) -> None:
        self.app = app

    async def post(self) -> None:
        method, params = decode_call(self.request.body)
        self.set_header("Content-Type", "text/xml")
        if method == "samp.client.receiveCall" and self.app.faulted < self.app.faults:
            self.app.faulted += 1
            self.finish(encode_fault(1, NPE))
            return
        self.app.raw.record(method, params)
        self.finish(encode_response(""))


Factory = Callable[..., Any]


@pytest.fixture
async def starting_app(hub: Hub) -> AsyncIterator[Factory]:
    """Make recipients that fault ``faults`` times, then answer with ``responder``."""
    servers: list[HTTPServer] = []
    apps: list[Starting] = []

    async def make(faults: int, responder: Any = echo_responder) -> Starting:
        raw = RawClient.from_lockfile(Path(hub.lockfile or ""), responder=responder)
        app = Starting(raw, faults)
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(Application([(r"/.*", _Handler, {"app": app})],
                                        log_function=lambda handler: None))
        server.add_sockets(sockets)
        servers.append(server)
        await raw.register()
        await raw.hub("setXmlrpcCallback", f"http://127.0.0.1:{sockets[0].getsockname()[1]}/")
        await raw.hub("declareMetadata", {"samp.name": "starting"})
        await raw.hub("declareSubscriptions", {"test.echo": {}})
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.raw.close()
    for server in servers:
        server.stop()
        await server.close_all_connections()


async def test_a_delivery_waits_until_a_starting_recipient_takes_it(
    hub: Hub, starting_app: Factory
) -> None:
    async with connect("sender", hub=hub.lockfile) as client:
        app = await starting_app(faults=2)
        await wait_until(lambda: bool(client.subscribers("test.echo")), client)
        receipt = await deliver(client, "test.echo", {"n": "1"}, [app.id], timeout=20)
    assert receipt.ok == [app.id], receipt.summary()
    assert receipt.responses[app.id].result == {"n": "1"}
    assert app.faulted == 2
    assert (await app.raw.next_call()).message["samp.params"] == {"n": "1"}
    assert app.raw.calls.empty()  # taken once, loaded once


async def test_the_fault_is_marked_as_not_taken_and_an_old_recipient_fails_at_once(
    hub: Hub, starting_app: Factory
) -> None:
    async with connect("sender", hub=hub.lockfile) as client:
        app = await starting_app(faults=5)
        await wait_until(lambda: app.id in client.clients, client)
        response = await call_when_ready(client, app.id, "test.echo", {}, timeout=20, warmup=0)
    assert response.status == "samp.error"
    assert response.error is not None and response.error["samp.code"] == RECIPIENT_FAULT
    assert "NullPointerException" in (response.errortxt or "")
    assert app.faulted == 1


async def test_an_error_the_recipient_replies_is_its_answer(
    hub: Hub, starting_app: Factory
) -> None:
    def refuse(sender: str, msg_id: str, message: dict[str, Any]) -> dict[str, Any]:
        return {"samp.status": "samp.error", "samp.error": {"samp.errortxt": "Could not load"}}

    async with connect("sender", hub=hub.lockfile) as client:
        app = await starting_app(faults=0, responder=refuse)
        await wait_until(lambda: app.id in client.clients, client)
        receipt = await deliver(client, "test.echo", {}, [app.id], timeout=20)
    assert receipt.failed == {app.id: "Could not load"}
    await app.raw.next_call()
    assert app.raw.calls.empty()


async def test_time_runs_out_with_the_recipients_own_words(
    hub: Hub, starting_app: Factory
) -> None:
    async with connect("sender", hub=hub.lockfile) as client:
        app = await starting_app(faults=1000)
        await wait_until(lambda: app.id in client.clients, client)
        receipt = await deliver(client, "test.echo", {}, [app.id], timeout=1.5)
    assert "NullPointerException" in receipt.failed[app.id]
    assert 2 <= app.faulted <= 6
