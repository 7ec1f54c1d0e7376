"""The browser route in a real JupyterLab: the page joins a desktop hub for its kernel.

The kernel is told of no hub it can reach itself; it connects with
``hub="browser"``, so the page registers with our hub's Web Profile (on a
free port here, named by ``JUPYTER_SAMP_WEB_HUB``). A desktop client on that
hub then receives the DataFrame the notebook sends, downloading it from the
Jupyter server's data endpoint, and its selection reaches ``h.selection`` in
the kernel. A reloaded tab and a restarted desktop hub both end with the
notebook registered again. (Tests with the kernel and server in a network namespace of
their own, a public page and JSAMP's hub are in ``tests/remote``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from astropy.table import Table

from jupyter_samp import Hub, connect
from jupyter_samp.data import DataBridge, Received
from jupyter_samp.testing import samp_environment
from jupyter_samp.testing.waiting import wait_until
from tests.lab.conftest import Lab
from tests.lab.helpers import (
    error_outputs,
    open_notebook,
    run_all_cells,
    save_notebook,
    wait_until_finished,
    write_notebook,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]


async def allow(request: Any) -> bool:
    return True


@pytest_asyncio.fixture(loop_scope="module")
async def desktop_hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """A second hub, the "desktop" one, with its Web Profile on a free port."""
    with samp_environment(tmp_path_factory.mktemp("desktop")) as env:
        async with Hub(lockfile=env.lockfile, web_port=0, web_consent=allow) as hub:
            yield hub


#: What the desktop calls to have the notebook send its table again.
RESEND = "x-jupyter-samp-test.resend"


async def sends_again(viewer: Any, tables: asyncio.Queue[Received], notebook_name: str,
                      name: str, before: str) -> str:
    """Ask the notebook, registered anew (not as ``before``), to send its table again.

    Returns the notebook's new client id, once the table has arrived.
    """
    def registered_anew() -> list[str]:
        return [view.id for view in viewer.clients.values()
                if view.name == notebook_name and view.id != before and view.accepts(RESEND)]

    await wait_until(lambda: viewer.connected and bool(registered_anew()), viewer, timeout=60)
    notebook = registered_anew()[0]
    assert (await viewer.call(notebook, RESEND, {"name": name}, timeout=30)).ok
    again = await asyncio.wait_for(tables.get(), 60)
    assert (again.name, again.sender_id) == (name, notebook)
    assert again.data["ra"].tolist() == [10.5, 20.25, 30.0]
    return notebook


def cells(web_url: str) -> list[str]:
    return [
        "%load_ext jupyter_samp",
        f"import os\nos.environ['JUPYTER_SAMP_WEB_HUB'] = {web_url!r}\nRESEND = {RESEND!r}",
        "import jupyter_samp, pandas as pd\nsamp = jupyter_samp.connection()\n"
        "await samp.connect(hub='browser')\nprint('route', samp.route)",
        "df = pd.DataFrame({'ra': [10.5, 20.25, 30.0], 'mag': [12.0, 13.5, 9.0]},\n"
        "                  index=pd.Index([7, 8, 9], name='star'))\n"
        "h = samp.send(df, to='desktop-viewer', name='remote stars')\n"
        "receipt = await h.delivery\nprint(receipt.summary())",
        # The desktop asks the notebook to send again, after the tab reloads and the hub
        # restarts (the handler is declared again with each registration).
        "def resend(message):\n"
        "    samp.send(df, to='desktop-viewer', name=message.params['name'])\n"
        "    return {}\n"
        "samp.client.add_handler(RESEND, resend)\n"
        "# Tables sent to it come back, so the desktop can check what arrived.\n"
        "samp.bridge.on_table(lambda got: samp.send(got.data, to='desktop-viewer',\n"
        "                                          name='echo ' + (got.name or '')))",
        # Waits while the desktop selects rows: callbacks reach a busy kernel.
        "import asyncio\nselected = asyncio.get_running_loop().create_future()\n"
        "h.on_select(lambda event: selected.done() or selected.set_result(event))\n"
        "if not len(h.selected_rows):  # unless it came before this cell ran\n"
        "    await asyncio.wait_for(selected, 60)\n"
        "print('selected', h.selection.index.tolist())",
    ]


async def test_a_page_carries_the_kernel_to_the_desktop_hub(
    jupyterlab: Lab, desktop_hub: Hub, page: Any, tmp_path: Path
) -> None:
    assert desktop_hub.web_url is not None
    async with connect("desktop-viewer", hub=desktop_hub.lockfile) as viewer:
        tables: asyncio.Queue[Received] = asyncio.Queue()
        bridge = DataBridge(viewer, timeout=30)
        bridge.on_table(tables.put_nowait, as_pandas=True)
        await viewer.flush()
        write_notebook(jupyterlab.root / "browser_route.ipynb", cells(desktop_hub.web_url))
        await open_notebook(page, jupyterlab.notebook_url("browser_route.ipynb"))
        await run_all_cells(page)
        received = await asyncio.wait_for(tables.get(), 60)
        assert received.name == "remote stars"
        assert received.data["ra"].tolist() == [10.5, 20.25, 30.0]
        assert "/jupyter-samp/data/" in received.url
        answer = await viewer.call(received.sender_id, "table.select.rowList",
                                   {"table-id": received.id, "row-list": ["0", "2"]}, timeout=30)
        assert answer.ok, answer
        await wait_until_finished(page)
        await save_notebook(page, "browser_route.ipynb")
        path = jupyterlab.root / "browser_route.ipynb"
        assert error_outputs(path) == []
        text = outputs_text(path)
        assert "route browser" in text and "samp.ok" in text and "selected [7, 9]" in text

        await check_the_endpoints(jupyterlab, received.url)

        # A table on the desktop's own disk reaches the kernel on the server through
        # the page and the hub's URL translator (the kernel cannot read it itself).
        path = tmp_path / "desktop table.vot"
        Table({"dec": [-5.5, 22.0]}).write(path, format="votable")
        loaded = await viewer.call(received.sender_id, "table.load.votable",
                                   {"url": path.as_uri(), "name": "from the desktop"},
                                   timeout=60, check=False)
        assert loaded.status == "samp.ok", loaded
        echoed = await asyncio.wait_for(tables.get(), 60)
        assert echoed.name == "echo from the desktop"
        assert echoed.data["dec"].tolist() == [-5.5, 22.0]

        # A reloaded tab registers the notebook again, and it sends.
        first = received.sender_id
        await page.reload()
        second = await sends_again(viewer, tables, received.sender_name, "after the reload",
                                   before=first)
        await wait_until(lambda: first not in viewer.clients, viewer, timeout=30)

        # The desktop hub restarts: the page notices, and the notebook registers again.
        web_url = desktop_hub.web_url
        await desktop_hub.stop()
        port = urlsplit(web_url).port
        async with Hub(lockfile=desktop_hub.lockfile, web_port=port or 0,
                       web_consent=allow) as restarted:
            assert restarted.web_url == web_url
            await sends_again(viewer, tables, received.sender_name, "after the restart",
                              before=second)
        await bridge.close()


def outputs_text(path: Any) -> str:
    """The text of every stream output of a saved notebook."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    return "".join(output.get("text", "") for cell in notebook.cells
                   for output in cell.get("outputs", []))


async def check_the_endpoints(lab: Lab, data_url: str) -> None:
    """Data needs no login but only reaches registered kernels; the relay needs a login."""
    from tornado.httpclient import HTTPClientError
    from tornado.websocket import websocket_connect

    token = data_url.split("/jupyter-samp/data/")[1].split("/")[0]
    assert await status_of(f"{lab.url}/jupyter-samp/data/{token}") == 204
    assert await status_of(f"{lab.url}/jupyter-samp/data/{'x' * 43}") == 404
    assert await status_of(f"{lab.url}/jupyter-samp/data/{token}/{'y' * 40}/t.vot") == 404
    assert await status_of(f"{lab.url}/jupyter-samp/data/{token}/../api/contents") == 404
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(f"{lab.url.replace('http', 'ws')}/jupyter-samp/relay/{token}")
    assert refused.value.code == 403


async def status_of(url: str) -> int:
    """The status of a GET without credentials."""
    import urllib.error
    import urllib.request

    def get() -> int:
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    return await asyncio.to_thread(get)
