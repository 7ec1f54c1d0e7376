"""Benchmark: our async SAMP client against astropy's ``SAMPIntegratedClient``.

Both talk to the same hub, run as a subprocess (ours by default; ``--hubs``
adds JSAMP's or astropy's). For each client kind a *receiver* of the same
kind runs in its own process and answers ``bench.echo`` calls at once
(``return {}`` in our handler; ``client.reply(msg_id, samp.ok)`` in
astropy's); a *caller* in another process sends calls one after the other
(one in flight) for ``--duration`` seconds after a warm-up, and records each
round trip:

* ours ``call``: ``await client.call(...)``: ``samp.hub.call``, the answer
  matched by its tag when ``receiveResponse`` arrives;
* ours ``call_and_wait``: ``await client.call_and_wait(...)`` (the hub's
  ``callAndWait``);
* astropy ``call_and_wait``: ``client.call_and_wait(...)``;
* astropy ``call``: ``client.call(...)`` with a ``bind_receive_response``
  callback that sets a ``threading.Event``.

Then the same with ``--concurrency`` calls in flight (8 and 32 by default:
coroutines for ours, threads for astropy) to measure throughput. It prints
calls/s, p50 and p99 per hub, client and mode, and the targets against our
hub: our client's calls/s >= 3x astropy's, like for like at the same number
of calls in flight, and the one-in-flight round trip p50 < 2 ms.

The ratio at one call in flight is printed too but is not a throughput
target: there calls/s is only the inverse of the round trip, three HTTP
exchanges through the same hub, and the kernel's and the hub's share of
that is the same for both clients.

astropy's client comes from ``pyvo.samp`` if installed, else
``astropy.samp`` (its deprecation warning filtered). Its ``internet_on()``
probe (an HTTP request to google.com) is switched off so everything stays on
127.0.0.1.

Run::

    python benchmarks/bench_client.py                    # against our hub
    python benchmarks/bench_client.py --hubs ours,jsamp  # and against JSAMP's
    python benchmarks/bench_client.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import queue
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
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
    note,
    percentile,
    ratio,
    table,
    verdict,
    warm_up_hub,
)

from jupyter_samp.lockfile import read_lockfile
from jupyter_samp.testing import PeerError, samp_environment

CLIENTS = ("ours", "astropy")
MODES = {"ours": ("call", "call_and_wait"), "astropy": ("call_and_wait", "call")}
MTYPE = "bench.echo"
SPEED_FACTOR = 3.0  # ours >= 3x astropy calls/s
LATENCY_TARGET_MS = 2.0


@dataclass
class CallerSpec:
    """What one caller process does."""

    kind: str
    mode: str
    lockfile: str
    target: str
    concurrency: int = 1
    warmup: float = 0.5
    duration: float = 3.0
    timeout: float = 10.0


@dataclass
class CallerResult:
    """What one caller measured (latencies in seconds)."""

    calls: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0
    window: float = 0.0
    cpu_seconds: float = 0.0
    failure: str | None = None
    first_error: str | None = None

    @property
    def rate(self) -> float:
        """Calls per second in the window."""
        return self.calls / self.window if self.window else math.nan


@dataclass
class Row:
    """One line of the report."""

    hub: str
    kind: str
    mode: str
    concurrency: int
    rate: float = math.nan
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    errors: int = 0
    timeouts: int = 0
    caller_cpu: float = math.nan
    probe_ms: float = math.nan
    failure: str | None = None


# ---------------------------------------------------------------- astropy side


def astropy_client_class() -> Any:
    """``SAMPIntegratedClient`` from pyvo.samp, else astropy.samp; no network probe."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*astropy\.samp.*deprecated.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        try:
            from pyvo.samp import SAMPIntegratedClient
            from pyvo.samp import client as client_module
        except ImportError:
            from astropy.samp import SAMPIntegratedClient
            from astropy.samp import client as client_module
    # SAMPClient.__init__ calls internet_on(), which fetches http://google.com
    # (1 s timeout) to decide whether to use the host's FQDN. Stay on loopback.
    client_module.internet_on = lambda: False
    return SAMPIntegratedClient


