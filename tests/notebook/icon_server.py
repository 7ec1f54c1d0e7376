"""Icons for tests: PNG bytes made here, served on 127.0.0.1 from a free port."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyter_samp.notebook.icons import MAX_ICON_BYTES


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid, single-colour RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


ICON_WIDTH = 32
ICON = png(ICON_WIDTH, ICON_WIDTH, (30, 120, 200))

#: Path -> (content type, body) of what the server serves.
FILES = {
    "/icon.png": ("image/png", ICON),
    "/huge.png": ("image/png", ICON + b"\x00" * (MAX_ICON_BYTES + 1)),
    "/page.png": ("text/html", b"<html><script>alert(1)</script></html>"),
}


class _Files(RequestHandler):
    def get(self) -> None:
        found = FILES.get(self.request.path)
        if found is None:
            self.send_error(404)
            return
        self.set_header("Content-Type", found[0])
        self.finish(found[1])


@dataclass
class IconServer:
    """Where the icons are."""

    base: str

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return self.base + path


@asynccontextmanager
async def icon_server() -> AsyncIterator[IconServer]:
    """Serve :data:`FILES` on 127.0.0.1 (a free port) in the running loop."""
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(Application([(r"/.*", _Files)], log_function=lambda handler: None))
    server.add_sockets(sockets)
    try:
        yield IconServer(f"http://127.0.0.1:{sockets[0].getsockname()[1]}")
    finally:
        server.stop()
        await server.close_all_connections()
