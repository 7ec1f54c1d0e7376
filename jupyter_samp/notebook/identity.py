"""Who this notebook is to other SAMP applications: its name and its icon.

With several notebooks open, each registers with the hub. TOPCAT lists
them by ``samp.name`` and shows ``samp.icon.url``, so "jupyter" five times
over, with no icon, tells the user nothing. A notebook registers with its own
file name where the kernel can know it, else with a label distinct per
kernel, and with an icon served by the notebook's own resource server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.resources import files
from pathlib import PurePath
from typing import Any

from jupyter_samp.data.labels import ascii_label

#: Where Jupyter's server tells a kernel its notebook's path (jupyter_server 2).
SESSION_VARIABLE = "JPY_SESSION_NAME"
#: Where VS Code tells a kernel its notebook's path.
VSCODE_VARIABLE = "__vsc_ipynb_file__"


def notebook_name(
    environ: Mapping[str, str] | None = None, user_ns: Mapping[str, Any] | None = None
) -> str:
    """The ``samp.name`` for this kernel's notebook.

    ``jupyter: <file name>`` (``jupyter: analysis.ipynb``) with the
    notebook's file name from Jupyter's server or VS Code, rendered in ASCII
    as SAMP strings require; else ``jupyter-<kernel id>`` (its first eight
    characters), else ``jupyter-<process id>``. Each starts with "jupyter",
    so ``to="jupyter"`` still finds the notebook when it is the only one.
    Never raises.
    """
    environ = os.environ if environ is None else environ
    user_ns = _user_namespace() if user_ns is None else user_ns
    for path in (environ.get(SESSION_VARIABLE), user_ns.get(VSCODE_VARIABLE)):
        if isinstance(path, str) and PurePath(path).name:
            label = ascii_label(PurePath(path).name).strip()
            if label:
                return f"jupyter: {label}"
    return f"jupyter-{_kernel_id() or os.getpid()}"


def icon_png() -> bytes:
    """The notebook's icon, a 64x64 PNG (a planet with a moon on its orbit)."""
    return files("jupyter_samp.notebook").joinpath("static/icon.png").read_bytes()


def _user_namespace() -> Mapping[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def _kernel_id() -> str | None:
    """The first characters of this kernel's id, from its connection file's name."""
    try:
        from ipykernel.connect import get_connection_file

        name = PurePath(get_connection_file()).stem  # kernel-<uuid>
    except Exception:  # not in a kernel, or an ipykernel that says otherwise
        return None
    ident = name.removeprefix("kernel-")
    return ident[:8] if ident and ident != name else None
