"""The browser route where it is needed: a kernel that cannot reach the desktop, a public page.

The kernel runs in a network namespace of its own (see the conftest), so the
only way from it to the hub on the desktop is through the page, which
Chromium treats as a public site. With the user's Local Network Access
permission the notebook connects through the page (``%samp connect``, route
"browser", chosen by itself) and a desktop client receives the table that
``%samp send`` sends and pings the notebook back, and the hub's Web Profile
restricts the MTypes the notebook may send as it does for any web page;
without the permission the notebook says the browser blocked it.

The granted case runs against both desktop hubs, JSAMP's and ours, as one
test per hub (a notebook, a kernel and the real applications cost seconds
each): besides the table and the ping, real TOPCAT loads the table, a
desktop client's selection reaches the kernel's handle of the table, an
image reaches real DS9 (each application says what it loaded), and then
the tab is reloaded and the desktop hub restarted, and each time the
notebook registers again and sends when the desktop asks it to.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pandas as pd
import pytest

from jupyter_samp.data.codecs.decode import read_votable, to_pandas
from jupyter_samp.data.fetch import fetch
from jupyter_samp.remote.route import blocked_message
from jupyter_samp.testing.waiting import wait_until
from tests.lab.helpers import (
    PROMPT_MS,
    error_outputs,
    open_notebook,
    run_all_cells,
    save_notebook,
    wait_until_finished,
    write_notebook,
)
from tests.lab.test_browser_route import RESEND, outputs_text
from tests.remote.conftest import DESKTOP_NAME, HUB_KINDS, Desktop, DesktopApps, RemoteLab

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

#: Milliseconds to wait for the route's outcome (a kernel start, the page's hello).
ROUTE_MS = 60_000
WEB_HUB = "http://127.0.0.1:21012/"
#: Runs a test once with each desktop hub (the ``desktop_hub`` fixture's parameter).
EACH_HUB = pytest.mark.parametrize("desktop_hub", HUB_KINDS, indirect=True)

#: The kernel tries the desktop hub's address itself: refused, since nothing
#: listens on 127.0.0.1 in its namespace.
REACH_CELL = (
    "import socket\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', 21012), timeout=5).close()\n"
    "    print('kernel reaches the web hub')\n"
    "except OSError as error:\n"
    "    print('kernel cannot reach the web hub:', type(error).__name__)"
)


def connect_cells() -> list[str]:
    """Cells that connect as a user would: ``%samp connect`` (auto), then wait for it."""
    return [
        "%load_ext jupyter_samp",
        REACH_CELL,
        "%samp connect",
        "import jupyter_samp\nsamp = jupyter_samp.connection()\n"
        "await samp.connect()\nprint('route', samp.route)",
    ]


#: JSAMP lets a web client send only "safe" MTypes (samp.app.*, table.*,
#: image.*, coord.*, ...), and others only to a recipient that subscribed
#: to them as mostly harmless. The notebook tries one of each.
RESTRICTED_CELL = (
    "from jupyter_samp.errors import SampError\n"
    "for mtype in ('x-desktop.private', 'x-desktop.harmless'):\n"
    "    try:\n"
    f"        await samp.client.notify({DESKTOP_NAME!r}, mtype, {{}})\n"
    "        print('sent', mtype)\n"
    "    except SampError as error:\n"
    "        print('refused', mtype, type(error).__name__, error)"
)

SEND_CELLS = [
    "import pandas as pd\n"
    "df = pd.DataFrame({'ra': [10.5, 20.25, 30.0], 'mag': [12.0, 13.5, 9.0]})",
    "%samp send df --to topcat --name 'remote stars'",
    # The last send of df: the handle whose selection the kernel waits for.
    f"%samp send df --to {DESKTOP_NAME} --name 'remote stars'",
]

#: The desktop asks the notebook to send its table again, after the tab reloads
#: and the hub restarts (the handler is declared again with each registration).
RESEND_CELL = (
    f"RESEND = {RESEND!r}\n"
    "def resend(message):\n"
    f"    samp.send(df, to={DESKTOP_NAME!r}, name=message.params['name'])\n"
    "    return {}\n"
    "samp.client.add_handler(RESEND, resend)"
)

#: DS9 reports an image's size (x y): 120 by 80 pixels here.
IMAGE_SIZE = ["120", "80"]
IMAGE_CELLS = [
    "import numpy as np\nfrom astropy.io import fits\n"
    "hdu = fits.PrimaryHDU(np.arange(80 * 120, dtype='f4').reshape(80, 120))",
    "%samp image hdu --to ds9 --name 'remote image'",
]

#: Waits while the desktop selects rows of the table %samp sent (callbacks
#: reach a busy kernel); the last cell, since it blocks until then.
SELECT_CELL = (
    "import asyncio\nh = samp.handle_of(df)\n"
    "selected = asyncio.get_running_loop().create_future()\n"
    "h.on_select(lambda event: selected.done() or selected.set_result(event))\n"
    "if not len(h.selected_rows):  # unless it came before this cell ran\n"
    "    await asyncio.wait_for(selected, 60)\n"
    "print('selected', h.selection.index.tolist())"
)


async def expect_output(page: Any, text: str | re.Pattern[str], timeout: float = ROUTE_MS
                        ) -> str:
    """Wait until a cell output of the notebook shows ``text``; return that output's text.

    Fails with the text of every output.
    """
    from playwright.async_api import expect

    outputs = page.locator(".jp-Notebook .jp-OutputArea-output")
    try:
        found = outputs.filter(has_text=text).first
        await expect(found).to_be_visible(timeout=timeout)
        return str(await found.inner_text())
    except AssertionError:
        shown = "\n---\n".join(await outputs.all_inner_texts())
        pytest.fail(f"no cell output shows {text!r}; the outputs:\n{shown}")


@EACH_HUB
@pytest.mark.timeout(180)
async def test_with_the_permission_the_notebook_works_with_the_desktop_and_comes_back(
    remote_lab: RemoteLab, desktop: Desktop, apps: DesktopApps, granted_page: Any
) -> None:
    notified = await listen_for_restricted(desktop)
    write_notebook(remote_lab.lab.root / "granted.ipynb",
                   [*connect_cells(), *SEND_CELLS, RESTRICTED_CELL, RESEND_CELL, *IMAGE_CELLS,
                    SELECT_CELL])
    await open_notebook(granted_page, remote_lab.lab.notebook_url("granted.ipynb"))
    await run_all_cells(granted_page)

    received = await desktop.next_table()
    assert received.name == "remote stars"
    assert received.data["ra"].tolist() == [10.5, 20.25, 30.0]
    # Downloaded from the Jupyter server at its public address (the forwarder).
    assert received.url.startswith(f"{remote_lab.origin}/jupyter-samp/data/")
    # The notebook is a web client of the desktop hub, and answers through the page.
    answer = await desktop.client.call(received.sender_id, "samp.app.ping", {}, timeout=30)
    assert answer.ok, answer
    # The desktop selects rows 0 and 2 of the table it was sent: the kernel's handle has them.
    answer = await desktop.client.call(received.sender_id, "table.select.rowList",
                                       {"table-id": received.id, "row-list": ["0", "2"]},
                                       timeout=30)
    assert answer.ok, answer

    await check_the_route_outputs(granted_page, desktop)
    await check_the_restriction(granted_page, desktop, notified)
    await check_the_real_apps(granted_page, desktop, apps)
    await wait_until_finished(granted_page)
    await save_notebook(granted_page, "granted.ipynb")
    saved = remote_lab.lab.root / "granted.ipynb"
    assert error_outputs(saved) == []
    assert "selected [0, 2]" in outputs_text(saved)

    # A reloaded tab registers the notebook again, and it sends.
    await granted_page.reload()
    again = await sends_again(desktop, received.sender_name, "after the reload",
                              before=received.sender_id)
    # The desktop hub restarts (same kind, port and lockfile): the page notices,
    # and the notebook registers again with the new hub.
    stale_key = desktop.client.private_key
    await desktop.hub.stop()
    await desktop.hub.start()
    await sends_again(desktop, received.sender_name, "after the restart", before=again,
                      stale_key=stale_key)


async def check_the_real_apps(page: Any, desktop: Desktop, apps: DesktopApps) -> None:
    """TOPCAT holds the table and DS9 shows the image, both fetched from the forwarder.

    The forwarder is the kernel's only way out; each application is asked what
    it loaded, since ``samp.ok`` alone proves little.
    """
    await expect_output(page, re.compile(rf"topcat \({re.escape(apps.topcat)}\)\s*ok"),
                        timeout=PROMPT_MS)
    held = await topcat_current_table(desktop, apps.topcat)
    assert held["ra"].tolist() == [10.5, 20.25, 30.0]
    assert held["mag"].tolist() == [12.0, 13.5, 9.0]
    await expect_output(page, re.compile(rf"\({re.escape(apps.ds9)}\)\s*ok"),
                        timeout=PROMPT_MS)
    assert await ds9_image_size(desktop, apps.ds9) == IMAGE_SIZE


async def listen_for_restricted(desktop: Desktop) -> asyncio.Queue[str]:
    """Subscribe the desktop client to a private MType and a mostly harmless one."""
    notified: asyncio.Queue[str] = asyncio.Queue()
    for mtype, annotation in (("x-desktop.private", {}),
                              ("x-desktop.harmless", {"x-samp.mostly-harmless": "1"})):
        desktop.client.add_handler(mtype, lambda message: notified.put_nowait(message.mtype),
                                   annotation)
    await desktop.client.flush()
    return notified


async def check_the_route_outputs(page: Any, desktop: Desktop) -> None:
    """The kernel could not reach the hub itself, took the browser route, and says so."""
    await expect_output(page, "kernel cannot reach the web hub: ConnectionRefusedError")
    await expect_output(page, "route browser")
    # %samp connect's status line says which route and why.
    await expect_output(page, f"through your browser, to the hub on your computer at {WEB_HUB}")
    # %samp send's receipt.
    receipt = rf"{re.escape(DESKTOP_NAME)} \({desktop.client.self_id}\)\s*ok"
    await expect_output(page, re.compile(receipt), timeout=PROMPT_MS)


async def check_the_restriction(page: Any, desktop: Desktop, notified: asyncio.Queue[str]
                                ) -> None:
    """The hub lets the page send the mostly harmless MType only, and its refusal shows."""
    await expect_output(page, "sent x-desktop.harmless")
    assert await asyncio.wait_for(notified.get(), 30) == "x-desktop.harmless"
    assert notified.empty()
    refused = await expect_output(page, "refused x-desktop.private")
    # The hub's own refusal reaches the notebook through the page: both hubs word
    # it alike, but only ours gives a fault the client maps to its own error class.
    assert "MType x-desktop.private blocked" in refused, refused
    expected = "HubFault" if desktop.hub.kind == "jsamp" else "MTypeBlockedError"
    assert expected in refused, refused


async def ds9_image_size(desktop: Desktop, ds9: str, timeout: float = 30.0) -> list[str]:
    """The size of the image DS9 shows, once it shows one (asked with ``ds9.get``).

    DS9 acknowledges a load before it has fetched the image, so the size is
    asked until it is not empty.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = await desktop.client.call(ds9, "ds9.get", {"cmd": "fits size"}, timeout=30,
                                           check=False)
        size = str((answer.result or {}).get("value", "")).split() if answer.ok else []
        if size and size != ["0", "0"]:
            return size
        if loop.time() > deadline:
            pytest.fail(f"DS9 showed no image within {timeout:g} s: {answer}")
        await asyncio.sleep(0.2)  # polling: DS9 announces nothing when a load completes


