"""A really remote kernel: JupyterLab in a network namespace of its own, a public page.

Started once per module, in the module's event loop:

* ``python -m jupyterlab`` under ``unshare --net`` (``--map-root-user`` too
  when not root): inside, only a loopback interface exists, so neither the
  server nor its kernels reach anything that listens on the host, the
  desktop hub's 127.0.0.1 included. The kernels' ``SAMP_HUB`` names a
  lockfile that does not exist and their home has no ``.samp``;
* the server listens on a unix socket, which the host reaches through the
  file system; a :class:`~tests.remote.forwarder.Forwarder` on 127.0.0.1
  (free port) is the server's address for the browser and the desktop
  applications, as a public server's name would be;
* Debian's Chromium (Playwright), told that the forwarder's address is in
  the *public* address space, so its Local Network Access rules apply to
  the page calling the hub at 127.0.0.1:21012 as they would to a notebook
  on the internet.

Per test: the desktop hub, with the Web Profile on its fixed port 21012 and
every registration accepted without a dialog, its lockfile in the test's
own SAMP home: JSAMP's (``-profiles std,web -web:auth true``) or ours
(:class:`jupyter_samp.Hub`, in the test's event loop), as the test's
``desktop_hub`` parameter says (JSAMP's unless it says otherwise). A
desktop client on it keeps the tables it is sent. The hub can be stopped
and started again (same kind, port and lockfile), as a user restarting
their hub would.

Real TOPCAT and DS9 (``ds9 -samp``) are started on the desktop hub on
request, under Xvfb, DS9 with a home of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from jupyter_samp import Client, Hub, connect
from jupyter_samp.data import DataBridge, Received
from jupyter_samp.testing import PeerProcess, RunningHub, SampEnvironment, jsamp_hub
from jupyter_samp.testing.waiting import wait_until
from tests.apps.conftest import (
    DS9_NAME,
    TOPCAT_JAR,
    _topcat_command,
    display,  # noqa: F401  (the session's X display, for TOPCAT and DS9)
)
from tests.lab.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LAB_START_TIMEOUT,
    Lab,
    lab_command,
    lab_environment,
    missing,
    shutdown_kernels,
)
from tests.remote.forwarder import Forwarder

# The machine-wide lock on the Web Profile's port 21012 (both desktop hubs use it here).
from tests.web.conftest import STANDARD_WEB_PORT, port_21012  # noqa: F401

#: Options of lab_command that the unix socket replaces (jupyter_server aborts
#: when --port and --sock are both given).
TCP_OPTIONS = ("--ServerApp.ip=", "--ServerApp.port=", "--ServerApp.port_retries=",
               "--ServerApp.allow_root=")
#: JSAMP's hub with both profiles; ``-web:auth true`` accepts every web client.
JSAMP_WEB_ARGS = ["-profiles", "std,web", "-web:auth", "true"]
DESKTOP_NAME = "desktop-viewer"
#: The desktop hubs a test may ask for (its ``desktop_hub`` parameter).
HUB_KINDS = ("jsamp", "ours")
#: Chromium's permission for pages to reach local addresses, as Playwright names it.
LNA_PERMISSION = "local-network-access"


@dataclass
class RemoteLab:
    """JupyterLab in its own network namespace, and the host's way in."""

    lab: Lab
    forwarder: Forwarder
    kernel_samp: SampEnvironment

    @property
    def origin(self) -> str:
        """The page's origin: the forwarder, the server's public address here."""
        return self.lab.url


async def allow(request: object) -> bool:
    """Our hub's web consent: every registration, as ``-web:auth true`` does for JSAMP's."""
    return True


@dataclass
class DesktopHub:
    """The desktop hub, JSAMP's or ours, on port 21012; it may be stopped and started again.

    Parameters
    ----------
    kind : str
        ``"jsamp"`` (JSAMP's hub in a subprocess) or ``"ours"`` (in process).
    env : SampEnvironment
        The test's SAMP home: the hub's lockfile and (for JSAMP) Java's home.
    """

    kind: str
    env: SampEnvironment
    _running: RunningHub | Hub | None = field(default=None, init=False, repr=False)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack,
                                              init=False, repr=False)

    @property
    def lockfile(self) -> Path:
        """The hub's lockfile (the same path after a restart)."""
        return self.env.lockfile

    async def start(self) -> DesktopHub:
        """Start the hub and wait until it answers (its lockfile written)."""
        if self.kind == "jsamp":
            self._running = await self._stack.enter_async_context(jsamp_hub(
                self.lockfile, home=self.env.home, extra_args=JSAMP_WEB_ARGS, timeout=60))
        else:
            self._running = await self._stack.enter_async_context(Hub(
                lockfile=self.lockfile, web_port=STANDARD_WEB_PORT, web_consent=allow))
        return self

    async def stop(self) -> None:
        """Stop the hub (its lockfile goes, port 21012 is free again)."""
        self._running = None
        await self._stack.aclose()

    def describe(self) -> str:
        """What the hub's process said, for a failure's message."""
        if isinstance(self._running, RunningHub):
            return self._running.process.result().describe()
        return f"our hub (in process), running: {self._running is not None}"


