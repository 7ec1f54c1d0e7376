"""Applications with icons for the panel's browser test, and what the test checks in the page.

Two SAMP clients join the module's hub next to the recorder: ``skyviewer``,
whose ``samp.icon.url`` is a PNG on a local server and which keeps the tables
it is sent, and ``bigicon``, whose icon is larger than the kernel accepts (it
must get a placeholder, as must the recorder, which declares no icon).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_samp import Client, connect
from jupyter_samp.data import DataBridge
from jupyter_samp.data.receive import Received
from tests.lab.helpers import PROMPT_MS, STAR_NAMES, STARS
from tests.notebook.icon_server import icon_server

VIEWER, BIG = "skyviewer", "bigicon"


def panel_cells(client_name: str) -> list[str]:
    """Connect to the running hub and show the panel offering the stars table."""
    return [
        "import pandas as pd\n"
        "import jupyter_samp\n"
        "from jupyter_samp.notebook.widgets import panel\n"
        "\n"
        f"samp = jupyter_samp.connection({client_name!r})\n"
        'client = await samp.connect(hub="connect")',
        f"stars = pd.DataFrame({STARS!r},\n"
        f'                     index=pd.Index({STAR_NAMES!r}, name="source"))\n'
        'panel(samp, tables={"stars": stars})',
    ]


@dataclass
class IconApps:
    """The two applications, and the tables ``skyviewer`` received."""

    viewer: Client
    big: Client
    tables: asyncio.Queue[Received]


@asynccontextmanager
async def icon_apps(lockfile: Path) -> AsyncIterator[IconApps]:
    """Serve the icons and register both applications (subscriptions known to the hub)."""
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(icon_server())
        viewer = await stack.enter_async_context(
            connect(VIEWER, hub=lockfile, icon_url=server.url("/icon.png")))
        big = await stack.enter_async_context(
            connect(BIG, hub=lockfile, icon_url=server.url("/huge.png")))
        tables: asyncio.Queue[Received] = asyncio.Queue()
        bridge = DataBridge(viewer)
        stack.push_async_callback(bridge.close)
        bridge.on_table(tables.put_nowait, as_pandas=True)
        big.add_handler("coord.pointAt.sky", lambda message: {})
        await viewer.flush()
        await big.flush()
        yield IconApps(viewer, big, tables)


def app_row(page: Any, name: str) -> Any:
    """The panel's row for application ``name``."""
    return page.locator(".jupyter-samp-panel .jupyter-samp-app", has_text=name)


async def icon_width(page: Any, name: str) -> int:
    """The natural width of the icon image shown in ``name``'s row, once it has loaded."""
    from playwright.async_api import expect

    image = app_row(page, name).locator("img.jupyter-samp-icon")
    await expect(image).to_have_count(1, timeout=PROMPT_MS)
    await image.evaluate("(img) => img.decode()")
    width: int = await image.evaluate("(img) => img.naturalWidth")
    return width
