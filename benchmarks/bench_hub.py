"""Benchmark: our SAMP hub against JSAMP's and astropy's, under the same loads.

Each hub runs as a subprocess (one at a time, on 127.0.0.1, in a temporary
``HOME`` with its own lockfile) and gets:

a. **JSAMP calcstorm** ``-nclient 10 -nquery 200 -mode sync|async|notify``,
   ``--repeat`` times per mode (median messages/s from calcstorm's own
   ``Elapsed time``). A run still going after ``--calcstorm-timeout``
   seconds is killed and counted as a hang, and the hub is restarted.
b. **Our load generator** (``_loadgen.py``): ``--workers`` processes, each
   with its own asyncio loop, raw keep-alive HTTP and pre-encoded XML-RPC,
   registering ``--senders`` + ``--receivers`` clients and running
   ``--flows`` closed loops for ``--duration`` seconds after a warm-up:
   ``sync`` = ``callAndWait`` round trip, ``async`` = ``call`` until the
   ``receiveResponse``, ``notify`` = ``notify`` until the receiver has it.
   It reports messages/s, latency p50/p99, operations lost (no outcome
   within ``--op-timeout``), the hub's CPU use (``/proc``, or psutil) and
   the load generator's. A second, single-flow run per mode measures the
   unloaded round trip (the latency target uses it).
c. A table per hub and mode, ratios ours/JSAMP and ours/astropy, and the
   targets: ours >= 2x JSAMP's throughput on our load generator (every
   mode); ``callAndWait`` p50 < 2 ms on our hub (unloaded); no hang or lost
   message on our hub. Then a hang check: JSAMP calcstorm 10x100 sync
   ``--hang-runs`` times against astropy's hub (and ours), to document
   astropy's hang rate.

Options ``--profile DIR`` (our hub under cProfile) and ``--py-spy DIR``
(py-spy sampling our hub) add a profiling pass and print the top functions.

Run::

    python benchmarks/bench_hub.py                 # everything (several minutes)
    python benchmarks/bench_hub.py --quick         # about 2 minutes
    python benchmarks/bench_hub.py --hubs ours,jsamp --skip-calcstorm --duration 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    HUB_LABELS,
    HUB_NAMES,
    HubRunner,
    banner,
    cpu_probe,
    fmt,
    median,
    note,
    percentile,
    ratio,
    run_processes,
    system_busy_seconds,
    table,
    verdict,
    warm_up_hub,
)
from _loadgen import MODES, WorkerResult, WorkerSpec, worker_main

from jupyter_samp.testing import PeerError, PeerProcess, java_command, samp_environment
from jupyter_samp.testing.env import SampEnvironment

THROUGHPUT_FACTOR = 2.0  # ours >= 2x JSAMP on our load generator
LATENCY_TARGET_MS = 2.0  # callAndWait p50 on our hub


# ---------------------------------------------------------------- results


@dataclass
class CalcStormStats:
    """calcstorm runs of one hub and mode."""

    rates: list[float] = field(default_factory=list)
    hangs: int = 0
    slow: int = 0
    failures: int = 0
    runs: int = 0
    hub_cpu: list[float] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)
    first_problem: str | None = None

    @property
    def rate(self) -> float:
        """Median messages/s of the runs that completed."""
        return median(self.rates)

    @property
    def per_cpu_second(self) -> float | None:
        """Messages per hub CPU second (whole calcstorm runs, start-up included)."""
        cpu = sum(self.hub_cpu)
        if not cpu or math.isnan(cpu):
            return None
        return sum(self.messages) / cpu


@dataclass
class LoadStats:
    """One run of our load generator against one hub, in one mode."""

    rate: float = math.nan
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    completed: int = 0
    lost: int = 0
    errors: int = 0
    hung_workers: int = 0
    hub_cpu: float | None = None
    loadgen_cpu: float = 0.0
    other_cpu: float | None = None
    probe_ms: float = math.nan
    window: float = 0.0
    concurrency: int = 0
    first_error: str | None = None

    @property
    def hub_cpu_share(self) -> float | None:
        """Hub CPU seconds per wall second in the window (1.0 = one core busy)."""
        if self.hub_cpu is None or not self.window:
            return None
        return self.hub_cpu / self.window

    @property
    def loadgen_share(self) -> float | None:
        """Load generator CPU seconds (all workers) per wall second."""
        return self.loadgen_cpu / self.window if self.window else None

    @property
    def other_cpu_share(self) -> float | None:
        """CPU seconds per wall second taken by other processes on the machine meanwhile."""
        if self.other_cpu is None or not self.window:
            return None
        return self.other_cpu / self.window

    @property
    def per_cpu_second(self) -> float | None:
        """Messages per CPU second of the hub."""
        if not self.hub_cpu:
            return None
        return self.completed / self.hub_cpu


@dataclass
class HubReport:
    """Everything measured on one hub."""

    name: str
    calcstorm: dict[str, CalcStormStats] = field(default_factory=dict)
    load: dict[str, LoadStats] = field(default_factory=dict)
    latency: dict[str, LoadStats] = field(default_factory=dict)
    hang_check: CalcStormStats | None = None
    restarts: int = 0
    failure: str | None = None


# ---------------------------------------------------------------- calcstorm


STALL_WINDOW = 5.0  # seconds of hub inactivity that make a timed-out run a hang
STALL_CPU = 0.15  # hub CPU seconds in that window below which it counts as inactive
_ELAPSED = re.compile(r"Elapsed time:\s*(\d+)\s*ms")


@dataclass
class StormRun:
    """How one calcstorm run ended."""

    rate: float | None = None
    returncode: int | None = None
    timed_out: bool = False
    stalled: bool = False
    output: str = ""
    hub_cpu: float | None = None


async def run_storm(
    runner: HubRunner, mode: str, nclient: int, nquery: int, timeout: float,
    dump_dir: Path | None = None,
) -> StormRun:
    """Run calcstorm, sampling the hub's CPU each second.

    A run still going after ``timeout`` seconds is killed. It counts as
    *stalled* (a hang: messages were lost and calcstorm waits for ever) if
    the hub used less than ``STALL_CPU`` CPU seconds in the last
    ``STALL_WINDOW`` seconds, and merely *slow* otherwise. For a stall, a
    ``jstack`` thread dump of calcstorm is saved in ``dump_dir`` if given.
    """
    tool = ["calcstorm", "-nclient", str(nclient), "-nquery", str(nquery), "-mode", mode]
    child_env = runner.env.subprocess_env({"SAMP_HUB": runner.hub.env_value})
    process = PeerProcess(java_command(tool, home=runner.env.home), env=child_env,
                          name="calcstorm")
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, float | None]] = [(loop.time(), runner.cpu())]
    run = StormRun()
    await process.start()
    try:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await process.wait(1.0)
                break
            samples.append((loop.time(), runner.cpu()))
            if samples[-1][0] - samples[0][0] > timeout:
                run.timed_out = True
                run.stalled = _inactive(samples)
                if run.stalled and dump_dir is not None:
                    await _jstack(process, dump_dir, f"calcstorm-{runner.name}-{mode}")
                break
    finally:
        await process.stop(grace=2.0)
    end_cpu = runner.cpu()
    if samples[0][1] is not None and end_cpu is not None:
        run.hub_cpu = end_cpu - samples[0][1]
    run.returncode = process.returncode
    run.output = process.stdout + process.stderr
    found = _ELAPSED.search(process.stdout)
    if found and not run.timed_out and run.returncode == 0 and int(found.group(1)):
        run.rate = nclient * nquery * 1000.0 / int(found.group(1))
    return run


def _inactive(samples: list[tuple[float, float | None]]) -> bool:
    now, cpu_now = samples[-1]
    earlier = [(t, cpu) for t, cpu in samples if now - t >= STALL_WINDOW]
    if not earlier or cpu_now is None or earlier[-1][1] is None:
        return False
    return cpu_now - earlier[-1][1] < STALL_CPU


async def _jstack(process: PeerProcess, directory: Path, stem: str) -> None:
    """Save a thread dump of a Java process (best effort)."""
    jstack = shutil.which("jstack")
    if jstack is None or process.pid is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    dump = PeerProcess([jstack, str(process.pid)], name="jstack")
    async with dump:
        with contextlib.suppress(asyncio.TimeoutError):
            await dump.wait(20.0)
    path = directory / f"{stem}-{time.strftime('%H%M%S')}.txt"
    path.write_text(dump.stdout + dump.stderr)
    note(f"    thread dump of the stalled calcstorm: {path}")


async def calcstorm_run(
    runner: HubRunner, mode: str, nclient: int, nquery: int, timeout: float,
    stats: CalcStormStats, dump_dir: Path | None = None,
) -> None:
    """One calcstorm run; a hang, a slow run or a failure restarts the hub."""
    stats.runs += 1
    run = await run_storm(runner, mode, nclient, nquery, timeout, dump_dir)
    problem = None
    if run.timed_out and run.stalled:
        stats.hangs += 1
        problem = f"hang: no end after {timeout:g} s, hub idle for the last {STALL_WINDOW:g} s"
    elif run.timed_out:
        stats.slow += 1
        problem = f"slow: no end after {timeout:g} s, but the hub was still working"
    elif run.rate is None:
        stats.failures += 1
        problem = f"failed: exit {run.returncode}\n{_excerpt(run.output)}"
    else:
        stats.rates.append(run.rate)
        stats.messages.append(nclient * nquery)
        stats.hub_cpu.append(run.hub_cpu if run.hub_cpu is not None else math.nan)
        if "Exception" in run.output:
            problem = f"completed with exceptions:\n{_excerpt(run.output)}"
    if problem is not None:
        stats.first_problem = stats.first_problem or problem
        note(f"    {runner.name} calcstorm {mode}: {problem.splitlines()[0]}")
    if run.timed_out or run.rate is None:
        await runner.restart()


def _excerpt(output: str, size: int = 1500) -> str:
    """The start and the end of a long output (the exception is usually at the start)."""
    if len(output) <= 2 * size:
        return output
    return f"{output[:size]}\n...\n{output[-size:]}"


async def bench_calcstorm(
    runner: HubRunner, args: argparse.Namespace, report: HubReport
) -> None:
    """calcstorm in every mode, ``--repeat`` times each."""
    for mode in args.modes:
        stats = report.calcstorm.setdefault(mode, CalcStormStats())
        for _ in range(args.repeat):
            if args.max_hangs and stats.hangs >= args.max_hangs:
                note(f"    {runner.name} calcstorm {mode}: {stats.hangs} hangs, "
                     "skipping the remaining repeats (--max-hangs)")
                break
            await calcstorm_run(
                runner, mode, args.nclient, args.nquery, args.calcstorm_timeout, stats,
                args.dump_dir,
            )
        note(
            f"  {runner.name} calcstorm {mode}: {fmt(stats.rate)} msg/s "
            f"({len(stats.rates)}/{stats.runs} ok, {stats.hangs} hangs, {stats.slow} slow)"
        )


# ---------------------------------------------------------------- load generator


async def load_run(
    runner: HubRunner,
    mode: str,
    *,
    workers: int,
    senders: int,
    receivers: int,
    flows: int,
    warmup: float,
    duration: float,
    op_timeout: float,
) -> LoadStats:
    """Run our load generator against the hub and measure it and the hub's CPU."""
    hub = runner.hub
    probe = cpu_probe()
    specs = [
        WorkerSpec(
            mode, hub.url, hub.secret, senders=senders, receivers=receivers, flows=flows,
            warmup=warmup, duration=duration, op_timeout=op_timeout, name=f"lg{index}",
        )
        for index in range(workers)
    ]
    cpu_window: list[float | None] = []
    busy_window: list[float | None] = []

    async def sample_hub_cpu(begin: float) -> None:
        for at in (begin + warmup, begin + warmup + duration):
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            cpu_window.append(runner.cpu())
            busy_window.append(system_busy_seconds())

    outcome = await run_processes(
        worker_main, specs, ready_timeout=60.0,
        run_timeout=warmup + duration + op_timeout + 30.0, on_start=sample_hub_cpu,
    )
    stats = LoadStats(concurrency=workers * flows, hung_workers=len(outcome.hung),
                      probe_ms=probe)
    results: list[WorkerResult] = list(outcome.results.values())
    latencies = [value for result in results for value in result.latencies]
    stats.completed = sum(result.completed for result in results)
    stats.lost = sum(result.lost for result in results)
    stats.errors = sum(result.errors for result in results)
    stats.loadgen_cpu = sum(result.cpu_seconds for result in results)
    stats.window = duration
    for result in results:
        stats.first_error = stats.first_error or result.failure or result.first_error
    if not outcome.started:
        stats.first_error = stats.first_error or "the workers did not all register"
    if outcome.started and results:
        stats.rate = stats.completed / duration
        stats.p50_ms = percentile(latencies, 0.50) * 1000
        stats.p99_ms = percentile(latencies, 0.99) * 1000
    if len(cpu_window) == 2 and None not in cpu_window:
        stats.hub_cpu = float(cpu_window[1]) - float(cpu_window[0])  # type: ignore[arg-type]
    if len(busy_window) == 2 and None not in busy_window and stats.hub_cpu is not None:
        busy = float(busy_window[1]) - float(busy_window[0])  # type: ignore[arg-type]
        stats.other_cpu = max(0.0, busy - stats.hub_cpu - stats.loadgen_cpu)
    if stats.hung_workers or stats.lost:
        await runner.restart()
    return stats


