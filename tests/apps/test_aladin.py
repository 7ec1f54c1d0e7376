"""Real Aladin 12 on our hub: a table and a sky position, sent as a user sends them.

Aladin reads its hub only from ``user.home/.samp`` (it ignores ``SAMP_HUB``),
so the module's hub writes its lockfile there, in a temporary home, and
Aladin runs with ``-Duser.home`` pointing at it (``-local -noreleasetest
-nolog -noplugin``: offline, no update check). The real ``~/.samp`` is never
read or written. Aladin is started once for the module, under the session's
Xvfb, and the first test runs as soon as it has registered: before its
dialogs exist, when a table makes it throw a NullPointerException.

What is checked, since ``samp.ok`` is not proof: that Aladin holds each
table (it answers ``table.select.rowList`` about it; it answers an error
for a table it does not hold), and where it points (``coord.get.sky``).
Images reach Aladin from local files only: over ``http://`` it answers
"Could not load image !" (it probes the URL for a HiPS), so its ``samp.ok``
to an image sent by the ``file://`` fast path is the proof there.
Aladin's ``script.aladin.send status`` is not used: its answer carries a
degree sign, which SAMP strings cannot, so no caller ever gets it.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import pytest_asyncio
from astropy.wcs import WCS

from jupyter_samp import Client, Hub, connect
from jupyter_samp.data import DataBridge
from jupyter_samp.notebook import session as session_module
from jupyter_samp.notebook.session import SampSession
from jupyter_samp.testing import PeerProcess, SampEnvironment
from jupyter_samp.testing.waiting import wait_until
from tests.apps.conftest import ARTIFACTS, missing

pytestmark = [pytest.mark.peers, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.timeout(180)]

ALADIN_JAR = Path("/usr/share/java/aladin.jar")
ALADIN = "Aladin"
#: Seconds Aladin may take to register (it takes about 4).
START_TIMEOUT = 60.0
TRAPEZIUM = (83.8221, -5.3911)


def aladin_command(home: Path) -> list[str]:
    """Aladin's java command line (the ``/usr/bin/aladin`` wrapper cannot pass ``-D``)."""
    return ["java", f"-Duser.home={home}", "-Xmx1024m", "-jar", str(ALADIN_JAR),
            "-local", "-noreleasetest", "-nolog", "-noplugin"]


