"""Hub restarts, forced disconnects, JSAMP's own tools, the blocking facade, embedded hubs."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from pathlib import Path

import pytest

from jupyter_samp import Hub, Message, SampError, SyncClient, connect
from jupyter_samp.testing import jupyter_samp_hub, run_peer, samp_environment
from jupyter_samp.testing.peers import java_command
from jupyter_samp.testing.rawclient import PROMPT, BlackHole, RawClient, within

from .helpers import wait_until

pytestmark = pytest.mark.peers


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
async def test_client_reregisters_after_hub_restart(tmp_path: Path, how: str) -> None:
    states: list[str] = []
    with samp_environment(tmp_path) as env:
        client = None
        try:
            async with jupyter_samp_hub(env.lockfile, home=env.home) as first:
                client = await connect("survivor", description="stays", hub=env.lockfile,
                                       watch_interval=0.2)
                client.on_state(lambda state, reason: states.append(state))
                client.add_handler("test.after", lambda m: {"alive": "1"})
                await client.flush()
                old_id = client.self_id
                if how == "sigkill":
                    await first.process.stop(signum=signal.SIGKILL)
                # sigterm: leaving the block stops the hub cleanly
            await wait_until(lambda: not client.connected, client, timeout=5)
            async with jupyter_samp_hub(env.lockfile, home=env.home):
                loop = asyncio.get_running_loop()
                started = loop.time()
                await wait_until(lambda: client.connected, client, timeout=5)
                assert loop.time() - started < 5
                async with connect("checker", hub=env.lockfile) as checker:
                    await wait_until(lambda: client.self_id in checker.clients, checker)
                    view = checker.clients[client.self_id]
                    assert view.name == "survivor" and view.description == "stays"
                    assert "test.after" in view.subscriptions
                    answer = await checker.call(client.self_id, "test.after", timeout=10)
                    assert answer.result == {"alive": "1"}
                assert client.self_id is not None and old_id is not None
        finally:
            if client is not None:
                await client.close()
    assert states[:2] == ["disconnected", "connected"]


async def test_messagesender_reaches_handler_and_gets_reply(our_hub) -> None:  # type: ignore[no-untyped-def]
    got: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    async with connect("pyreceiver", hub=our_hub.lockfile) as receiver:

        @receiver.on("test.fromjava")
        def handle(message: Message) -> dict:
            got.set_result(message)
            return {"answer": "forty-two"}

        await receiver.flush()
        args = java_command(
            ["messagesender", "-mtype", "test.fromjava", "-param", "q", "life",
             "-mode", "sync", "-targetname", "pyreceiver"],
            home=Path(our_hub.lockfile).parent,
        )
        result = await run_peer(args, timeout=60)
        message = await asyncio.wait_for(got, 10)
    assert message.params == {"q": "life"}
    assert "forty-two" in result.output, result.describe()


async def test_snooper_sees_what_our_client_sends(our_hub) -> None:  # type: ignore[no-untyped-def]
    args = java_command(["snooper", "-clientname", "snoop", "-mtype", "test.*"],
                        home=Path(our_hub.lockfile).parent)
    from jupyter_samp.testing import PeerProcess

    async with PeerProcess(args, name="snooper") as snooper, connect(
        "talker", hub=our_hub.lockfile
    ) as talker:
        await wait_until(lambda: bool(talker.subscribers("test.snooped")), talker, timeout=30)
        await talker.notify_all("test.snooped", {"secret-sauce": "ketchup"})
        await snooper.wait_for_output("ketchup", timeout=20)


def test_sync_client_from_plain_code_and_inside_a_running_loop(tmp_path: Path) -> None:
    with samp_environment(tmp_path) as env:
        hub_loop = asyncio.new_event_loop()
        ready = threading.Event()
        stop = asyncio.Event()

        async def serve_hub() -> None:
            from jupyter_samp import Hub

            async with Hub(lockfile=env.lockfile, web_profile=False):
                ready.set()
                await stop.wait()

        thread = threading.Thread(target=hub_loop.run_until_complete, args=(serve_hub(),))
        thread.start()
        try:
            assert ready.wait(20)
            with SyncClient("sync-a", hub=env.lockfile) as a, SyncClient(
                "sync-b", hub=env.lockfile
            ) as b:

                @b.on("test.sync")
                def echo(message: Message) -> dict:
                    return {"v": message.params["v"]}

                assert a.call("sync-b", "test.sync", {"v": 1}, timeout=10).result == {"v": "1"}

                async def inside_a_loop() -> dict:
                    # A notebook cell: a loop is running in this thread.
                    return a.call("sync-b", "test.sync", {"v": 2}, timeout=10).result

                assert asyncio.run(inside_a_loop()) == {"v": "2"}

                @b.on("test.reentrant")
                def reentrant(message: Message) -> dict:
                    b.notify("sync-a", "samp.app.ping")
                    return {}

                with pytest.raises(SampError, match="its own handlers"):
                    a.call("sync-b", "test.reentrant", timeout=10)
        finally:
            hub_loop.call_soon_threadsafe(stop.set)
            thread.join(20)
            hub_loop.close()


async def test_embedded_hub_starts_when_none_runs(tmp_path: Path) -> None:
    with samp_environment(tmp_path) as env:
        async with connect("starter", start_hub=True, hub=env.lockfile) as client:
            hub = client.embedded_hub
            assert hub is not None and hub.running
            assert env.lockfile.exists()
            async with connect("second", hub=env.lockfile) as second:
                await wait_until(lambda: client.self_id in second.clients, second)
                assert second.embedded_hub is None
        assert hub.process is not None and hub.process.returncode == 0
        assert not env.lockfile.exists()


async def test_client_waits_for_a_new_hub_after_a_shutdown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hub that announced its shutdown is not asked again, though its lockfile lingers."""
    caplog.set_level(logging.DEBUG, logger="jupyter_samp.xmlrpc")
    states: list[str] = []
    with samp_environment(tmp_path) as env:
        hub = Hub(lockfile=env.lockfile, web_profile=False, client_timeout=1.0)
        await hub.start()
        async with BlackHole() as hole:
            # A client that never answers keeps the old hub draining (lockfile in place).
            stuck = RawClient.from_lockfile(env.lockfile)
            await stuck.register()
            await stuck.hub("setXmlrpcCallback", hole.url)
            await stuck.hub("declareSubscriptions", {"samp.hub.event.shutdown": {}})
            client = await connect("patient", hub=env.lockfile, watch_interval=0.05)
            client.on_state(lambda state, reason: states.append(state))
            try:
                stopping = asyncio.ensure_future(hub.stop())
                await wait_until(lambda: not client.connected, client, timeout=5)
                await within(stopping, 1.0 + PROMPT)
                assert states == ["disconnected"]
                assert "shutting down" not in caplog.text  # it never even tried to register
                async with Hub(lockfile=env.lockfile, web_profile=False):
                    await wait_until(lambda: client.connected, client, timeout=5)
            finally:
                await client.close()
                stuck.private_key = None
                await stuck.close()


async def test_joining_a_crowded_hub_opens_few_connections(hub: Hub) -> None:
    """A newcomer learns of 40 clients without a connection to the hub for each."""
    crowd = await asyncio.gather(*(connect(f"crowd-{i}", hub=hub.lockfile) for i in range(40)))
    try:
        assert hub._server is not None
        book = hub._server.book
        admitted = 0
        admit = book.admit

        def counting_admit(connection: object) -> bool:
            nonlocal admitted
            admitted += 1
            return admit(connection)  # type: ignore[arg-type]

        book.admit = counting_admit  # type: ignore[method-assign]
        async with connect("newcomer", hub=hub.lockfile) as newcomer:
            assert len(newcomer.clients) >= 40
        # Two calls per client known, a few at a time, on reused connections.
        assert admitted <= 8, admitted
    finally:
        await asyncio.gather(*(client.close() for client in crowd))
