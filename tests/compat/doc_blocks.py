"""Running the code blocks of a documentation page, in order, as a reader would.

``.. code-block:: python`` blocks run one after the other in one namespace
(so a page can build on its earlier blocks). ``.. code-block:: console``
blocks hold ``$ jupyter-samp hub ...`` command lines: each is started as a
child process (``python -m jupyter_samp`` in place of ``jupyter-samp``),
must report that it serves, and is then stopped with SIGTERM, as Ctrl-C would.
Any other kind of block, or a literal ``::`` block, is an error: every block
on a page must be one the tests run.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[2] / "docs"
_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::\s*(\S+)\s*$")
#: Seconds a documented hub command has to report that it serves.
HUB_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Block:
    """One code block: its language, text and first line number on the page."""

    language: str
    text: str
    line: int


def code_blocks(page: Path) -> list[Block]:
    """Every code block of ``page``.

    Raises
    ------
    ValueError
        If the page has a literal (``::``) block or a block of another language.
    """
    lines = page.read_text().splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            raise ValueError(f"{page.name}:{number + 1}: literal block; use a code-block")
        found = _DIRECTIVE.match(line)
        if found is None:
            continue
        language = found.group(2)
        if language not in ("python", "console"):
            raise ValueError(f"{page.name}:{number + 1}: {language} blocks are not run")
        body, first = _body(lines, number + 1, len(found.group(1)))
        blocks.append(Block(language, body, first + 1))
    return blocks


def _body(lines: list[str], start: int, indent: int) -> tuple[str, int]:
    index = start
    while index < len(lines) and lines[index].strip().startswith(":"):
        index += 1  # directive options
    taken: list[str] = []
    first = index
    for line in lines[index:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        taken.append(line)
    text = "\n".join(taken)
    margin = min((len(x) - len(x.lstrip()) for x in taken if x.strip()), default=0)
    return "\n".join(x[margin:] for x in text.splitlines()).strip("\n") + "\n", first


def run_page(page: Path, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run every block of ``page`` in the current directory; return the namespace.

    Raises
    ------
    Exception
        Whatever a block raises (its traceback names the page and line).
    """
    namespace = {"__name__": "__doc_page__"} if namespace is None else namespace
    for block in code_blocks(page):
        if block.language == "python":
            padded = "\n" * (block.line - 1) + block.text
            exec(compile(padded, str(page), "exec"), namespace)
        else:
            for command in _commands(block.text):
                run_hub_command(command)
    return namespace


def _commands(text: str) -> list[list[str]]:
    commands = []
    for line in text.splitlines():
        if not line.startswith("$ "):
            continue
        words = shlex.split(line[2:].split("  #")[0])
        if words[:2] != ["jupyter-samp", "hub"]:
            raise ValueError(f"only 'jupyter-samp hub' commands are run, not {line!r}")
        commands.append([sys.executable, "-m", "jupyter_samp", *words[1:]])
    return commands


def run_hub_command(command: list[str]) -> str:
    """Start a documented hub command, wait until it serves, stop it; return its SAMP_HUB.

    Raises
    ------
    AssertionError
        If it exits or says nothing for :data:`HUB_START_TIMEOUT` seconds
        before it serves, or does not exit 0 on SIGTERM.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(DOCS.parent), *sys.path]))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, env=env)
    try:
        value = _wait_serving(process)
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, f"{command} exited {process.returncode}: {err}"
    return value


def _wait_serving(process: subprocess.Popen[str]) -> str:
    """Read the command's output (in a thread, so a deadline holds) up to ``SAMP_HUB=``."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + HUB_START_TIMEOUT
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if not line:
            break
        if line.startswith("SAMP_HUB="):
            return line.strip().split("=", 1)[1]
    raise AssertionError(f"the hub command did not report SAMP_HUB= ({process.args})")
