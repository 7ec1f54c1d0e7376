"""The Web Profile's connection cap: the longest-waiting connection makes room, a busy one never.

Every wait is on a condition with a deadline (the server's connection book
says when a connection changes state); nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from jupyter_samp.hub import Hub
from jupyter_samp.hub.web.server import default_web_max_connections
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.transport.limits import ConnectionBook, default_max_connections
from tests.web.conftest import ConsentLog
from tests.web.webrpc import WebRpc, wait_for, within

CAP = 4
#: A head that never ends: a page (or an attacker) still sending its request.
TRICKLING = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/"

Wire = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def capped(samp_env: SampEnvironment, consent: ConsentLog) -> AsyncIterator[Hub]:
    """A hub whose Web Profile holds at most CAP connections."""
    async with Hub(lockfile=samp_env.lockfile, web_port=0, web_consent=consent,
                   web_max_connections=CAP) as hub:
        yield hub


@pytest.fixture
async def wires() -> AsyncIterator[list[Wire]]:
    """Raw connections opened by a test; all closed at its end."""
    opened: list[Wire] = []
    yield opened
    for _, writer in opened:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _book(hub: Hub) -> ConnectionBook:
    assert hub._web is not None and hub._web.book is not None
    return hub._web.book


def _tornado_connections(hub: Hub) -> int:
    """The connections tornado itself still serves (it forgets one when its loop ends)."""
    assert hub._web is not None and hub._web._server is not None
    return len(hub._web._server._connections)


async def _open(hub: Hub, wires: list[Wire], count: int, first: bytes = b"") -> list[Wire]:
    """Open ``count`` raw connections to the Web Profile port, each sending ``first``."""
    assert hub.web_url is not None
    port = urlsplit(hub.web_url).port
    new = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(first)
        new.append((reader, writer))
    wires.extend(new)
    return new


async def _closed_by_server(wire: Wire) -> bool:
    """Read until the server closes the connection; True when it did (within the deadline)."""
    try:
        await within(wire[0].read())
    except ConnectionResetError:
        return True  # closed with bytes of ours unread
    return wire[0].at_eof()


async def _ping(hub: Hub) -> str:
    """A page's ``samp.webhub.ping``, on a connection of its own."""
    assert hub.web_url is not None
    rpc = WebRpc(hub.web_url)
    try:
        return str(await rpc.call("samp.webhub.ping"))
    finally:
        rpc.close()


async def test_connections_past_the_cap_close_the_longest_waiting(
    capped: Hub, wires: list[Wire]
) -> None:
    """Idle and trickling connections past the cap: the oldest close, the page is served."""
    book = _book(capped)
    idle = await _open(capped, wires, CAP)
    await book.until(lambda: len(book.open) == CAP)
    await _open(capped, wires, 3, TRICKLING)
    await book.until(lambda: book.evicted == 3)
    assert len(book.open) == CAP and book.refused == 0
    for wire in idle[:3]:
        assert await _closed_by_server(wire)
    await wait_for(lambda: _tornado_connections(capped) <= CAP)
    assert await _ping(capped) == ""  # made room by closing the last idle one
    assert await _closed_by_server(idle[3])
    assert len(book.open) <= CAP and _tornado_connections(capped) <= CAP + 1
    assert book.evicted == 4 and book.refused == 0


async def test_connections_being_answered_are_never_closed_to_make_room(
    capped: Hub, wires: list[Wire]
) -> None:
    """Every connection carries a parked long poll: a new one is refused, the polls end well."""
    assert capped.web_url is not None
    book = _book(capped)
    rpc = WebRpc(capped.web_url)
    try:
        sessions = [await rpc.register(f"page-{n}") for n in range(CAP)]
        for session in sessions:
            await session.become_callable()
        polls = [asyncio.ensure_future(session.pull(600)) for session in sessions]
        await book.until(lambda: len(book.open) == CAP and book.closable == 0)
        (refused,) = await _open(capped, wires, 1, TRICKLING)
        assert await _closed_by_server(refused)
        assert book.refused == 1 and book.evicted == 0
        assert not any(poll.done() for poll in polls)
        assert capped._web is not None
        capped._web.close_clients()  # the polls are answered, as at shutdown
        for answer in await within(asyncio.gather(*polls)):
            assert isinstance(answer, list)
        await book.until(lambda: not book.open)
        assert await _ping(capped) == ""
    finally:
        rpc.close()


async def test_default_cap_is_a_share_of_the_standard_profiles(web_hub: Hub) -> None:
    """Without ``web_max_connections`` the cap is a quarter of the Standard Profile's."""
    assert _book(web_hub).limits.max_connections == default_web_max_connections()
    assert 16 <= default_web_max_connections() <= max(16, default_max_connections() // 4)


def test_a_cap_below_one_is_refused() -> None:
    """A cap of 0 would refuse every page: the hub says so instead of starting."""
    with pytest.raises(ValueError, match="web_max_connections"):
        Hub(web_max_connections=0)
