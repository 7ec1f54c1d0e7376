"""Two well-behaved clients that keep calling each other while a hub is attacked.

Every attack test runs one: it proves the hub went on serving everyone else,
and its latencies are the figure the attack tables in docs/stress.rst give.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_samp import Client, Message, connect

#: An answer slower than this means the hub was held up by the attack.
SLOW = 2.0


@dataclass
class Canary:
    """Latencies (seconds) of the calls made, and the errors met."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    async def made(self, calls: int, timeout: float = 30.0) -> None:
        """Wait until the canary has made ``calls`` more calls than now."""
        target = len(self.latencies) + calls

        async def wait() -> None:
            while len(self.latencies) < target:
                await self.progress.wait()
                self.progress.clear()

        await asyncio.wait_for(wait(), timeout)

    @property
    def worst(self) -> float:
        """The slowest call's latency."""
        return max(self.latencies, default=0.0)

    @property
    def median(self) -> float:
        """The median latency."""
        ordered = sorted(self.latencies)
        return ordered[len(ordered) // 2] if ordered else 0.0

    def check(self, least: int = 5, slow: float = SLOW) -> None:
        """Assert that the canary made ``least`` calls, all answered, none slower than ``slow``."""
        assert not self.errors, self.errors[:3]
        assert len(self.latencies) >= least, f"only {len(self.latencies)} canary calls"
        assert self.worst < slow, f"a canary call took {self.worst:.2f} s"

    def figures(self) -> dict[str, float]:
        """The figures to record."""
        return {
            "canary_calls": len(self.latencies),
            "canary_median_ms": round(self.median * 1000, 2),
            "canary_worst_ms": round(self.worst * 1000, 2),
        }


async def _call_forever(sender: Client, target: str, canary: Canary) -> None:
    n = 0
    while True:
        n += 1
        started = time.perf_counter()
        try:
            response = await sender.call(target, "test.canary", {"n": str(n)}, timeout=SLOW * 5)
            assert response.result == {"n": str(n)}
        except Exception as exc:  # every failure is a finding, reported by check()
            canary.errors.append(f"{type(exc).__name__}: {exc}")
        canary.latencies.append(time.perf_counter() - started)
        canary.progress.set()
        await asyncio.sleep(0.02)  # the canary's pace, not a synchronisation


@contextlib.asynccontextmanager
async def canary_running(lockfile: Path) -> AsyncIterator[Canary]:
    """Register two clients on the hub of ``lockfile``; one calls the other until the block ends."""
    canary = Canary()
    async with (
        connect(name="canary-echo", hub=lockfile, reconnect=False) as echo,
        connect(name="canary-caller", hub=lockfile, reconnect=False) as caller,
    ):

        @echo.on("test.canary")
        def answer(message: Message) -> dict[str, str]:
            return dict(message.params)

        await echo.flush()
        await caller.flush()
        task = asyncio.ensure_future(_call_forever(caller, echo.self_id, canary))
        try:
            yield canary
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
