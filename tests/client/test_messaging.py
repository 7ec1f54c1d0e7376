"""The client against three hubs: ours, JSAMP's and astropy's, over the real wire."""

from __future__ import annotations

import asyncio
import threading

import pytest

from jupyter_samp import (
    AmbiguousClientError,
    ErrorResponse,
    HubFault,
    InvalidValueError,
    Message,
    NoSuchClientError,
    connect,
)

from .conftest import HubUnderTest
from .helpers import event_queue, wait_until

pytestmark = pytest.mark.peers


async def test_registers_and_declares_metadata(any_hub: HubUnderTest) -> None:
    async with connect("alice", description="first", hub=any_hub.lockfile) as alice, connect(
        "bob", metadata={"author.name": "B"}, hub=any_hub.lockfile
    ) as bob:
        await wait_until(lambda: bob.self_id in alice.clients, alice)
        await wait_until(
            lambda: alice.clients[bob.self_id].metadata.get("author.name") == "B", alice
        )
        view = alice.clients[bob.self_id]
        assert view.name == "bob"
        assert bob.clients[alice.self_id].description == "first"
        assert alice.hub_id in alice.clients and alice.clients[alice.hub_id].is_hub
        assert alice.self_id not in alice.clients


async def test_notify_reaches_handler_on_loop_thread(any_hub: HubUnderTest) -> None:
    received: asyncio.Future[tuple[Message, threading.Thread]] = (
        asyncio.get_running_loop().create_future()
    )
    async with connect("receiver", hub=any_hub.lockfile) as receiver:

        @receiver.on("test.note")
        def note(message: Message) -> None:
            received.set_result((message, threading.current_thread()))

        async with connect("sender", hub=any_hub.lockfile) as sender:
            await wait_until(lambda: bool(sender.subscribers("test.note")), sender)
            await sender.notify("receiver", "test.note", {"n": 3, "flag": True, "x": 0.5})
            message, thread = await asyncio.wait_for(received, 10)
    assert thread is threading.main_thread()
    assert message.params == {"n": "3", "flag": "1", "x": "0.5"}
    assert message.sender_id == sender.self_id
    assert not message.is_call


async def test_call_response_and_call_and_wait(any_hub: HubUnderTest) -> None:
    async with connect("echo", hub=any_hub.lockfile) as echo:

        @echo.on("test.echo")
        async def handle(message: Message) -> dict:
            return {"got": message.params, "who": message.sender_id}

        async with connect("caller", hub=any_hub.lockfile) as caller:
            await wait_until(lambda: bool(caller.subscribers("test.echo")), caller)
            response = await caller.call("ECHO", "test.echo", {"a": ["1", "2"]}, timeout=10)
            assert response.ok and response.responder_id == echo.self_id
            assert response.result == {"got": {"a": ["1", "2"]}, "who": caller.self_id}
            waited = await caller.call_and_wait(echo.self_id, "test.echo", {"b": "x"}, timeout=10)
            assert waited.result["got"] == {"b": "x"}


async def test_call_all_collects_each_response(any_hub: HubUnderTest) -> None:
    async with connect("r1", hub=any_hub.lockfile) as r1, connect(
        "r2", hub=any_hub.lockfile
    ) as r2, connect("caller", hub=any_hub.lockfile) as caller:
        for recipient in (r1, r2):
            recipient.add_handler("test.all", lambda m: {"me": m.params["tag"]})
            await recipient.flush()
        # Ask the hub itself: astropy's hub sometimes drops the subscription events
        # that the tracker follows, which other tests cover.
        assert set(await caller.get_subscribed_clients("test.all")) == {r1.self_id, r2.self_id}
        broadcast = await caller.call_all("test.all", {"tag": "t"})
        assert set(broadcast.recipients) == {r1.self_id, r2.self_id}
        responses = await broadcast.gather(timeout=10)
        assert set(responses) == {r1.self_id, r2.self_id}
        assert all(response.result == {"me": "t"} for response in responses.values())


