"""Waiting helpers for client tests: conditions with deadlines, never bare sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from jupyter_samp import Client
from jupyter_samp.client import ClientEvent


async def wait_until(condition: Callable[[], bool], client: Client, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds, re-checking whenever ``client`` sees a change."""
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
        await asyncio.wait_for(until(), timeout)
    finally:
        stop_clients()
        stop_state()


def event_queue(client: Client) -> asyncio.Queue[ClientEvent]:
    """A queue receiving every client event ``client`` observes."""
    queue: asyncio.Queue[ClientEvent] = asyncio.Queue()
    client.observe(queue.put_nowait)
    return queue
