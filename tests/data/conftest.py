"""Fixtures for the data bridge: a hub and two connected clients, each with a bridge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from jupyter_samp import Client, Hub, connect
from jupyter_samp.data.bridge import DataBridge


@dataclass
class Pair:
    """A sending and a receiving application on one hub."""

    sender: Client
    receiver: Client
    out: DataBridge
    inbox: DataBridge


async def wait_for(condition: Callable[[], bool], client: Client, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds, re-checking whenever ``client`` sees a change."""
    changed = asyncio.Event()
    stop = client.observe(lambda event: changed.set())

    async def until() -> None:
        while not condition():
            await changed.wait()
            changed.clear()

    try:
        await asyncio.wait_for(until(), timeout)
    finally:
        stop()


@pytest.fixture
async def pair(hub: Hub) -> AsyncIterator[Pair]:
    async with connect("sender", hub=hub.lockfile) as sender, connect(
        "receiver", hub=hub.lockfile
    ) as receiver:
        out, inbox = DataBridge(sender, timeout=20), DataBridge(receiver, timeout=20)
        try:
            yield Pair(sender, receiver, out, inbox)
        finally:
            await out.close()
            await inbox.close()


async def subscribed(pair: Pair, *mtypes: str) -> None:
    """Wait until the sender sees the receiver subscribed to ``mtypes``."""
    await pair.receiver.flush()
    await wait_for(
        lambda: all(
            any(view.id == pair.receiver.self_id for view in pair.sender.subscribers(m))
            for m in mtypes
        ),
        pair.sender,
    )
