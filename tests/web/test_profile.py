"""The ``samp.webhub.*`` methods over raw HTTP: registration, long polls, restrictions."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from jupyter_samp import Hub
from jupyter_samp.core.router import Router
from jupyter_samp.errors import (
    InvalidRequestError,
    MTypeBlockedError,
    NotCallableError,
    NotRegisteredError,
    RegistrationRefusedError,
)
from jupyter_samp.hub.service import HubService
from jupyter_samp.hub.web import WebProfileServer, accept_all
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.testing.rawclient import RawClient
from tests.web.conftest import ConsentLog
from tests.web.webrpc import WebRpc, WebSession, wait_for, within

pytestmark = pytest.mark.timeout(60)


def web_state(hub: Hub, session: WebSession) -> Any:
    """The hub's transport record of a web client (to see whether a poll is parked)."""
    assert hub._web is not None
    return hub._web.profile.clients.by_id(session.id)


async def parked(hub: Hub, session: WebSession) -> None:
    """Wait until ``session`` has a poll parked in the hub."""
    await wait_for(lambda: web_state(hub, session).queue.polling)


# ---------------------------------------------------------------- registration


async def test_register_returns_reg_info_with_translator(
    rpc: WebRpc, web_hub: Hub, consent: ConsentLog
) -> None:
    session = await rpc.register("page", Referer="http://127.0.0.1:8000/app.html")
    assert set(session.info) == {
        "samp.private-key", "samp.hub-id", "samp.self-id", "samp.url-translator",
    }
    assert session.info["samp.hub-id"] == web_hub.hub_id
    prefix = f"http://127.0.0.1:{web_hub.web_port}/proxied/"
    assert session.translator.startswith(prefix) and session.translator.endswith("?")
    assert session.key not in session.translator  # the key never appears in URLs
    (request,) = consent.requests
    assert (request.name, request.origin, request.mismatch) == ("page", rpc.origin, False)
    (record,) = web_hub.clients
    assert (record.public_id, record.profile) == (session.id, "web")
    assert await session.hub("getMetadata", session.id) == {}


async def test_register_accepts_the_legacy_string_form(rpc: WebRpc) -> None:
    info = await rpc.call("samp.webhub.register", "old-page")
    assert info["samp.self-id"]


@pytest.mark.parametrize(
    ("identity", "text"),
    [({}, "No samp.name"), ({"samp.name": ["x"]}, "Wrong data type"), ({"samp.name": "é"}, "0xe9")],
)
async def test_register_refuses_bad_identity(rpc: WebRpc, identity: Any, text: str) -> None:
    with pytest.raises(InvalidRequestError, match=text):
        await rpc.call("samp.webhub.register", identity)


async def test_registration_refused_by_the_user(samp_env: SampEnvironment) -> None:
    async with Hub(lockfile=samp_env.lockfile, web_port=0, web_consent=ConsentLog(False)) as hub:
        assert hub.web_url is not None
        rpc = WebRpc(hub.web_url)
        try:
            with pytest.raises(RegistrationRefusedError, match="User denied authorization"):
                await rpc.register("page")
        finally:
            rpc.close()
        assert hub.clients == ()


async def test_default_hub_refuses_web_registration(samp_env: SampEnvironment) -> None:
    async with Hub(lockfile=samp_env.lockfile, web_port=0) as hub:
        assert hub.web_url is not None
        rpc = WebRpc(hub.web_url)
        try:
            with pytest.raises(RegistrationRefusedError):
                await rpc.register("page")
        finally:
            rpc.close()


async def test_waiting_consent_blocks_nobody(samp_env: SampEnvironment) -> None:
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def slow_consent(request: Any) -> bool:
        return await answer

    async with Hub(lockfile=samp_env.lockfile, web_port=0, web_consent=slow_consent) as hub:
        assert hub.web_url is not None
        rpc = WebRpc(hub.web_url)
        try:
            waiting = asyncio.ensure_future(rpc.register("slow-page"))
            await wait_for(lambda: len(hub._web.profile._asking) == 1)  # type: ignore[union-attr]
            desktop = await within(RawClient.connect(samp_env.lockfile, name="desktop"))
            await within(desktop.hub("ping"))
            await within(rpc.call("samp.webhub.ping"))
            answer.set_result(True)
            session = await within(waiting)
            assert session.id in {c.public_id for c in hub.clients}
            await desktop.close()
        finally:
            rpc.close()


