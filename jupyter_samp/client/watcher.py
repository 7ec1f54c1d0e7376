"""Noticing a hub that goes away and one that comes back.

While connected, the watcher pings the hub and re-reads the lockfile every
``interval`` seconds: a hub that stops answering, or a lockfile that now
names another hub, means the connection is lost. While disconnected, it
tries to connect whenever a lockfile is there. A disconnection reported by
the client (a shutdown event, a failed call) wakes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from jupyter_samp.errors import SampError

log = logging.getLogger("jupyter_samp.client")


class HubWatcher:
    """Runs the watch loop for one client.

    Parameters
    ----------
    check : coroutine function
        Called while connected; raises :class:`SampError` if the hub is gone.
    reconnect : coroutine function
        Called while disconnected; raises :class:`SampError` if no hub is there yet.
    is_connected : callable
        Whether the client is connected now.
    interval : float
        Seconds between checks.
    """

    def __init__(
        self,
        check: Callable[[], Awaitable[None]],
        reconnect: Callable[[], Awaitable[None]],
        is_connected: Callable[[], bool],
        interval: float = 1.0,
    ) -> None:
        self._check = check
        self._reconnect = reconnect
        self._is_connected = is_connected
        self.interval = interval
        self.auto_reconnect = True
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start watching in the background."""
        self._stopping = False
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """Check now instead of at the next tick."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop watching."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            # A timer instead of wait_for: wait_for can swallow a cancellation
            # that races with its timeout, which would make stop() hang.
            timer = loop.call_later(self.interval, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()
            self._wake.clear()
            try:
                await self._tick()
            except Exception:  # the watcher must survive anything
                log.exception("hub watcher failed; retrying")

    async def _tick(self) -> None:
        if self._is_connected():
            with contextlib.suppress(SampError):
                await self._check()
        elif self.auto_reconnect:
            try:
                await self._reconnect()
            except SampError as exc:
                log.debug("no hub to reconnect to yet: %s", exc)
