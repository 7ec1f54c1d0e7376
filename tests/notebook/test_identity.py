# ruff: noqa: RUF001 (an en dash in a file name is the subject)
"""The name and icon a notebook registers with."""

from __future__ import annotations

import os

from jupyter_samp.notebook.identity import icon_png, notebook_name


def test_the_notebook_file_name_from_jupyter_server_comes_first() -> None:
    environ = {"JPY_SESSION_NAME": "/home/me/work/M 42 – reduction.ipynb"}
    vscode = {"__vsc_ipynb_file__": "/elsewhere/other.ipynb"}
    assert notebook_name(environ, vscode) == "jupyter: M 42 - reduction.ipynb"


def test_vs_code_tells_the_file_name_in_the_user_namespace() -> None:
    assert notebook_name({}, {"__vsc_ipynb_file__": "C:/x/plots.ipynb"}) == "jupyter: plots.ipynb"


def test_without_a_file_name_each_kernel_gets_a_distinct_label() -> None:
    for environ in ({}, {"JPY_SESSION_NAME": ""}, {"JPY_SESSION_NAME": "/"}):
        name = notebook_name(environ, {"__vsc_ipynb_file__": 42})
        assert name == f"jupyter-{os.getpid()}"  # no kernel here: the process id


def test_the_icon_is_a_png() -> None:
    assert icon_png().startswith(b"\x89PNG\r\n\x1a\n")
