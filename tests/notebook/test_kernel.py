"""A real kernel, driven with jupyter_client: messages arrive between cells, and a busy
cell does not stop the embedded hub from routing between other applications."""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from jupyter_samp import Message, connect
from jupyter_samp.data.codecs.votable import votable_bytes
from jupyter_samp.testing import samp_environment
from jupyter_samp.testing.waiting import wait_until

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


async def test_two_notebooks_register_by_name_with_an_icon_and_answer_only_for_their_tables(
    tmp_path: Path,
) -> None:
    """As Jupyter's server does, each kernel is told its notebook's path (JPY_SESSION_NAME)."""
    with samp_environment(tmp_path / "samp") as env:
        async with running_kernel(
            kernel_env({"JPY_SESSION_NAME": str(tmp_path / "analysis.ipynb")})
        ) as first, running_kernel(
            kernel_env({"JPY_SESSION_NAME": str(tmp_path / "Ω plots.ipynb")})
        ) as second:
            await run_cell(first, CONNECT)
            await run_cell(second, CONNECT)
            async with connect("viewer", hub=env.lockfile) as viewer:
                viewer.add_handler("table.load.votable", lambda message: None)
                await viewer.flush()
                names = {"jupyter: analysis.ipynb", "jupyter: Omega plots.ipynb"}
                await wait_until(lambda: names <= {v.name for v in viewer.clients.values()
                                                   if v.metadata.get("samp.icon.url")}, viewer)
                icons = [await asyncio.to_thread(_fetch, view.metadata["samp.icon.url"])
                         for view in viewer.clients.values() if view.name in names]
                sent = await run_cell(first, """
import pandas as pd
h = samp.send(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), to="viewer", name="mine")
await h.delivery
print("table-id", h.table_id)
""")
                table_id = sent["stdout"].split("table-id ")[1].split()[0]
                broadcast = await viewer.call_all(
                    "table.select.rowList", {"table-id": table_id, "row-list": ["1"]})
                answers = await broadcast.gather(timeout=20)
            selected = await run_cell(first, "print('selected', h.selected_rows.tolist())")
            await run_cell(second, "await samp.disconnect()")
            await run_cell(first, STOP)
    assert len(answers) == 2 and all(answer.ok for answer in answers.values()), answers
    assert "selected [1]" in selected["stdout"]
    assert icons == [("image/png", b"\x89PNG\r\n\x1a\n")] * 2


def _fetch(url: str) -> tuple[str, bytes]:
    """The content type and first bytes of what ``url`` serves."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.headers["Content-Type"], reply.read(8)


def _unused(message: Message) -> None:  # keeps the import for type checkers
    del message
