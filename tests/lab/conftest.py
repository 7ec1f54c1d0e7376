"""JupyterLab in headless Chromium, with our hub and a recording SAMP client beside it.

Started once per module (JupyterLab takes a few seconds, the browser too),
all in the module's event loop:

* our :class:`~jupyter_samp.Hub`, with a lockfile in a temporary directory;
* a recording client (``recorder``) that keeps every table it is sent;
* ``python -m jupyterlab`` on 127.0.0.1 with a free port and a random token,
  its home and Jupyter config/data/runtime directories temporary, serving a
  temporary copy of ``notebooks/``. Its kernels inherit ``SAMP_HUB``
  naming our lockfile, and find this checkout first on ``PYTHONPATH``.
  The URL is read from its log, waiting on the output with a deadline, and
  then until the port accepts connections. With the ``notebook`` package
  installed the same server also serves Notebook 7 (``/notebooks/<path>``);
* Debian's Chromium, driven by Playwright (never a downloaded browser).

``port_21012`` (the machine-wide lock on the Web Profile's standard port) and
``page_server`` (the web client's test page on 127.0.0.1) come from the Web
Profile tests' fixtures.

Afterwards the kernels are shut down through JupyterLab's REST API and the
server's process group is stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from jupyter_samp import Client, Hub, connect
from jupyter_samp.data import DataBridge
from jupyter_samp.data.receive import Received
from jupyter_samp.testing import PeerProcess, SampEnvironment

# The machine-wide lock on the Web Profile's port 21012, and the static server
# of the web client page, shared with the Web Profile tests.
from tests.web.conftest import page_server, port_21012  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LAB_START_TIMEOUT = 60.0
RECORDER_NAME = "recorder"

#: JupyterLab settings written to the private config directory: no news or
#: update toasts over the notebook (and no fetches for them), and every cell
#: kept in the DOM so that a test can see all outputs without scrolling.
USER_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def missing(reason: str) -> None:
    """Fail because a tool is missing: scripts/setup.sh installs every one."""
    pytest.fail(f"{reason}; run scripts/setup.sh")


@dataclass
class Lab:
    """A running JupyterLab server."""

    url: str
    token: str
    root: Path
    process: PeerProcess

    def notebook_url(self, name: str) -> str:
        """The address that opens notebook ``name`` (in the served root) in JupyterLab.

        ``reset`` starts from an empty workspace: otherwise JupyterLab would
        reopen the notebooks of earlier tests in tabs beside this one.
        """
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"

    def notebook7_url(self, name: str) -> str:
        """The address that opens notebook ``name`` in Notebook 7, served by the same server."""
        return f"{self.url}/notebooks/{name}?token={self.token}"

    async def api(self, method: str, path: str) -> Any:
        """Call JupyterLab's REST API; return the decoded JSON answer (None when empty)."""

        def request() -> Any:
            req = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
            with urllib.request.urlopen(req, timeout=30) as answer:
                body = answer.read()
            return json.loads(body) if body else None

        return await asyncio.to_thread(request)


@dataclass
class Recorder:
    """A SAMP client that keeps the tables it is sent, as DataFrames."""

    client: Client
    bridge: DataBridge
    tables: asyncio.Queue[Received]

    async def next_table(self, timeout: float = 30.0) -> Received:
        """The next table that arrives (fails after ``timeout`` seconds)."""
        try:
            return await asyncio.wait_for(self.tables.get(), timeout)
        except asyncio.TimeoutError:
            pytest.fail(f"the recorder received no table within {timeout:g} s")


@pytest.fixture(scope="module")
def lab_samp(tmp_path_factory: pytest.TempPathFactory) -> SampEnvironment:
    """Private paths for this module's hub and its clients.

    Built directly rather than with ``samp_environment``: that changes
    ``os.environ``, which the per-test ``samp_env`` fixture also sets and
    restores. Everything here is passed explicitly instead.
    """
    root = tmp_path_factory.mktemp("lab")
    home = root / "home"
    home.mkdir(mode=0o700)
    return SampEnvironment(root=root, home=home, lockfile=root / "samp-hub.lock")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lab_hub(lab_samp: SampEnvironment) -> AsyncIterator[Hub]:
    """Our hub (Standard Profile only) owning the module's lockfile."""
    async with Hub(lockfile=lab_samp.lockfile, web_profile=False) as hub:
        yield hub


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recorder(lab_hub: Hub, lab_samp: SampEnvironment) -> AsyncIterator[Recorder]:
    """The recording client, registered and subscribed before any notebook connects."""
    tables: asyncio.Queue[Received] = asyncio.Queue()
    async with connect(RECORDER_NAME, hub=lab_samp.lockfile) as client:
        bridge = DataBridge(client)
        bridge.on_table(tables.put_nowait, as_pandas=True)
        await client.flush()  # the hub knows it accepts tables before a test looks
        yield Recorder(client, bridge, tables)
        await bridge.close()


