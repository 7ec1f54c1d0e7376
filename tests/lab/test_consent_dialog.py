"""A web page asks to join the hub a notebook started: the user answers in JupyterLab.

A notebook in JupyterLab starts its own hub with the Web Profile on
(``connect(hub="start", web=True)``): a child process of the kernel,
listening on the standard port 21012 and asking the notebook for consent
with ``x-jupyter-samp.web.consent``. A second browser page, served from
127.0.0.1, then registers through the Web Profile. The
:class:`~jupyter_samp.notebook.consent.ConsentDialog` must appear in the
notebook naming the page: in the output of the cell that connected and in
the apps panel. Allow must let the page register (the panel then lists it),
Deny must make its registration fail with the refusal. The panel must show
the dialog even after the connecting cell has been run again (its output is
then no longer live). The last cell disconnects; the hub process must be
gone afterwards, with no lockfile left, and the real ``~/.samp`` untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from jupyter_samp.lockfile import hub_env_value
from tests.lab.conftest import ARTIFACTS, Lab
from tests.lab.helpers import PROMPT_MS, open_notebook, run_menu, write_notebook

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]

PAGE_NAME = "archive page"
CONNECT_CELL, PANEL_CELL, DISCONNECT_CELL = 0, 1, 2

REGISTER_JS = """
async ([name]) => {
  try {
    const conn = await samp.register(name);
    window.conn = conn;
    await conn.hub("declareMetadata", {"samp.name": name});
    sampLog(`registered as ${conn.selfId}`);
    return `registered as ${conn.selfId}`;
  } catch (error) {
    sampLog(error.message);
    return `${error.name}: ${error.message}`;
  }
}
"""

UNREGISTER_JS = "async () => { await window.conn.unregister(); return window.conn.closed; }"


def consent_cells(lockfile: Path) -> list[str]:
    """Connect with a hub of the notebook's own (Web Profile on), show the panel, disconnect."""
    return [
        "import os\n"
        "import jupyter_samp\n"
        "from jupyter_samp.notebook.widgets import panel\n"
        "\n"
        "# A lockfile no hub owns yet: connecting starts the notebook's own hub.\n"
        f"os.environ['SAMP_HUB'] = {hub_env_value(lockfile)!r}\n"
        'samp = jupyter_samp.connection("consent-notebook")\n'
        'client = await samp.connect(hub="start", web=True)\n'
        'print("embedded hub pid", client.embedded_hub.process.pid)',
        "panel(samp)",
        "await samp.disconnect(stop_hub=True)\n"
        'print("hub stopped:", client.embedded_hub is None)',
    ]


@pytest_asyncio.fixture(loop_scope="module")
async def web_page(browser: Any, page_server: str) -> AsyncIterator[Any]:
    """The web client test page in its own browser context, with ``window.samp`` loaded."""
    context = await browser.new_context()
    try:
        tab = await context.new_page()
        await tab.goto(f"{page_server}/pages/samp_test.html")
        await tab.wait_for_function("window.samp !== undefined", timeout=PROMPT_MS)
        yield tab
    finally:
        await context.close()


def real_samp_lockfile() -> Path:
    """The real user's ``~/.samp`` (``HOME`` points at a temporary home in tests)."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".samp"


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def port_closed(port: int) -> bool:
    """Whether nothing accepts connections on 127.0.0.1:``port``."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


def cell(page: Any, index: int) -> Any:
    """Code cell ``index`` of the open notebook."""
    return page.locator(".jp-Notebook .jp-CodeCell").nth(index)


async def run_cell(page: Any, index: int) -> None:
    """Select code cell ``index`` (click into its editor) and run it from the Run menu."""
    await cell(page, index).locator(".jp-InputArea-editor").click(timeout=PROMPT_MS)
    await run_menu(page, "Run Selected Cell and Do not Advance")


async def printed(page: Any, index: int, pattern: str) -> re.Match[str]:
    """Wait until code cell ``index`` prints a line matching ``pattern``; return the match."""
    from playwright.async_api import expect

    output = cell(page, index).locator(".jp-OutputArea")
    await expect(output).to_contain_text(re.compile(pattern), timeout=PROMPT_MS)
    found = re.search(pattern, await output.inner_text())
    assert found is not None
    return found