def astropy_connect(name: str, lockfile: str) -> Any:
    """A connected astropy client listening on 127.0.0.1."""
    client = astropy_client_class()(name=name, addr="127.0.0.1")
    client.connect(hub_params=read_lockfile(Path(lockfile)))
    return client


def astropy_receiver(lockfile: str, ready: Any, stop: Any) -> None:
    """Answer ``bench.echo`` calls with ``samp.ok`` until ``stop`` is set."""
    client = astropy_connect("bench-receiver", lockfile)

    def echo(private_key: str, sender_id: str, msg_id: str, mtype: str,
             params: dict[str, Any], extra: dict[str, Any]) -> None:
        client.reply(msg_id, {"samp.status": "samp.ok", "samp.result": {}})

    try:
        client.bind_receive_call(MTYPE, echo)
        ready.put(("ready", client.get_public_id()))
        stop.wait(300)
    finally:
        client.disconnect()


def astropy_caller(spec: CallerSpec) -> CallerResult:
    """Run ``spec`` with an astropy client: threads, each one call at a time."""
    client = astropy_connect("bench-caller", spec.lockfile)
    result = CallerResult()
    lock = threading.Lock()
    message = {"samp.mtype": MTYPE, "samp.params": {"x": "1"}}
    start = time.monotonic() + 0.05
    window_start = start + spec.warmup
    window_end = window_start + spec.duration
    tags = iter(range(1, 1 << 62))

    def one_call() -> None:
        if spec.mode == "call_and_wait":
            answer = client.call_and_wait(spec.target, message, str(int(spec.timeout)))
            if answer.get("samp.status") != "samp.ok":
                raise RuntimeError(f"response {answer}")
            return
        with lock:
            tag = f"bench-{next(tags)}"
        done = threading.Event()
        client.bind_receive_response(tag, lambda *args: done.set())
        try:
            client.call(spec.target, tag, message)
            if not done.wait(spec.timeout):
                raise TimeoutError(f"no response within {spec.timeout:g} s")
        finally:
            client.unbind_receive_response(tag)

    def loop() -> None:
        while time.monotonic() < window_end:
            began = time.monotonic()
            try:
                one_call()
            except TimeoutError:
                with lock:
                    result.timeouts += 1
                continue
            except Exception as exc:
                with lock:
                    result.errors += 1
                    result.first_error = result.first_error or repr(exc)[:300]
                if "imeout" in repr(exc):
                    with lock:
                        result.timeouts += 1
                continue
            ended = time.monotonic()
            if window_start <= ended <= window_end:
                with lock:
                    result.calls += 1
                    result.latencies.append(ended - began)

    try:
        threads = [threading.Thread(target=loop, daemon=True) for _ in range(spec.concurrency)]
        time.sleep(max(0.0, start - time.monotonic()))
        cpu = 0.0
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, window_start - time.monotonic()))
        cpu = time.process_time()
        time.sleep(max(0.0, window_end - time.monotonic()))
        result.cpu_seconds = time.process_time() - cpu
        for thread in threads:
            thread.join(spec.timeout + 5.0)
    finally:
        client.disconnect()
    result.window = spec.duration
    return result


# ---------------------------------------------------------------- our side


def our_receiver(lockfile: str, ready: Any, stop: Any) -> None:
    """Answer ``bench.echo`` calls with an empty ``samp.ok`` until ``stop`` is set."""
    import jupyter_samp

    async def main() -> None:
        async with jupyter_samp.connect("bench-receiver", hub=lockfile) as client:
            client.on(MTYPE)(lambda message: {})
            await client.flush()
            ready.put(("ready", client.self_id))
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, stop.wait, 300)

    asyncio.run(main())


