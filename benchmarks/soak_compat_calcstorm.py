"""JSAMP calcstorm against ``jupyter_samp.compat.SAMPHubServer`` started from Python.

Each run starts a fresh compat hub in this process (its own loop in a
background thread, as an astropy.samp user's script would), runs one JSAMP
``calcstorm`` against it under a deadline, and stops the hub. A run that
misses its deadline is a hang. astropy's hub hung in about a third of such
runs on this machine (``bench_hub.py``); the target here is none.

Usage (from the repository root)::

    python benchmarks/soak_compat_calcstorm.py                 # 20 runs x 4 modes
    python benchmarks/soak_compat_calcstorm.py --runs 3 --modes sync,notify
    python benchmarks/soak_compat_calcstorm.py --json soak.json

Everything runs in a hermetic ``samp_environment`` (temporary HOME and
SAMP_HUB, ``-Duser.home`` for Java).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_samp.compat import SAMPHubServer
from jupyter_samp.testing import run_calcstorm, samp_environment
from jupyter_samp.testing.env import SampEnvironment


@dataclass
class ModeResult:
    """The runs of one calcstorm mode."""

    mode: str
    runs: int = 0
    hangs: int = 0
    failures: int = 0
    rates: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def median_rate(self) -> float | None:
        return statistics.median(self.rates) if self.rates else None


async def one_run(env: SampEnvironment, mode: str, nclient: int, nquery: int,
                  timeout: float, result: ModeResult) -> None:
    hub = SAMPHubServer(lockfile=str(env.lockfile), web_profile=False)
    hub.start()
    try:
        storm = await run_calcstorm(nclient, nquery, mode, home=env.home, timeout=timeout,
                                    check=False)
    finally:
        hub.stop()
    result.runs += 1
    if storm.timed_out:
        result.hangs += 1
        result.notes.append(f"run {result.runs}: no end in {timeout:g} s")
    elif not storm.ok or storm.elapsed_ms is None or "Exception" in storm.output:
        result.failures += 1
        result.notes.append(f"run {result.runs}: {storm.describe(tail=400)}")
    elif storm.rate is not None:
        result.rates.append(storm.rate)


async def soak(modes: list[str], runs: int, nclient: int, nquery: int,
               timeout: float) -> list[ModeResult]:
    results = []
    with tempfile.TemporaryDirectory(prefix="soak-compat-") as root, \
            samp_environment(Path(root)) as env:
        for mode in modes:
            result = ModeResult(mode)
            for _ in range(runs):
                await one_run(env, mode, nclient, nquery, timeout, result)
                print(f"{mode}: {result.runs}/{runs} runs, {result.hangs} hangs, "
                      f"{result.failures} failures", file=sys.stderr, flush=True)
            results.append(result)
    return results


def report(results: list[ModeResult], nclient: int, nquery: int) -> str:
    lines = [f"calcstorm {nclient} clients x {nquery} queries on compat.SAMPHubServer", "",
             "| mode | runs | hangs | failures | median msg/s |",
             "| --- | --- | --- | --- | --- |"]
    for r in results:
        rate = f"{r.median_rate:.0f}" if r.median_rate is not None else "-"
        lines.append(f"| {r.mode} | {r.runs} | {r.hangs} | {r.failures} | {rate} |")
    notes = [note for r in results for note in r.notes]
    return "\n".join([*lines, *(["", *notes] if notes else [])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--modes", default="sync,async,notify,random")
    parser.add_argument("--nclient", type=int, default=10)
    parser.add_argument("--nquery", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    results = asyncio.run(soak(modes, args.runs, args.nclient, args.nquery, args.timeout))
    print(report(results, args.nclient, args.nquery))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if any(r.hangs or r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