async def test_handler_exception_becomes_error_response(any_hub: HubUnderTest) -> None:
    async with connect("failing", hub=any_hub.lockfile) as failing:

        @failing.on("test.fail")
        def fail(message: Message) -> None:
            raise RuntimeError("disk is full")

        async with connect("caller", hub=any_hub.lockfile) as caller:
            await wait_until(lambda: bool(caller.subscribers("test.fail")), caller)
            with pytest.raises(ErrorResponse, match="disk is full") as caught:
                await caller.call("failing", "test.fail", timeout=10)
            assert caught.value.response["samp.error"]["samp.code"] == "RuntimeError"
            unchecked = await caller.call("failing", "test.fail", timeout=10, check=False)
            assert unchecked.status == "samp.error" and unchecked.errortxt == "disk is full"


async def test_wildcard_subscription_and_default_ping(any_hub: HubUnderTest) -> None:
    seen: asyncio.Queue[str] = asyncio.Queue()
    async with connect("wild", hub=any_hub.lockfile) as wild:
        wild.add_handler("test.wild.*", lambda m: seen.put_nowait(m.mtype))
        async with connect("caller", hub=any_hub.lockfile) as caller:
            await wait_until(lambda: bool(caller.subscribers("test.wild.deep.x")), caller)
            await caller.notify("wild", "test.wild.deep.x")
            assert await asyncio.wait_for(seen.get(), 10) == "test.wild.deep.x"
            ping = await caller.call("wild", "samp.app.ping", timeout=10)
            assert ping.ok


async def test_events_track_other_clients(any_hub: HubUnderTest) -> None:
    async with connect("watcher", hub=any_hub.lockfile) as watcher:
        events = event_queue(watcher)
        async with connect("visitor", hub=any_hub.lockfile) as visitor:
            visitor.add_handler("test.later", lambda m: None)
            await wait_until(
                lambda: "test.later" in watcher.clients.get(visitor.self_id, _EMPTY).subscriptions,
                watcher,
            )
            gone = visitor.self_id
        await wait_until(lambda: gone not in watcher.clients, watcher)
    kinds = []
    while not events.empty():
        event = events.get_nowait()
        if event.client.id == gone:
            kinds.append(event.kind)
    assert kinds[0] == "added" and kinds[-1] == "removed"
    assert "subscriptions" in kinds


async def test_friendly_name_errors(any_hub: HubUnderTest) -> None:
    async with connect("twin", hub=any_hub.lockfile) as t1, connect(
        "twin", hub=any_hub.lockfile
    ) as t2, connect("caller", hub=any_hub.lockfile) as caller:
        await wait_until(lambda: {t1.self_id, t2.self_id} <= set(caller.clients), caller)
        with pytest.raises(AmbiguousClientError, match="twin"):
            await caller.notify("twin", "samp.app.ping")
        with pytest.raises(NoSuchClientError, match="nobody"):
            await caller.notify("nobody", "samp.app.ping")


async def test_unsubscribed_target_and_bad_values(any_hub: HubUnderTest) -> None:
    async with connect("deaf", hub=any_hub.lockfile) as deaf, connect(
        "caller", hub=any_hub.lockfile
    ) as caller:
        await wait_until(lambda: deaf.self_id in caller.clients, caller)
        with pytest.raises(HubFault):
            await caller.notify("deaf", "test.never.subscribed")
        with pytest.raises(InvalidValueError, match="0xe9"):
            await caller.notify("deaf", "samp.app.ping", {"name": "caf\u00e9"})
        with pytest.raises(InvalidValueError, match="finite"):
            await caller.notify("deaf", "samp.app.ping", {"x": float("nan")})


class _Empty:
    subscriptions: dict = {}  # noqa: RUF012 - a read-only stand-in


_EMPTY = _Empty()