async def test_consent_timeout_is_a_refusal(samp_env: SampEnvironment) -> None:
    never: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def silent(request: Any) -> bool:
        return await never

    async with Hub(
        lockfile=samp_env.lockfile, web_port=0, web_consent=silent, web_consent_timeout=0.2
    ) as hub:
        assert hub.web_url is not None
        rpc = WebRpc(hub.web_url)
        try:
            with pytest.raises(RegistrationRefusedError, match="User denied authorization"):
                await within(rpc.register("page"))
        finally:
            rpc.close()


async def test_unknown_key_and_methods(rpc: WebRpc) -> None:
    with pytest.raises(NotRegisteredError):
        await rpc.call("samp.webhub.getRegisteredClients", "no-such-key")
    with pytest.raises(NotRegisteredError, match="Unknown client key"):
        await rpc.call("samp.webhub.pullCallbacks", "no-such-key", "0")
    with pytest.raises(InvalidRequestError, match="Unknown method"):
        await rpc.call("samp.webhub.setXmlrpcCallback", "k", "http://x/")
    with pytest.raises(InvalidRequestError, match=r"samp\.webhub"):
        await rpc.call("samp.hub.ping")
    assert await rpc.call("samp.webhub.ping") == ""
    assert await rpc.call("samp.webhub.ping", "any-key") == ""


async def test_web_client_sees_the_others(rpc: WebRpc, samp_env: SampEnvironment) -> None:
    desktop = await RawClient.connect(samp_env.lockfile, name="desktop")
    try:
        session = await rpc.register()
        others = await session.hub("getRegisteredClients")
        assert desktop.public_id in others and session.id not in others
    finally:
        await desktop.close()


# ---------------------------------------------------------------- long polls


async def test_pull_before_allow_faults(rpc: WebRpc) -> None:
    session = await rpc.register()
    with pytest.raises(NotCallableError, match="first invoke allowReverseCallbacks"):
        await session.pull(0)


async def test_pull_returns_empty_list_at_timeout(rpc: WebRpc) -> None:
    session = await rpc.register()
    await session.become_callable()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await within(session.pull(1)) == []
    assert 0.9 <= loop.time() - started < 5.0
    with pytest.raises(InvalidRequestError, match="Bad timeout"):
        await session.hub("pullCallbacks", "soon")


async def test_pull_wakes_at_once_on_delivery(
    rpc: WebRpc, web_hub: Hub, samp_env: SampEnvironment
) -> None:
    session = await rpc.register()
    await session.become_callable({"table.load.votable": {}})
    desktop = await RawClient.connect(samp_env.lockfile, name="desktop")
    try:
        poll = asyncio.ensure_future(session.pull(600))
        await parked(web_hub, session)
        message = {"samp.mtype": "table.load.votable", "samp.params": {"url": "http://x/t"}}
        msg_id = await desktop.hub("call", session.id, "tag-1", message)
        (item,) = await within(poll, 5.0)
        assert item == {
            "samp.methodName": "receiveCall",
            "samp.params": [desktop.public_id, msg_id, message],
        }
        response = {"samp.status": "samp.ok", "samp.result": {"done": "1"}}
        await session.hub("reply", msg_id, response)
        answer = await within(desktop.responses.get())
        assert (answer.responder, answer.tag, answer.response) == (session.id, "tag-1", response)
    finally:
        await desktop.close()


async def test_pull_wakes_on_unregister_and_on_disallow(rpc: WebRpc, web_hub: Hub) -> None:
    first = await rpc.register()
    await first.become_callable()
    poll = asyncio.ensure_future(first.pull(600))
    await parked(web_hub, first)
    await first.hub("allowReverseCallbacks", "0")
    assert await within(poll, 5.0) == []
    with pytest.raises(NotCallableError):
        await first.pull(0)

    await first.become_callable()
    poll = asyncio.ensure_future(first.pull(600))
    await parked(web_hub, first)
    await first.hub("unregister")
    assert await within(poll, 5.0) == []
    with pytest.raises(NotRegisteredError):
        await first.hub("getRegisteredClients")


