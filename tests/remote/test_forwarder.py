"""The forwarder itself: bytes both ways, half-closes passed on, everything closed at the end."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.remote.forwarder import Forwarder

#: More than the forwarder's buffers hold, so back-pressure has to work.
PAYLOAD = os.urandom(3 * 1024 * 1024)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send back everything, slowly taken in small reads; half-close at the end."""
    while chunk := await reader.read(1024):
        writer.write(chunk)
        await writer.drain()
    writer.write_eof()
    await writer.drain()
    writer.close()
    await writer.wait_closed()


@pytest_asyncio.fixture
async def unix_echo(tmp_path: Path) -> AsyncIterator[Path]:
    """An echo server on a unix socket."""
    path = tmp_path / "echo.sock"
    server = await asyncio.start_unix_server(echo, path)
    async with server:
        yield path


async def test_bytes_pass_both_ways_and_a_half_close_is_passed_on(unix_echo: Path) -> None:
    async with Forwarder(unix_echo) as forwarder:
        reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)

        async def send() -> None:
            writer.write(PAYLOAD)
            await writer.drain()
            writer.write_eof()  # the echo server ends only on this end of stream

        _, back = await asyncio.wait_for(asyncio.gather(send(), reader.read()), 60)
        assert back == PAYLOAD
        writer.close()
        await writer.wait_closed()


async def test_close_ends_the_open_connections(unix_echo: Path) -> None:
    forwarder = await Forwarder(unix_echo).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
    assert forwarder.connections == 1
    await asyncio.wait_for(forwarder.close(), 10)
    assert forwarder.connections == 0
    assert await asyncio.wait_for(reader.read(), 10) == b""  # the client sees the end
    writer.close()
    await writer.wait_closed()
