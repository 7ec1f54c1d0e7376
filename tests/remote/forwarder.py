"""A TCP to unix-socket forwarder: the host's way in to a server in another network namespace.

The Jupyter server of the remote tests listens on a unix socket, which the
host reaches through the file system although it shares no network with
the server. :class:`Forwarder` listens on 127.0.0.1 (a free port) and
pipes the bytes of each connection to a new connection on the socket and
back, so HTTP and websockets both pass unchanged.

Each direction copies at most :data:`CHUNK` bytes at a time and waits for
the other side to take them (``drain``) before reading more, so a slow
reader holds back a fast writer instead of filling memory. An end of
stream in one direction is passed on as a half-close; the connection is
closed once both directions have ended, and :meth:`Forwarder.close` ends
every connection still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

#: Bytes read from one side before they are written to the other.
CHUNK = 64 * 1024
#: Bytes a writer may buffer before ``drain`` makes the copier wait.
HIGH_WATER = 256 * 1024


class Forwarder:
    """Forwards connections to ``127.0.0.1:<port>`` to the unix socket ``path``.

    Parameters
    ----------
    path : Path
        The unix socket to connect to, once per accepted connection.

    Examples
    --------
    >>> async with Forwarder(path) as forwarder:      # doctest: +SKIP
    ...     url = f"http://127.0.0.1:{forwarder.port}/"
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: dict[asyncio.Task[None], list[asyncio.StreamWriter]] = {}

    async def start(self) -> Forwarder:
        """Listen on a free loopback port (see :attr:`port`)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0,
                                                  family=socket.AF_INET, limit=CHUNK)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def connections(self) -> int:
        """How many forwarded connections are open."""
        return len(self._pipes)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Pipe one accepted connection to a new one on the socket, both ways.

        Never raises, and is never cancelled: asyncio reports a handler task
        that ends so as an error. :meth:`close` ends it by closing its sides.
        """
        task = asyncio.current_task()
        assert task is not None
        sides = [writer]
        self._pipes[task] = sides
        try:
            inner_reader, inner = await asyncio.open_unix_connection(self.path, limit=CHUNK)
            sides.append(inner)
            for side in sides:
                side.transport.set_write_buffer_limits(high=HIGH_WATER)
            await asyncio.gather(copy(reader, inner), copy(inner_reader, writer))
        except OSError:
            pass  # the server is gone or refused: the client sees its connection close
        finally:
            for side in sides:
                await close_writer(side)
            del self._pipes[task]

    async def close(self) -> None:
        """Stop listening and end every open connection (each closed both ways)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Again while any is left: one accepted just before the server closed
        # may have opened its inner side since.
        while self._pipes:
            for sides in list(self._pipes.values()):
                for side in sides:
                    side.transport.abort()  # the copies see the end of their streams
            await asyncio.wait(list(self._pipes), timeout=1.0)

    async def __aenter__(self) -> Forwarder:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy ``source`` to ``sink`` until the end of stream, then half-close ``sink``.

    A reset by either side ends the copy too: the caller closes both sides.
    """
    try:
        while chunk := await source.read(CHUNK):
            sink.write(chunk)
            await sink.drain()  # back-pressure: read no more until the sink takes this
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, RuntimeError):
        # RuntimeError: write_eof after the transport closed (the peer reset).
        pass


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close ``writer`` and wait until its transport has closed (errors on the way ignored)."""
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
