"""Shared helpers of the benchmarks: hubs in subprocesses, CPU time, worker processes, tables.

Everything runs on 127.0.0.1 inside a hermetic
:func:`~jupyter_samp.testing.samp_environment` (temporary ``HOME`` and
``SAMP_HUB``; Java gets ``-Duser.home``), so the real ``~/.samp`` is never
touched. Every subprocess and worker process is stopped, by its own id, when
its block exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import queue
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_samp.testing import (
    PeerProcess,
    RunningHub,
    astropy_hub,
    jsamp_hub,
    jupyter_samp_hub,
    wait_for_hub,
)
from jupyter_samp.testing.env import SampEnvironment
from jupyter_samp.testing.peers import jupyter_samp_hub_command, package_env

HUB_NAMES = ("ours", "jsamp", "astropy")
HUB_LABELS = {"ours": "jupyter_samp", "jsamp": "JSAMP", "astropy": "astropy"}

try:  # optional: psutil reads CPU times portably
    import psutil
except ImportError:  # pragma: no cover - depends on the machine
    psutil = None


# ---------------------------------------------------------------- numbers


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds used so far by process ``pid`` (all its threads).

    Uses psutil if it is installed, else ``/proc/<pid>/stat``; None if the
    process is gone or the information is not available.
    """
    if pid is None:
        return None
    if psutil is not None:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            return None
        return float(times.user + times.system)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def system_busy_seconds() -> float | None:
    """CPU seconds all processors have spent busy since boot (``/proc/stat``), or None.

    Sampled around a measurement, it shows how much CPU *other* processes
    (anything besides the hub and the load generator) took meanwhile.
    """
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(value) for value in fields[1:9]]
    busy = sum(values) - values[3] - values[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_probe(rounds: int = 3, size: int = 1_000_000) -> float:
    """Milliseconds of CPU a fixed pure-Python loop takes now (best of ``rounds``).

    The cores of this kind of virtual machine do not run at a constant speed
    (the same loop was seen to take from 160 to 250 ms of CPU within a
    minute, with no steal time reported), so each measurement records this
    probe: compare results only when their probes are similar.
    """
    best = math.inf
    for _ in range(rounds):
        began = time.process_time()
        total = 0
        for value in range(size):
            total += value
        best = min(best, time.process_time() - began)
    return best * 1000


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    """The median of ``values``; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def fmt(value: float | None, digits: int = 0, unit: str = "") -> str:
    """Format a number for a table ("-" for None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}{unit}"


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``ours / theirs``, or None if either is missing or ``theirs`` is 0."""
    if ours is None or theirs is None or math.isnan(ours) or math.isnan(theirs) or not theirs:
        return None
    return ours / theirs


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with right-aligned columns (the first left-aligned)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def verdict(ok: bool | None) -> str:
    """PASS, FAIL or N/A (not measured)."""
    return "N/A " if ok is None else ("PASS" if ok else "FAIL")


# ---------------------------------------------------------------- hubs


_PROFILE_LAUNCHER = """
import cProfile, sys, time
from jupyter_samp.cli import main
profile = cProfile.Profile(time.process_time)
profile.enable()
try:
    status = main(sys.argv[2:])
finally:
    profile.disable()
    profile.dump_stats(sys.argv[1])
sys.exit(status)
"""


@asynccontextmanager
async def profiled_our_hub(env: SampEnvironment, output: Path) -> AsyncIterator[RunningHub]:
    """Our hub command under cProfile, timed in CPU seconds; the profile is written on exit.

    The profiler's clock is ``time.process_time``, not wall time: on a
    machine whose cores are shared with the load generator, a wall clock
    charges preemption (typically inside ``socket.send``, which wakes the
    peer) to whatever function happened to be running.
    """
    command = jupyter_samp_hub_command(env.lockfile)
    arguments = command[command.index("jupyter_samp.cli") + 1 :]
    command = [sys.executable, "-c", _PROFILE_LAUNCHER, str(output), *arguments]
    child_env = package_env(env.subprocess_env())
    process = PeerProcess(command, env=child_env, name="jupyter-samp hub (cProfile)")
    await process.start()
    try:
        info = await wait_for_hub(env.lockfile, timeout=60.0, process=process)
        yield RunningHub("jupyter-samp hub", env.lockfile, info, process)
    finally:
        await process.stop(grace=20.0)


def hub_context(
    name: str, env: SampEnvironment, *, profile_to: Path | None = None
) -> AbstractAsyncContextManager[RunningHub]:
    """An async context manager running hub ``name`` (ours, jsamp, astropy) on ``env``."""
    if name == "ours":
        if profile_to is not None:
            return profiled_our_hub(env, profile_to)
        return jupyter_samp_hub(env.lockfile, home=env.home, timeout=60.0)
    if name == "jsamp":
        return jsamp_hub(env.lockfile, home=env.home, timeout=60.0)
    if name == "astropy":
        return astropy_hub(env.lockfile, home=env.home, timeout=60.0)
    raise ValueError(f"unknown hub {name!r}: choose from {', '.join(HUB_NAMES)}")


class HubRunner:
    """Starts, restarts and stops one hub subprocess; reads its CPU time."""

    def __init__(
        self, name: str, env: SampEnvironment, *, profile_to: Path | None = None
    ) -> None:
        self.name = name
        self.env = env
        self.profile_to = profile_to
        self.restarts = 0
        self._stack: AsyncExitStack | None = None
        self._hub: RunningHub | None = None

    @property
    def hub(self) -> RunningHub:
        """The running hub."""
        assert self._hub is not None, "hub not started"
        return self._hub

    @property
    def pid(self) -> int | None:
        """The hub process's id."""
        return self._hub.process.pid if self._hub is not None else None

    def cpu(self) -> float | None:
        """CPU seconds the hub process has used so far."""
        return cpu_seconds(self.pid)

    async def start(self) -> RunningHub:
        """Start the hub and wait until it answers."""
        stack = AsyncExitStack()
        try:
            self._hub = await stack.enter_async_context(
                hub_context(self.name, self.env, profile_to=self.profile_to)
            )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self._hub

    async def stop(self) -> None:
        """Stop the hub (SIGTERM, then SIGKILL) and remove a lockfile it left behind."""
        stack, self._stack, self._hub = self._stack, None, None
        if stack is not None:
            await stack.aclose()
        with contextlib.suppress(OSError):
            self.env.lockfile.unlink()

    async def restart(self) -> RunningHub:
        """Stop the hub and start a fresh one (after a hang: it may hold dead clients)."""
        self.restarts += 1
        await self.stop()
        return await self.start()

    async def __aenter__(self) -> HubRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop()


# ---------------------------------------------------------------- worker processes


@dataclass
class ProcessOutcome:
    """What a group of worker processes returned.

    Attributes
    ----------
    results : dict
        Worker index -> what it put on the results queue.
    hung : list of int
        Workers that did not report within the deadline (they were killed).
    started : bool
        False if some worker never became ready (the run was aborted).
    begin : float
        ``time.monotonic()`` at which the workers were told to start.
    """

    results: dict[int, Any] = field(default_factory=dict)
    hung: list[int] = field(default_factory=list)
    started: bool = False
    begin: float = 0.0


async def run_processes(
    target: Callable[..., None],
    payloads: Sequence[Any],
    *,
    ready_timeout: float,
    run_timeout: float,
    lead: float = 0.3,
    on_start: Callable[[float], Awaitable[None]] | None = None,
) -> ProcessOutcome:
    """Run ``target(index, ready, start, results, payload)`` in one process per payload.

    Protocol: each worker puts its index on ``ready`` when set up, waits
    until the shared double ``start`` holds a ``time.monotonic()`` start
    time (negative: abort), works, and puts ``(index, result)`` on
    ``results``. The start is ``lead`` seconds after the last worker is
    ready; ``on_start(begin)`` is then awaited (e.g. to sample a hub's CPU).
    A worker that has not reported ``run_timeout`` seconds after the start
    counts as hung; every worker is joined, terminated or killed at the end.
    """
    context = multiprocessing.get_context("spawn")
    ready_queue = context.Queue()
    result_queue = context.Queue()
    start = context.Value("d", 0.0)
    processes = [
        context.Process(
            target=target,
            args=(index, ready_queue, start, result_queue, payload),
            name=f"bench-worker-{index}",
            daemon=True,
        )
        for index, payload in enumerate(payloads)
    ]
    outcome = ProcessOutcome()
    loop = asyncio.get_running_loop()
    try:
        for process in processes:
            process.start()
        ready: set[int] = set()
        deadline = loop.time() + ready_timeout
        while len(ready) < len(processes) and loop.time() < deadline:
            try:
                ready.add(await loop.run_in_executor(None, ready_queue.get, True, 0.25))
            except queue.Empty:
                if any(not p.is_alive() for i, p in enumerate(processes) if i not in ready):
                    break
        outcome.started = len(ready) == len(processes)
        outcome.begin = time.monotonic() + lead if outcome.started else -1.0
        start.value = outcome.begin
        watcher: asyncio.Future[None] | None = None
        if on_start is not None and outcome.started:
            watcher = asyncio.ensure_future(on_start(outcome.begin))
        deadline = loop.time() + (run_timeout if outcome.started else 30.0)
        while len(outcome.results) < len(processes) and loop.time() < deadline:
            try:
                index, result = await loop.run_in_executor(None, result_queue.get, True, 0.25)
            except queue.Empty:
                if all(not p.is_alive() for p in processes) and result_queue.empty():
                    break
                continue
            outcome.results[index] = result
        if watcher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(watcher, 30.0)
    finally:
        for process in processes:
            await loop.run_in_executor(None, process.join, 3.0)
            if process.is_alive():
                process.terminate()
                await loop.run_in_executor(None, process.join, 3.0)
            if process.is_alive():
                process.kill()
                await loop.run_in_executor(None, process.join, 3.0)
        ready_queue.close()
        result_queue.close()
    outcome.hung = [i for i in range(len(processes)) if i not in outcome.results]
    return outcome


async def warm_up_hub(hub: RunningHub, seconds: float) -> None:
    """Load ``hub`` for about ``seconds`` (sync, async and notify) without measuring.

    A JVM hub (JSAMP) answers several times slower until its JIT compiler
    has seen a few thousand requests; without this, whoever is measured first
    on a fresh JSAMP hub is penalised.
    """
    from _loadgen import MODES, WorkerSpec, worker_main

    if seconds <= 0:
        return
    for mode in MODES:
        spec = WorkerSpec(mode, hub.url, hub.secret, senders=1, receivers=1, flows=4,
                          warmup=0.0, duration=seconds / len(MODES), op_timeout=10.0,
                          name="warmup")
        await run_processes(worker_main, [spec], ready_timeout=60.0,
                            run_timeout=seconds + 30.0)


def banner(text: str) -> None:
    """Print a section heading (flushed, so progress shows under ``tee``)."""
    print(f"\n=== {text} ===", flush=True)


def note(text: str) -> None:
    """Print a progress line to stderr."""
    print(text, file=sys.stderr, flush=True)
