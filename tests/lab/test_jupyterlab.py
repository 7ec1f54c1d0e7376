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

import re
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

from tests.lab.conftest import ARTIFACTS, RECORDER_NAME, Lab, Recorder

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]

#: Milliseconds Playwright waits for something to appear on the page.
PROMPT_MS = 30_000
#: Milliseconds a whole notebook may take to run in the browser.
RUN_ALL_MS = 120_000

STARS = {"ra": [83.6331, 83.8221, 86.6508], "dec": [22.0145, -5.3911, 0.0794],
         "vmag": [8.4, 4.0, 8.3]}
STAR_NAMES = ["crab", "trapezium", "m78"]

WIDGET_CELLS = [
    "import pandas as pd\n"
    "import jupyter_samp\n"
    "from jupyter_samp.notebook.widgets import SendButton, panel\n"
    "\n"
    'samp = jupyter_samp.connection("lab-notebook")\n'
    'client = await samp.connect(hub="connect")',
    "panel(samp)",
    f"stars = pd.DataFrame({STARS!r},\n"
    f'                     index=pd.Index({STAR_NAMES!r}, name="source"))\n'
    'stars.attrs["units"] = {"ra": "deg", "dec": "deg", "vmag": "mag"}\n'
    'SendButton(samp, stars, name="lab stars")',
]

#: True once every code cell shows an execution count, or once an output
#: looks like a traceback (so that a failing notebook fails fast).
FINISHED_JS = """
() => {
  const prompts = [...document.querySelectorAll(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt")]
    .map((node) => node.textContent.trim());
  const done = prompts.length > 0 && prompts.every((text) => /^\\[\\d+\\]:$/.test(text));
  const failed = [...document.querySelectorAll(
      '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .some((node) => /Traceback|Error\\b/.test(node.textContent));
  return done || failed;
}
"""


def write_notebook(path: Path, sources: list[str]) -> None:
    """A notebook of code cells with the python3 kernel (so JupyterLab asks nothing)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)


async def open_notebook(page: Any, lab: Lab, name: str) -> None:
    """Open notebook ``name`` in JupyterLab and wait until it is shown."""
    from playwright.async_api import expect

    await page.goto(lab.notebook_url(name))
    await page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-CodeCell",
                                 timeout=PROMPT_MS)
    # The Run menu acts on the current notebook only once its kernel is connected:
    # the status bar then reads "<kernel name> | Idle".
    kernel_status = page.get_by_role("button", name=re.compile(r"\| Idle$"))
    await expect(kernel_status).to_be_visible(timeout=PROMPT_MS)


async def run_all_cells(page: Any) -> None:
    """Run > Run All Cells, clicked in JupyterLab's menu bar as a user would."""
    await page.click('.lm-MenuBar-itemLabel:text-is("Run")', timeout=PROMPT_MS)
    await page.click('.lm-Menu-itemLabel:text-is("Run All Cells")', timeout=PROMPT_MS)


async def save_notebook(page: Any) -> None:
    """Save the open notebook (Ctrl+S) and wait until its tab is no longer dirty."""
    from playwright.async_api import expect

    await page.click(".jp-NotebookPanel .jp-Notebook", position={"x": 5, "y": 5})
    await page.keyboard.press("Control+s")
    dirty = page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")
    await expect(dirty).to_have_count(0, timeout=PROMPT_MS)


def error_outputs(path: Path) -> list[str]:
    """The error outputs of a saved notebook, as ``name: value`` lines."""
    notebook = nbformat.read(path, as_version=4)
    return [f"{output.ename}: {output.evalue}" for cell in notebook.cells
            for output in cell.get("outputs", []) if output.output_type == "error"]


def expected_stars() -> pd.DataFrame:
    """The DataFrame the notebook's SendButton sends."""
    return pd.DataFrame(STARS, index=pd.Index(STAR_NAMES, name="source"))


def assert_same_stars(received: pd.DataFrame) -> None:
    """The recorder's table holds the notebook's values (index as a column or as index)."""
    frame = received.reset_index() if "source" not in received.columns else received
    expected = expected_stars().reset_index()
    assert list(frame["source"].astype(str)) == STAR_NAMES
    for column in STARS:
        np.testing.assert_allclose(frame[column].to_numpy(dtype=float),
                                   expected[column].to_numpy(dtype=float))


async def test_send_button_delivers_to_the_app_shown_in_the_panel(
    jupyterlab: Lab, recorder: Recorder, page: Any
) -> None:
    from playwright.async_api import expect

    write_notebook(jupyterlab.root / "lab_widgets.ipynb", WIDGET_CELLS)
    await open_notebook(page, jupyterlab, "lab_widgets.ipynb")
    await run_all_cells(page)

    # The apps panel is rendered by the widget JavaScript and lists the recorder by name.
    panel_names = page.locator(".jp-OutputArea-output .widget-vbox .widget-html-content b")
    await expect(panel_names.filter(has_text=RECORDER_NAME).first).to_be_visible(
        timeout=PROMPT_MS)

    # Pick the recorder in the SendButton's target picker, then click the button.
    picker = page.locator(".widget-dropdown select").first
    label = f"{RECORDER_NAME} ({recorder.client.self_id})"
    await expect(picker.locator("option", has_text=label)).to_have_count(1, timeout=PROMPT_MS)
    await picker.select_option(label=label)
    await page.locator("button.jupyter-button", has_text="Send table").click(timeout=PROMPT_MS)

    received = await recorder.next_table()
    assert received.name == "lab stars"
    assert_same_stars(received.data)

    # The button's result line (below it, in the same output) shows the receipt.
    send_output = page.locator(".jp-OutputArea-output", has=page.locator(
        "button.jupyter-button", has_text="Send table"))
    receipt = send_output.locator(".widget-html-content table", has_text=RECORDER_NAME)
    await expect(receipt).to_contain_text("ok", timeout=PROMPT_MS)

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "jupyterlab.png"), full_page=True)


async def test_quickstart_runs_in_the_browser(jupyterlab: Lab, page: Any) -> None:
    from playwright.async_api import expect

    await open_notebook(page, jupyterlab, "quickstart.ipynb")
    await run_all_cells(page)
    await page.wait_for_function(FINISHED_JS, timeout=RUN_ALL_MS)
    await save_notebook(page)

    assert error_outputs(jupyterlab.root / "quickstart.ipynb") == []
    notebook = nbformat.read(jupyterlab.root / "quickstart.ipynb", as_version=4)
    assert all(cell.execution_count for cell in notebook.cells if cell.cell_type == "code")
    # The apps panel rendered as widgets, not as the text "VBox(...)".
    panel_title = page.locator(".widget-vbox .widget-html-content", has_text="Applications")
    await expect(panel_title.first).to_be_visible(timeout=PROMPT_MS)

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "jupyterlab-quickstart.png"), full_page=True)
