"""Driving a real IPython kernel from tests, and executing notebooks with nbclient."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager, start_new_async_kernel

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def kernel_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment (SAMP_HUB, HOME) for a kernel, this checkout first on the path."""
    env = dict(os.environ, **(extra or {}))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


@asynccontextmanager
async def running_kernel(env: dict[str, str]) -> AsyncIterator[AsyncKernelClient]:
    """A started python3 kernel with ``env``, shut down afterwards."""
    manager: AsyncKernelManager
    manager, client = await start_new_async_kernel(kernel_name="python3", env=env,
                                                   cwd=str(NOTEBOOKS))
    try:
        yield client
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)


async def run_cell(client: AsyncKernelClient, code: str, timeout: float = 60) -> dict[str, Any]:
    """Execute ``code``; return its outputs. Fails with the traceback if the cell raised."""
    reply = await client.execute_interactive(code, timeout=timeout, output_hook=_collector())
    outputs = _collected.pop()
    if reply["content"]["status"] != "ok":
        trace = "\n".join(reply["content"].get("traceback", []))
        raise AssertionError(f"cell failed:\n{code}\n{trace}")
    return outputs


_collected: list[dict[str, Any]] = []


def _collector() -> Any:
    outputs: dict[str, Any] = {"stdout": "", "results": []}
    _collected.append(outputs)

    def hook(message: dict[str, Any]) -> None:
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            outputs["stdout"] += content["text"]
        elif kind in ("execute_result", "display_data"):
            outputs["results"].append(content["data"].get("text/plain", ""))

    return hook


async def execute_notebook(path: Path, env: dict[str, str], timeout: float = 180) -> Any:
    """Run every cell of the notebook at ``path`` in a fresh kernel; return the executed notebook.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        If a cell fails.
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # As Jupyter's server does: the kernel learns its notebook's path.
    env = {**env, "JPY_SESSION_NAME": str(path)}
    runner = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    await runner.async_execute(env=env)
    return notebook
