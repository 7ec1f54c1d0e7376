"""Widgets render the model and follow it; actions go through the session."""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd

from jupyter_samp import connect
from jupyter_samp.data import DataBridge
from jupyter_samp.notebook.model import SampState
from jupyter_samp.notebook.session import SampSession
from jupyter_samp.notebook.widgets import (
    AppsPanel,
    MessageLog,
    SendButton,
    StatusView,
    TargetPicker,
    panel,
)

from ..client.helpers import wait_until

TOPCAT = {"id": "c3", "name": "topcat", "description": "tables", "icon_url": "http://x/i.png",
          "subscriptions": ["table.load.votable", "coord.pointAt.sky"], "is_hub": False}
DS9 = {"id": "c4", "name": "SAOImageDS9", "description": "", "icon_url": "",
       "subscriptions": ["image.load.fits", "coord.pointAt.sky"], "is_hub": False}
HUB = {"id": "hub", "name": "hub", "description": "", "icon_url": "", "subscriptions": [],
       "is_hub": True}


async def until_value(widget: Any, condition: Any, timeout: float = 20) -> None:
    """Wait until ``condition(widget.value)`` holds, woken by the widget's own changes."""
    changed = asyncio.Event()
    widget.observe(lambda change: changed.set(), names="value")
    while not condition(widget.value):
        await asyncio.wait_for(changed.wait(), timeout)
        changed.clear()


def row_text(row: Any) -> str:
    """The text part of an apps-panel row (an HBox of icon and HTML)."""
    return str(row.children[1].value)


def test_apps_panel_follows_the_clients_trait() -> None:
    state = SampState()
    view = AppsPanel(state)
    assert "No application" in view.children[0].value
    state.clients = [HUB, TOPCAT, DS9]
    texts = [row_text(child) for child in view.children]
    assert len(texts) == 2 and "topcat" in texts[0] and "tables" in texts[0]
    assert "images" in texts[1]
    assert all("jupyter-samp-app" in child._dom_classes for child in view.children)
    state.clients = [HUB, DS9]
    assert len(view.children) == 1 and "SAOImageDS9" in row_text(view.children[0])


def test_target_picker_offers_only_apps_that_accept_the_mtype() -> None:
    state = SampState(clients=[HUB, TOPCAT, DS9])
    picker = TargetPicker(state, "table.load.votable")
    assert [value for _, value in picker.options] == [None, "c3"]
    picker.value = "c3"
    state.clients = [HUB, DS9]
    assert [value for _, value in picker.options] == [None]
    assert picker.value is None
    images = TargetPicker(state, "image.load.fits")
    assert [value for _, value in images.options] == [None, "c4"]


def test_log_and_status_views_follow_the_state() -> None:
    state = SampState()
    log, status = MessageLog(state), StatusView(state)
    assert "No SAMP messages" in log.value and "not connected" in status.value
    state.add_log("out", "-> topcat: table.load.votable (call)")
    assert "table.load.votable" in log.value
    state.hub = {"url": "http://127.0.0.1:1/xmlrpc", "kind": "external"}
    state.self_id, state.clients, state.connected = "c1", [HUB, TOPCAT], True
    assert "connected as c1" in status.value and "topcat" in status.value


def test_log_is_bounded() -> None:
    state = SampState(log_limit=5)
    for n in range(12):
        state.add_log("in", f"message {n}")
    assert [entry["text"] for entry in state.log] == [f"message {n}" for n in range(7, 12)]


async def test_send_button_delivers_a_table(fresh_session: SampSession, hub) -> None:  # type: ignore[no-untyped-def]
    await fresh_session.connect(hub="connect")
    got: asyncio.Future = asyncio.get_running_loop().create_future()
    async with connect("recorder", hub=hub.lockfile) as recorder:
        bridge = DataBridge(recorder)
        bridge.on_table(lambda received: got.set_result(received), as_pandas=True)
        await recorder.flush()
        client = fresh_session.client
        assert client is not None
        await wait_until(lambda: bool(client.subscribers("table.load.votable")), client)
        frame = pd.DataFrame({"mag": [12.5, 13.25]})
        button = SendButton(fresh_session, frame, name="mags")
        assert [value for _, value in button.picker.options] == [None, recorder.self_id]
        button.picker.value = recorder.self_id
        button.button.click()
        try:
            received = await asyncio.wait_for(got, 20)
        except asyncio.TimeoutError:
            raise AssertionError(button.result.value) from None
        assert list(received.data["mag"]) == [12.5, 13.25]
        await until_value(button.result, lambda value: "recorder" in value)
        assert "ok" in button.result.value
        # A local file is read, not downloaded: no progress bar (HTTP's is tested
        # with %samp send --transport http).
        handle = fresh_session.handle_of(frame)
        assert handle.receipt.transports[recorder.self_id].startswith("file")
        assert button.progress.layout.visibility == "hidden"
        await bridge.close()
    assert panel(fresh_session).children


async def test_send_button_shows_a_one_line_error(fresh_session: SampSession, hub) -> None:  # type: ignore[no-untyped-def]
    await fresh_session.connect(hub="connect")
    button = SendButton(fresh_session, pd.DataFrame({"bad": [object(), 1]}))
    button.button.click()
    assert "SAMP:" in button.result.value and "\n" not in button.result.value