async def bench_load(runner: HubRunner, args: argparse.Namespace, report: HubReport) -> None:
    """Our load generator: a saturating run and a single-flow run per mode."""
    for mode in args.modes:
        stats = await load_run(
            runner, mode, workers=args.workers, senders=args.senders,
            receivers=args.receivers, flows=args.flows, warmup=args.warmup,
            duration=args.duration, op_timeout=args.op_timeout,
        )
        report.load[mode] = stats
        note(
            f"  {runner.name} load {mode} x{stats.concurrency}: {fmt(stats.rate)} msg/s "
            f"p50 {fmt(stats.p50_ms, 2)} ms p99 {fmt(stats.p99_ms, 2)} ms, lost {stats.lost}, "
            f"hub CPU {fmt(stats.hub_cpu_share, 2)}, loadgen CPU "
            f"{fmt(stats.loadgen_cpu / stats.window if stats.window else None, 2)}, "
            f"other CPU {fmt(stats.other_cpu_share, 2)}"
            + (f"\n    first error: {stats.first_error[:300]}" if stats.first_error else "")
        )
        single = await load_run(
            runner, mode, workers=1, senders=1, receivers=1, flows=1, warmup=args.warmup,
            duration=args.latency_duration, op_timeout=args.op_timeout,
        )
        report.latency[mode] = single
        note(
            f"  {runner.name} single-flow {mode}: {fmt(single.rate)} msg/s "
            f"p50 {fmt(single.p50_ms, 2)} ms p99 {fmt(single.p99_ms, 2)} ms, lost {single.lost}"
        )


