"""Callbacks for web clients: a bounded queue per client, emptied by a long poll.

A browser page cannot run a server, so the hub keeps the callbacks meant for
it (``receiveNotification``, ``receiveCall``, ``receiveResponse``) until the
page collects them with ``samp.webhub.pullCallbacks``. That call is a long
poll: it returns at once if anything is queued, otherwise it parks until a
callback arrives, its timeout passes (then it returns ``[]``), the client
stops being callable or leaves, the hub stops, or its HTTP connection closes.
A parked poll is only a future on the event loop, so any number of them cost
nothing while they wait and delay nobody.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from jupyter_samp.core.model import Deliver

#: Most callbacks kept for one client; delivering more fails (as JSAMP does).
DEFAULT_QUEUE_LIMIT = 4096


def callback_item(effect: Deliver) -> dict[str, Any]:
    """The map ``pullCallbacks`` returns for one delivery."""
    return {"samp.methodName": effect.method, "samp.params": list(effect.params)}


class CallbackQueue:
    """Callbacks waiting for one web client, and the poll parked on them.

    Parameters
    ----------
    limit : int
        Most callbacks held at once; :meth:`put` refuses more.
    """

    def __init__(self, limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self.limit = limit
        self._items: deque[Deliver] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def polling(self) -> bool:
        """Whether a poll is parked here now."""
        return self._waiter is not None

    def put(self, effect: Deliver) -> bool:
        """Queue one callback and wake the parked poll.

        Returns
        -------
        bool
            False if the queue is full or closed (nothing is queued then).
        """
        if self._closed or len(self._items) >= self.limit:
            return False
        self._items.append(effect)
        self._wake()
        return True

    async def pull(
        self, timeout: float | None, gone: asyncio.Future[None] | None = None
    ) -> list[dict[str, Any]]:
        """Return the queued callbacks, waiting up to ``timeout`` s for the first one.

        Parameters
        ----------
        timeout : float or None
            Longest wait in seconds (0: do not wait; None: no limit).
        gone : Future, optional
            Done when the caller's connection closed: the poll then returns
            ``[]`` and leaves the queue untouched, so nothing is lost.

        Returns
        -------
        list of dict
            Every queued callback, oldest first; ``[]`` at timeout, when a
            newer poll takes over, or when the queue is closed.
        """
        if self._items or self._closed or timeout == 0:
            return self._take()
        loop = asyncio.get_running_loop()
        self._wake()  # a newer poll replaces an older one, which returns []
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _settle, waiter) if timeout is not None else None
        if gone is not None:
            gone.add_done_callback(lambda _: _settle(waiter))
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if self._waiter is waiter:
                self._waiter = None
        if gone is not None and gone.done():
            return []
        return self._take()

    def _take(self) -> list[dict[str, Any]]:
        items = [callback_item(effect) for effect in self._items]
        self._items.clear()
        return items

    def _wake(self) -> None:
        if self._waiter is not None:
            _settle(self._waiter)
            self._waiter = None

    def end(self) -> None:
        """Refuse new callbacks; the parked poll (or the next one) gets what is queued."""
        self._closed = True
        self._wake()

    def close(self) -> list[Deliver]:
        """Refuse new callbacks, release the parked poll, and return the undelivered ones."""
        self._closed = True
        dropped = list(self._items)
        self._items.clear()
        self._wake()
        return dropped


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