@dataclass
class Desktop:
    """The desktop hub and a client on it that keeps what it is sent."""

    hub: DesktopHub
    client: Client
    tables: asyncio.Queue[Received]
    env: SampEnvironment

    async def next_table(self, timeout: float = 60.0) -> Received:
        """The next table that arrives (fails after ``timeout`` seconds)."""
        try:
            return await asyncio.wait_for(self.tables.get(), timeout)
        except asyncio.TimeoutError:
            pytest.fail(f"{DESKTOP_NAME} received no table within {timeout:g} s\n"
                        f"{self.hub.describe()}")


def netns_prefix() -> list[str]:
    """The command prefix that runs a program alone in a new network namespace, ``lo`` up.

    Root may create the namespace directly; anyone else needs a user
    namespace too (``--map-root-user``), in which they may configure ``lo``.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces are Linux only")
    unshare = shutil.which("unshare")
    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip")
                                     if Path(p).exists()), None)
    if unshare is None or ip is None:
        missing("unshare and ip are needed (Debian packages util-linux, iproute2)")
    flags = ["--net"] if os.geteuid() == 0 else ["--map-root-user", "--net"]
    # A new namespace's lo is down: nothing, not even 127.0.0.1, would work.
    return [str(unshare), *flags, "sh", "-c", f'{ip} link set lo up && exec "$@"', "netns"]


def remote_lab_command(root: Path, token: str, sock: Path) -> list[str]:
    """The JupyterLab command of the lab tests, on a unix socket instead of a TCP port."""
    command = [arg for arg in lab_command(root, token) if not arg.startswith(TCP_OPTIONS)]
    # In a user namespace the server runs as (mapped) root even for a user; the
    # option may be given once only.
    return [*command, f"--ServerApp.sock={sock}", "--ServerApp.allow_root=True"]


def kernel_environment(samp: SampEnvironment, base: Path) -> dict[str, str]:
    """The server's (and kernels') environment: a lockfile that does not exist, no web hub URL."""
    env = lab_environment(samp, base)
    env.pop("JUPYTER_SAMP_WEB_HUB", None)  # the page calls the standard http://127.0.0.1:21012/
    return env


async def wait_for_socket(sock: Path, process: Any, timeout: float) -> None:
    """Wait until the server accepts connections on its unix socket.

    jupyter_server logs its address before it binds, and a file that does not
    exist yet gives nothing to wait on: this polls, with a deadline, failing
    at once if the server exits.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_unix_connection(sock)
        except (FileNotFoundError, ConnectionRefusedError):
            if process.returncode is not None or loop.time() > deadline:
                pytest.fail(f"JupyterLab never listened on {sock}:\n{process.stderr}")
            await asyncio.sleep(0.05)  # polling a file: nothing to wait on
            continue
        writer.close()
        await writer.wait_closed()
        return


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def remote_lab(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RemoteLab]:
    """JupyterLab (with the server extension) in its own network namespace, via the forwarder."""
    root = tmp_path_factory.mktemp("remote")
    home = root / "kernel-home"
    home.mkdir(mode=0o700)
    kernel_samp = SampEnvironment(root=root, home=home, lockfile=root / "no-hub-here.lock")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    sock = root / "jupyter.sock"
    token = secrets.token_hex(24)
    command = netns_prefix() + remote_lab_command(notebooks, token, sock)
    process = PeerProcess(command, name="jupyterlab (netns)", cwd=root,
                          env=kernel_environment(kernel_samp, root / "jupyter"))
    await process.start()
    try:
        await wait_for_socket(sock, process, LAB_START_TIMEOUT)
        async with Forwarder(sock) as forwarder:
            lab = Lab(f"http://127.0.0.1:{forwarder.port}", token, notebooks, process)
            yield RemoteLab(lab, forwarder, kernel_samp)
            await shutdown_kernels(lab)
    finally:
        await process.stop(grace=10)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def public_browser(remote_lab: RemoteLab) -> AsyncIterator[Any]:
    """Headless Debian Chromium that takes the forwarder's address for a public site."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    home = remote_lab.kernel_samp.root / "browser-home"
    home.mkdir(exist_ok=True)
    env: dict[str, str | float | bool] = {**os.environ, "HOME": str(home)}
    public = f"--ip-address-space-overrides=127.0.0.1:{remote_lab.forwarder.port}=public"
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, public], env=env
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def _page(browser: Any, origin: str, grant: bool) -> tuple[Any, Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    if grant:
        await context.grant_permissions([LNA_PERMISSION], origin=origin)
    return context, await context.new_page()


@pytest_asyncio.fixture(loop_scope="module")
async def granted_page(public_browser: Any, remote_lab: RemoteLab) -> AsyncIterator[Any]:
    """A tab whose site the user allowed to reach the local network."""
    context, page = await _page(public_browser, remote_lab.origin, grant=True)
    try:
        yield page
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def ungranted_page(public_browser: Any, remote_lab: RemoteLab) -> AsyncIterator[Any]:
    """A tab whose site has no Local Network Access permission (Chromium would ask)."""
    context, page = await _page(public_browser, remote_lab.origin, grant=False)
    try:
        yield page
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def desktop_hub(request: pytest.FixtureRequest, samp_env: SampEnvironment,
                      port_21012: int  # noqa: F811
                      ) -> AsyncIterator[DesktopHub]:
    """The desktop hub, Standard and Web Profiles, its lockfile in the test's SAMP home.

    JSAMP's unless the test is parametrized (``indirect``) with another of
    :data:`HUB_KINDS`.
    """
    kind = getattr(request, "param", "jsamp")
    assert kind in HUB_KINDS, kind
    hub = DesktopHub(kind, samp_env)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def desktop(desktop_hub: DesktopHub, samp_env: SampEnvironment
                  ) -> AsyncIterator[Desktop]:
    """A desktop client on the desktop hub, subscribed to tables before any notebook connects."""
    tables: asyncio.Queue[Received] = asyncio.Queue()
    async with connect(DESKTOP_NAME, hub=desktop_hub.lockfile) as client:
        bridge = DataBridge(client, timeout=30)
        bridge.on_table(tables.put_nowait, as_pandas=True)
        await client.flush()
        try:
            yield Desktop(desktop_hub, client, tables, samp_env)
        finally:
            await bridge.close()


def app_id(client: Client, name: str, mtype: str) -> str | None:
    """The id of the application called ``name`` that accepts ``mtype``, if registered."""
    return next((view.id for view in client.clients.values()
                 if view.name == name and view.accepts(mtype)), None)


@dataclass
class DesktopApps:
    """Real TOPCAT and DS9 on the desktop hub: their client ids."""

    topcat: str
    ds9: str


def _app_processes(desktop: Desktop, x_display: str) -> dict[str, PeerProcess]:
    """TOPCAT (in the SAMP home) and DS9 (in a home of its own), on the desktop hub."""
    if not TOPCAT_JAR.is_file() or shutil.which("java") is None:
        missing("TOPCAT is needed (Debian package topcat)")
    if shutil.which("ds9") is None:
        missing("SAOImage DS9 is needed (Debian package saods9)")
    ds9_home = desktop.env.root / "ds9-home"
    ds9_home.mkdir(exist_ok=True)
    env = desktop.env.subprocess_env({"DISPLAY": x_display})
    return {
        "topcat": PeerProcess(_topcat_command(desktop.env.home), env=env, name="topcat"),
        "ds9": PeerProcess(["ds9", "-samp"], env={**env, "HOME": str(ds9_home)}, name="ds9",
                           cwd=ds9_home),
    }


@pytest_asyncio.fixture(loop_scope="module")
async def apps(desktop: Desktop, display: str  # noqa: F811
               ) -> AsyncIterator[DesktopApps]:
    """Real TOPCAT and DS9 registered with the desktop hub, under Xvfb.

    Both start at once (TOPCAT takes seconds); the desktop client waits, on
    its own events, until both have registered and subscribed.
    """
    processes = _app_processes(desktop, display)

    def ids() -> tuple[str | None, str | None]:
        return (app_id(desktop.client, "topcat", "table.load.votable"),
                app_id(desktop.client, DS9_NAME, "image.load.fits"))

    try:
        for process in processes.values():
            await process.start()
        try:
            await wait_until(lambda: None not in ids(), desktop.client, 90)
        except asyncio.TimeoutError:
            logs = "\n".join(process.result().describe() for process in processes.values())
            pytest.fail(f"TOPCAT and DS9 did not both register within 90 s\n{logs}")
        topcat, ds9 = ids()
        assert topcat is not None and ds9 is not None
        yield DesktopApps(topcat, ds9)
    finally:
        for process in processes.values():
            await process.stop(grace=5)