# ---------------------------------------------------------------- per hub


async def bench_one_hub(
    name: str, env: SampEnvironment, args: argparse.Namespace
) -> HubReport:
    """Start hub ``name`` and run every enabled load against it."""
    report = HubReport(name)
    banner(f"{HUB_LABELS[name]} hub")
    runner = HubRunner(name, env)
    try:
        await runner.start()
        if not args.skip_calcstorm:
            await bench_calcstorm(runner, args, report)
        if not args.skip_load:
            await warm_up_hub(runner.hub, args.hub_warmup)
            await bench_load(runner, args, report)
    except PeerError as exc:
        report.failure = str(exc).splitlines()[0]
        note(f"  {name}: {exc}")
    finally:
        report.restarts = runner.restarts
        await runner.stop()
    return report


async def hang_check(name: str, env: SampEnvironment, args: argparse.Namespace) -> CalcStormStats:
    """calcstorm 10x100 sync ``--hang-runs`` times, restarting the hub after a hang."""
    stats = CalcStormStats()
    runner = HubRunner(name, env)
    try:
        await runner.start()
        for _ in range(args.hang_runs):
            await calcstorm_run(
                runner, "sync", 10, 100, args.hang_timeout, stats, args.dump_dir
            )
    except PeerError as exc:
        stats.first_problem = str(exc).splitlines()[0]
    finally:
        await runner.stop()
    note(f"  {name}: {stats.hangs} hangs ({stats.slow} slow) in {stats.runs} runs of "
         "calcstorm 10x100 sync")
    return stats


