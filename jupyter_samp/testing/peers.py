"""Run real SAMP peers (JSAMP, astropy/pyvo, our own hub command) from asyncio.

Every peer runs as an asyncio subprocess in a session of its own, with its
output collected, and is always stopped in a ``finally`` block by signalling
its whole process group (SIGTERM, then SIGKILL if it lingers). Java peers get
``-Duser.home=<home>`` because Java ignores ``$HOME``; every peer gets
``SAMP_HUB`` and ``HOME`` so it can only see the hub it is meant to see.

Tools
-----
:func:`run_hubtester`
    JSAMP's hub conformance tester; silent and exit status 0 on success.
:func:`run_calcstorm`
    JSAMP's load generator; reports ``Elapsed time: N ms``.
:func:`jsamp_hub`, :func:`astropy_hub`, :func:`jupyter_samp_hub`
    Async context managers that start a hub in a subprocess, wait until its
    lockfile exists and it answers ``samp.hub.ping``, and stop it on exit.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_samp.errors import SampError
from jupyter_samp.lockfile import (
    SAMP_HUB_ENV,
    default_lockfile_path,
    hub_env_value,
    lockfile_url,
    read_lockfile,
    url_to_path,
)
from jupyter_samp.transport.http import HttpPool
from jupyter_samp.transport.xmlrpc import xmlrpc_call

#: Environment variable naming the JSAMP jar, checked before the usual places.
JSAMP_JAR_ENV = "JSAMP_JAR"
JSAMP_JAR_CANDIDATES = (
    "/usr/share/java/jsamp.jar",
    "/usr/local/share/java/jsamp.jar",
    "/opt/homebrew/share/java/jsamp.jar",
)
CALCSTORM_MODES = ("sync", "async", "notify", "random")

_ELAPSED = re.compile(r"Elapsed time:\s*(\d+)\s*ms")
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]


class PeerError(RuntimeError):
    """A real peer could not be run, or it did not behave."""


class PeerUnavailableError(PeerError):
    """The peer (Java, the JSAMP jar, pyvo/astropy) is not installed here."""


class PeerFailedError(PeerError):
    """A peer exited badly, timed out, or reported errors.

    Attributes
    ----------
    result : PeerResult or None
        What the peer did, with its whole output.
    """

    def __init__(self, message: str, result: PeerResult | None = None) -> None:
        if result is not None:
            message = f"{message}\n{result.describe()}"
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class PeerResult:
    """How a peer process ended and what it printed."""

    args: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool = False

    @property
    def output(self) -> str:
        """Standard output followed by standard error."""
        return self.stdout + self.stderr

    @property
    def ok(self) -> bool:
        """True if the peer exited by itself with status 0."""
        return self.returncode == 0 and not self.timed_out

    def describe(self, tail: int = 6000) -> str:
        """A readable summary: command, how it ended, the end of its output."""
        how = "timed out" if self.timed_out else f"exit status {self.returncode}"
        lines = [f"command: {' '.join(self.args)}", f"{how} after {self.elapsed:.1f} s"]
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if text.strip():
                shown = text if len(text) <= tail else "...\n" + text[-tail:]
                lines.append(f"--- {name} ---\n{shown.rstrip()}")
        return "\n".join(lines)


@dataclass(frozen=True)
class CalcStormResult(PeerResult):
    """A :class:`PeerResult` of calcstorm, with its timing."""

    messages: int = 0
    elapsed_ms: int | None = None

    @property
    def rate(self) -> float | None:
        """Messages per second, from calcstorm's own ``Elapsed time``."""
        if not self.elapsed_ms:
            return None
        return self.messages * 1000.0 / self.elapsed_ms


# ---------------------------------------------------------------- locating tools


def find_java() -> str:
    """Return the path of the ``java`` executable.

    Raises
    ------
    PeerUnavailableError
        If no Java runtime is on ``PATH`` (install e.g. ``default-jre-headless``).
    """
    java = shutil.which("java")
    if java is None:
        raise PeerUnavailableError(
            "Java is not installed (no 'java' on PATH); install a JRE, e.g. the "
            "Debian package default-jre-headless"
        )
    return java