async def test_poll_just_after_unregister_waits_quietly(rpc: WebRpc, web_hub: Hub) -> None:
    # A client's poll thread may re-poll before it learns it unregistered
    # (JSAMP's does): that poll waits like any other instead of faulting.
    session = await rpc.register()
    await session.become_callable()
    await session.hub("unregister")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await within(session.pull(1)) == []
    assert loop.time() - started >= 0.9
    with pytest.raises(NotRegisteredError):
        await session.hub("allowReverseCallbacks", "1")
    with pytest.raises(NotRegisteredError, match="Unknown client key"):
        await rpc.call("samp.webhub.pullCallbacks", "never-registered", "1")


async def test_pull_wakes_on_hub_stop_with_the_shutdown_event(
    samp_env: SampEnvironment,
) -> None:
    hub = Hub(lockfile=samp_env.lockfile, web_port=0, web_consent=accept_all)
    await hub.start()
    assert hub.web_url is not None
    rpc = WebRpc(hub.web_url)
    try:
        session = await rpc.register()
        await session.become_callable({"samp.hub.event.shutdown": {}})
        poll = asyncio.ensure_future(session.pull(600))
        await parked(hub, session)
        await within(hub.stop())
        (item,) = await within(poll, 5.0)
        assert item["samp.params"][1]["samp.mtype"] == "samp.hub.event.shutdown"
    finally:
        await hub.stop()
        rpc.close()


async def test_newer_poll_replaces_older(rpc: WebRpc, web_hub: Hub) -> None:
    session = await rpc.register()
    await session.become_callable()
    older = asyncio.ensure_future(session.pull(600))
    await parked(web_hub, session)
    newer = asyncio.ensure_future(session.pull(600))
    assert await within(older, 5.0) == []
    await session.hub("unregister")
    assert await within(newer, 5.0) == []


async def test_twenty_parked_polls_delay_nobody(
    rpc: WebRpc, web_hub: Hub, samp_env: SampEnvironment
) -> None:
    sessions = [await rpc.register(f"page-{n}") for n in range(20)]
    for session in sessions:
        await session.become_callable({"coord.pointAt.sky": {}})
    polls = [asyncio.ensure_future(session.pull(600)) for session in sessions]
    await wait_for(lambda: all(web_state(web_hub, s).queue.polling for s in sessions))

    loop = asyncio.get_running_loop()
    started = loop.time()
    desktop = await within(RawClient.connect(samp_env.lockfile, name="desktop"))
    try:
        assert await within(sessions[0].hub("getRegisteredClients"))
        message = {"samp.mtype": "coord.pointAt.sky", "samp.params": {"ra": "1", "dec": "2"}}
        recipients = await within(desktop.hub("notifyAll", message))
        assert sorted(recipients) == sorted(s.id for s in sessions)
        results = await within(asyncio.gather(*polls), 5.0)
        assert loop.time() - started < 5.0
        for session, items in zip(sessions, results, strict=True):
            assert [item["samp.params"] for item in items] == [[desktop.public_id, message]]
            del session
    finally:
        await desktop.close()


async def test_full_queue_fails_delivery(samp_env: SampEnvironment) -> None:
    router = Router(lambda: f"key-{next(_keys)}")
    service = HubService(router)
    web = WebProfileServer(service, accept_all, queue_limit=3)
    web.listen(0)
    rpc = WebRpc(web.url)
    try:
        sender, receiver = await rpc.register("sender"), await rpc.register("receiver")
        await receiver.become_callable({"table.load.votable": {}})
        message = {"samp.mtype": "table.load.votable", "samp.params": {}}
        for _ in range(3):
            await sender.hub("notify", receiver.id, message)
        with pytest.raises(NotCallableError, match=r"Callback queue is full \(3 objects\)"):
            await within(sender.hub("callAndWait", receiver.id, message, "10"))
        assert len(await receiver.pull(0)) == 3
    finally:
        rpc.close()
        await web.stop()