# ---------------------------------------------------------------- profiling


async def profile_pass(env: SampEnvironment, args: argparse.Namespace, directory: Path) -> None:
    """Run the saturating load against our hub under cProfile and print the top functions."""
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / "hub.prof"
    banner(f"profile: our hub under cProfile ({output})")
    runner = HubRunner("ours", env, profile_to=output)
    try:
        await runner.start()
        for mode in args.modes:
            stats = await load_run(
                runner, mode, workers=args.workers, senders=args.senders,
                receivers=args.receivers, flows=args.flows, warmup=args.warmup,
                duration=args.duration, op_timeout=args.op_timeout,
            )
            note(f"  (profiled) {mode}: {fmt(stats.rate)} msg/s")
    finally:
        await runner.stop()
    if not output.exists():
        print("no profile was written (the hub did not exit cleanly)")
        return
    for key in ("cumulative", "tottime"):
        print(f"\n--- top {args.profile_top} by {key} ---", flush=True)
        pstats.Stats(str(output), stream=sys.stdout).sort_stats(key).print_stats(
            args.profile_top
        )


async def py_spy_pass(env: SampEnvironment, args: argparse.Namespace, directory: Path) -> None:
    """Sample our hub with py-spy during the load (async mode); print self and total time."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("py-spy is not installed (pip install py-spy); skipping")
        return
    directory.mkdir(parents=True, exist_ok=True)
    banner(f"profile: py-spy on our hub ({directory})")
    runner = HubRunner("ours", env)
    try:
        await runner.start()
        for mode in args.modes:
            raw = directory / f"hub-{mode}.txt"
            seconds = max(1, int(args.duration))
            spy = PeerProcess(
                [py_spy, "record", "--pid", str(runner.pid), "--duration", str(seconds),
                 "--rate", "200", "--format", "raw", "--output", str(raw), "--nonblocking"],
                name="py-spy",
            )
            async with spy:
                stats = await load_run(
                    runner, mode, workers=args.workers, senders=args.senders,
                    receivers=args.receivers, flows=args.flows, warmup=0.2,
                    duration=args.duration + 1.0, op_timeout=args.op_timeout,
                )
                with contextlib.suppress(asyncio.TimeoutError):
                    await spy.wait(30.0)
            note(f"  (sampled) {mode}: {fmt(stats.rate)} msg/s")
            if raw.exists():
                print_collapsed(raw, mode, args.profile_top)
            else:
                print(f"py-spy wrote nothing:\n{spy.result().describe()}")
    finally:
        await runner.stop()


def print_collapsed(path: Path, title: str, top: int) -> None:
    """Summarise py-spy's collapsed stacks: top functions by self and by total samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        return
    for label, counter in (("self", own), ("total", total)):
        print(f"\n--- py-spy {title}: top {top} by {label} ({samples} samples) ---")
        for frame, count in counter.most_common(top):
            print(f"{100 * count / samples:6.1f}%  {frame}")


