"""The notebook widgets in Notebook 7, in a real browser.

With the ``notebook`` package installed, the JupyterLab server of the lab
fixtures also serves the Notebook 7 interface at ``/notebooks/<path>``.
Chromium opens a notebook there and runs it from the Run menu; the apps
panel must list the recording client by name, and the SendButton must
deliver the DataFrame to it. The quickstart notebook must run to the end
without an error. Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pytest

from tests.lab.conftest import ARTIFACTS, RECORDER_NAME, Lab, Recorder, missing
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


@pytest.fixture(scope="module")
def notebook7(jupyterlab: Lab) -> Lab:
    """The lab fixture's server, once the ``notebook`` package (7 or later) is known installed."""
    try:
        major = int(version("notebook").split(".")[0])
    except PackageNotFoundError:
        major = 0
    if major < 7:
        missing("Notebook 7 is not installed (pip install -e '.[test]')")
    return jupyterlab


async def test_the_lab_server_also_serves_notebook7(notebook7: Lab, page: Any) -> None:
    await page.goto(notebook7.notebook7_url("quickstart.ipynb"))
    config = await page.locator("#jupyter-config-data").text_content()
    assert '"appName": "Jupyter Notebook"' in (config or "")


async def test_send_button_delivers_in_notebook7(
    notebook7: Lab, recorder: Recorder, page: Any
) -> None:
    write_notebook(notebook7.root / "nb7_widgets.ipynb",
                   widget_cells("notebook7", "notebook 7 stars"))
    await open_notebook(page, notebook7.notebook7_url("nb7_widgets.ipynb"))
    await run_all_cells(page)

    await send_stars_to(page, RECORDER_NAME, recorder.client.self_id or "")
    received = await recorder.next_table()
    assert received.name == "notebook 7 stars"
    assert_same_stars(received.data)
    await expect_receipt(page, RECORDER_NAME)

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "notebook7.png"), full_page=True)


async def test_quickstart_runs_in_notebook7(notebook7: Lab, page: Any) -> None:
    from playwright.async_api import expect

    await open_notebook(page, notebook7.notebook7_url("quickstart.ipynb"))
    await run_all_cells(page)
    await wait_until_finished(page)
    await save_notebook(page, "quickstart.ipynb")

    assert_all_cells_ran(notebook7.root / "quickstart.ipynb")
    panel_title = page.locator(".widget-vbox .widget-html-content", has_text="Applications")
    await expect(panel_title.first).to_be_visible(timeout=PROMPT_MS)
