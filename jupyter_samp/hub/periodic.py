"""A background chore the hub repeats every few seconds until it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("jupyter_samp.hub")


class Periodic:
    """Runs :meth:`tick` every ``interval`` seconds in a task, between start and stop.

    Subclasses implement :meth:`tick`; an exception from it is logged and the
    next round runs anyway, since a watchdog must outlive any surprise.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start repeating in the background."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop repeating."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def tick(self) -> None:
        """One round of the chore."""
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)  # a period between rounds, not a synchronisation
            try:
                await self.tick()
            except Exception:
                log.exception("%s failed; trying again in %g s", type(self).__name__,
                              self.interval)
