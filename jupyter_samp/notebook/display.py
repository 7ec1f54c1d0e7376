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


class Placeholder:
    """The line a magic shows while its task runs, replaced by the outcome.

    :meth:`say` changes the waiting text (download progress, ...) until the
    task is done; after that it does nothing, so a late progress report can
    never hide the outcome.
    """

    def __init__(self, handle: Any, task: asyncio.Task[Any]) -> None:
        self._handle = handle
        self._task = task

    def say(self, text: str) -> None:
        """Show ``text`` as the waiting line, if the task is still running."""
        from IPython.display import HTML

        if self._handle is not None and not self._task.done():
            self._handle.update(HTML(_line(text, "#666")))


def show_when_done(
    task: asyncio.Task[Any], waiting: str, render: Callable[[Any], Any] | None = None
) -> Placeholder:
    """Display ``waiting`` now and the task's outcome when it finishes.

    Returns the placeholder, whose :meth:`Placeholder.say` updates the
    waiting line meanwhile.
    """
    from IPython.display import HTML, display

    handle = display(HTML(_line(waiting, "#666")), display_id=True)

    def finished(done: asyncio.Task[Any]) -> None:
        if handle is None:
            return
        handle.update(_outcome(done, render))

    task.add_done_callback(finished)
    return Placeholder(handle, task)


class DownloadProgress:
    """Reports recipients' downloads on a placeholder: ``sending df: 12 of 80 MB``.

    Called with ``(bytes_sent, total)`` about once per MiB; it shows a new
    line only when the whole percentage (or, with no total, the megabyte)
    changes, so a large table does not flood the front end with updates.
    """

    def __init__(self, placeholder: Placeholder, what: str) -> None:
        self._placeholder = placeholder
        self._what = what
        self._shown: int | None = None

    def __call__(self, sent: int, total: int | None) -> None:
        step = sent * 100 // total if total else sent >> 20
        if step == self._shown:
            return
        self._shown = step
        if total:
            text = f"{self._what}: {_megabytes(sent)} of {_megabytes(total)} downloaded ({step} %)"
        else:
            text = f"{self._what}: {_megabytes(sent)} downloaded"
        self._placeholder.say(text)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


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