@contextlib.asynccontextmanager
async def notebook_with_own_hub(lab: Lab, page: Any, name: str, port: int
                                ) -> AsyncIterator[None]:
    """Run the connect and panel cells of a new notebook; afterwards, check the hub is gone.

    On the way out the disconnect cell runs, and then the hub's process, its
    lockfile and its Web Profile port must be gone. If the test failed, the
    hub process is stopped here so that it cannot keep port 21012.
    """
    real_samp = real_samp_lockfile().exists()
    lockfile = lab.root.parent / f"{Path(name).stem}.lock"
    write_notebook(lab.root / name, consent_cells(lockfile))
    await open_notebook(page, lab.notebook_url(name))
    await cell(page, DISCONNECT_CELL).locator(".jp-InputArea-editor").click(timeout=PROMPT_MS)
    await run_menu(page, "Run All Above Selected Cell")
    pid = int((await printed(page, CONNECT_CELL, r"embedded hub pid (\d+)")).group(1))
    try:
        assert lockfile.exists()
        yield
        await run_cell(page, DISCONNECT_CELL)
        await printed(page, DISCONNECT_CELL, r"hub stopped: True")
        assert not alive(pid), "the notebook's hub process is still running"
        assert not lockfile.exists()
        assert await port_closed(port)
        assert real_samp_lockfile().exists() == real_samp
    finally:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


async def answer_in_panel(page: Any, web_page: Any, button: str, views: int) -> str:
    """Let the web page register, click ``button`` in the panel's dialog; return the outcome.

    ``views`` is how many views of the dialog the notebook must show.
    """
    from playwright.async_api import expect

    registering = asyncio.ensure_future(web_page.evaluate(REGISTER_JS, [PAGE_NAME]))
    dialogs = page.locator(".jp-OutputArea-output .jupyter-samp-consent")
    await expect(dialogs).to_have_count(views, timeout=PROMPT_MS)
    in_panel = cell(page, PANEL_CELL).locator(".jupyter-samp-consent")
    await expect(in_panel).to_be_visible(timeout=PROMPT_MS)
    await expect(in_panel).to_contain_text(f"Name: {PAGE_NAME}")
    await expect(in_panel).to_contain_text("Origin: http://127.0.0.1:")
    await in_panel.locator("button.jupyter-button", has_text=button).click(timeout=PROMPT_MS)
    outcome: str = await asyncio.wait_for(registering, PROMPT_MS / 1000)
    # Answered, the dialog leaves the panel; the message log keeps the answer.
    await expect(in_panel).to_have_count(0, timeout=PROMPT_MS)
    answer = "allowed" if button == "Allow" else "refused"
    await expect(cell(page, PANEL_CELL)).to_contain_text(f"web page '{PAGE_NAME}' {answer}",
                                                         timeout=PROMPT_MS)
    return outcome


async def test_allowed_web_page_registers_with_the_notebooks_hub(
    jupyterlab: Lab, page: Any, web_page: Any, port_21012: int
) -> None:
    from playwright.async_api import expect

    async with notebook_with_own_hub(jupyterlab, page, "consent_allow.ipynb", port_21012):
        outcome = await answer_in_panel(page, web_page, "Allow", views=2)
        assert outcome.startswith("registered as ")
        # The output of the connecting cell shows the same dialog, answered.
        await expect(cell(page, CONNECT_CELL).locator(".jupyter-samp-consent")).to_contain_text(
            "allowed")
        apps = cell(page, PANEL_CELL).locator(".widget-html-content b", has_text=PAGE_NAME)
        await expect(apps).to_have_count(1, timeout=PROMPT_MS)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "consent-dialog.png"), full_page=True)
        assert await web_page.evaluate(UNREGISTER_JS) is True


async def test_denied_web_page_is_refused(
    jupyterlab: Lab, page: Any, web_page: Any, port_21012: int
) -> None:
    async with notebook_with_own_hub(jupyterlab, page, "consent_deny.ipynb", port_21012):
        outcome = await answer_in_panel(page, web_page, "Deny", views=2)
        assert outcome == "SampFault: User denied authorization"


async def test_panel_shows_the_dialog_after_the_connect_cell_ran_again(
    jupyterlab: Lab, page: Any, web_page: Any, port_21012: int
) -> None:
    async with notebook_with_own_hub(jupyterlab, page, "consent_rerun.ipynb", port_21012):
        await run_cell(page, CONNECT_CELL)  # the same connection; the old output is gone
        await printed(page, CONNECT_CELL, r"embedded hub pid \d+")
        outcome = await answer_in_panel(page, web_page, "Allow", views=1)
        assert outcome.startswith("registered as ")
        assert await web_page.evaluate(UNREGISTER_JS) is True
