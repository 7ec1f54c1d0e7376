"""Fixtures for Web Profile tests: hubs with a web port, raw web clients, a browser.

The standard's web port 21012 is needed only by the tests that run JSAMP's
hub or JSAMP's web clients; every other test gives our hub a free port
(``web_port=0``). The :func:`port_21012` fixture serialises the tests that
need the fixed port, across processes too, and waits until nobody else is
listening there.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, StaticFileHandler

from jupyter_samp.hub import Hub
from jupyter_samp.hub.web import WebRegistration
from jupyter_samp.testing import SampEnvironment
from tests.web.webrpc import WebRpc

REPO = Path(__file__).resolve().parents[2]
# The module is kept in the package (js/ holds a link to it for npm).
JS_DIR = REPO / "jupyter_samp" / "remote" / "static"
PAGES_DIR = Path(__file__).resolve().parent / "pages"
STANDARD_WEB_PORT = 21012
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


def _peers_required() -> bool:
    flag = os.environ.get("JUPYTER_SAMP_REQUIRE_PEERS", "")
    return bool(os.environ.get("CI")) or flag not in ("", "0")


def missing(reason: str) -> None:
    """Skip (or, where peers are required, fail) because a tool is missing."""
    if _peers_required():
        pytest.fail(reason)
    pytest.skip(reason)


class ConsentLog:
    """A consent callable that records each request and answers ``answer``."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.requests: list[WebRegistration] = []

    async def __call__(self, request: WebRegistration) -> bool:
        self.requests.append(request)
        return self.answer


@pytest.fixture
def consent() -> ConsentLog:
    """An accepting consent callable that records what it was asked."""
    return ConsentLog(True)


@pytest.fixture
async def web_hub(samp_env: SampEnvironment, consent: ConsentLog) -> AsyncIterator[Hub]:
    """Our hub with the Web Profile on a free port, consent given by :func:`consent`."""
    async with Hub(lockfile=samp_env.lockfile, web_port=0, web_consent=consent) as hub:
        assert hub.web_url is not None
        yield hub


@pytest.fixture
async def rpc(web_hub: Hub) -> AsyncIterator[WebRpc]:
    """A raw web client of :func:`web_hub`, sending ``Origin: http://127.0.0.1:8000``."""
    assert web_hub.web_url is not None
    client = WebRpc(web_hub.web_url)
    try:
        yield client
    finally:
        client.close()


# ---------------------------------------------------------------- the fixed port


def _port_free(port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return False
        raise
    finally:
        probe.close()
    return True


def _lock_file(path: Path, timeout: float) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = _now() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if _now() > deadline:
                os.close(fd)
                pytest.fail(f"another test run held {path} for {timeout:g} s")
            _pause()


def _now() -> float:
    import time

    return time.monotonic()


def _pause() -> None:
    import time

    time.sleep(0.1)  # waiting for another process: no event to wait on


@pytest.fixture
def port_21012() -> Iterator[int]:
    """Exclusive use of 127.0.0.1:21012 (machine-wide lock), once nothing listens there."""
    lock = Path(tempfile.gettempdir()) / "jupyter_samp-web-port-21012.lock"
    fd = _lock_file(lock, timeout=300.0)
    try:
        deadline = _now() + 60.0
        while not _port_free(STANDARD_WEB_PORT):
            if _now() > deadline:
                pytest.fail("port 21012 stayed busy (another SAMP hub is running?)")
            _pause()
        yield STANDARD_WEB_PORT
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# ---------------------------------------------------------------- pages and a browser


# The browser is launched once per test module: the fixtures below run on the
# module's event loop, so the tests that use them are marked
# ``pytest.mark.asyncio(loop_scope="module")``.


@pytest_asyncio.fixture(loop_scope="module")
async def page_server() -> AsyncIterator[str]:
    """A static server on 127.0.0.1 (free port): ``/js/`` and the test ``/pages/``."""
    app = Application([
        (r"/js/(.*)", StaticFileHandler, {"path": str(JS_DIR)}),
        (r"/pages/(.*)", StaticFileHandler, {"path": str(PAGES_DIR)}),
    ], log_function=lambda handler: None)
    sockets = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    server = HTTPServer(app)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        await server.close_all_connections()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    home = tmp_path_factory.mktemp("browser-home")
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
async def page(browser: Any, page_server: str) -> AsyncIterator[Any]:
    """The test page, loaded, with the client module at ``window.samp``."""
    context = await browser.new_context()
    tab = await context.new_page()
    await tab.goto(f"{page_server}/pages/samp_test.html")
    await tab.wait_for_function("window.samp !== undefined", timeout=10_000)
    try:
        yield tab
    finally:
        await context.close()

