"""An asyncio loop in a background thread, for the blocking astropy-style classes.

Each compat object that talks to the network owns one: its sockets live on
that loop, and a blocking method submits a coroutine there and waits for its
result. Nothing polls: the thread sleeps in the loop's selector until a socket
or a submitted call wakes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """A private event loop running in a daemon thread.

    Parameters
    ----------
    name : str
        The thread's name (shown in tracebacks and debuggers).
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def alive(self) -> bool:
        """Whether the loop still runs."""
        return self.thread.is_alive() and not self.loop.is_closed()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the loop and return its result.

        Raises
        ------
        RuntimeError
            If called from the loop's own thread (it would wait for itself),
            or after :meth:`close`.
        concurrent.futures.TimeoutError
            If ``timeout`` seconds pass first (the coroutine is cancelled).
        Exception
            Whatever the coroutine raises.
        """
        if threading.current_thread() is self.thread:
            coroutine.close()
            raise RuntimeError("a blocking SAMP call was made on its own event loop's thread")
        if not self.alive:
            coroutine.close()
            raise RuntimeError("this SAMP object has been shut down")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self, timeout: float = 10.0) -> None:
        """Stop the loop and join its thread; safe to call more than once."""
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            if threading.current_thread() is not self.thread:
                self.thread.join(timeout)
        if not self.thread.is_alive() and not self.loop.is_closed():
            self.loop.close()