def our_caller(spec: CallerSpec) -> CallerResult:
    """Run ``spec`` with our client: coroutines, each one call at a time."""
    import jupyter_samp
    from jupyter_samp.errors import CallTimeoutError, ClientTimeoutError

    result = CallerResult()

    async def main() -> None:
        async with jupyter_samp.connect("bench-caller", hub=spec.lockfile) as client:
            send: Callable[..., Any] = (
                client.call if spec.mode == "call" else client.call_and_wait
            )
            start = time.monotonic() + 0.05
            window_start = start + spec.warmup
            window_end = window_start + spec.duration

            async def loop() -> None:
                while time.monotonic() < window_end:
                    began = time.monotonic()
                    try:
                        await send(spec.target, MTYPE, {"x": "1"}, timeout=spec.timeout)
                    except (CallTimeoutError, ClientTimeoutError):
                        result.timeouts += 1
                        continue
                    except Exception as exc:
                        result.errors += 1
                        result.first_error = result.first_error or repr(exc)[:300]
                        continue
                    ended = time.monotonic()
                    if window_start <= ended <= window_end:
                        result.calls += 1
                        result.latencies.append(ended - began)

            await asyncio.sleep(max(0.0, start - time.monotonic()))
            tasks = [asyncio.create_task(loop()) for _ in range(spec.concurrency)]
            await asyncio.sleep(max(0.0, window_start - time.monotonic()))
            cpu = time.process_time()
            await asyncio.sleep(max(0.0, window_end - time.monotonic()))
            result.cpu_seconds = time.process_time() - cpu
            await asyncio.wait(tasks, timeout=spec.timeout + 5.0)

    asyncio.run(main())
    result.window = spec.duration
    return result


# ---------------------------------------------------------------- processes


def receiver_main(kind: str, lockfile: str, ready: Any, stop: Any) -> None:
    """Process entry point of a receiver: report ``("ready", id)`` or ``("error", text)``."""
    try:
        (our_receiver if kind == "ours" else astropy_receiver)(lockfile, ready, stop)
    except Exception as exc:
        ready.put(("error", f"{type(exc).__name__}: {exc}"))


def caller_main(spec: CallerSpec, results: Any) -> None:
    """Process entry point of a caller: put its :class:`CallerResult` on ``results``."""
    try:
        result = (our_caller if spec.kind == "ours" else astropy_caller)(spec)
    except Exception as exc:
        result = CallerResult(failure=f"{type(exc).__name__}: {exc}")
    results.put(result)


async def _get(source: Any, timeout: float) -> Any:
    """Get from a multiprocessing queue without blocking the event loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await loop.run_in_executor(None, source.get, True, 0.25)
        except queue.Empty:
            if loop.time() > deadline:
                raise TimeoutError(f"nothing arrived within {timeout:g} s") from None


async def _finish(process: Any) -> None:
    """Join a process; terminate, then kill it if it lingers."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, process.join, 5.0)
    if process.is_alive():
        process.terminate()
        await loop.run_in_executor(None, process.join, 3.0)
    if process.is_alive():
        process.kill()
        await loop.run_in_executor(None, process.join, 3.0)


async def measure(
    lockfile: str, kind: str, modes: list[tuple[str, int]], args: argparse.Namespace
) -> list[tuple[str, int, CallerResult, float]]:
    """Start a receiver of ``kind``, run one caller per (mode, concurrency), stop it.

    Returns (mode, concurrency, result, CPU probe in ms taken just before).
    """
    context = multiprocessing.get_context("spawn")
    ready, results, stop = context.Queue(), context.Queue(), context.Event()
    receiver = context.Process(
        target=receiver_main, args=(kind, lockfile, ready, stop), daemon=True
    )
    receiver.start()
    measured: list[tuple[str, int, CallerResult, float]] = []
    try:
        status, value = await _get(ready, 60.0)
        if status != "ready":
            raise PeerError(f"{kind} receiver failed: {value}")
        for mode, concurrency in modes:
            spec = CallerSpec(
                kind, mode, lockfile, value, concurrency=concurrency, warmup=args.warmup,
                duration=args.duration, timeout=args.timeout,
            )
            probe = cpu_probe()
            caller = context.Process(target=caller_main, args=(spec, results), daemon=True)
            caller.start()
            try:
                result = await _get(results, args.warmup + args.duration + args.timeout + 60.0)
            except TimeoutError:
                result = CallerResult(failure="the caller hung (killed)")
            finally:
                await _finish(caller)
            measured.append((mode, concurrency, result, probe))
            note(f"  {kind} {mode} x{concurrency}: {fmt(result.rate)} calls/s, p50 "
                 f"{fmt(percentile(result.latencies, 0.5) * 1000, 3)} ms"
                 + (f" [{result.failure or result.first_error}]"
                    if result.failure or result.first_error else ""))
    finally:
        stop.set()
        await _finish(receiver)
        ready.close()
        results.close()
    return measured