_keys = iter(range(1, 10**9))


# ---------------------------------------------------------------- restrictions


async def test_web_senders_are_restricted(rpc: WebRpc, samp_env: SampEnvironment) -> None:
    subscriptions = {
        "script.aladin.send": {},
        "x.not.safe": {},
        "ds9.set": {"x-samp.mostly-harmless": "1"},
        "table.load.votable": {},
        "table.load.fits": {"x-samp.mostly-harmless": "0"},
    }
    desktop = await RawClient.connect(samp_env.lockfile, subscriptions=subscriptions)
    try:
        session = await rpc.register()
        await session.become_callable()
        for mtype in ("script.aladin.send", "x.not.safe", "table.load.fits"):
            with pytest.raises(MTypeBlockedError, match=f"MType {mtype} blocked from web"):
                await session.hub("notify", desktop.public_id, {"samp.mtype": mtype})
            assert await session.hub("getSubscribedClients", mtype) == {}
        for mtype in ("ds9.set", "table.load.votable"):
            await session.hub("notify", desktop.public_id, {"samp.mtype": mtype})
            assert desktop.public_id in await session.hub("getSubscribedClients", mtype)
        visible = await session.hub("getSubscriptions", desktop.public_id)
        assert set(visible) == {"ds9.set", "table.load.votable"}
        assert await session.hub("notifyAll", {"samp.mtype": "x.not.safe"}) == []
    finally:
        await desktop.close()


async def test_web_mtypes_can_be_widened(samp_env: SampEnvironment) -> None:
    async with Hub(
        lockfile=samp_env.lockfile, web_port=0, web_consent=accept_all,
        web_mtypes=("calc.*",),
    ) as hub:
        assert hub.web_url is not None
        desktop = await RawClient.connect(samp_env.lockfile, subscriptions={
            "calc.int.add": {}, "table.load.votable": {},
        })
        rpc = WebRpc(hub.web_url)
        try:
            session = await rpc.register()
            await session.hub("notify", desktop.public_id, {"samp.mtype": "calc.int.add"})
            with pytest.raises(MTypeBlockedError):
                await session.hub("notify", desktop.public_id, {"samp.mtype": "table.load.votable"})
        finally:
            rpc.close()
            await desktop.close()


# ---------------------------------------------------------------- clean-up and availability


async def test_idle_web_clients_are_evicted(samp_env: SampEnvironment) -> None:
    async with Hub(
        lockfile=samp_env.lockfile, web_port=0, web_consent=accept_all, web_idle_timeout=0.3
    ) as hub:
        assert hub.web_url is not None
        desktop = await RawClient.connect(
            samp_env.lockfile, subscriptions={"samp.hub.event.unregister": {}}
        )
        rpc = WebRpc(hub.web_url)
        try:
            idle = await rpc.register("idle")
            polling = await rpc.register("polling")
            await polling.become_callable()
            poll = asyncio.ensure_future(polling.pull(3))
            event = await within(desktop.notifications.get(), 5.0)
            assert event.message["samp.params"] == {"id": idle.id}
            assert [c.public_id for c in hub.clients if c.profile == "web"] == [polling.id]
            assert await within(poll, 5.0) == []
            with pytest.raises(NotRegisteredError):
                await idle.hub("getRegisteredClients")
        finally:
            rpc.close()
            await desktop.close()


async def test_busy_web_port_leaves_the_standard_profile_running(
    samp_env: SampEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        async with Hub(lockfile=samp_env.lockfile, web_port=port) as hub:
            assert hub.web_url is None
            desktop = await RawClient.connect(samp_env.lockfile, name="desktop")
            assert await desktop.hub("getRegisteredClients") == [hub.hub_id]
            await desktop.close()
    finally:
        blocker.close()
    assert "Web Profile unavailable" in caplog.text


async def test_web_profile_can_be_switched_off(samp_env: SampEnvironment) -> None:
    async with Hub(lockfile=samp_env.lockfile, web_profile=False) as hub:
        assert hub.web_url is None
