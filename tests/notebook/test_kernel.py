"""A real kernel, driven with jupyter_client: messages arrive between cells, and a busy
cell does not stop the embedded hub from routing between other applications."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from jupyter_samp import Message, connect
from jupyter_samp.data.codecs.votable import votable_bytes
from jupyter_samp.testing import samp_environment

from .kernel import kernel_env, run_cell, running_kernel

pytestmark = pytest.mark.peers
CONNECT = """
%load_ext jupyter_samp
import jupyter_samp
samp = jupyter_samp.connection()
await samp.connect()
received = []
samp.bridge.on_table(received.append, as_pandas=True)
await samp.client.flush()
print("connected", samp.state.connected)
"""

STOP = "await samp.disconnect(stop_hub=True)"


async def test_messages_arrive_between_cells(tmp_path: Path) -> None:
    table = tmp_path / "sent.vot"
    table.write_bytes(votable_bytes(pd.DataFrame({"x": [10, 20, 30, 40]}), name="sent"))
    with samp_environment(tmp_path / "samp"):
        async with running_kernel(kernel_env()) as kernel:
            assert "connected True" in (await run_cell(kernel, CONNECT))["stdout"]
            sender = await asyncio.create_subprocess_exec(
                sys.executable, str(Path(__file__).with_name("sender_process.py")), str(table),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                env=kernel_env())
            try:
                assert sender.stdout is not None
                line = await asyncio.wait_for(sender.stdout.readline(), 60)
                assert line.strip() == b"sent"
                # The kernel was idle meanwhile: the next cell sees what arrived.
                outputs = await run_cell(kernel, """
got = received[-1]
print("data", list(got.data["x"]))
print("selection", list(got.table.selection["x"]))
print("apps", sorted(c["name"] for c in samp.state.clients))
""")
            finally:
                assert sender.stdin is not None
                sender.stdin.close()
                await asyncio.wait_for(sender.wait(), 30)
                await run_cell(kernel, STOP)
    text = outputs["stdout"]
    assert "data [10, 20, 30, 40]" in text
    assert "selection [20, 30]" in text
    assert "sender-proc" in text


async def test_busy_cell_does_not_stop_the_embedded_hub(tmp_path: Path) -> None:
    with samp_environment(tmp_path) as env:
        async with running_kernel(kernel_env()) as kernel:
            await run_cell(kernel, CONNECT)
            assert env.lockfile.exists(), "the kernel should have started an embedded hub"
            busy = asyncio.ensure_future(run_cell(kernel, "import time; time.sleep(12)", 60))
            async with connect("alpha", hub=env.lockfile) as alpha, connect(
                "beta", hub=env.lockfile
            ) as beta:
                beta.add_handler("test.busy", lambda m: {"echo": m.params["n"]})
                await beta.flush()
                started = time.monotonic()
                for n in range(20):
                    answer = await alpha.call("beta", "test.busy", {"n": n}, timeout=10)
                    assert answer.result == {"echo": str(n)}
                assert time.monotonic() - started < 8
                assert not busy.done(), "the exchange should have happened during the busy cell"
            await busy
            await run_cell(kernel, STOP)
        assert not env.lockfile.exists()


def _unused(message: Message) -> None:  # keeps the import for type checkers
    del message
