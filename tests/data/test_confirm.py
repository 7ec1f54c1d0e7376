"""A table load that is carried out but never answered is confirmed by asking about the table.

The receiver here does what Aladin 12 does with the first table it loads:
it downloads the table and never replies to ``table.load.votable``, but it
answers ``table.select.rowList`` about that table.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd

from jupyter_samp import Message
from jupyter_samp.data.confirm import SELECT
from jupyter_samp.data.fetch import fetch
from tests.data.conftest import Pair, subscribed


def silent_loader(pair: Pair, answer_select: bool) -> tuple[asyncio.Event, set[str]]:
    """Make the receiver download tables without replying; return its release and its tables."""
    release, held = asyncio.Event(), set()

    async def load(message: Message) -> dict[str, Any]:
        body = await fetch(message.params["url"])
        assert body
        held.add(message.params["table-id"])
        await release.wait()  # the reply that never comes (until the test ends)
        return {}

    async def select(message: Message) -> dict[str, Any]:
        if message.params["table-id"] not in held:
            raise LookupError("no such table")
        return {}

    pair.receiver.add_handler("table.load.votable", load)
    if answer_select:
        pair.receiver.add_handler(SELECT, select)
    return release, held


async def test_an_unanswered_load_of_a_held_table_counts_with_a_warning(pair: Pair) -> None:
    release, held = silent_loader(pair, answer_select=True)
    await subscribed(pair, "table.load.votable", SELECT)
    try:
        receipt = await pair.out.send_table(pd.DataFrame({"x": [1.0, 2.0]}),
                                            to="receiver", timeout=20)
    finally:
        release.set()
    rid = pair.receiver.self_id
    assert receipt.ok == [rid] and receipt.params["table-id"] in held
    assert receipt.failed == {}
    assert "did not answer table.load.votable, but it holds the table" in receipt.warnings[rid]


async def test_without_select_an_unanswered_load_times_out(pair: Pair) -> None:
    release, _ = silent_loader(pair, answer_select=False)
    await subscribed(pair, "table.load.votable")
    try:
        receipt = await pair.out.send_table(pd.DataFrame({"x": [1.0]}), to="receiver",
                                            timeout=1.5)
    finally:
        release.set()
    assert receipt.failed == {pair.receiver.self_id: "no response within 1.5 s"}
