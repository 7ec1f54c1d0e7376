"""The hub and the client on uvloop, the other event loop applications commonly use.

An application built on uvloop (a web service, a GUI with its own loop
policy) embeds our hub or client on its loop: nothing of ours may assume
asyncio's own transport classes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from jupyter_samp import Hub, Message, connect
from jupyter_samp.testing import samp_environment

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not exist for Windows")


async def _exchange(lockfile: Path) -> tuple[str, str]:
    async with Hub(lockfile=lockfile) as hub:
        got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def answer(message: Message) -> dict[str, str]:
            got.set_result(message.params["x"])
            return {"y": "answered"}

        async with connect("receiver", hub=lockfile) as receiver, connect(
            "sender", hub=lockfile
        ) as sender:
            receiver.add_handler("test.echo", answer)
            await receiver.flush()
            response = await sender.call("receiver", "test.echo", {"x": "sent"}, timeout=10)
            assert [c.name for c in hub.clients if c.name == "receiver"] == ["receiver"]
        return await asyncio.wait_for(got, 10), response.result["y"]


def test_hub_and_clients_run_on_uvloop(tmp_path: Path) -> None:
    import uvloop

    with samp_environment(tmp_path) as env:
        assert uvloop.run(_exchange(env.lockfile)) == ("sent", "answered")