def find_jsamp_jar(jar: str | Path | None = None) -> Path:
    """Return the path of the JSAMP jar.

    Looks at ``jar`` if given, then ``$JSAMP_JAR``, then the usual install
    places (Debian's ``libjsamp-java`` puts it at ``/usr/share/java/jsamp.jar``).

    Raises
    ------
    PeerUnavailableError
        Saying where it looked and how to install it.
    """
    tried: list[str] = []
    candidates: list[str] = []
    if jar is not None:
        candidates.append(str(jar))
    elif os.environ.get(JSAMP_JAR_ENV):
        candidates.append(os.environ[JSAMP_JAR_ENV])
    else:
        candidates.extend(JSAMP_JAR_CANDIDATES)
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file():
            return path
        tried.append(candidate)
    raise PeerUnavailableError(
        f"JSAMP jar not found (looked at {', '.join(tried)}); install the Debian package "
        f"jsamp (libjsamp-java), or set {JSAMP_JAR_ENV} to the path of jsamp.jar"
    )


def java_command(
    tool_args: Sequence[str],
    *,
    home: str | Path,
    jar: str | Path | None = None,
    assertions: bool = True,
    properties: Mapping[str, str] | None = None,
) -> list[str]:
    """Build ``java -ea -Duser.home=HOME ... -jar jsamp.jar TOOL ARGS``.

    Parameters
    ----------
    tool_args : sequence of str
        The JSAMP command and its options, e.g. ``["hubtester"]``.
    home : str or Path
        Java's ``user.home`` (Java ignores ``$HOME``).
    assertions : bool
        Enable Java assertions (``-ea``), which hubtester relies on.
    properties : mapping, optional
        Further ``-Dname=value`` system properties.
    """
    command = [find_java()]
    if assertions:
        command.append("-ea")
    command += [f"-Duser.home={home}", "-Djava.awt.headless=true"]
    command += [f"-D{name}={value}" for name, value in (properties or {}).items()]
    command += ["-jar", str(find_jsamp_jar(jar)), *tool_args]
    return command


# ---------------------------------------------------------------- processes


