"""Load: 100 clients at once, and JSAMP's calcstorm again and again, against our hub.

No hang, no lost or duplicated response, memory flat. The figures go to
``artifacts/stress/`` and are summarised in docs/stress.rst.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import random
import sys
import time
from pathlib import Path

import pytest

from jupyter_samp import Client, Message
from jupyter_samp.testing import jupyter_samp_hub, run_calcstorm, samp_environment

from .report import peak_rss_mb, record, rss_mb

pytestmark = [pytest.mark.peers, pytest.mark.skipif(sys.platform != "linux",
                                                    reason="reads /proc for memory figures")]
CLIENTS = 100
SECONDS = 8.0


async def _start_clients(lockfile: Path, received: collections.Counter[str]) -> list[Client]:
    async def one(index: int) -> Client:
        client = Client(f"load-{index}", hub=lockfile)

        @client.on("test.load.echo")
        def echo(message: Message) -> dict:
            received[message.params["nonce"]] += 1
            return {"nonce": message.params["nonce"]}

        return await client.start()

    started = await asyncio.gather(*(one(i) for i in range(CLIENTS)), return_exceptions=True)
    clients = [client for client in started if isinstance(client, Client)]
    failures = [error for error in started if isinstance(error, BaseException)]
    if failures:
        # The clients that did start listen for callbacks: close them, or the
        # garbage collector finds their sockets open and buries this failure.
        await asyncio.gather(*(client.close() for client in clients))
        raise failures[0]
    return clients


async def _exchange(clients: list[Client], deadline: float) -> tuple[int, int, list[str]]:
    nonces = itertools.count()
    answered, errors = 0, []
    ids = [client.self_id for client in clients]

    async def worker(client: Client) -> None:
        nonlocal answered
        rng = random.Random(client.self_id)
        while time.monotonic() < deadline:
            nonce = f"{client.self_id}-{next(nonces)}"
            try:
                response = await client.call(rng.choice(ids), "test.load.echo",
                                             {"nonce": nonce}, timeout=20)
                assert response.result == {"nonce": nonce}
                answered += 1
            except Exception as exc:  # counted and reported, then the test fails
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(worker(client) for client in clients))
    return next(nonces), answered, errors


async def test_hundred_clients_exchange_calls(tmp_path: Path) -> None:
    received: collections.Counter[str] = collections.Counter()
    with samp_environment(tmp_path) as env:
        async with jupyter_samp_hub(env.lockfile, home=env.home) as hub:
            pid = hub.process.pid
            assert pid is not None
            clients = await _start_clients(env.lockfile, received)
            try:
                await asyncio.gather(*(client.flush() for client in clients))
                warm = rss_mb(pid)
                sent, answered, errors = await _exchange(clients, time.monotonic() + SECONDS)
                after = rss_mb(pid)
                peak = peak_rss_mb(pid)
            finally:
                await asyncio.gather(*(client.close() for client in clients))
    duplicates = sum(count - 1 for count in received.values() if count > 1)
    path = record("hundred-clients", {
        "clients": CLIENTS, "seconds": SECONDS, "calls": sent, "answered": answered,
        "errors": len(errors), "duplicated_deliveries": duplicates,
        "calls_per_second": round(answered / SECONDS, 1),
        "hub_rss_mb_after_warmup": round(warm, 1), "hub_rss_mb_at_end": round(after, 1),
        "hub_peak_rss_mb": round(peak, 1),
    })
    assert not errors, errors[:5]
    assert answered == sent and duplicates == 0, path.read_text()
    assert after - warm < 40, f"hub memory grew from {warm:.1f} to {after:.1f} MiB"


@pytest.mark.parametrize("mode", ["sync", "async", "notify"])
async def test_calcstorm_repeated(tmp_path: Path, mode: str) -> None:
    runs, rates = 5, []  # docs/stress.rst: a run of 20
    with samp_environment(tmp_path) as env:
        async with jupyter_samp_hub(env.lockfile, home=env.home) as hub:
            pid = hub.process.pid
            assert pid is not None
            first_rss = None
            for _ in range(runs):
                result = await run_calcstorm(nclient=5, nquery=20, mode=mode, timeout=60,
                                             lockfile=env.lockfile, home=env.home)
                rates.append(result.rate)
                first_rss = first_rss or rss_mb(pid)
            last_rss, peak = rss_mb(pid), peak_rss_mb(pid)
    record(f"calcstorm-{mode}", {
        "runs": runs, "clients": 5, "queries": 20, "mode": mode,
        "median_msgs_per_second": sorted(r for r in rates if r)[len(rates) // 2],
        "hub_rss_mb_after_first_run": round(first_rss or 0, 1),
        "hub_rss_mb_at_end": round(last_rss, 1), "hub_peak_rss_mb": round(peak, 1),
    })
    assert last_rss - (first_rss or last_rss) < 30
