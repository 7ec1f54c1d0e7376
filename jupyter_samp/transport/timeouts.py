"""Waiting with a deadline without losing cancellations.

``asyncio.wait_for`` on Python < 3.12 can swallow a cancellation that
arrives as its inner awaitable finishes, leaving a task that refuses to
stop. :func:`within` is the replacement used throughout the package.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout: float | None) -> T:
    """Await ``awaitable``, giving up after ``timeout`` seconds (None: no limit).

    Raises
    ------
    asyncio.TimeoutError
        If the deadline passes first; the awaitable is cancelled then.
    asyncio.CancelledError
        If the caller is cancelled; the awaitable is cancelled too.
    """
    future = asyncio.ensure_future(awaitable)
    if timeout is None:
        return await future
    try:
        done, _ = await asyncio.wait({future}, timeout=timeout)
    except asyncio.CancelledError:
        future.cancel()
        raise
    if not done:
        future.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await future
        raise asyncio.TimeoutError()
    return future.result()