class PeerProcess:
    """A subprocess in its own session, with its output collected as it runs.

    Use as an async context manager (the process group is stopped on exit,
    whatever happens), or call :meth:`start` and :meth:`stop` yourself, the
    latter in a ``finally`` block.

    Parameters
    ----------
    args : sequence of str
        The command line.
    env : mapping, optional
        The child's whole environment (default: this process's).
    name : str, optional
        A name for messages (default: the program name).
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        name: str | None = None,
    ) -> None:
        self.args = tuple(str(arg) for arg in args)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.name = name or Path(self.args[0]).name
        self.process: asyncio.subprocess.Process | None = None
        self._out = bytearray()
        self._err = bytearray()
        self._readers: list[asyncio.Task[None]] = []
        self._output_changed: asyncio.Event | None = None
        self._started_at = 0.0
        self._ended_at: float | None = None
        self.timed_out = False

    async def start(self) -> PeerProcess:
        """Start the process (in a new session, so its group can be signalled)."""
        loop = asyncio.get_running_loop()
        self._output_changed = asyncio.Event()
        self._started_at = loop.time()
        self.process = await asyncio.create_subprocess_exec(
            *self.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            loop.create_task(self._pump(self.process.stdout, self._out)),
            loop.create_task(self._pump(self.process.stderr, self._err)),
        ]
        return self

    async def _pump(self, stream: asyncio.StreamReader, sink: bytearray) -> None:
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                break
            sink += chunk
            if self._output_changed is not None:
                self._output_changed.set()

    @property
    def pid(self) -> int | None:
        """The process id (also its process group id), once started."""
        return None if self.process is None else self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while it runs."""
        return None if self.process is None else self.process.returncode

    @property
    def stdout(self) -> str:
        """Everything printed on standard output so far."""
        return self._out.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        """Everything printed on standard error so far."""
        return self._err.decode("utf-8", "replace")

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit by itself and return its status.

        Raises
        ------
        TimeoutError
            If it is still running after ``timeout`` seconds (it keeps running).
        """
        assert self.process is not None, "not started"
        returncode = await asyncio.wait_for(self.process.wait(), timeout)
        self._mark_end()
        await self._drain_readers()
        return returncode

    async def wait_for_output(
        self, pattern: str | re.Pattern[str], *, timeout: float, stream: str = "stdout"
    ) -> re.Match[str]:
        """Wait until the output matches ``pattern`` (a regular expression).

        Raises
        ------
        PeerFailedError
            If the process exits, or ``timeout`` passes, before it matches.
        """
        assert self._output_changed is not None, "not started"
        regex = re.compile(pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._output_changed.clear()
            found = regex.search(self.stdout if stream == "stdout" else self.stderr)
            if found is not None:
                return found
            if self._readers and all(reader.done() for reader in self._readers):
                raise PeerFailedError(
                    f"{self.name} closed its output without printing {regex.pattern!r}",
                    self.result(),
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PeerFailedError(
                    f"{self.name} did not print {regex.pattern!r} within {timeout:g} s",
                    self.result(),
                )
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._output_changed.wait(), remaining)

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the process's whole group (if it still exists)."""
        if self.process is None:
            return
        try:
            if hasattr(os, "killpg"):
                os.killpg(self.process.pid, signum)
            elif self.process.returncode is None:  # pragma: no cover - Windows
                self.process.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass

    async def stop(self, *, grace: float = 10.0, signum: int = signal.SIGTERM) -> int | None:
        """Stop the process group: ``signum``, then SIGKILL after ``grace`` seconds.

        Returns the exit status (negative for a signal). Safe to call again,
        and after the process exited by itself (stray children are killed).
        """
        if self.process is None:
            return None
        try:
            if self.process.returncode is None:
                self.send_signal(signum)
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.process.wait(), grace)
        finally:
            kill = getattr(signal, "SIGKILL", signal.SIGTERM)
            self.send_signal(kill)
            await self.process.wait()
            self._mark_end()
            await self._drain_readers()
        return self.process.returncode

    def _mark_end(self) -> None:
        if self._ended_at is None:
            self._ended_at = asyncio.get_running_loop().time()

    async def _drain_readers(self, timeout: float = 10.0) -> None:
        if not self._readers:
            return
        _, pending = await asyncio.wait(self._readers, timeout=timeout)
        for reader in pending:  # a grandchild outside the group holds the pipe
            reader.cancel()
        if pending:
            await asyncio.wait(pending)

    def result(self) -> PeerResult:
        """What the process did so far, as a :class:`PeerResult`."""
        end = self._ended_at
        if end is None:
            end = asyncio.get_running_loop().time() if self._started_at else 0.0
        return PeerResult(
            self.args,
            self.returncode,
            self.stdout,
            self.stderr,
            max(0.0, end - self._started_at),
            self.timed_out,
        )

    async def __aenter__(self) -> PeerProcess:
        return await self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop()


async def run_peer(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    name: str | None = None,
) -> PeerResult:
    """Run a command to completion (killing its group after ``timeout`` seconds)."""
    process = PeerProcess(args, env=env, name=name)
    await process.start()
    try:
        try:
            await process.wait(timeout)
        except asyncio.TimeoutError:
            process.timed_out = True
    finally:
        await process.stop(grace=2.0)
    return process.result()


def peer_environment(
    *, samp_hub: str | None = None, home: str | Path | None = None
) -> tuple[dict[str, str], Path]:
    """Return a child environment and home directory for a peer.

    ``samp_hub`` and ``home`` default to this process's ``SAMP_HUB`` and
    ``HOME``, which :func:`~jupyter_samp.testing.env.samp_environment` sets.
    """
    env = dict(os.environ)
    home_path = Path(home) if home is not None else Path(os.environ.get("HOME") or Path.home())
    env["HOME"] = env["USERPROFILE"] = str(home_path)
    if samp_hub is not None:
        env[SAMP_HUB_ENV] = samp_hub
    return env, home_path


