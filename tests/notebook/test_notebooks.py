"""Every notebook in notebooks/ runs in a real kernel without error.

The workflow notebooks that need TOPCAT and DS9 run in tests/apps, where
those applications are started.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_samp.testing import samp_environment

from .kernel import NOTEBOOKS, execute_notebook, kernel_env

STANDALONE = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if "topcat" not in p.name)


@pytest.mark.parametrize("path", STANDALONE, ids=lambda p: p.name)
async def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    with samp_environment(tmp_path) as env:
        notebook = await execute_notebook(path, kernel_env())
        assert not env.lockfile.exists(), "the embedded hub should have stopped with the notebook"
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def test_there_are_notebooks() -> None:
    assert STANDALONE and all(p.stat().st_size > 0 for p in STANDALONE)
