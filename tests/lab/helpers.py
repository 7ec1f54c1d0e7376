"""Driving a notebook in the browser, shared by the JupyterLab and Notebook 7 tests.

Notebook 7 is built from JupyterLab's components, so one set of selectors
(``.jp-*`` classes, the Run menu in the menu bar, the kernel's execution
indicator in the notebook's toolbar) serves both front ends.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd

#: Milliseconds Playwright waits for something to appear on the page.
PROMPT_MS = 30_000
#: Milliseconds a whole notebook may take to run in the browser.
RUN_ALL_MS = 120_000

STARS = {"ra": [83.6331, 83.8221, 86.6508], "dec": [22.0145, -5.3911, 0.0794],
         "vmag": [8.4, 4.0, 8.3]}
STAR_NAMES = ["crab", "trapezium", "m78"]


def widget_cells(client_name: str, table_name: str) -> list[str]:
    """Cells that connect to the running hub, show the apps panel and a SendButton."""
    return [
        "import pandas as pd\n"
        "import jupyter_samp\n"
        "from jupyter_samp.notebook.widgets import SendButton, panel\n"
        "\n"
        f"samp = jupyter_samp.connection({client_name!r})\n"
        'client = await samp.connect(hub="connect")',
        "panel(samp)",
        f"stars = pd.DataFrame({STARS!r},\n"
        f'                     index=pd.Index({STAR_NAMES!r}, name="source"))\n'
        'stars.attrs["units"] = {"ra": "deg", "dec": "deg", "vmag": "mag"}\n'
        f"SendButton(samp, stars, name={table_name!r})",
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
    """A notebook of code cells with the python3 kernel (so the front end asks nothing)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)


#: True once the notebook's toolbar names its kernel and shows it idle. The
#: execution indicator alone also reads "idle" before there is a kernel
#: (while the kernel name still reads "No Kernel").
KERNEL_READY_JS = """
() => {
  const toolbar = document.querySelector(".jp-NotebookPanel-toolbar");
  const name = toolbar?.querySelector(".jp-KernelName")?.textContent.trim();
  const status = toolbar?.querySelector(".jp-Notebook-ExecutionIndicator")
    ?.getAttribute("data-status");
  return Boolean(name) && name !== "No Kernel" && status === "idle";
}
"""


async def open_notebook(page: Any, url: str) -> None:
    """Open the notebook at ``url`` and wait until its kernel is connected and idle.

    The Run menu acts on the notebook only once its kernel is connected.
    """
    await page.goto(url)
    await page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-CodeCell",
                                 timeout=PROMPT_MS)
    await page.wait_for_function(KERNEL_READY_JS, timeout=PROMPT_MS)


async def run_menu(page: Any, item: str) -> None:
    """Click Run > ``item`` in the menu bar, as a user would."""
    await page.click('.lm-MenuBar-itemLabel:text-is("Run")', timeout=PROMPT_MS)
    await page.click(f'.lm-Menu-itemLabel:text-is("{item}")', timeout=PROMPT_MS)


async def run_all_cells(page: Any) -> None:
    """Run > Run All Cells."""
    await run_menu(page, "Run All Cells")


async def wait_until_finished(page: Any) -> None:
    """Wait until every code cell has run (or one has failed)."""
    await page.wait_for_function(FINISHED_JS, timeout=RUN_ALL_MS)


async def save_notebook(page: Any, name: str) -> None:
    """Save the open notebook (Ctrl+S) and wait until the server has written ``name``."""

    def saved(response: Any) -> bool:
        return (response.request.method == "PUT"
                and re.search(rf"/api/contents/{re.escape(name)}(\?|$)", response.url) is not None)

    await page.click(".jp-NotebookPanel .jp-Notebook", position={"x": 5, "y": 5})
    async with page.expect_response(saved, timeout=PROMPT_MS) as answer:
        await page.keyboard.press("Control+s")
    assert (await answer.value).ok, "the server did not save the notebook"


def error_outputs(path: Path) -> list[str]:
    """The error outputs of a saved notebook, as ``name: value`` lines."""
    notebook = nbformat.read(path, as_version=4)
    return [f"{output.ename}: {output.evalue}" for cell in notebook.cells
            for output in cell.get("outputs", []) if output.output_type == "error"]


def assert_all_cells_ran(path: Path) -> None:
    """The saved notebook has an execution count on every code cell and no error output."""
    assert error_outputs(path) == []
    notebook = nbformat.read(path, as_version=4)
    assert all(cell.execution_count for cell in notebook.cells if cell.cell_type == "code")


def assert_same_stars(received: pd.DataFrame) -> None:
    """The table holds the notebook's stars (their names as a column or as the index)."""
    frame = received.reset_index() if "source" not in received.columns else received
    expected = pd.DataFrame(STARS, index=pd.Index(STAR_NAMES, name="source")).reset_index()
    assert list(frame["source"].astype(str)) == STAR_NAMES
    for column in STARS:
        np.testing.assert_allclose(frame[column].to_numpy(dtype=float),
                                   expected[column].to_numpy(dtype=float))


async def send_stars_to(page: Any, recipient: str, recipient_id: str) -> None:
    """Check the apps panel lists ``recipient``, pick it in the SendButton, click "Send table"."""
    from playwright.async_api import expect

    # The apps panel is rendered by the widget JavaScript and lists the recipient by name.
    panel_names = page.locator(".jp-OutputArea-output .widget-vbox .widget-html-content b")
    await expect(panel_names.filter(has_text=recipient).first).to_be_visible(timeout=PROMPT_MS)

    picker = page.locator(".widget-dropdown select").first
    label = f"{recipient} ({recipient_id})"
    await expect(picker.locator("option", has_text=label)).to_have_count(1, timeout=PROMPT_MS)
    await picker.select_option(label=label)
    await page.locator("button.jupyter-button", has_text="Send table").click(timeout=PROMPT_MS)


async def expect_receipt(page: Any, recipient: str) -> None:
    """The SendButton's result line (below it, in the same output) shows an ok receipt."""
    from playwright.async_api import expect

    send_output = page.locator(".jp-OutputArea-output", has=page.locator(
        "button.jupyter-button", has_text="Send table"))
    receipt = send_output.locator(".widget-html-content table", has_text=recipient)
    await expect(receipt).to_contain_text("ok", timeout=PROMPT_MS)
