"""Soak: thousands of clients joining and leaving one hub; its memory must stay flat.

The hub runs in its own process (``jupyter-samp hub``), so its resident
memory is measured alone. Clients register, declare metadata and
subscriptions, set a callback (each on a fresh port, as real applications
do), hear the hub's events and unregister, several at a time, while one
client stays connected throughout and hears about every one of them. RSS is
sampled between rounds, when no soak client is registered. The figures go to
``artifacts/stress/soak-join-leave.json`` (summarised in docs/stress.rst).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from jupyter_samp import Client
from jupyter_samp.testing import jupyter_samp_hub, samp_environment

from .report import record, rss_mb

pytestmark = [pytest.mark.peers, pytest.mark.skipif(sys.platform != "linux",
                                                    reason="reads /proc for memory figures")]
WORKERS = 8  # clients joining and leaving at the same time
PER_ROUND = 32  # join/leave cycles per worker per round
WARM_ROUNDS = 2
ROUNDS = 4  # 4 x 8 x 32 = 1024 cycles after warm-up (docs/stress.rst: a run of 10)
FLAT_MB = 2.0


async def _round(lockfile: Path) -> None:
    async def worker(index: int) -> None:
        for _ in range(PER_ROUND):
            client = Client(f"soak-{index}", hub=lockfile, reconnect=False)
            await client.start()
            await client.close()

    await asyncio.gather(*(worker(index) for index in range(WORKERS)))


async def test_join_leave_memory_is_flat(tmp_path: Path) -> None:
    per_round = WORKERS * PER_ROUND
    with samp_environment(tmp_path) as env:
        async with jupyter_samp_hub(env.lockfile, home=env.home) as hub:
            pid = hub.process.pid
            assert pid is not None
            async with Client("soak-watcher", hub=env.lockfile) as watcher:
                for _ in range(WARM_ROUNDS):
                    await _round(env.lockfile)
                samples = [rss_mb(pid)]
                started = time.monotonic()
                for _ in range(ROUNDS):
                    await _round(env.lockfile)
                    samples.append(rss_mb(pid))
                seconds = time.monotonic() - started
                others = await watcher._other_apps()
    cycles = ROUNDS * per_round
    growth = max(samples) - samples[0]
    slope = _slope([i * per_round for i in range(len(samples))], samples)
    path = record("soak-join-leave", {
        "concurrent_clients": WORKERS,
        "warmup_cycles": WARM_ROUNDS * per_round,
        "measured_cycles": cycles,
        "seconds": round(seconds, 1),
        "cycles_per_second": round(cycles / seconds, 1),
        "hub_rss_mb_samples": [round(sample, 2) for sample in samples],
        "hub_rss_mb_growth": round(growth, 2),
        "hub_bytes_per_cycle": round(slope * 1024 * 1024),
    })
    assert others == [], others  # every soak client did unregister
    assert growth < FLAT_MB, (
        f"hub memory grew by {growth:.2f} MiB over {cycles} join/leave cycles "
        f"(~{slope * 1024 * 1024:.0f} bytes each): {path.read_text()}"
    )


def _slope(xs: list[int], ys: list[float]) -> float:
    """Least-squares slope of ys against xs."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
