"""Faults: a client killed mid-call, a lockfile deleted or corrupted, a slow reader."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from jupyter_samp import ErrorResponse, Hub, HubFault, connect
from jupyter_samp.data import DataBridge
from jupyter_samp.lockfile import read_lockfile
from jupyter_samp.testing import samp_environment

from ..client.helpers import event_queue

pytestmark = pytest.mark.peers


async def eventually(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for a file-system condition, which no event announces, with a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("sync", [False, True], ids=["call", "call_and_wait"])
async def test_client_killed_mid_call(tmp_path: Path, sync: bool) -> None:
    with samp_environment(tmp_path) as env:
        async with Hub(lockfile=env.lockfile, web_profile=False, liveness_interval=0.5):
            victim = await asyncio.create_subprocess_exec(
                sys.executable, str(Path(__file__).with_name("victim_process.py")),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            try:
                assert victim.stdout is not None
                victim_id = (await asyncio.wait_for(victim.stdout.readline(), 30)).decode().strip()
                async with connect("caller", hub=env.lockfile) as caller, connect(
                    "bystander", hub=env.lockfile
                ) as bystander:
                    events = event_queue(bystander)
                    if sync:
                        pending = asyncio.ensure_future(caller.call_and_wait(
                            victim_id, "test.victim", timeout=60))
                    else:
                        pending = asyncio.ensure_future(caller.call(
                            victim_id, "test.victim", timeout=60))
                    assert await asyncio.wait_for(victim.stdout.readline(), 30) == b"holding\n"
                    victim.send_signal(signal.SIGKILL)
                    started = time.monotonic()
                    with pytest.raises((ErrorResponse, HubFault), match=r"victim|c1"):
                        await asyncio.wait_for(pending, 20)
                    assert time.monotonic() - started < 10
                    while True:  # the others are told the victim is gone
                        event = await asyncio.wait_for(events.get(), 20)
                        if event.kind == "removed" and event.client.id == victim_id:
                            break
            finally:
                if victim.returncode is None:
                    victim.kill()
                await victim.wait()


async def test_lockfile_deleted_or_corrupted_is_written_again(tmp_path: Path) -> None:
    with samp_environment(tmp_path) as env:
        async with Hub(lockfile=env.lockfile, web_profile=False, guard_interval=0.1):
            record = read_lockfile(env.lockfile)
            env.lockfile.unlink()
            await eventually(lambda: read_lockfile(env.lockfile) == record)
            env.lockfile.write_bytes(b"\x00\x01garbage\n")
            await eventually(lambda: read_lockfile(env.lockfile) == record)
            async with connect("late", hub=env.lockfile) as late:
                assert late.connected
        assert not env.lockfile.exists()


async def test_slow_reader_does_not_hold_up_others(tmp_path: Path) -> None:
    with samp_environment(tmp_path) as env:
        async with Hub(lockfile=env.lockfile, web_profile=False), connect(
            "sender", hub=env.lockfile
        ) as sender, connect("reader", hub=env.lockfile) as reader:
            got: asyncio.Queue = asyncio.Queue()
            receiving = DataBridge(reader)
            receiving.on_table(got.put_nowait, as_pandas=True)
            await reader.flush()
            await sender._refresh_clients()
            bridge = DataBridge(sender)
            frame = pd.DataFrame({"x": range(200_000)})
            handle = bridge.start_table(frame, to="reader", name="big", transport="http")
            published: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            bridge.outputs.watch(handle.table_id, lambda resource: published.done()
                                 or published.set_result(resource.url))
            url = await asyncio.wait_for(published, 30)
            host, port = url.split("/")[2].split(":")
            # A consumer that asks for the table and then reads nothing at all.
            _slow_reader, slow_writer = await asyncio.open_connection(host, int(port))
            path = "/" + url.split("/", 3)[3]
            slow_writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            await slow_writer.drain()
            receipt = await asyncio.wait_for(handle.delivery, 30)
            assert receipt.succeeded
            assert len((await got.get()).data) == 200_000
            slow_writer.close()
            await bridge.close()
            await receiving.close()


async def test_keys_and_secret_are_never_logged(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with samp_environment(tmp_path) as env:
        async with Hub(lockfile=env.lockfile, web_profile=False):
            secret = read_lockfile(env.lockfile)["samp.secret"]  # type: ignore[index]
            async with connect("a", hub=env.lockfile) as a, connect("b", hub=env.lockfile) as b:
                b.add_handler("test.log", lambda m: {})
                await b.flush()
                await a._refresh_clients()
                await a.call("b", "test.log", timeout=10)
                keys = [a.private_key, b.private_key]
                with pytest.raises(HubFault):
                    await a._proxy.call("notify", "no-such-client", {"samp.mtype": "x.y"})
    text = caplog.text
    assert "register" in text  # logging did happen
    for sensitive in [secret, *keys]:
        assert sensitive and sensitive not in text
