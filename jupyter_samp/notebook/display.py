"""Showing background results in the cell that started them.

A magic cannot wait for the network (the kernel's loop is blocked while the
cell runs), so it shows a placeholder with a display id and replaces it once
the task finishes: with the result's rich form, or one readable error line.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import Any

from jupyter_samp.errors import SampError


def show_when_done(
    task: asyncio.Task[Any], waiting: str, render: Callable[[Any], Any] | None = None
) -> None:
    """Display ``waiting`` now and the task's outcome when it finishes."""
    from IPython.display import HTML, display

    handle = display(HTML(_line(waiting, "#666")), display_id=True)

    def finished(done: asyncio.Task[Any]) -> None:
        if handle is None:
            return
        handle.update(_outcome(done, render))

    task.add_done_callback(finished)


def _outcome(task: asyncio.Task[Any], render: Callable[[Any], Any] | None) -> Any:
    from IPython.display import HTML

    if task.cancelled():
        return HTML(_line("cancelled", "#a60"))
    error = task.exception()
    if error is not None:
        return HTML(_line(error_line(error), "#b00"))
    result = task.result()
    if render is not None:
        return render(result)
    return result if hasattr(result, "_repr_html_") else HTML(_line(str(result), "#060"))


def error_line(error: BaseException) -> str:
    """One readable line for an error: the message, with the class for unexpected ones."""
    if isinstance(error, (SampError, ValueError, LookupError)):
        return f"SAMP: {error}"
    return f"SAMP: {type(error).__name__}: {error}"


def _line(text: str, colour: str) -> str:
    return f'<span style="color:{colour}">{html.escape(text)}</span>'
