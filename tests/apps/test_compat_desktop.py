"""astropy.samp scripts, with only the import changed, against real TOPCAT and DS9.

The scripts are astropy's documented ones, call for call (connect, a message
map, ``notify_all``, ``disconnect``; a ``Receiver`` bound with
``bind_receive_call``/``bind_receive_notification`` and its wait loop),
importing from :mod:`jupyter_samp.compat`. Each runs in a thread of its own
(it blocks, as a script does) while the hub keeps routing on the test's
loop; what the applications then hold is checked by asking them. The page
docs/compat/table_image.rst is run here too, since it needs the applications.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from jupyter_samp.testing.waiting import wait_until
from tests.apps.conftest import Desktop
from tests.compat.doc_blocks import DOCS, run_page

pytestmark = [pytest.mark.peers, pytest.mark.asyncio(loop_scope="module")]

SEND_TABLE = """
from jupyter_samp.compat import SAMPIntegratedClient

client = SAMPIntegratedClient()
client.connect()

params = {}
params["url"] = table_url
params["name"] = "Script table"

message = {}
message["samp.mtype"] = "table.load.votable"
message["samp.params"] = params

client.notify_all(message)
client.disconnect()
"""

SEND_IMAGE = """
from jupyter_samp.compat import SAMPIntegratedClient

client = SAMPIntegratedClient()
client.connect()

params = {}
params["url"] = image_url
params["name"] = "Script image"

message = {}
message["samp.mtype"] = "image.load.fits"
message["samp.params"] = params

client.notify_all(message)
client.disconnect()
"""

RECEIVE = """
import time

from jupyter_samp.compat import SAMPIntegratedClient

client = SAMPIntegratedClient()
client.connect()


class Receiver:
    def __init__(self, client):
        self.client = client
        self.received = False

    def receive_call(self, private_key, sender_id, msg_id, mtype, params, extra):
        self.params = params
        self.received = True
        self.client.reply(msg_id, {"samp.status": "samp.ok", "samp.result": {}})

    def receive_notification(self, private_key, sender_id, mtype, params, extra):
        self.params = params
        self.received = True


r = Receiver(client)
client.bind_receive_call("image.load.fits", r.receive_call)
client.bind_receive_notification("image.load.fits", r.receive_notification)

while not r.received:
    time.sleep(0.1)

client.disconnect()
"""


@pytest.fixture
def on_desktop(desktop: Desktop, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Desktop:
    """Scripts find the desktop's hub (SAMP_HUB, HOME) and write their files in tmp_path."""
    for name, value in desktop.env.variables().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return desktop


def run_script(source: str, **names: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__script__", **names}
    exec(compile(textwrap.dedent(source), "<astropy doc script>", "exec"), namespace)
    return namespace


async def ask(desktop: Desktop, target: str, mtype: str, params: dict[str, Any]) -> Any:
    response = await desktop.client.call(target, mtype, params, timeout=60)
    return response.result


async def tables_in_topcat(desktop: Desktop) -> int:
    """How many tables TOPCAT holds (``table.get.stil`` by index, until one is missing)."""
    count = 0
    while True:
        response = await desktop.client.call(
            desktop.topcat, "table.get.stil", {"format": "csv", "index": str(count + 1)},
            timeout=60, check=False)
        if response.status == "samp.error":
            return count
        count += 1


async def until(check: Any, tries: int = 50) -> None:
    """Ask again until ``check()`` holds: an application acts on a notification after
    it has been delivered, and says nothing when done (each try is one round trip)."""
    for _ in range(tries):
        if await check():
            return
    raise AssertionError("the application did not act on the notification")


async def test_send_table_script(on_desktop: Desktop) -> None:
    before = await tables_in_topcat(on_desktop)
    Table({"a": [1, 2, 3]}).write("script.vot", format="votable")
    url = (Path.cwd() / "script.vot").as_uri()
    await asyncio.to_thread(run_script, SEND_TABLE, table_url=url)

    async def loaded() -> bool:
        return await tables_in_topcat(on_desktop) == before + 1

    await until(loaded)


async def test_send_image_script(on_desktop: Desktop) -> None:
    fits.PrimaryHDU(np.zeros((40, 60))).writeto("script.fits")
    url = (Path.cwd() / "script.fits").as_uri()
    await asyncio.to_thread(run_script, SEND_IMAGE, image_url=url)

    async def loaded() -> bool:
        size = await ask(on_desktop, on_desktop.ds9, "ds9.get", {"cmd": "fits size"})
        return size.get("value") == "60 40"

    await until(loaded)


async def test_receive_call_script(on_desktop: Desktop) -> None:
    fits.PrimaryHDU(np.zeros((30, 50))).writeto("shown.fits")
    url = (Path.cwd() / "shown.fits").as_uri()
    await ask(on_desktop, on_desktop.ds9, "image.load.fits", {"url": url})
    known = set(on_desktop.client.clients) | {on_desktop.client.self_id}
    script = asyncio.ensure_future(asyncio.to_thread(run_script, RECEIVE))

    def receiver_subscribed() -> bool:
        return script.done() or any(
            view.accepts("image.load.fits") for cid, view in on_desktop.client.clients.items()
            if cid not in known)

    await wait_until(receiver_subscribed, on_desktop.client, timeout=30)
    await ask(on_desktop, on_desktop.ds9, "ds9.set", {"cmd": "samp broadcast image"})
    namespace = await asyncio.wait_for(script, 60)
    assert namespace["r"].params["url"]


async def test_table_image_page_runs(on_desktop: Desktop, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    namespace = await asyncio.to_thread(run_page, DOCS / "compat/table_image.rst")
    printed = capsys.readouterr().out
    assert "DS9 shows an image of 100 80" in printed
    assert "table loaded by ['" in printed and "image loaded by ['" in printed
    assert printed.count("DS9 sent ") == 2
    assert namespace["response"]["samp.status"] == "samp.ok"
    assert os.path.exists("example.vot")
