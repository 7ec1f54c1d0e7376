"""The README's first command, ``bash scripts/run.sh``, from a fresh clone, as it is typed.

The clone is made from this checkout's committed state. The script's
``python3`` is that of a virtual environment which sees this machine's
packages (``--system-site-packages``), so the editable install the script
makes goes into the environment and not over this checkout's. No display is
set, as on a server; the home and Jupyter directories are temporary. The
test reads the URL JupyterLab prints and asks its REST API, with the printed
token, for the quickstart notebook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jupyter_samp.testing.peers import PeerProcess

from .conftest import wait_until_listening

REPOSITORY = Path(__file__).resolve().parents[2]
URL = r"http://127\.0\.0\.1:\d+/lab/tree/notebooks/quickstart\.ipynb\?token=\w+"
#: Setting up (the package's editable install) and starting JupyterLab.
DEADLINE = 600.0

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the scripts are for Debian")


def _fresh_clone(where: Path) -> Path:
    clone = where / "clone"
    subprocess.run(["git", "clone", "-q", str(REPOSITORY), str(clone)], check=True)
    return clone


def _environment(where: Path) -> dict[str, str]:
    """A virtual environment first on PATH, and a private home."""
    env_dir = where / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    home = where / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "PYTHONPATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                          "JUPYTER_RUNTIME_DIR", "VIRTUAL_ENV")}
    env.update(HOME=str(home), PATH=f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}",
               VIRTUAL_ENV=str(env_dir), PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


async def test_run_script_serves_the_quickstart_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = _fresh_clone(tmp_path)
    env = _environment(tmp_path)
    command = ["bash", "scripts/run.sh", "--ServerApp.port=0"]
    async with PeerProcess(command, env=env, cwd=clone, name="run.sh") as process:
        found = await process.wait_for_output(URL, timeout=DEADLINE, stream="stderr")
        parts = urlsplit(found.group(0))
        token = parts.query.split("=", 1)[1]
        base = f"{parts.scheme}://{parts.netloc}"
        assert parts.port is not None
        await wait_until_listening(parts.port, process, timeout=60)
        model = _get(f"{base}/api/contents/notebooks/quickstart.ipynb?token={token}")
        assert model["type"] == "notebook" and model["path"] == "notebooks/quickstart.ipynb"
        assert any("samp" in "".join(cell["source"]) for cell in model["content"]["cells"])
        # JupyterLab serves the page the URL names.
        with urllib.request.urlopen(found.group(0), timeout=30) as page:
            assert page.status == 200
    shutil.rmtree(clone, ignore_errors=True)