def _write_user_settings(config_dir: Path) -> None:
    for plugin, values in USER_SETTINGS.items():
        path = config_dir / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def lab_environment(samp: SampEnvironment, base: Path) -> dict[str, str]:
    """JupyterLab's environment: private homes, our lockfile, this checkout importable."""
    dirs = {name: base / name.lower() for name in
            ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    _write_user_settings(dirs["JUPYTER_CONFIG_DIR"])
    env = samp.subprocess_env({name: str(path) for name, path in dirs.items()})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def lab_command(root: Path, token: str) -> list[str]:
    """The command line of a private, quiet JupyterLab server on a free loopback port."""
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False", "--ServerApp.terminals_enabled=False",
        # Nothing leaves the machine: no news feed, no update check, no PyPI listing.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        # An editable install has no jupyter_server_config.d file: enable it here.
        "--ServerApp.jpserver_extensions=jupyter_samp.serverext=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")  # CI and containers run as root
    return command


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def jupyterlab(lab_samp: SampEnvironment, lab_hub: Hub, recorder: Recorder
                     ) -> AsyncIterator[Lab]:
    """A JupyterLab server serving a temporary copy of ``notebooks/``.

    It needs the recorder so that the recorder is registered before any
    notebook connects, and stays registered until every kernel has gone.
    """
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        missing("JupyterLab is not installed (pip install -e '.[test]')")
    root = lab_samp.root / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    token = secrets.token_hex(24)
    process = PeerProcess(lab_command(root, token), name="jupyterlab",
                          env=lab_environment(lab_samp, lab_samp.root / "jupyter"),
                          cwd=lab_samp.root)
    await process.start()
    try:
        # The server logs "http://127.0.0.1:PORT/lab?token=..." just before it listens.
        found = await process.wait_for_output(r"http://127\.0\.0\.1:(\d+)/lab",
                                              timeout=LAB_START_TIMEOUT, stream="stderr")
        await wait_until_listening(int(found.group(1)), process, timeout=LAB_START_TIMEOUT)
        lab = Lab(f"http://127.0.0.1:{found.group(1)}", token, root, process)
        yield lab
        await shutdown_kernels(lab)
    finally:
        await process.stop(grace=10)


async def wait_until_listening(port: int, process: PeerProcess, timeout: float) -> None:
    """Wait until the server accepts connections on ``port``.

    jupyter_server logs its URL before its event loop starts and binds the
    port, so the log line alone does not mean the port is open. Each refused
    attempt is a real connection attempt, awaited: nothing sleeps here.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            if process.returncode is not None or loop.time() > deadline:
                pytest.fail(f"JupyterLab never listened on port {port}:\n{process.stderr}")
            continue
        writer.close()
        await writer.wait_closed()
        return


async def shutdown_kernels(lab: Lab) -> None:
    """Shut every kernel down through the REST API (each call returns once it is gone).

    Kernels run in their own process groups, so stopping the server's group
    alone would leave them to notice their parent is gone.
    """
    for kernel in await lab.api("GET", "/api/kernels"):
        await lab.api("DELETE", f"/api/kernels/{kernel['id']}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(lab_samp: SampEnvironment) -> AsyncIterator[Any]:
    """Headless Debian Chromium driven by Playwright, with a private HOME."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    home = lab_samp.root / "browser-home"
    home.mkdir(exist_ok=True)
    env: dict[str, str | float | bool] = {**os.environ, "HOME": str(home)}
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser tab (its own context: no shared storage between tests)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield await context.new_page()
    finally:
        await context.close()