# ---------------------------------------------------------------- report


def print_report(reports: list[HubReport], args: argparse.Namespace) -> bool:
    """Print the tables, ratios and targets; return True if every target passed."""
    banner("results")
    concurrency = args.workers * args.flows
    failed = [report for report in reports if report.failure]
    for report in failed:
        print(f"{HUB_LABELS[report.name]} hub failed: {report.failure}")
    storm_rows, load_rows, single_rows = [], [], []
    for report in reports:
        for mode in args.modes:
            label = f"{HUB_LABELS[report.name]} {mode}"
            storm = report.calcstorm.get(mode)
            if storm is not None:
                storm_rows.append([
                    label, fmt(storm.rate), f"{len(storm.rates)}/{storm.runs}",
                    str(storm.hangs), str(storm.slow), str(storm.failures),
                    fmt(storm.per_cpu_second),
                ])
            load = report.load.get(mode)
            if load is not None:
                load_rows.append([
                    label, fmt(load.rate), fmt(load.p50_ms, 2), fmt(load.p99_ms, 2),
                    str(load.lost + load.hung_workers), str(load.errors),
                    fmt(load.hub_cpu_share, 2), fmt(load.loadgen_share, 2),
                    fmt(load.other_cpu_share, 2), fmt(load.per_cpu_second),
                    fmt(load.probe_ms),
                ])
            single = report.latency.get(mode)
            if single is not None:
                single_rows.append([
                    label, fmt(single.rate), fmt(single.p50_ms, 3), fmt(single.p99_ms, 3),
                    str(single.lost + single.hung_workers), str(single.errors),
                ])
    if storm_rows:
        for report in reports:
            for mode, storm in report.calcstorm.items():
                if storm.first_problem and not storm.first_problem.startswith("hang"):
                    print(f"\n{HUB_LABELS[report.name]} calcstorm {mode}, first problem:\n"
                          f"{storm.first_problem}")
        print(f"\n(a) JSAMP calcstorm -nclient {args.nclient} -nquery {args.nquery}, median of "
              f"{args.repeat} (timeout {args.calcstorm_timeout:g} s per run)")
        print(table(["hub / mode", "msg/s", "ok/runs", "hangs", "slow", "failures",
                     "msg/hub-CPU-s"], storm_rows))
        print(f"hang: killed at the timeout with the hub idle for its last {STALL_WINDOW:g} s "
              "(messages lost); slow: killed at the timeout while the hub was still working.")
    if load_rows:
        print(f"\n(b) our load generator: {args.workers} processes x {args.flows} flows = "
              f"{concurrency} in flight, {args.duration:g} s after {args.warmup:g} s warm-up; "
              "latency in ms")
        print(table(["hub / mode", "msg/s", "p50", "p99", "lost", "errors", "hub CPU",
                     "LG CPU", "other CPU", "msg/hub-CPU-s", "probe ms"], load_rows))
        print(
            "hub CPU / LG CPU / other CPU: CPU seconds per wall second of the hub process / "
            "of all load generator processes / of everything else on the machine, during the "
            f"window ({os.cpu_count()} cores in all). lost: operations with no outcome within "
            f"{args.op_timeout:g} s, plus hung worker processes. probe ms: CPU time of a "
            "fixed Python loop just before the run (the VM's speed drifts; lower is faster)."
        )
    if single_rows:
        print(f"\n(b') single flow (1 message in flight), {args.latency_duration:g} s; "
              "unloaded round trip in ms")
        print(table(["hub / mode", "msg/s", "p50", "p99", "lost", "errors"], single_rows))

    by_name = {report.name: report for report in reports}
    ours = by_name.get("ours")
    ratio_rows = []
    for other in ("jsamp", "astropy"):
        theirs = by_name.get(other)
        if ours is None or theirs is None:
            continue
        for mode in args.modes:
            storm_ratio = ratio(
                _rate(ours.calcstorm.get(mode)), _rate(theirs.calcstorm.get(mode))
            )
            load_ratio = ratio(
                _load_rate(ours.load.get(mode)), _load_rate(theirs.load.get(mode))
            )
            cpu_ratio = ratio(_per_cpu(ours.load.get(mode)), _per_cpu(theirs.load.get(mode)))
            p50_ratio = ratio(_p50(theirs.latency.get(mode)), _p50(ours.latency.get(mode)))
            ratio_rows.append([
                f"ours/{HUB_LABELS[other]} {mode}", fmt(storm_ratio, 2, "x"),
                fmt(load_ratio, 2, "x"), fmt(cpu_ratio, 2, "x"), fmt(p50_ratio, 2, "x"),
            ])
    if ratio_rows:
        print()
        print(table(
            ["ratio", "calcstorm msg/s", "load msg/s", "msg per hub CPU-s",
             "1-flow p50 (theirs/ours)"],
            ratio_rows,
        ))

    hang_rows = [
        [HUB_LABELS[r.name], f"{r.hang_check.hangs}/{r.hang_check.runs}",
         str(r.hang_check.slow), str(r.hang_check.failures), fmt(r.hang_check.rate)]
        for r in reports if r.hang_check is not None
    ]
    if hang_rows:
        print("\nhang check: JSAMP calcstorm -nclient 10 -nquery 100 -mode sync, repeated "
              f"(timeout {args.hang_timeout:g} s per run)")
        print(table(["hub", "hangs/runs", "slow", "failures", "median msg/s"], hang_rows))

    return print_targets(reports, args)


