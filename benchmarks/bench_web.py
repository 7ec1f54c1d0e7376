"""Benchmark: Web Profile messages per second, our hub against JSAMP's and astropy's.

JSAMP's ``calcstorm`` runs with ``SAMP_HUB=web-appname:calc``, which makes
each of its calculator clients a Web Profile client of the hub on port
21012: every message a client receives travels through ``pullCallbacks``.
The three hubs run one after the other, each in its own process:

* ours: ``jupyter-samp hub --web-consent accept --web-mtype 'calc.*'``;
* JSAMP's: ``hub -mode no-gui -profiles std,web -web:auth true -web:norestrictmtypes``;
* astropy's (pyvo.samp's copy if installed): ``SAMPHubServer(web_profile=True)``
  with its consent dialog replaced by one that accepts (``_astropy_web_hub.py``).

calcstorm's ``calc.int.*`` MTypes are not web-safe by default, hence the
allowances (astropy's hub does not restrict web clients at all). For each
mode it prints the median messages/s over ``--repeat`` runs, from
calcstorm's own ``Elapsed time``, and the ratios of ours to the others.
A run that fails or hangs (astropy's hub sometimes loses replies) is
reported as such and left out of the median.

Run::

    python benchmarks/bench_web.py                  # 5 clients x 50 messages, 3 runs
    python benchmarks/bench_web.py --nquery 30 --repeat 1 --hubs ours,jsamp
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from jupyter_samp.core.xmlrpc import encode_call
from jupyter_samp.errors import SampError
from jupyter_samp.testing import (
    PeerError,
    PeerProcess,
    java_command,
    run_calcstorm,
    samp_environment,
    wait_for_hub,
)
from jupyter_samp.testing.env import SampEnvironment
from jupyter_samp.testing.peers import jupyter_samp_hub_command, package_env
from jupyter_samp.transport.http import HttpPool

WEB_PORT = 21012
WEB_URL = f"http://127.0.0.1:{WEB_PORT}/"
MODES = ("sync", "async", "notify")
HubStarter = Callable[[SampEnvironment], AbstractAsyncContextManager[None]]


async def web_ready(timeout: float = 30.0) -> None:
    """Wait until something answers ``samp.webhub.ping`` on port 21012."""
    pool = HttpPool()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            try:
                answer = await pool.post(WEB_URL, encode_call("samp.webhub.ping", []), timeout=2)
                if answer.status == 200:
                    return
            except (OSError, SampError):
                pass
            if loop.time() > deadline:
                raise PeerError("no Web Profile answered on port 21012")
            await asyncio.sleep(0.1)  # polling another process: nothing to wait on
    finally:
        pool.close()


async def port_free(timeout: float = 30.0) -> None:
    """Wait until nothing listens on 127.0.0.1:21012 (the previous hub has gone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", WEB_PORT))
                return
            except OSError:
                pass
        if loop.time() > deadline:
            raise PeerError("port 21012 is busy: stop the SAMP hub that uses it")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def hub_process(name: str, args: list[str], env: SampEnvironment) -> AsyncIterator[None]:
    """Run a hub command until the block ends, once its lockfile and web port answer."""
    await port_free()
    child_env = package_env(env.subprocess_env())
    async with PeerProcess(args, env=child_env, name=name) as process:
        await wait_for_hub(env.lockfile, process=process)
        await web_ready()
        if "Web Profile unavailable" in process.stderr + process.stdout:
            raise PeerError(f"{name} could not listen on port 21012 (another hub took it)")
        yield


def ours(env: SampEnvironment) -> AbstractAsyncContextManager[None]:
    """Our hub, in a process of its own, as a user would run it."""
    args = jupyter_samp_hub_command(
        env.lockfile, "--web-profile", "--web-consent", "accept", "--web-mtype", "calc.*",
        "--web-port", str(WEB_PORT),
    )
    return hub_process("jupyter-samp hub", args, env)


def jsamp(env: SampEnvironment) -> AbstractAsyncContextManager[None]:
    """JSAMP's hub with the Web Profile, no consent dialog, no MType restriction."""
    tool = ["hub", "-mode", "no-gui", "-profiles", "std,web", "-web:auth", "true",
            "-web:norestrictmtypes"]
    return hub_process("JSAMP hub", java_command(tool, home=env.home, assertions=False), env)


def astropy(env: SampEnvironment) -> AbstractAsyncContextManager[None]:
    """astropy's hub with the Web Profile and a consent dialog that accepts."""
    script = Path(__file__).with_name("_astropy_web_hub.py")
    args = [sys.executable, str(script), "--lockfile", str(env.lockfile)]
    return hub_process("astropy hub", args, env)


HUBS: dict[str, HubStarter] = {"ours": ours, "jsamp": jsamp, "astropy": astropy}


async def storm(env: SampEnvironment, mode: str, nclient: int, nquery: int) -> float | None:
    """One calcstorm run over the Web Profile; messages/s, or None if it failed.

    A run counts if calcstorm exits 0 and reports its time. A poll that
    faults *after* a client unregistered (hubs that do not hold polls make
    JSAMP's poll thread log a stack trace then) does not spoil the run.
    """
    result = await run_calcstorm(
        nclient, nquery, mode, samp_hub="web-appname:calc", home=env.home,
        timeout=max(60.0, nclient * nquery / 5.0), check=False,
    )
    if not result.ok or result.rate is None or "TestException" in result.output:
        how = "timed out" if result.timed_out else f"exit status {result.returncode}"
        print(f"    {mode}: failed ({how})", flush=True)
        return None
    return result.rate


async def measure(
    name: str, args: argparse.Namespace, root: Path
) -> dict[str, list[float]]:
    """Messages/s of every run of every mode against hub ``name``."""
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    for run in range(args.repeat):
        with samp_environment(root / f"{name}-{run}") as env:
            async with HUBS[name](env):
                for mode in MODES:
                    rate = await storm(env, mode, args.nclient, args.nquery)
                    if rate is not None:
                        rates[mode].append(rate)
                        print(f"  {name} run {run + 1} {mode}: {rate:8.1f} msg/s", flush=True)
    return rates


def report(results: dict[str, dict[str, list[float]]]) -> None:
    """Print the median per hub and mode, and our ratios to the others."""
    names = list(results)
    others = [name for name in names if name != "ours"]
    header = f"{'mode':8}" + "".join(f"{name:>12}" for name in names)
    header += "".join(f"{'ours/' + name:>16}" for name in others if "ours" in results)
    print("\nWeb Profile messages/s (median of runs)")
    print(header)
    for mode in MODES:
        medians = {name: _median(results[name][mode]) for name in names}
        line = f"{mode:8}" + "".join(f"{_show(medians[name]):>12}" for name in names)
        if "ours" in results:
            line += "".join(f"{_ratio(medians['ours'], medians[n]):>16}" for n in others)
        print(line)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _show(value: float | None) -> str:
    return "failed" if value is None else f"{value:.1f}"


def _ratio(ours_rate: float | None, other: float | None) -> str:
    if ours_rate is None or not other:
        return "-"
    return f"{ours_rate / other:.2f}x"


async def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 0 unless a hub could not be started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nclient", type=int, default=5)
    parser.add_argument("--nquery", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hubs", default="ours,jsamp,astropy",
                        help="comma-separated subset of ours,jsamp,astropy")
    args = parser.parse_args(argv)
    names = [name for name in args.hubs.split(",") if name]
    print(f"calcstorm over the Web Profile: {args.nclient} clients x {args.nquery} "
          f"messages, modes {', '.join(MODES)}, {args.repeat} run(s) per hub")
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as root:
        for name in names:
            print(f"{name}:", flush=True)
            results[name] = await measure(name, args, Path(root))
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
