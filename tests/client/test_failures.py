"""Calls that cannot be answered: timeouts on time, dead recipients fast, loop responsive."""

from __future__ import annotations

import asyncio
import time

import pytest

from jupyter_samp import (
    CallTimeoutError,
    Client,
    ClientTimeoutError,
    Hub,
    HubFault,
    Message,
    connect,
)

from .conftest import HubUnderTest
from .helpers import wait_until

pytestmark = pytest.mark.peers


async def _silent_recipient(client_lockfile, stop: asyncio.Event):  # type: ignore[no-untyped-def]
    client = await connect("silent", hub=client_lockfile)

    @client.on("test.silence")
    async def never(message: Message) -> dict:
        await stop.wait()
        return {}

    @client.on("test.quick")
    def quick(message: Message) -> dict:
        return {"ok": "1"}

    await client.flush()
    return client


async def test_call_and_wait_times_out_on_time_and_loop_stays_responsive(
    any_hub: HubUnderTest,
) -> None:
    stop = asyncio.Event()
    silent = await _silent_recipient(any_hub.lockfile, stop)
    try:
        async with connect("caller", hub=any_hub.lockfile) as caller:
            await wait_until(lambda: bool(caller.subscribers("test.silence")), caller)
            started = time.monotonic()
            waiting = asyncio.ensure_future(
                caller.call_and_wait("silent", "test.silence", timeout=2)
            )
            # While the synchronous call waits, the loop keeps serving other work.
            quick = await caller.call("silent", "test.quick", timeout=10)
            assert quick.result == {"ok": "1"}
            assert not waiting.done()
            with pytest.raises(CallTimeoutError):
                await waiting
            elapsed = time.monotonic() - started
            assert 1.5 <= elapsed < 8, elapsed
    finally:
        stop.set()
        await silent.close()


async def test_async_call_timeout_is_a_client_timeout(any_hub: HubUnderTest) -> None:
    stop = asyncio.Event()
    silent = await _silent_recipient(any_hub.lockfile, stop)
    try:
        async with connect("caller", hub=any_hub.lockfile) as caller:
            await wait_until(lambda: bool(caller.subscribers("test.silence")), caller)
            started = time.monotonic()
            with pytest.raises(ClientTimeoutError, match="silent"):
                await caller.call("silent", "test.silence", timeout=1)
            assert time.monotonic() - started < 5
    finally:
        stop.set()
        await silent.close()


async def test_dead_recipient_fails_fast(any_hub: HubUnderTest) -> None:
    # astropy's hub does not notice a dead recipient and waits for the whole
    # timeout; the client must still end the wait on time there.
    timeout, limit = (3, 8) if any_hub.kind == "astropy" else (20, 5)
    async with connect("caller", hub=any_hub.lockfile) as caller:
        victim = await connect("victim", hub=any_hub.lockfile)
        try:
            victim.add_handler("test.dead", lambda m: {})
            await wait_until(lambda: bool(caller.subscribers("test.dead")), caller)
            # The process "dies": its callback server goes away without unregistering.
            await victim._watcher.stop()
            await victim._server.stop()
            started = time.monotonic()
            with pytest.raises((HubFault, CallTimeoutError)):
                await caller.call_and_wait(victim.self_id, "test.dead", timeout=timeout)
            assert time.monotonic() - started < limit
        finally:
            await victim.close()


async def test_a_start_that_fails_half_way_stops_its_callback_server(
    our_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registration fails after the callback server started: nothing is left listening."""
    from jupyter_samp.client.hubproxy import StandardHubProxy
    from jupyter_samp.errors import HubUnavailableError

    real_call = StandardHubProxy.call

    async def failing_call(self: StandardHubProxy, method: str, *params: object,
                           timeout: float | None = None) -> object:
        if method == "declareSubscriptions":
            raise HubUnavailableError("the hub went away half-way")
        return await real_call(self, method, *params, timeout=timeout)

    monkeypatch.setattr(StandardHubProxy, "call", failing_call)
    client = Client("half-way", hub=our_hub.lockfile, start_hub=False)
    with pytest.raises(HubUnavailableError, match="half-way"):
        await client.start()
    assert client._server.url is None
