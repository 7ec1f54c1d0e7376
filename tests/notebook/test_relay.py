"""The kernel's end of the browser route, with a page played over a real websocket."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from jupyter_samp.errors import FetchError, HubUnavailableError, NotRegisteredError
from jupyter_samp.remote.relay import BrowserRelay


@pytest.fixture
async def relay() -> AsyncIterator[BrowserRelay]:
    relay = BrowserRelay()
    await relay.start()
    yield relay
    await relay.close()


async def page(relay: BrowserRelay) -> WebSocketClientConnection:
    """A page that connected and said hello."""
    assert relay.url is not None
    socket = await websocket_connect(relay.url)
    await socket.write_message(json.dumps({"type": "hello", "hub": "http://127.0.0.1:9/"}))
    await relay.wait_for_page(10)
    return socket


async def hang_up(socket: WebSocketClientConnection) -> None:
    """Close and wait for the closing handshake (an unfinished one outlives the loop)."""
    socket.close()
    while await asyncio.wait_for(socket.read_message(), 10) is not None:
        pass


async def next_message(socket: WebSocketClientConnection) -> dict[str, Any]:
    text = await asyncio.wait_for(socket.read_message(), 10)
    assert isinstance(text, str)
    message = json.loads(text)
    assert isinstance(message, dict)
    return message


async def test_a_call_goes_to_the_page_and_its_fault_comes_back(relay: BrowserRelay) -> None:
    socket = await page(relay)
    calling = asyncio.ensure_future(relay.call("samp.webhub.ping", [], 10))
    call = await next_message(socket)
    assert (call["type"], call["method"]) == ("call", "samp.webhub.ping")
    await socket.write_message(json.dumps({"type": "result", "id": call["id"], "result": ""}))
    assert await calling == ""
    calling = asyncio.ensure_future(relay.call("samp.webhub.declareMetadata", ["k", {}], 10))
    call = await next_message(socket)
    await socket.write_message(json.dumps({"type": "fault", "id": call["id"], "code": 3202,
                                           "message": "Unknown client key"}))
    with pytest.raises(NotRegisteredError, match="Unknown client key"):
        await calling
    await hang_up(socket)


async def test_only_the_registration_in_use_can_report_the_hub_lost(relay: BrowserRelay) -> None:
    lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    relay.on_lost = lambda reason: lost.done() or lost.set_result(reason)
    socket = await page(relay)
    relay.start_pulling("old-key")
    relay.start_pulling("new-key")
    assert (await next_message(socket))["key"] == "old-key"
    assert (await next_message(socket))["key"] == "new-key"
    # The old key's pull loop ends when it is unregistered: that says nothing of the hub.
    await socket.write_message(json.dumps({"type": "hub-lost", "key": "old-key",
                                           "detail": "Unknown client key"}))
    await socket.write_message(json.dumps({"type": "hub-lost", "key": "new-key",
                                           "detail": "connection refused"}))
    assert "connection refused" in await asyncio.wait_for(lost, 10)
    await hang_up(socket)


async def test_a_page_that_goes_fails_the_calls_waiting_for_it(relay: BrowserRelay) -> None:
    socket = await page(relay)
    calling = asyncio.ensure_future(relay.call("samp.webhub.ping", [], 30))
    await next_message(socket)
    await hang_up(socket)
    with pytest.raises(HubUnavailableError, match="browser page closed"):
        await asyncio.wait_for(calling, 10)


async def test_a_browser_page_cannot_connect_directly(relay: BrowserRelay) -> None:
    """Browsers always send Origin; only the server extension (which sends none) gets in."""
    assert relay.url is not None
    request = HTTPRequest(relay.url, headers={"Origin": "http://127.0.0.1:8888"})
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(request)
    assert refused.value.code == 403


async def test_a_wrong_secret_is_closed_at_once(relay: BrowserRelay) -> None:
    assert relay.url is not None
    socket = await websocket_connect(relay.url.rsplit("/", 1)[0] + "/wrong")
    assert await asyncio.wait_for(socket.read_message(), 10) is None
    assert socket.close_code == 4403
    assert not relay.connected
    socket.close()  # what the server closed, the client object still holds


async def test_a_download_comes_back_in_pieces_and_is_bounded(relay: BrowserRelay) -> None:
    socket = await page(relay)
    hub = "http://127.0.0.1:9/proxied/t?"
    fetching = asyncio.ensure_future(relay.downloads.fetch(hub + "file%3A%2F%2F%2Ft", 10, 10))
    ask = await next_message(socket)
    assert (ask["type"], ask["url"]) == ("fetch", hub + "file%3A%2F%2F%2Ft")
    for piece in (b"<VOT", b"ABLE>"):
        await socket.write_message(json.dumps({"type": "fetch-data", "id": ask["id"],
                                               "chunk": base64.b64encode(piece).decode()}))
    await socket.write_message(json.dumps({"type": "fetch-end", "id": ask["id"]}))
    assert await fetching == b"<VOTABLE>"
    # Over the limit: refused, and the page is told to stop.
    fetching = asyncio.ensure_future(relay.downloads.fetch(hub + "big", 4, 10))
    ask = await next_message(socket)
    await socket.write_message(json.dumps({"type": "fetch-data", "id": ask["id"],
                                           "chunk": base64.b64encode(b"12345").decode()}))
    with pytest.raises(FetchError, match="larger than the 4 bytes"):
        await fetching
    assert await next_message(socket) == {"type": "fetch-cancel", "id": ask["id"]}
    # A piece that is not base64: refused, and the page is told to stop.
    fetching = asyncio.ensure_future(relay.downloads.fetch(hub + "odd", 100, 10))
    ask = await next_message(socket)
    await socket.write_message(json.dumps({"type": "fetch-data", "id": ask["id"],
                                           "chunk": "not base64!"}))
    with pytest.raises(FetchError, match="malformed piece"):
        await fetching
    assert await next_message(socket) == {"type": "fetch-cancel", "id": ask["id"]}
    # The hub refused: its answer is the error.
    fetching = asyncio.ensure_future(relay.downloads.fetch(hub + "secret", 100, 10))
    ask = await next_message(socket)
    await socket.write_message(json.dumps({"type": "fetch-error", "id": ask["id"],
                                           "message": "HTTP 403"}))
    with pytest.raises(FetchError, match=r"could not download .*HTTP 403"):
        await fetching
    await hang_up(socket)


async def test_downloads_at_once_are_bounded(relay: BrowserRelay) -> None:
    from jupyter_samp.remote.downloads import MAX_DOWNLOADS

    socket = await page(relay)
    running = [asyncio.ensure_future(relay.downloads.fetch(f"http://h/{n}", 10, 30))
               for n in range(MAX_DOWNLOADS)]
    for _ in running:
        await next_message(socket)
    with pytest.raises(FetchError, match=f"{MAX_DOWNLOADS} downloads"):
        await relay.downloads.fetch("http://h/one-more", 10, 30)
    await hang_up(socket)  # the page goes: every running download fails
    for download in running:
        with pytest.raises(FetchError, match="browser page closed"):
            await download