# ---------------------------------------------------------------- report


def to_row(hub: str, kind: str, mode: str, concurrency: int, result: CallerResult) -> Row:
    """Summarise one caller run."""
    row = Row(hub, kind, mode, concurrency, errors=result.errors, timeouts=result.timeouts,
              failure=result.failure or result.first_error)
    if result.failure is None and result.window:
        row.rate = result.rate
        row.p50_ms = percentile(result.latencies, 0.50) * 1000
        row.p99_ms = percentile(result.latencies, 0.99) * 1000
        row.caller_cpu = result.cpu_seconds / result.window
    return row


def print_report(rows: list[Row], args: argparse.Namespace) -> bool:
    """Print the table, the ratios and the targets; return True unless a target failed."""
    banner("results")
    print(f"{args.duration:g} s per run after {args.warmup:g} s warm-up; latency in ms; "
          "caller CPU = CPU seconds per wall second of the calling process; probe ms = CPU "
          "time of a fixed Python loop just before the run (the VM's speed drifts)")
    print(table(
        ["hub / client / mode", "in flight", "calls/s", "p50", "p99", "errors", "timeouts",
         "caller CPU", "probe ms"],
        [[f"{HUB_LABELS[r.hub]} / {r.kind} / {r.mode}", str(r.concurrency), fmt(r.rate),
          fmt(r.p50_ms, 3), fmt(r.p99_ms, 3), str(r.errors), str(r.timeouts),
          fmt(r.caller_cpu, 2), fmt(r.probe_ms)] for r in rows],
    ))

    def find(hub: str, kind: str, mode: str, concurrency: int) -> Row | None:
        return next((r for r in rows if (r.hub, r.kind, r.mode, r.concurrency)
                     == (hub, kind, mode, concurrency)), None)

    pairs = [("call", "call"), ("call_and_wait", "call_and_wait"), ("call", "call_and_wait")]
    ratio_rows = []
    for hub in args.hubs:
        for ours_mode, theirs_mode in pairs:
            for concurrency in sorted({1, *args.concurrency}):
                ours = find(hub, "ours", ours_mode, concurrency)
                theirs = find(hub, "astropy", theirs_mode, concurrency)
                if ours is None or theirs is None:
                    continue
                ratio_rows.append([
                    f"{HUB_LABELS[hub]}: ours {ours_mode} / astropy {theirs_mode}",
                    str(concurrency), fmt(ratio(ours.rate, theirs.rate), 2, "x"),
                    fmt(ratio(theirs.p50_ms, ours.p50_ms), 2, "x"),
                ])
    if ratio_rows:
        print()
        print(table(["ratio", "in flight", "calls/s ours/astropy", "p50 astropy/ours"],
                    ratio_rows))

    print("\ntargets (against our hub):")
    checks: list[tuple[bool | None, str]] = []
    for concurrency in args.concurrency:
        for mode in ("call", "call_and_wait"):
            ours = find("ours", "ours", mode, concurrency)
            theirs = find("ours", "astropy", mode, concurrency)
            value = ratio(ours.rate if ours else None, theirs.rate if theirs else None)
            checks.append((None if value is None else value >= SPEED_FACTOR,
                           f"ours {mode} >= {SPEED_FACTOR:g}x astropy {mode} calls/s, "
                           f"{concurrency} in flight (got {fmt(value, 2, 'x')})"))
    for mode in ("call", "call_and_wait"):
        ours = find("ours", "ours", mode, 1)
        p50 = ours.p50_ms if ours is not None else None
        ok = None if p50 is None or math.isnan(p50) else p50 < LATENCY_TARGET_MS
        checks.append((ok, f"ours {mode} p50 < {LATENCY_TARGET_MS:g} ms, one in flight "
                           f"(got {fmt(p50, 3)} ms)"))
    for ok, text in checks:
        print(f"  {verdict(ok)}  {text}")
    return all(ok is not False for ok, _ in checks)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``--quick`` shortens the runs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", default="ours",
                        help="comma-separated hubs to run against: ours, jsamp, astropy")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="ours, astropy")
    parser.add_argument("--quick", action="store_true", help="1.5 s runs, 0.3 s warm-up")
    parser.add_argument("--duration", type=float, help="measurement seconds per run (3)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run (0.5)")
    parser.add_argument("--concurrency", default="8,32",
                        help="comma-separated calls in flight for the throughput runs "
                             "(8,32; 1 to skip them)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds before a call counts as timed out (10)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs per case, alternating which client goes first; the best "
                             "(highest calls/s) is kept (2)")
    parser.add_argument("--hub-warmup", type=float, default=6.0,
                        help="seconds of unmeasured load on each hub first (6; warms JSAMP's JIT)")
    parser.add_argument("--json", type=Path, help="write the rows to this file")
    args = parser.parse_args(argv)
    args.duration = args.duration or (1.5 if args.quick else 3.0)
    if args.quick:
        args.hub_warmup = min(args.hub_warmup, 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 0.5)
    args.hubs = [name for name in args.hubs.split(",") if name]
    args.concurrency = sorted({int(n) for n in args.concurrency.split(",") if n.strip()} - {1})
    args.clients = [name for name in args.clients.split(",") if name]
    for name in args.hubs:
        if name not in HUB_NAMES:
            parser.error(f"unknown hub {name!r}")
    for name in args.clients:
        if name not in CLIENTS:
            parser.error(f"unknown client {name!r}")
    return args


