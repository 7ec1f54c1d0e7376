"""Waiting for a client to see something, with a deadline and without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from jupyter_samp.client import Client, ClientEvent
from jupyter_samp.transport.timeouts import within


async def wait_until(condition: Callable[[], bool], client: Client, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds, re-checking whenever ``client`` sees a change.

    A change is another client coming, going or changing, or this client's
    connection state changing.

    Raises
    ------
    asyncio.TimeoutError
        If ``condition()`` is still false after ``timeout`` seconds.
    """
    changed = asyncio.Event()

    def poke(*_args: object) -> None:
        changed.set()

    stop_clients = client.observe(poke)
    stop_state = client.on_state(poke)

    async def until() -> None:
        while not condition():
            await changed.wait()
            changed.clear()

    try:
        await within(until(), timeout)
    finally:
        stop_clients()
        stop_state()


def event_queue(client: Client) -> asyncio.Queue[ClientEvent]:
    """A queue receiving every client event ``client`` observes."""
    queue: asyncio.Queue[ClientEvent] = asyncio.Queue()
    client.observe(queue.put_nowait)
    return queue
