"""The notebook widgets in a real JupyterLab, in a real browser.

JupyterLab serves a notebook that connects to our hub, shows the
:func:`~jupyter_samp.notebook.widgets.panel` and a
:class:`~jupyter_samp.notebook.widgets.SendButton`. Chromium runs its
cells from the Run menu, the panel must list the recording client by name,
and clicking the button must deliver the DataFrame to that client. The
panel shows each application's icon (fetched by the kernel; a placeholder
when there is none or it is refused) and a target picker with a send button
for the data it was given. The quickstart notebook must run in the browser
from top to bottom without an error. Screenshots go to ``artifacts/`` at the
repository root.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_samp import Hub
from tests.lab.conftest import ARTIFACTS, RECORDER_NAME, Lab, Recorder
from tests.lab.helpers import (
    PROMPT_MS,
    assert_all_cells_ran,
    assert_same_stars,
    expect_receipt,
    open_notebook,
    run_all_cells,
    save_notebook,
    send_stars_to,
    wait_until_finished,
    widget_cells,
    write_notebook,
)
from tests.lab.panel_apps import BIG, VIEWER, app_row, icon_apps, icon_width, panel_cells
from tests.notebook.icon_server import ICON_WIDTH

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]


async def test_send_button_delivers_to_the_app_shown_in_the_panel(
    jupyterlab: Lab, recorder: Recorder, page: Any
) -> None:
    write_notebook(jupyterlab.root / "lab_widgets.ipynb",
                   widget_cells("lab-notebook", "lab stars"))
    await open_notebook(page, jupyterlab.notebook_url("lab_widgets.ipynb"))
    await run_all_cells(page)

    await send_stars_to(page, RECORDER_NAME, recorder.client.self_id or "")
    received = await recorder.next_table()
    assert received.name == "lab stars"
    assert_same_stars(received.data)
    await expect_receipt(page, RECORDER_NAME)

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "jupyterlab.png"), full_page=True)


async def test_quickstart_runs_in_the_browser(jupyterlab: Lab, page: Any) -> None:
    from playwright.async_api import expect

    await open_notebook(page, jupyterlab.notebook_url("quickstart.ipynb"))
    await run_all_cells(page)
    await wait_until_finished(page)
    await save_notebook(page, "quickstart.ipynb")

    assert_all_cells_ran(jupyterlab.root / "quickstart.ipynb")
    # The apps panel rendered as widgets, not as the text "VBox(...)".
    panel_title = page.locator(".widget-vbox .widget-html-content", has_text="Applications")
    await expect(panel_title.first).to_be_visible(timeout=PROMPT_MS)

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "jupyterlab-quickstart.png"), full_page=True)


async def test_panel_shows_icons_and_sends_to_the_picked_app(
    jupyterlab: Lab, lab_hub: Hub, recorder: Recorder, page: Any
) -> None:
    from playwright.async_api import expect

    async with icon_apps(lab_hub.lockfile) as apps:
        write_notebook(jupyterlab.root / "lab_panel.ipynb", panel_cells("panel-notebook"))
        await open_notebook(page, jupyterlab.notebook_url("lab_panel.ipynb"))
        await run_all_cells(page)

        # Icons: the kernel fetched skyviewer's PNG and the browser decoded it;
        # the oversized icon and the recorder (none declared) show initials.
        assert await icon_width(page, VIEWER) == ICON_WIDTH
        for name, initial in ((BIG, "B"), (RECORDER_NAME, "R")):
            stand_in = app_row(page, name).locator(".jupyter-samp-icon-placeholder")
            await expect(stand_in).to_have_text(initial, timeout=PROMPT_MS)
        await expect(app_row(page, VIEWER)).to_contain_text("accepts tables")
        await expect(app_row(page, BIG)).to_contain_text("accepts sky positions")
        hover = app_row(page, BIG).locator(".jupyter-samp-icon-placeholder div[title]")
        assert "more than the limit" in (await hover.get_attribute("title") or "")

        # The target picker lists what accepts tables, not bigicon; send to skyviewer.
        picker = page.locator(".jupyter-samp-panel .widget-dropdown select")
        viewer_label = f"{VIEWER} ({apps.viewer.self_id})"
        await expect(picker.locator("option", has_text=viewer_label)).to_have_count(1,
                                                                                timeout=PROMPT_MS)
        await expect(picker.locator("option", has_text=BIG)).to_have_count(0)
        await picker.select_option(label=viewer_label)
        await page.locator(".jupyter-samp-panel button.jupyter-button",
                           has_text="Send table").click(timeout=PROMPT_MS)
        received = await asyncio.wait_for(apps.tables.get(), PROMPT_MS / 1000)
        assert received.name == "stars"
        assert_same_stars(received.data)
        receipt = page.locator(".jupyter-samp-panel .jupyter-samp-send-result table",
                               has_text=VIEWER)
        await expect(receipt).to_contain_text("ok", timeout=PROMPT_MS)

        ARTIFACTS.mkdir(exist_ok=True)
        await page.locator(".jupyter-samp-panel").screenshot(
            path=str(ARTIFACTS / "jupyterlab-panel.png"))
        await page.screenshot(path=str(ARTIFACTS / "jupyterlab-panel-page.png"), full_page=True)
    assert recorder.tables.empty()  # the picked application only
