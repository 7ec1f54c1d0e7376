"""An image reaches the real Aladin, which loads images from local files only.

Aladin ignores ``SAMP_HUB`` and reads ``<user.home>/.samp``, so the hub's
lockfile goes there. Over ``http://`` Aladin answers "Could not load image !"
(it probes the URL for a HiPS); the ``file://`` fast path is what reaches it.
The load is checked with ``script.aladin.send`` ``status``, which lists planes.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from astropy.wcs import WCS

from jupyter_samp import Client, Hub, connect
from jupyter_samp.data import DataBridge
from jupyter_samp.errors import SampError
from jupyter_samp.testing import PeerProcess, samp_environment
from jupyter_samp.testing.waiting import wait_until
from tests.apps.conftest import missing

pytestmark = [pytest.mark.peers, pytest.mark.asyncio(loop_scope="module")]

ALADIN_JAR = Path("/usr/share/java/aladin.jar")


def _aladin_id(client: Client) -> str | None:
    for view in client.clients.values():
        if view.name.lower().startswith("aladin") and view.accepts("image.load.fits"):
            return view.id
    return None


async def _until_ready(client: Client, aladin_id: str, timeout: float = 60.0) -> None:
    """Wait until Aladin answers a script: it registers before its windows exist, and
    loads sent meanwhile fail with a NullPointerException (it announces nothing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await client.call(aladin_id, "script.aladin.send", {"script": "status"}, timeout=30)
            return
        except SampError:
            if loop.time() > deadline:
                raise
        await asyncio.sleep(0.5)  # polling: Aladin announces nothing when it is ready


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def aladin(display: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[tuple[Client, str, Path]]:
    """Aladin registered with our hub (lockfile at its ``user.home/.samp``) and a client."""
    if not ALADIN_JAR.is_file() or shutil.which("java") is None:
        missing("Aladin is needed (Debian package aladin)")
    root = tmp_path_factory.mktemp("aladin")
    with samp_environment(root) as env:
        lockfile = env.home / ".samp"
        async with Hub(lockfile=lockfile, web_profile=False):
            command = ["java", f"-Duser.home={env.home}", "-Xmx1024m", "-jar", str(ALADIN_JAR),
                       "-local", "-noreleasetest", "-nolog", "-noplugin"]
            process = PeerProcess(command, env=env.subprocess_env({"DISPLAY": display}),
                                  name="aladin", cwd=env.home)
            try:
                async with connect("pytest-aladin", hub=lockfile) as client:
                    await process.start()
                    try:
                        await wait_until(lambda: _aladin_id(client) is not None, client, 120)
                    except TimeoutError:
                        pytest.fail(f"Aladin did not register\n{process.result().describe()}")
                    found = _aladin_id(client)
                    assert found is not None
                    await _until_ready(client, found)
                    yield client, found, root
            finally:
                await process.stop(grace=5)


async def test_an_image_reaches_aladin_by_a_local_file(
        aladin: tuple[Client, str, Path]) -> None:
    client, aladin_id, root = aladin
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [30.0, 20.0]
    wcs.wcs.cdelt = [-0.001, 0.001]
    image = np.random.default_rng(3).normal(100, 5, (40, 60)).astype("f4")
    async with DataBridge(client, timeout=60, local_dir=root / "files") as bridge:
        receipt = await bridge.send_image(image, to=aladin_id, wcs=wcs, name="field")
        assert receipt.ok == [aladin_id], receipt.summary()
        assert receipt.transports[aladin_id] == "file, fits"
        status = await client.call(aladin_id, "script.aladin.send", {"script": "status"},
                                   timeout=60)
        assert "Image" in str(status.result), status.result
