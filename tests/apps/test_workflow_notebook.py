"""notebooks/topcat_ds9_workflow.ipynb runs unattended against real TOPCAT and DS9.

The notebook is executed with nbclient in a fresh kernel whose ``SAMP_HUB``
names the ``desktop`` fixture's hub (the per-test ``samp_env`` points it
elsewhere, so it is passed explicitly). It must run without an error output,
and the answer DS9 gives to ``ds9.get "fits size"`` in the outputs must be the
shape of the image the notebook built.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_samp import Client
from tests.apps.conftest import Desktop
from tests.notebook.kernel import NOTEBOOKS, execute_notebook, kernel_env

pytestmark = [pytest.mark.peers, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.timeout(300)]

WORKFLOW = NOTEBOOKS / "topcat_ds9_workflow.ipynb"
#: The notebook's image is 160 rows of 200 pixels; DS9 answers "width height".
DS9_FITS_SIZE = "DS9 fits size: 200 160"
#: ``samp.name`` of the notebook's session: ``jupyter_samp.connection()`` names it after
#: the notebook's file (``execute_notebook`` tells the kernel as Jupyter's server does).
NOTEBOOK_NAME = f"jupyter: {WORKFLOW.name}"


def outputs(notebook: Any, kind: str) -> list[Any]:
    """Every output of type ``kind`` in the executed notebook."""
    return [output for cell in notebook.cells for output in cell.get("outputs", [])
            if output.output_type == kind]


def text_of(notebook: Any) -> str:
    """All printed text and plain-text results, one after another."""
    parts = [output.text for output in outputs(notebook, "stream")]
    for kind in ("execute_result", "display_data"):
        parts += [output.data.get("text/plain", "") for output in outputs(notebook, kind)]
    return "\n".join(parts)


async def until_gone(client: Client, name: str, timeout: float = 15.0) -> None:
    """Wait, on ``client``'s events, until no application called ``name`` is registered."""
    changed = asyncio.Event()
    stop = client.observe(lambda event: changed.set())

    async def gone() -> None:
        while any(view.name == name for view in client.clients.values()):
            await changed.wait()
            changed.clear()

    try:
        await asyncio.wait_for(gone(), timeout)
    except asyncio.TimeoutError:
        pytest.fail(f"{name!r} was still registered {timeout:g} s after the notebook ended")
    finally:
        stop()


async def test_workflow_notebook_runs_against_topcat_and_ds9(desktop: Desktop) -> None:
    assert "topcat" in WORKFLOW.name  # tests/notebook skips it for this word: it runs here
    env = kernel_env({"SAMP_HUB": desktop.env.env_value})
    notebook = await execute_notebook(WORKFLOW, env, timeout=120)

    errors = [f"{o.ename}: {o.evalue}" for o in outputs(notebook, "error")]
    assert errors == []
    text = text_of(notebook)
    assert DS9_FITS_SIZE in text, text
    # The receipts name the applications that loaded the table and the image.
    assert "topcat" in text and "SAOImageDS9" in text, text
    # The notebook's last cell disconnected it: the hub says so to the other clients.
    await until_gone(desktop.client, NOTEBOOK_NAME)