def _samp_hub_value(lockfile: str | Path | None, samp_hub: str | None) -> str | None:
    if samp_hub is not None:
        return samp_hub
    if lockfile is not None:
        return hub_env_value(Path(lockfile))
    return os.environ.get(SAMP_HUB_ENV)


# ---------------------------------------------------------------- JSAMP tools


async def run_hubtester(
    *,
    lockfile: str | Path | None = None,
    samp_hub: str | None = None,
    home: str | Path | None = None,
    timeout: float = 120.0,
    check: bool = True,
    jar: str | Path | None = None,
) -> PeerResult:
    """Run JSAMP's ``hubtester`` against the hub the environment points at.

    Parameters
    ----------
    lockfile, samp_hub : optional
        The hub to test: a lockfile path, or a whole ``SAMP_HUB`` value
        (default: this process's ``SAMP_HUB``).
    home : optional
        Home directory for Java (default ``$HOME``).
    timeout : float
        hubtester hangs forever when a message is lost; it is killed after
        this many seconds.
    check : bool
        Raise :class:`PeerFailedError` unless it exited 0 in time.

    Returns
    -------
    PeerResult
        hubtester prints nothing on success; warnings go to its stderr.
    """
    env, home_path = peer_environment(samp_hub=_samp_hub_value(lockfile, samp_hub), home=home)
    args = java_command(["hubtester"], home=home_path, jar=jar)
    result = await run_peer(args, env=env, timeout=timeout, name="hubtester")
    if check and not result.ok:
        raise PeerFailedError("JSAMP hubtester failed", result)
    return result


async def run_calcstorm(
    nclient: int = 10,
    nquery: int = 100,
    mode: str = "random",
    *,
    lockfile: str | Path | None = None,
    samp_hub: str | None = None,
    home: str | Path | None = None,
    timeout: float = 120.0,
    check: bool = True,
    jar: str | Path | None = None,
) -> CalcStormResult:
    """Run JSAMP's ``calcstorm``: ``nclient`` clients each sending ``nquery`` messages.

    Parameters
    ----------
    mode : {"sync", "async", "notify", "random"}
        How the calculator clients send their queries.
    check : bool
        Raise :class:`PeerFailedError` unless it exited 0 in time, printed its
        ``Elapsed time`` and printed no ``Error`` or ``Exception``.

    Other parameters are as for :func:`run_hubtester`.
    """
    if mode not in CALCSTORM_MODES:
        raise ValueError(f"mode must be one of {CALCSTORM_MODES}, not {mode!r}")
    env, home_path = peer_environment(samp_hub=_samp_hub_value(lockfile, samp_hub), home=home)
    tool = ["calcstorm", "-nclient", str(nclient), "-nquery", str(nquery), "-mode", mode]
    args = java_command(tool, home=home_path, jar=jar)
    plain = await run_peer(args, env=env, timeout=timeout, name="calcstorm")
    found = _ELAPSED.search(plain.stdout)
    result = CalcStormResult(
        plain.args,
        plain.returncode,
        plain.stdout,
        plain.stderr,
        plain.elapsed,
        plain.timed_out,
        messages=nclient * nquery,
        elapsed_ms=int(found.group(1)) if found else None,
    )
    if check:
        if not result.ok:
            raise PeerFailedError(f"JSAMP calcstorm ({mode}) failed", result)
        if result.elapsed_ms is None:
            raise PeerFailedError(f"calcstorm ({mode}) printed no elapsed time", result)
        if "Error" in result.output or "Exception" in result.output:
            raise PeerFailedError(f"calcstorm ({mode}) reported errors", result)
    return result


# ---------------------------------------------------------------- hubs