async def sends_again(desktop: Desktop, notebook_name: str, name: str, *, before: str,
                      stale_key: str | None = None) -> str:
    """Ask the notebook, registered anew, to send its table again; return its new id.

    Parameters
    ----------
    desktop : Desktop
        The desktop client asks, and receives the table.
    notebook_name : str
        The notebook's ``samp.name``.
    name : str
        The name the table is to have this time.
    before : str
        The notebook's previous client id, which the new registration must not have.
    stale_key : str, optional
        After a hub restart: the desktop client's private key on the old hub.
        Until the client holds another, its list of clients is the old hub's
        (and a new hub may reuse ids, so ``before`` alone cannot tell).
    """
    client = desktop.client

    def registered_anew() -> list[str]:
        if not client.connected or client.private_key == stale_key:
            return []
        return [view.id for view in client.clients.values()
                if view.name == notebook_name and view.accepts(RESEND)
                and (stale_key is not None or view.id != before)]

    await wait_until(lambda: bool(registered_anew()), client, timeout=60)
    notebook = registered_anew()[0]
    assert (await client.call(notebook, RESEND, {"name": name}, timeout=30)).ok
    again = await desktop.next_table()
    assert (again.name, again.sender_id) == (name, notebook)
    assert again.data["ra"].tolist() == [10.5, 20.25, 30.0]
    return notebook


