"""The notebook layer: the kernel's SAMP session, traitlets state, widgets and magics.

Only this package imports IPython, traitlets and ipywidgets.
"""

from __future__ import annotations

from typing import Any

from jupyter_samp.notebook.model import SampState
from jupyter_samp.notebook.session import NotConnectedError, SampSession, connection


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%samp`` magic (``%load_ext jupyter_samp``)."""
    from jupyter_samp.notebook.magics import SampMagics

    ipython.register_magics(SampMagics)


__all__ = ["NotConnectedError", "SampSession", "SampState", "connection",
           "load_ipython_extension"]
