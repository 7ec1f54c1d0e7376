"""Application icons: fetched by the kernel with a cap, checked, kept in the state, shown."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pandas as pd
import pytest

from jupyter_samp.errors import FetchError
from jupyter_samp.notebook.icons import decode_data_url, fetch_icon, sniff
from jupyter_samp.notebook.model import SampState
from jupyter_samp.notebook.session import SampSession
from jupyter_samp.notebook.widgets import AppsPanel, SendButton, panel

from .icon_server import ICON, icon_server


def app(ident: str, name: str, icon_url: str) -> dict[str, Any]:
    """A ``clients`` entry."""
    return {"id": ident, "name": name, "description": "", "icon_url": icon_url,
            "subscriptions": ["table.load.votable"], "subscriptions_known": True,
            "is_hub": False}


async def until_icons(state: SampState, done: Any, timeout: float = 10) -> None:
    """Wait, on the ``icons`` trait's changes, until ``done(state.icons)`` holds."""
    changed = asyncio.Event()
    state.observe(lambda change: changed.set(), names="icons")
    while not done(state.icons):
        await asyncio.wait_for(changed.wait(), timeout)
        changed.clear()


def test_only_raster_images_are_recognised() -> None:
    assert sniff(ICON) == "png"
    assert sniff(b"GIF89a....") == "gif"
    assert sniff(b"\xff\xd8\xff\xe0....") == "jpeg"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff(b"<svg onload='alert(1)'/>") is None


def test_data_urls_decode_within_the_cap() -> None:
    encoded = "data:image/png;base64," + base64.b64encode(ICON).decode()
    assert decode_data_url(encoded) == ICON
    with pytest.raises(FetchError, match="larger than 10 bytes"):
        decode_data_url(encoded, max_bytes=10)
    with pytest.raises(FetchError, match="does not decode"):
        decode_data_url("data:image/png;base64,@@@")


async def test_fetch_icon_takes_images_and_refuses_everything_else() -> None:
    async with icon_server() as server:
        assert await fetch_icon(server.url("/icon.png")) == (ICON, "png")
        with pytest.raises(FetchError, match="more than the limit"):
            await fetch_icon(server.url("/huge.png"))
        with pytest.raises(FetchError, match="not a PNG"):
            await fetch_icon(server.url("/page.png"))
        with pytest.raises(FetchError, match="404"):
            await fetch_icon(server.url("/missing.png"))
    for url in ("file:///etc/passwd", "javascript:alert(1)", "ftp://127.0.0.1/i.png"):
        with pytest.raises(FetchError, match="only http, https and data"):
            await fetch_icon(url)


async def test_panel_shows_fetched_icons_and_placeholders() -> None:
    async with icon_server() as server:
        good, bad = server.url("/icon.png"), server.url("/page.png")
        state = SampState()
        view = AppsPanel(state)
        state.clients = [app("c2", "viewer", good), app("c3", "broken", bad),
                         app("c4", "plain", "")]
        await until_icons(state, lambda icons: all(
            icons.get(url, {}).get("status") in ("ok", "failed") for url in (good, bad)))
    assert state.icons[good]["data"] == ICON and state.icons[bad]["status"] == "failed"
    icons = [row.children[0] for row in view.children]
    assert icons[0].value == ICON and "jupyter-samp-icon" in icons[0]._dom_classes
    assert "jupyter-samp-icon-placeholder" in icons[1]._dom_classes
    assert "not a PNG" in icons[1].value and ">B<" in icons[1].value
    assert ">P<" in icons[2].value
    assert "accepts tables" in view.children[0].children[1].value


async def test_each_icon_is_fetched_once_for_every_panel() -> None:
    fetched: list[str] = []

    async def fetcher(url: str) -> tuple[bytes, str]:
        fetched.append(url)
        return ICON, "png"

    state = SampState()
    first, second = AppsPanel(state, fetcher), AppsPanel(state, fetcher)
    state.clients = [app("c2", "viewer", "http://127.0.0.1:9/i.png")]
    await until_icons(state, lambda icons: icons.get("http://127.0.0.1:9/i.png", {}).get(
        "status") == "ok")
    state.clients = [*state.clients, app("c3", "same icon", "http://127.0.0.1:9/i.png")]
    assert fetched == ["http://127.0.0.1:9/i.png"]
    assert first.children[1].children[0] is first.children[0].children[0]  # one Image widget
    assert second.children[0].children[0].value == ICON


def test_panel_offers_send_buttons_for_the_data_given() -> None:
    session = SampSession("panel-test")
    box = panel(session, tables={"stars": pd.DataFrame({"ra": [1.0]})})
    sends = [child.children[1] for child in box.children
             if hasattr(child, "children") and len(child.children) == 2
             and isinstance(child.children[1], SendButton)]
    assert len(sends) == 1 and sends[0].name == "stars" and sends[0].kind == "table"
    assert "jupyter-samp-panel" in box._dom_classes
