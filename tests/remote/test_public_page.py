"""The browser route where it is needed: a kernel that cannot reach the desktop, a public page.

The kernel runs in a network namespace of its own (see the conftest), so the
only way from it to JSAMP's hub on the desktop is through the page, which
Chromium treats as a public site. With the user's Local Network Access
permission the notebook connects through the page (``%samp connect``, route
"browser", chosen by itself) and a desktop client receives the table that
``%samp send`` sends and pings the notebook back, JSAMP's Web Profile
restricts the MTypes the notebook may send as it does for any web page, and
real TOPCAT loads the table; without the permission the notebook says the
browser blocked it.
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
from tests.lab.helpers import PROMPT_MS, open_notebook, run_all_cells, write_notebook
from tests.remote.conftest import DESKTOP_NAME, Desktop, RemoteLab

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

#: Milliseconds to wait for the route's outcome (a kernel start, the page's hello).
ROUTE_MS = 60_000
WEB_HUB = "http://127.0.0.1:21012/"

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
    f"%samp send df --to {DESKTOP_NAME} --name 'remote stars'",
]


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


async def test_with_the_permission_a_table_reaches_jsamps_desktop_and_the_desktop_pings_back(
    remote_lab: RemoteLab, desktop: Desktop, granted_page: Any
) -> None:
    notified: asyncio.Queue[str] = asyncio.Queue()
    for mtype, annotation in (("x-desktop.private", {}),
                              ("x-desktop.harmless", {"x-samp.mostly-harmless": "1"})):
        desktop.client.add_handler(mtype, lambda message: notified.put_nowait(message.mtype),
                                   annotation)
    await desktop.client.flush()
    write_notebook(remote_lab.lab.root / "granted.ipynb",
                   [*connect_cells(), *SEND_CELLS, RESTRICTED_CELL])
    await open_notebook(granted_page, remote_lab.lab.notebook_url("granted.ipynb"))
    await run_all_cells(granted_page)

    received = await desktop.next_table()
    assert received.name == "remote stars"
    assert received.data["ra"].tolist() == [10.5, 20.25, 30.0]
    # Downloaded from the Jupyter server at its public address (the forwarder).
    assert received.url.startswith(f"{remote_lab.origin}/jupyter-samp/data/")
    # The notebook is a web client of JSAMP's hub, and answers through the page.
    answer = await desktop.client.call(received.sender_id, "samp.app.ping", {}, timeout=30)
    assert answer.ok, answer

    await expect_output(granted_page, "kernel cannot reach the web hub: ConnectionRefusedError")
    await expect_output(granted_page, "route browser")
    # %samp connect's status line says which route and why.
    await expect_output(granted_page, f"through your browser, to the hub on your computer "
                                      f"at {WEB_HUB}")
    await expect_output(granted_page, "sent x-desktop.harmless")
    assert await asyncio.wait_for(notified.get(), 30) == "x-desktop.harmless"
    assert notified.empty()
    refused = await expect_output(granted_page, "refused x-desktop.private")
    # The hub's own refusal, as JSAMP words it, reaches the notebook through the page.
    assert "HubFault" in refused and "MType x-desktop.private blocked" in refused
    # %samp send's receipt.
    receipt = rf"{re.escape(DESKTOP_NAME)} \({desktop.client.self_id}\)\s*ok"
    await expect_output(granted_page, re.compile(receipt), timeout=PROMPT_MS)


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


async def test_real_topcat_on_jsamps_hub_loads_the_remote_kernels_table(
    remote_lab: RemoteLab, desktop: Desktop, topcat: str, granted_page: Any
) -> None:
    cells = [*connect_cells(), SEND_CELLS[0], "%samp send df --to topcat --name 'remote stars'"]
    write_notebook(remote_lab.lab.root / "topcat.ipynb", cells)
    await open_notebook(granted_page, remote_lab.lab.notebook_url("topcat.ipynb"))
    await run_all_cells(granted_page)
    await expect_output(granted_page, re.compile(rf"topcat \({topcat}\)\s*ok"))
    # TOPCAT fetched the table from the forwarder: the kernel's only way out.
    held = await topcat_current_table(desktop, topcat)
    assert held["ra"].tolist() == [10.5, 20.25, 30.0]
    assert held["mag"].tolist() == [12.0, 13.5, 9.0]
