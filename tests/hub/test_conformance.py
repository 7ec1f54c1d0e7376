"""Our hub against JSAMP's own conformance tester and load generator.

``hubtester`` runs every check of SAMP's reference implementation (see the
walkthrough in the spec digest, section 9) and exits 0 only if all pass; it
hangs on a lost message, so it runs under a timeout. ``calcstorm`` has ten
clients fire queries at each other, themselves included, and checks that
none is lost or duplicated.

The launchers of :mod:`jupyter_samp.testing.peers` are tested here too.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from jupyter_samp.hub import Hub
from jupyter_samp.lockfile import read_lockfile
from jupyter_samp.testing import (
    PeerFailedError,
    PeerUnavailableError,
    SampEnvironment,
    astropy_hub,
    find_jsamp_jar,
    jsamp_hub,
    jupyter_samp_hub,
    ping_hub,
    run_calcstorm,
    run_hubtester,
    run_peer,
)
from jupyter_samp.testing.rawclient import RawClient, assert_hub_serves, echo, echo_responder

peers = pytest.mark.peers


@peers
async def test_hubtester_passes(hub: Hub, jsamp_jar: Path, samp_env: SampEnvironment) -> None:
    result = await run_hubtester(home=samp_env.home, timeout=120, jar=jsamp_jar)
    assert result.ok
    assert "Exception" not in result.output, result.describe()
    assert hub.clients == (), "hubtester left clients registered"


@peers
@pytest.mark.parametrize("mode", ["sync", "async", "notify"])
async def test_calcstorm(hub: Hub, jsamp_jar: Path, samp_env: SampEnvironment, mode: str) -> None:
    result = await run_calcstorm(10, 200, mode, home=samp_env.home, timeout=120, jar=jsamp_jar)
    assert result.ok and result.elapsed_ms is not None
    assert result.rate is not None and result.rate > 0
    assert "Error" not in result.output and "Exception" not in result.output, result.describe()
    assert hub.clients == ()


# ---------------------------------------------------------------- the launchers


@peers
async def test_jsamp_hub_launcher(jsamp_jar: Path, samp_env: SampEnvironment) -> None:
    async with jsamp_hub(samp_env.lockfile, jar=jsamp_jar) as running:
        assert running.lockfile == samp_env.lockfile
        assert read_lockfile(samp_env.lockfile) == running.info
        assert await ping_hub(running.url)
        await assert_hub_serves(samp_env.lockfile)  # our raw client, their hub
    assert running.process.returncode is not None
    assert not samp_env.lockfile.exists()


@peers
async def test_astropy_hub_launcher(samp_module: object, samp_env: SampEnvironment) -> None:
    async with astropy_hub(samp_env.lockfile) as running:
        assert await ping_hub(running.url)
        async with (
            await RawClient.connect(
                samp_env.lockfile, subscriptions={"test.echo": {}}, responder=echo_responder
            ) as listener,
            await RawClient.connect(samp_env.lockfile, subscriptions={}) as sender,
        ):
            await sender.hub("notify", listener.public_id, echo(n="1"))
            got = (await listener.next_notification()).message
            # astropy's hub adds keys of its own ("host", "user") to messages
            assert echo(n="1").items() <= got.items()
            await sender.hub("call", listener.public_id, "t", echo(n="2"))
            assert (await sender.next_response()).response["samp.result"] == {"n": "2"}
    assert running.process.returncode == 0
    assert not samp_env.lockfile.exists()


async def test_our_hub_command_launcher(samp_env: SampEnvironment) -> None:
    async with jupyter_samp_hub(samp_env.lockfile) as running:
        assert "SAMP hub listening at" in running.process.stdout
        await assert_hub_serves(samp_env.lockfile)
    assert running.process.returncode == 0
    assert not samp_env.lockfile.exists()


async def test_launcher_fails_fast_when_the_hub_exits(samp_env: SampEnvironment) -> None:
    async with Hub(lockfile=samp_env.lockfile, web_profile=False):
        with pytest.raises(PeerFailedError, match="exited before its hub answered") as caught:
            async with jupyter_samp_hub(samp_env.lockfile, timeout=60):
                pytest.fail("a second hub must not start")
        assert caught.value.result is not None
        assert "already running" in caught.value.result.stderr
        await assert_hub_serves(samp_env.lockfile)


@peers
async def test_hubtester_timeout_kills_it(hub: Hub, jsamp_jar: Path) -> None:
    with pytest.raises(PeerFailedError, match="hubtester failed") as caught:
        await run_hubtester(timeout=1.0, jar=jsamp_jar)  # it needs several seconds
    result = caught.value.result
    assert result is not None and result.timed_out and not result.ok
    assert result.returncode is not None and result.returncode != 0


async def _wait_gone(pid: int, timeout: float) -> None:
    """Wait until process ``pid`` (not our child) has terminated, via a pidfd."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    try:
        loop.add_reader(descriptor, gone.set)
        try:
            await asyncio.wait_for(gone.wait(), timeout)
        finally:
            loop.remove_reader(descriptor)
    finally:
        os.close(descriptor)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open (Linux)")
async def test_run_peer_kills_the_whole_process_group_on_timeout() -> None:
    # The child starts a grandchild, reports its pid, and both then idle.
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    result = await run_peer([sys.executable, "-c", script], timeout=3.0)
    assert result.timed_out and not result.ok
    grandchild = int(result.stdout.split()[0])
    await _wait_gone(grandchild, timeout=10.0)  # SIGKILLed with its group, not in 120 s


async def test_run_peer_collects_output_and_status() -> None:
    script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    result = await run_peer([sys.executable, "-c", script], timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.ok and not result.timed_out
    assert "exit status 3" in result.describe()


def test_missing_jsamp_jar_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PeerUnavailableError, match=r"JSAMP jar not found.*jsamp"):
        find_jsamp_jar(tmp_path / "nowhere.jar")