def real_samp_home() -> Path:
    """The real user's home (``HOME`` is a temporary one in tests)."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


@dataclass
class AladinDesk:
    """Aladin on our hub, and a client of the test's own to ask it questions."""

    display: str
    env: SampEnvironment
    hub: Hub
    client: Client
    aladin: str
    process: PeerProcess


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def aladin(display: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[AladinDesk]:
    """Aladin registered with our hub (lockfile ``<temporary home>/.samp``), just registered."""
    if not ALADIN_JAR.is_file() or shutil.which("java") is None:
        missing("Aladin is needed (Debian package aladin)")
    root = tmp_path_factory.mktemp("aladin")
    home = root / "home"
    home.mkdir(mode=0o700)
    env = SampEnvironment(root=root, home=home, lockfile=home / ".samp")
    real = {name: (real_samp_home() / name).exists() for name in (".samp", ".aladin")}
    async with Hub(lockfile=env.lockfile, web_profile=False) as hub:
        process = PeerProcess(aladin_command(home), name="aladin", cwd=home,
                              env=env.subprocess_env({"DISPLAY": display}))
        try:
            async with connect("pytest-aladin", hub=env.lockfile) as client:
                await process.start()
                try:
                    await wait_until(lambda: _aladin_id(client) is not None, client,
                                     START_TIMEOUT)
                except asyncio.TimeoutError:
                    pytest.fail(f"Aladin did not register within {START_TIMEOUT:g} s\n"
                                f"{process.result().describe()}")
                aladin_id = _aladin_id(client)
                assert aladin_id is not None
                yield AladinDesk(display, env, hub, client, aladin_id, process)
        finally:
            await process.stop(grace=5)
    assert {name: (real_samp_home() / name).exists() for name in real} == real


@pytest_asyncio.fixture(loop_scope="module")
async def session() -> AsyncIterator[SampSession]:
    """The notebook session (as ``%samp`` finds it), new for the test, in the module's loop."""
    session_module._session = None
    fresh = session_module.connection()
    yield fresh
    if fresh.client is not None:
        await fresh.client.close(stop_hub=True)
    session_module._session = None


def _aladin_id(client: Client) -> str | None:
    return next((view.id for view in client.clients.values()
                 if view.name == ALADIN and view.accepts("table.load.votable")), None)


async def connected_session(shell: Any, session: SampSession, desk: AladinDesk,
                            monkeypatch: pytest.MonkeyPatch) -> Client:
    """``%samp connect`` to the module's hub, as a notebook does; wait until it sees Aladin."""
    monkeypatch.setenv("SAMP_HUB", desk.env.env_value)
    shell.run_line_magic("samp", "connect --hub connect")
    assert session._connecting is not None
    client = await session._connecting
    await wait_until(lambda: _aladin_id(client) == desk.aladin, client)
    return client


async def holds(desk: AladinDesk, table_id: str, url: str) -> str:
    """Aladin's answer status when asked to select no rows of the table (ok: it holds it)."""
    answer = await desk.client.call(desk.aladin, "table.select.rowList",
                                    {"table-id": table_id, "url": url, "row-list": []},
                                    timeout=20, check=False)
    return answer.status


def stars(first: int) -> pd.DataFrame:
    """A few stars near the Trapezium, with names from ``first`` on."""
    ra, dec = TRAPEZIUM
    return pd.DataFrame({"ra": [ra, ra + 0.01, ra - 0.02], "dec": [dec, dec + 0.01, dec - 0.01],
                         "vmag": [5.1, 6.7, 7.3]},
                        index=pd.Index([f"star{first + n}" for n in range(3)], name="source"))


async def test_a_table_sent_as_aladin_registers_arrives(
    aladin: AladinDesk, shell: Any, session: SampSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await connected_session(shell, session, aladin, monkeypatch)
    shell.user_ns["orion"] = table = stars(1)
    shell.run_line_magic("samp", "send orion --to aladin")
    handle = session.handle_of(table)
    receipt = await asyncio.wait_for(handle.delivery, 120)
    # Aladin's dialogs may not exist yet (a NullPointerException, retried), and it
    # does not answer the first table it loads (confirmed with a question instead).
    assert receipt.failed == {}, receipt.summary()
    assert receipt.ok == [aladin.aladin], receipt.summary()
    assert await holds(aladin, handle.table_id, handle.url) == "samp.ok"
    assert await holds(aladin, "no-such-table", "http://127.0.0.1:9/none") == "samp.error"


async def test_aladin_points_where_it_is_asked(
    aladin: AladinDesk, shell: Any, session: SampSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await connected_session(shell, session, aladin, monkeypatch)
    ra, dec = 83.6331, 22.0145  # the Crab
    shell.run_line_magic("samp", f"point {ra} {dec} --to aladin")
    # The notification carries no answer: ask Aladin where it looks until it has moved.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        answer = await aladin.client.call(aladin.aladin, "coord.get.sky", {}, timeout=20,
                                          check=False)
        where = (float(answer.result.get("ra", "nan")), float(answer.result.get("dec", "nan")))
        if abs(where[0] - ra) < 1e-3 and abs(where[1] - dec) < 1e-3:
            break
        assert loop.time() < deadline, f"Aladin looks at {answer.result or answer.errortxt}"


async def test_a_later_table_is_answered_by_aladin_itself(
    aladin: AladinDesk, shell: Any, session: SampSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await connected_session(shell, session, aladin, monkeypatch)
    handle = session.send(stars(10), to="aladin", name="orion again")
    receipt = await asyncio.wait_for(handle.delivery, 120)
    assert receipt.responses[aladin.aladin].status == "samp.ok", receipt.summary()
    assert await holds(aladin, handle.table_id, handle.url) == "samp.ok"
    if shutil.which("import") is not None:  # ImageMagick: keep a picture of Aladin
        ARTIFACTS.mkdir(exist_ok=True)
        subprocess.run(["import", "-display", aladin.display, "-window", "root",
                        str(ARTIFACTS / "aladin.png")], check=False, timeout=30,
                       capture_output=True)


async def test_an_image_reaches_aladin_by_a_local_file(aladin: AladinDesk,
                                                       tmp_path: Path) -> None:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [30.0, 20.0]
    wcs.wcs.cdelt = [-0.001, 0.001]
    image = np.random.default_rng(3).normal(100, 5, (40, 60)).astype("f4")
    async with DataBridge(aladin.client, timeout=60, local_dir=tmp_path / "files") as bridge:
        receipt = await bridge.send_image(image, to=aladin.aladin, wcs=wcs, name="field")
        assert receipt.ok == [aladin.aladin], receipt.summary()
        assert receipt.transports[aladin.aladin] == "file, fits"
