"""Real applications under a virtual X display: TOPCAT and SAOImage DS9 on our hub.

Started once per module (TOPCAT takes a few seconds), all in the module's
event loop: Xvfb (which reports its display number on a pipe when it is
ready), our :class:`~jupyter_samp.Hub`, TOPCAT (its java command directly, so
stopping its process group stops Java) and ``ds9 -samp``, each with a private
home directory and ``SAMP_HUB`` naming our lockfile. A client then waits, on
its own client events and with a deadline, until both applications have
registered and subscribed. Everything is stopped by process group afterwards.

Where Xvfb, TOPCAT or DS9 is not installed the tests fail and say so
(``scripts/setup.sh`` installs them).
"""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from jupyter_samp import Client, Hub, connect
from jupyter_samp.data import DataBridge
from jupyter_samp.testing import PeerProcess, SampEnvironment, samp_environment
from jupyter_samp.testing.waiting import wait_until

# The notebook tests' IPython shell, for %samp against real applications.
from tests.notebook.conftest import shell  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
TOPCAT_JAR = Path("/usr/share/java/starlink-topcat.jar")
DS9_NAME = "SAOImageDS9"


def missing(reason: str) -> None:
    """Fail because a tool is missing: scripts/setup.sh installs every one."""
    pytest.fail(f"{reason}; run scripts/setup.sh")


@dataclass
class Desktop:
    """The running applications and our client among them."""

    display: str
    env: SampEnvironment
    hub: Hub
    client: Client
    bridge: DataBridge
    topcat: str
    ds9: str
    processes: dict[str, PeerProcess]

    def x_env(self) -> dict[str, str]:
        """Environment for X tools (xwininfo, xdotool, import)."""
        return dict(os.environ, DISPLAY=self.display)


@pytest.fixture(scope="session")
def display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private X server (Xvfb) for the whole session."""
    if shutil.which("Xvfb") is None or shutil.which("xdpyinfo") is None:
        missing("Xvfb and xdpyinfo are needed (Debian packages xvfb, x11-utils)")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        # Xvfb writes its display number on the pipe once it accepts clients.
        ready, _, _ = select.select([read_end], [], [], 30)
        number = os.read(read_end, 64).decode().strip() if ready else ""
        if not number:
            pytest.fail("Xvfb did not report a display within 30 s")
        name = f":{number}"
        subprocess.run(["xdpyinfo", "-display", name], check=True, capture_output=True, timeout=30)
        yield name
    finally:
        os.close(read_end)
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def _topcat_command(home: Path) -> list[str]:
    return ["java", f"-Duser.home={home}", "-Djava.awt.headless=false", "-Xmx2g",
            "-classpath", str(TOPCAT_JAR), "uk.ac.starlink.topcat.Driver", "-samp"]


async def _wait_for(condition: Callable[[], bool], client: Client, timeout: float,
                    what: str, processes: dict[str, PeerProcess]) -> None:
    """Wait on the client's events until ``condition()`` holds, or fail with the apps' output."""
    try:
        await wait_until(condition, client, timeout)
    except asyncio.TimeoutError:
        logs = "\n".join(p.result().describe() for p in processes.values())
        pytest.fail(f"{what} within {timeout:g} s\n{logs}")


def _app_id(client: Client, name: str, mtype: str) -> str | None:
    for view in client.clients.values():
        if view.name == name and view.accepts(mtype):
            return view.id
    return None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def desktop(display: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[Desktop]:
    """TOPCAT and DS9 registered with our hub, and a client with a data bridge."""
    if not TOPCAT_JAR.is_file() or shutil.which("java") is None:
        missing("TOPCAT is needed (Debian package topcat)")
    if shutil.which("ds9") is None:
        missing("SAOImage DS9 is needed (Debian package saods9)")
    root = tmp_path_factory.mktemp("desktop")
    with samp_environment(root) as env:
        # Liveness rounds every half second: an application that a round
        # disturbs shows it within the module (DS9 once did, with dialogs).
        async with Hub(lockfile=env.lockfile, web_profile=False, liveness_interval=0.5) as hub:
            child_env = env.subprocess_env({"DISPLAY": display})
            processes = {
                "topcat": PeerProcess(_topcat_command(env.home), env=child_env, name="topcat"),
                "ds9": PeerProcess(["ds9", "-samp"], env=child_env, name="ds9", cwd=env.home),
            }
            try:
                async with connect("pytest-desktop", hub=env.lockfile) as client:
                    for process in processes.values():
                        await process.start()
                    await _wait_for(
                        lambda: _app_id(client, "topcat", "table.load.votable") is not None
                        and _app_id(client, DS9_NAME, "image.load.fits") is not None,
                        client, 90, "TOPCAT and DS9 did not register", processes)
                    topcat = _app_id(client, "topcat", "table.load.votable")
                    ds9 = _app_id(client, DS9_NAME, "image.load.fits")
                    assert topcat is not None and ds9 is not None
                    bridge = DataBridge(client, timeout=120)
                    yield Desktop(display, env, hub, client, bridge, topcat, ds9, processes)
                    await bridge.close()
            finally:
                for process in processes.values():
                    await process.stop(grace=5)