def _rate(stats: CalcStormStats | None) -> float | None:
    return stats.rate if stats is not None else None


def _load_rate(stats: LoadStats | None) -> float | None:
    return stats.rate if stats is not None else None


def _per_cpu(stats: LoadStats | None) -> float | None:
    return stats.per_cpu_second if stats is not None else None


def _p50(stats: LoadStats | None) -> float | None:
    return stats.p50_ms if stats is not None else None


def print_targets(reports: list[HubReport], args: argparse.Namespace) -> bool:
    """Check and print the targets; return True if none failed."""
    by_name = {report.name: report for report in reports}
    ours, jsamp = by_name.get("ours"), by_name.get("jsamp")
    lines: list[tuple[bool | None, str]] = []
    for mode in args.modes:
        value = None
        if ours is not None and jsamp is not None:
            value = ratio(_load_rate(ours.load.get(mode)), _load_rate(jsamp.load.get(mode)))
        ok = None if value is None else value >= THROUGHPUT_FACTOR
        lines.append((ok, f"{mode}: ours >= {THROUGHPUT_FACTOR:g}x JSAMP throughput on our "
                          f"load generator (got {fmt(value, 2, 'x')})"))
    p50 = _p50(ours.latency.get("sync")) if ours is not None else None
    ok = None if p50 is None or math.isnan(p50) else p50 < LATENCY_TARGET_MS
    lines.append((ok, f"callAndWait round trip p50 < {LATENCY_TARGET_MS:g} ms on our hub, "
                      f"single flow (got {fmt(p50, 3)} ms)"))
    if ours is not None:
        storm_hangs = sum(s.hangs + s.slow + s.failures for s in ours.calcstorm.values())
        lost = sum(s.lost + s.hung_workers for s in (*ours.load.values(),
                                                       *ours.latency.values()))
        check = ours.hang_check
        check_hangs = (check.hangs + check.slow + check.failures) if check is not None else 0
        ok = ours.failure is None and storm_hangs == 0 and lost == 0 and check_hangs == 0
        lines.append((ok, f"no hang on our hub (calcstorm hangs/slow/failures {storm_hangs}, "
                          f"hang-check {check_hangs}, load generator lost {lost})"))
    else:
        lines.append((None, "no hang on our hub (our hub not run)"))
    print("\ntargets:")
    for ok, text in lines:
        print(f"  {verdict(ok)}  {text}")
    return all(ok is not False for ok, _ in lines)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``--quick`` shrinks every default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", default=",".join(HUB_NAMES),
                        help="comma-separated: ours, jsamp, astropy (default: all)")
    parser.add_argument("--modes", default=",".join(MODES), help="sync, async, notify")
    parser.add_argument("--quick", action="store_true",
                        help="short runs: repeat 1, nquery 50, 2 s loads, 3 hang-check runs")
    parser.add_argument("--repeat", type=int, help="calcstorm runs per mode (default 3)")
    parser.add_argument("--nclient", type=int, default=10, help="calcstorm clients (10)")
    parser.add_argument("--nquery", type=int, help="calcstorm queries per client (200)")
    parser.add_argument("--calcstorm-timeout", type=float, default=40.0,
                        help="seconds before a calcstorm run counts as a hang (40)")
    parser.add_argument("--max-hangs", type=int, default=2,
                        help="stop repeating a calcstorm mode after this many hangs "
                             "(2; 0 = never), to bound the run time")
    parser.add_argument("--duration", type=float, help="load measurement seconds (5)")
    parser.add_argument("--latency-duration", type=float, help="single-flow seconds (2)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds (1)")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes (2)")
    parser.add_argument("--senders", type=int, default=2, help="sending clients per worker")
    parser.add_argument("--receivers", type=int, default=2, help="receiving clients per worker")
    parser.add_argument("--flows", type=int, default=8,
                        help="concurrent closed loops per worker (8)")
    parser.add_argument("--hub-warmup", type=float, default=3.0,
                        help="seconds of unmeasured load before the load generator runs (3)")
    parser.add_argument("--op-timeout", type=float, default=10.0,
                        help="seconds after which an operation counts as lost (10)")
    parser.add_argument("--hang-runs", type=int, help="calcstorm 10x100 sync runs (10)")
    parser.add_argument("--hang-hubs", default="astropy,ours",
                        help="hubs for the hang check (default astropy,ours; '' to skip)")
    parser.add_argument("--hang-timeout", type=float, default=15.0,
                        help="seconds before a hang-check run counts as a hang (15)")
    parser.add_argument("--dump-dir", type=Path, metavar="DIR",
                        help="save a jstack dump of every calcstorm run that hangs here")
    parser.add_argument("--skip-calcstorm", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="also run the load against our hub under cProfile")
    parser.add_argument("--py-spy", type=Path, metavar="DIR",
                        help="also sample our hub with py-spy during the load")
    parser.add_argument("--profile-top", type=int, default=25, help="functions to print")
    parser.add_argument("--json", type=Path, help="write all measurements to this file")
    args = parser.parse_args(argv)
    quick = args.quick
    args.repeat = args.repeat or (1 if quick else 3)
    args.nquery = args.nquery or (50 if quick else 200)
    args.duration = args.duration or (2.0 if quick else 5.0)
    args.latency_duration = args.latency_duration or (1.5 if quick else 2.0)
    args.hang_runs = args.hang_runs if args.hang_runs is not None else (3 if quick else 10)
    if quick:
        args.warmup = min(args.warmup, 0.5)
    args.hubs = [name for name in args.hubs.split(",") if name]
    args.modes = [mode for mode in args.modes.split(",") if mode]
    args.hang_hubs = [name for name in args.hang_hubs.split(",") if name]
    for name in (*args.hubs, *args.hang_hubs):
        if name not in HUB_NAMES:
            parser.error(f"unknown hub {name!r}")
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}")
    return args


