"""Fixtures for the data bridge: a hub and two connected clients, each with a bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from jupyter_samp import Client, Hub, connect
from jupyter_samp.data.bridge import DataBridge
from jupyter_samp.testing.waiting import wait_until as wait_for


@dataclass
class Pair:
    """A sending and a receiving application on one hub."""

    sender: Client
    receiver: Client
    out: DataBridge
    inbox: DataBridge


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