@dataclass(frozen=True)
class RunningHub:
    """A hub running in a subprocess, as the context managers below yield it."""

    name: str
    lockfile: Path
    info: dict[str, str] = field(repr=False)
    process: PeerProcess = field(repr=False)

    @property
    def url(self) -> str:
        """The hub's XML-RPC URL, from its lockfile."""
        return self.info["samp.hub.xmlrpc.url"]

    @property
    def secret(self) -> str:
        """The hub's ``samp.secret``."""
        return self.info["samp.secret"]

    @property
    def env_value(self) -> str:
        """The ``SAMP_HUB`` value that points clients at this hub."""
        return hub_env_value(self.lockfile)


async def ping_hub(url: str, *, timeout: float = 5.0) -> bool:
    """Return True if ``samp.hub.ping`` at ``url`` succeeds (no fault, in time)."""
    pool = HttpPool()
    try:
        await xmlrpc_call(pool, url, "samp.hub.ping", [], timeout=timeout)
    except SampError:
        return False
    finally:
        pool.close()
    return True


async def wait_for_hub(
    lockfile: str | Path,
    *,
    timeout: float = 30.0,
    process: PeerProcess | None = None,
    not_secret: str | None = None,
    interval: float = 0.05,
) -> dict[str, str]:
    """Wait until ``lockfile`` names a hub that answers ``samp.hub.ping``.

    The lockfile is polled every ``interval`` seconds until ``timeout``.

    Parameters
    ----------
    process : PeerProcess, optional
        The hub's process: if it exits first, fail at once with its output.
    not_secret : str, optional
        Ignore a record holding this ``samp.secret`` (an older hub's).

    Returns
    -------
    dict
        The lockfile's assignments.

    Raises
    ------
    PeerFailedError
        If the process exits or the deadline passes first.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    path = Path(lockfile)
    while True:
        if process is not None and process.returncode is not None:
            await process.wait()
            raise PeerFailedError(
                f"{process.name} exited before its hub answered at {path}", process.result()
            )
        info = read_lockfile(path) or {}
        url = info.get("samp.hub.xmlrpc.url")
        fresh = "samp.secret" in info and info["samp.secret"] != not_secret
        remaining = deadline - loop.time()
        if url and fresh and await ping_hub(url, timeout=max(0.5, min(5.0, remaining))):
            return info
        if loop.time() >= deadline:
            raise PeerFailedError(
                f"no hub answered at {path} within {timeout:g} s",
                process.result() if process is not None else None,
            )
        await asyncio.sleep(interval)  # polling a file: nothing to wait on


def _hub_locations(lockfile: str | Path | None, home: str | Path | None) -> tuple[Path, Path]:
    if lockfile is None:
        lockfile = url_to_path(lockfile_url()) or default_lockfile_path()
    _, home_path = peer_environment(home=home)
    return Path(lockfile).resolve(), home_path


@asynccontextmanager
async def _hub_process(
    name: str,
    args: Sequence[str],
    lockfile: Path,
    home: Path,
    timeout: float,
    extra_env: Mapping[str, str] | None = None,
) -> AsyncIterator[RunningHub]:
    env, _ = peer_environment(samp_hub=hub_env_value(lockfile), home=home)
    env.update(extra_env or {})
    previous = (read_lockfile(lockfile) or {}).get("samp.secret")
    process = PeerProcess(args, env=env, name=name)
    await process.start()
    try:
        info = await wait_for_hub(lockfile, timeout=timeout, process=process, not_secret=previous)
        yield RunningHub(name, lockfile, info, process)
    finally:
        await process.stop()


@asynccontextmanager
async def jsamp_hub(
    lockfile: str | Path | None = None,
    *,
    home: str | Path | None = None,
    timeout: float = 30.0,
    extra_args: Sequence[str] = (),
    jar: str | Path | None = None,
) -> AsyncIterator[RunningHub]:
    """Run JSAMP's hub (``-mode no-gui -profiles std``) writing ``lockfile``.

    Parameters
    ----------
    lockfile : optional
        Where the hub writes its record (default: where ``SAMP_HUB`` points,
        else ``<home>/.samp``); the hub is started with ``SAMP_HUB`` naming it.
    home : optional
        Java's ``user.home`` (default ``$HOME``).
    timeout : float
        How long to wait for the lockfile to appear and answer a ping.
    extra_args : sequence of str
        More hub options, e.g. ``["-std:secret", "s3cret"]``.

    Yields
    ------
    RunningHub
        Stopped (SIGTERM, then SIGKILL) when the block exits.
    """
    path, home_path = _hub_locations(lockfile, home)
    tool = ["hub", "-mode", "no-gui", "-profiles", "std", *extra_args]
    args = java_command(tool, home=home_path, jar=jar)
    async with _hub_process("JSAMP hub", args, path, home_path, timeout) as hub:
        yield hub


def _astropy_available() -> bool:
    import importlib.util

    return any(importlib.util.find_spec(name) is not None for name in ("pyvo", "astropy"))


@asynccontextmanager
async def astropy_hub(
    lockfile: str | Path | None = None,
    *,
    home: str | Path | None = None,
    timeout: float = 30.0,
    python: str | None = None,
) -> AsyncIterator[RunningHub]:
    """Run astropy's hub (pyvo.samp's copy if installed) in a subprocess.

    It runs ``SAMPHubServer(web_profile=False, lockfile=..., mode="single")``
    until it is stopped with SIGTERM, which makes it remove its lockfile.
    Parameters are as for :func:`jsamp_hub`; ``python`` is the interpreter
    (default: this one).
    """
    if not _astropy_available():
        raise PeerUnavailableError("neither pyvo nor astropy is installed")
    path, home_path = _hub_locations(lockfile, home)
    script = Path(__file__).with_name("_astropy_hub.py")
    args = [python or sys.executable, str(script), "--lockfile", str(path)]
    async with _hub_process("astropy hub", args, path, home_path, timeout) as hub:
        yield hub


def jupyter_samp_hub_command(
    lockfile: str | Path, *extra_args: str, web_profile: bool = False
) -> list[str]:
    """The command line of ``jupyter-samp hub`` run by this interpreter.

    The Web Profile is off unless ``web_profile`` is set: it listens on a
    fixed port (21012), which a hermetic test must not take.
    """
    command = [
        sys.executable,
        "-m",
        "jupyter_samp.cli",
        "hub",
        "--lockfile",
        str(lockfile),
        "--log-level",
        "warning",
    ]
    if not web_profile:
        command.append("--no-web-profile")
    return [*command, *extra_args]


def package_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with this copy of jupyter_samp first on ``PYTHONPATH``."""
    result = dict(env)
    paths = [str(_PACKAGE_PARENT), *filter(None, result.get("PYTHONPATH", "").split(os.pathsep))]
    result["PYTHONPATH"] = os.pathsep.join(paths)
    return result


@asynccontextmanager
async def jupyter_samp_hub(
    lockfile: str | Path | None = None,
    *,
    home: str | Path | None = None,
    timeout: float = 30.0,
    extra_args: Sequence[str] = (),
    web_profile: bool = False,
) -> AsyncIterator[RunningHub]:
    """Run this package's ``jupyter-samp hub`` command in a subprocess.

    Parameters are as for :func:`jsamp_hub`; the Web Profile is off unless
    ``web_profile`` is set (see :func:`jupyter_samp_hub_command`). The
    yielded hub's ``process`` can be signalled
    (``await hub.process.stop(signum=signal.SIGINT)``) to test how the
    command shuts down.
    """
    path, home_path = _hub_locations(lockfile, home)
    args = jupyter_samp_hub_command(path, *extra_args, web_profile=web_profile)
    extra = {"PYTHONPATH": package_env(os.environ)["PYTHONPATH"]}
    async with _hub_process("jupyter-samp hub", args, path, home_path, timeout, extra) as hub:
        yield hub