async def main_async(args: argparse.Namespace) -> int:
    """Run every hub, the hang check and the profiling passes; print the report."""
    started = time.monotonic()
    with contextlib.suppress(OSError):
        note(f"load average before the run: {Path('/proc/loadavg').read_text().strip()}")
    reports: list[HubReport] = []
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp, samp_environment(tmp) as env:
        if not (args.skip_calcstorm and args.skip_load):
            for name in args.hubs:
                reports.append(await bench_one_hub(name, env, args))
        if args.hang_hubs and args.hang_runs > 0:
            banner("hang check: calcstorm 10x100 sync, repeated")
            for name in args.hang_hubs:
                report = next((r for r in reports if r.name == name), None)
                if report is None:
                    report = HubReport(name)
                    reports.append(report)
                report.hang_check = await hang_check(name, env, args)
        if args.profile is not None:
            await profile_pass(env, args, args.profile)
        if args.py_spy is not None:
            await py_spy_pass(env, args, args.py_spy)
    ok = print_report(reports, args)
    print(f"\ntotal time {time.monotonic() - started:.0f} s "
          f"({time.strftime('%Y-%m-%d %H:%M')})")
    if args.json is not None:
        args.json.write_text(json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()},
             "reports": [_jsonable(asdict(r)) for r in reports]}, indent=1))
    return 0 if ok else 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "latencies"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