async def main_async(args: argparse.Namespace) -> int:
    """Run every hub and client kind; print the report."""
    started = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp, \
            samp_environment(tmp) as env:
        for hub_name in args.hubs:
            banner(f"{HUB_LABELS[hub_name]} hub")
            async with HubRunner(hub_name, env) as runner:
                await warm_up_hub(runner.hub, args.hub_warmup)
                best: dict[tuple[str, str, int], Row] = {}
                for attempt in range(args.repeat):
                    # Alternate which client goes first, so neither always meets
                    # a hub in a different state.
                    kinds = args.clients if attempt % 2 == 0 else args.clients[::-1]
                    for kind in kinds:
                        cases = [(mode, 1) for mode in MODES[kind]]
                        for concurrency in args.concurrency:
                            cases += [(mode, concurrency) for mode in MODES[kind]]
                        try:
                            measured = await measure(str(runner.hub.lockfile), kind, cases, args)
                        except (PeerError, TimeoutError) as exc:
                            note(f"  {kind}: {exc}")
                            continue
                        for mode, concurrency, result, probe in measured:
                            row = to_row(hub_name, kind, mode, concurrency, result)
                            row.probe_ms = probe
                            old = best.get((kind, mode, concurrency))
                            if old is None or not (row.rate <= old.rate):
                                best[(kind, mode, concurrency)] = row
                rows.extend(sorted(best.values(), key=lambda r: args.clients.index(r.kind)))
    ok = print_report(rows, args)
    print(f"\ntotal time {time.monotonic() - started:.0f} s "
          f"({time.strftime('%Y-%m-%d %H:%M')})")
    if args.json is not None:
        args.json.write_text(json.dumps(
            [{k: (None if isinstance(v, float) and math.isnan(v) else v)
              for k, v in asdict(row).items()} for row in rows], indent=1))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