async def test_without_the_permission_the_notebook_says_the_browser_blocked_it(
    remote_lab: RemoteLab, desktop: Desktop, ungranted_page: Any
) -> None:
    write_notebook(remote_lab.lab.root / "ungranted.ipynb", connect_cells()[:3])
    await open_notebook(ungranted_page, remote_lab.lab.notebook_url("ungranted.ipynb"))
    await run_all_cells(ungranted_page)
    # Before the page's first request the permission reads "prompt"; headless
    # Chromium 156 has no one to ask, answers its own prompt for the blocked
    # request to 127.0.0.1:21012 with a refusal, and then reads "denied"
    # ("local-network-access" and "loopback-network"; "local-network" stays
    # "prompt"). The page asks after its probe, so the notebook says "denied".
    expected = blocked_message({"origin": remote_lab.origin, "lna": "denied"})
    await expect_output(ungranted_page, f"SAMP: {expected}")
    assert not any(view.name != "Hub" and view.id != desktop.client.self_id
                   for view in desktop.client.clients.values()), "a page registered"


async def held_table(url: str) -> pd.DataFrame:
    """The VOTable at ``url`` (served by TOPCAT), as a DataFrame."""
    body = await fetch(url)
    return await asyncio.to_thread(lambda: to_pandas(read_votable(body)))


async def topcat_current_table(desktop: Desktop, topcat: str, timeout: float = 60.0
                               ) -> pd.DataFrame:
    """The table TOPCAT shows, once it has one (asked with ``table.get.stil``).

    TOPCAT answers ``samp.ok`` to a load before the table is in its list and
    announces nothing when it is: asking is the only way to know.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    params = {"format": "votable-binary2-inline"}
    while True:
        answer = await desktop.client.call(topcat, "table.get.stil", params, timeout=30,
                                           check=False)
        if answer.ok:
            return await held_table(answer.result["url"])
        if loop.time() > deadline:
            pytest.fail(f"TOPCAT held no table within {timeout:g} s: {answer.errortxt}")
        await asyncio.sleep(0.2)  # polling: TOPCAT sends no event when a load completes
