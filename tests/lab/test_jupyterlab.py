"""The notebook widgets in a real JupyterLab, in a real browser.

JupyterLab serves a notebook that connects to our hub, shows the
:func:`~jupyter_samp.notebook.widgets.panel` and a
:class:`~jupyter_samp.notebook.widgets.SendButton`. Chromium runs its
cells from the Run menu, the panel must list the recording client by name,
and clicking the button must deliver the DataFrame to that client. The
quickstart notebook must run in the browser from top to bottom without an
error. Screenshots go to ``artifacts/`` at the repository root.
"""

from __future__ import annotations

from typing import Any

import pytest

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
