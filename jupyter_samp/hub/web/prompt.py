"""Asking for Web Profile consent on the terminal, without blocking the event loop.

The hub keeps serving while a question is on screen: the answer is read from
standard input by an event-loop reader (``loop.add_reader``), or, where the
loop has none (Windows), by a worker thread. Questions are asked one at a
time; a request that times out while waiting its turn is refused without
being shown.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TextIO

from jupyter_samp.hub.web.consent import Consent, WebRegistration, accept_all, deny_all

_YES = frozenset({"y", "yes"})


class TerminalPrompt:
    """A consent callable that asks on the terminal: ``Allow? [y/N]``.

    Parameters
    ----------
    stdin : file, optional
        Where answers are read (default ``sys.stdin``).
    stdout : file, optional
        Where questions are written (default ``sys.stderr``, so they do not
        mix with output meant for other programs).

    Notes
    -----
    Anything but ``y``/``yes`` is a refusal, and so is end of input.
    """

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stderr
        self._turn = asyncio.Lock()
        self._lines: asyncio.Queue[str | None] | None = None
        self._pending = ""
        self._reader_fd: int | None = None
        self._thread_reader: asyncio.Task[None] | None = None
        self._closed = False

    async def __call__(self, request: WebRegistration) -> bool:
        """Show ``request`` and wait for the user's answer."""
        async with self._turn:
            lines = self._start_reading()
            while not lines.empty():  # drop what was typed before the question
                lines.get_nowait()
            self._show(request)
            if self._closed:  # nothing can be typed any more
                self._say("refused (no terminal input)")
                return False
            try:
                answer = await lines.get()
            except asyncio.CancelledError:
                self._say("(no answer in time: refused)")
                raise
            allowed = answer is not None and answer.strip().lower() in _YES
            self._say("allowed" if allowed else "refused")
            return allowed

    def _show(self, request: WebRegistration) -> None:
        text = "\n".join(["", *request.describe(), "Allow this connection? [y/N] "])
        self._stdout.write(text)
        self._stdout.flush()

    def _say(self, text: str) -> None:
        self._stdout.write(f"  -> {text}\n")
        self._stdout.flush()

    def _start_reading(self) -> asyncio.Queue[str | None]:
        if self._lines is not None:
            return self._lines
        self._lines = asyncio.Queue()
        if self._closed:
            self._lines.put_nowait(None)
            return self._lines
        loop = asyncio.get_running_loop()
        try:
            fd = self._stdin.fileno()
            loop.add_reader(fd, self._readable, fd)
            self._reader_fd = fd
        except (NotImplementedError, OSError, ValueError):
            self._thread_reader = loop.create_task(self._read_in_thread())
        return self._lines

    def _readable(self, fd: int) -> None:
        assert self._lines is not None
        data = os.read(fd, 4096)
        if not data:  # end of input: refuse everything from now on
            self.close()
            self._lines.put_nowait(None)
            return
        self._pending += data.decode("utf-8", "replace")
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._lines.put_nowait(line)

    async def _read_in_thread(self) -> None:
        assert self._lines is not None
        while True:
            line = await asyncio.to_thread(self._stdin.readline)
            if not line:
                self._closed = True
                self._lines.put_nowait(None)
                return
            self._lines.put_nowait(line.rstrip("\n"))

    def _stop_reader(self) -> None:
        if self._reader_fd is not None:
            asyncio.get_running_loop().remove_reader(self._reader_fd)
            self._reader_fd = None

    def close(self) -> None:
        """Stop reading standard input (called when the hub stops)."""
        self._closed = True
        self._stop_reader()


def choose_consent(choice: str | None, stdin: TextIO | None = None) -> Consent:
    """The consent callable for a ``--web-consent`` choice.

    Parameters
    ----------
    choice : {"accept", "deny", "prompt"} or None
        None means "prompt" when standard input is a terminal, else "deny".

    Raises
    ------
    ValueError
        For any other choice.
    """
    stdin = stdin or sys.stdin
    if choice is None:
        choice = "prompt" if _is_terminal(stdin) else "deny"
    if choice == "prompt":
        return TerminalPrompt(stdin)
    if choice == "deny":
        return deny_all
    if choice == "accept":
        return accept_all
    raise ValueError(f"web consent must be accept, deny or prompt, not {choice!r}")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
