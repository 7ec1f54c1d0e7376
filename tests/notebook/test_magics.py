"""%samp subcommands in a real IPython shell, against a real hub."""

from __future__ import annotations

import asyncio

import pytest
from IPython.core.error import UsageError

from jupyter_samp import Message, connect
from jupyter_samp.notebook.session import SampSession

from ..client.helpers import wait_until


async def _connected(shell, session: SampSession) -> None:  # type: ignore[no-untyped-def]
    shell.run_line_magic("samp", "connect --hub connect")
    assert session._connecting is not None
    await session._connecting
    assert session.connected


async def test_status_before_connecting(shell, fresh_session: SampSession) -> None:  # type: ignore[no-untyped-def]
    assert "not connected" in repr(shell.run_line_magic("samp", ""))


async def test_connect_apps_point_log_disconnect(shell, fresh_session, hub) -> None:  # type: ignore[no-untyped-def]
    await _connected(shell, fresh_session)
    pointed: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    async with connect("skyview", hub=hub.lockfile) as viewer:
        viewer.add_handler("coord.pointAt.sky", lambda m: pointed.set_result(m))
        await viewer.flush()
        client = fresh_session.client
        await wait_until(lambda: bool(client.subscribers("coord.pointAt.sky")), client)
        assert "skyview" in repr(shell.run_line_magic("samp", "apps"))
        assert "sky positions" in repr(shell.run_line_magic("samp", "apps"))
        assert "skyview" in repr(shell.run_line_magic("samp", "status"))
        shell.run_line_magic("samp", "point 83.82 -5.39 --to skyview")
        message = await asyncio.wait_for(pointed, 10)
        assert message.params == {"ra": "83.82", "dec": "-5.39"}
        await wait_until(lambda: any("coord.pointAt.sky" in e["text"]
                                     for e in fresh_session.state.log), client)
        assert "coord.pointAt.sky" in repr(shell.run_line_magic("samp", "log"))
    shell.run_line_magic("samp", "disconnect")
    await wait_until(lambda: not fresh_session.connected, client)
    assert not fresh_session.state.connected


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("point 10", "usage: %samp point RA DEC"),
        ("point ten 20", "must be numbers"),
        ("send nosuchvariable", "no variable named 'nosuchvariable'"),
        ("hub restart", "usage: %samp hub start|stop"),
        ("apps", "not connected"),
    ],
)
async def test_bad_input_is_one_line(shell, fresh_session, line: str, complaint: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=complaint) as caught:
        shell.run_line_magic("samp", line)
    assert "\n" not in str(caught.value)


async def test_unknown_app_is_one_line(shell, fresh_session, hub) -> None:  # type: ignore[no-untyped-def]
    await _connected(shell, fresh_session)
    with pytest.raises(UsageError, match="No application called 'topcat'") as caught:
        shell.run_line_magic("samp", "point 1 2 --to topcat")
    assert "\n" not in str(caught.value)


def test_help_documents_subcommands(shell) -> None:  # type: ignore[no-untyped-def]
    doc = shell.find_line_magic("samp").__doc__
    for word in ("connect", "apps", "send", "image", "point", "select", "log", "hub", "disconnect"):
        assert word in doc


def test_dash_dash_help_prints_the_help(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    for line in ("--help", "-h", "send --help"):
        assert shell.run_line_magic("samp", line) is None
        printed = capsys.readouterr().out
        assert "%samp send df --to topcat --name stars" in printed and "--to TO" in printed


def test_unbalanced_quotes_are_one_line(shell) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="No closing quotation"):
        shell.run_line_magic("samp", 'send df --name "stars')


async def test_quoted_names_arrive_without_their_quotes(shell, fresh_session, hub) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    await _connected(shell, fresh_session)
    loaded: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    async with connect("viewer", hub=hub.lockfile) as viewer:
        viewer.add_handler("table.load.votable", lambda m: loaded.set_result(m) or {})
        await viewer.flush()
        client = fresh_session.client
        await wait_until(lambda: bool(client.subscribers("table.load.votable")), client)
        shell.user_ns["stars"] = pd.DataFrame({"ra": [1.0, 2.0], "dec": [3.0, 4.0]})
        shell.run_line_magic("samp", 'send stars --to viewer --name "my nice table"')
        message = await asyncio.wait_for(loaded, 20)
        assert message.params["name"] == "my nice table"


async def test_send_shows_the_download_then_the_outcome_in_the_cell_and_the_log(  # type: ignore[no-untyped-def]
    shell, fresh_session, hub
) -> None:
    import numpy as np
    import pandas as pd
    from IPython.utils.capture import capture_output

    from jupyter_samp.data import DataBridge, Received

    await _connected(shell, fresh_session)
    async with connect("viewer", hub=hub.lockfile) as viewer:
        got: list[Received] = []
        inbox = DataBridge(viewer, timeout=20)
        inbox.on_table(got.append)  # downloads what it is sent
        await viewer.flush()
        client = fresh_session.client
        await wait_until(lambda: bool(client.subscribers("table.load.votable")), client)
        shell.user_ns["big"] = pd.DataFrame({"x": np.arange(500_000, dtype=float)})
        with capture_output() as captured:
            shell.run_line_magic("samp", "send big --to viewer --transport http")
            handle = fresh_session.handle_of(shell.user_ns["big"])
            await asyncio.wait_for(handle.delivery, 30)
        await inbox.close()
    lines = [output.data.get("text/html", "") for output in captured.outputs]
    assert "sending big..." in lines[0]
    progress = [line for line in lines if "downloaded (" in line]
    assert len(progress) >= 2 and "MB downloaded (100 %)" in progress[-1], lines
    assert ">ok<" in lines[-1] and "viewer" in lines[-1]
    assert len(got) == 1
    assert any(entry["text"] == "table big: done by viewer" for entry in fresh_session.state.log)


async def test_after_the_hub_stops_the_notebook_says_what_happened(  # type: ignore[no-untyped-def]
    shell, fresh_session, tmp_path
) -> None:
    from jupyter_samp import Hub
    from jupyter_samp.testing import samp_environment

    with samp_environment(tmp_path / "own") as env:
        own = Hub(lockfile=env.lockfile, web_profile=False)
        await own.start()
        await _connected(shell, fresh_session)
        client = fresh_session.client
        await own.stop()
        await wait_until(lambda: not client.connected, client)
        with pytest.raises(UsageError) as caught:
            shell.run_line_magic("samp", "apps")
    message = str(caught.value)
    assert "not connected yet" not in message
    assert "not connected: the hub shut down." in message, message
    assert "%samp connect again" in message
