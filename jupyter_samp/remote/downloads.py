"""Downloads the browser page makes for the kernel, through the desktop hub's URL translator.

A table that TOPCAT sends to a notebook on a server names the user's computer
(``file:///home/me/t.vot``, ``http://127.0.0.1:2525/...``): the kernel cannot
read it, but the page can, through the Web Profile's URL translator, which
lets a web client read exactly the URLs other applications sent it. The page
fetches the translated URL and sends the body back in base64 pieces over the
relay's websocket:

kernel -> page
    ``fetch`` (``id``, ``url``: the translator's URL), ``fetch-cancel`` (``id``).
page -> kernel
    ``fetch-data`` (``id``, ``chunk``: base64), ``fetch-end`` (``id``),
    ``fetch-error`` (``id``, ``message``).

Each download is bounded in size (the receiver's limit) and time; at most
:data:`MAX_DOWNLOADS` run at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_samp.errors import FetchError, SampError

#: Downloads through the page at once; more are refused, not queued.
MAX_DOWNLOADS = 8

Send = Callable[[dict[str, Any]], None]


@dataclass
class _Download:
    url: str
    max_bytes: int
    body: io.BytesIO = field(default_factory=io.BytesIO)
    done: asyncio.Future[bytes] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class PageDownloads:
    """The kernel's side of the downloads the page makes for it.

    Parameters
    ----------
    send : callable
        Sends one message to the page (raises
        :class:`~jupyter_samp.errors.HubUnavailableError` with no page).
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self._running: dict[int, _Download] = {}

    async def fetch(self, url: str, max_bytes: int, timeout: float) -> bytes:
        """Have the page fetch ``url`` (a URL of the hub's translator); return the body.

        Raises
        ------
        FetchError
            The page or the hub could not fetch it, the body is over
            ``max_bytes``, it took longer than ``timeout`` seconds, or
            :data:`MAX_DOWNLOADS` are running already.
        HubUnavailableError
            No page is connected.
        """
        if len(self._running) >= MAX_DOWNLOADS:
            raise FetchError(f"{MAX_DOWNLOADS} downloads through the browser are running already")
        ident = next(self._ids)
        download = _Download(url, max_bytes)
        self._running[ident] = download
        try:
            self._send({"type": "fetch", "id": ident, "url": url})
            return await asyncio.wait_for(asyncio.shield(download.done), timeout)
        except asyncio.TimeoutError:
            raise FetchError(f"the browser did not finish downloading {url} within "
                             f"{timeout:g} s") from None
        finally:
            if self._running.pop(ident, None) is not None and not download.done.done():
                self._cancel(ident)

    def take(self, kind: str, data: dict[str, Any]) -> None:
        """Handle a ``fetch-*`` message from the page (unknown ids are ignored)."""
        ident = data.get("id")
        download = self._running.get(ident) if isinstance(ident, int) else None
        if download is None or download.done.done():
            return
        if kind == "fetch-data":
            self._add(ident, download, data.get("chunk"))  # type: ignore[arg-type]
        elif kind == "fetch-end":
            download.done.set_result(download.body.getvalue())
        else:
            download.done.set_exception(FetchError(
                f"the browser could not download {download.url}: {data.get('message', '')}"))

    def fail_all(self, reason: str) -> None:
        """Fail every running download (the page went away)."""
        for download in self._running.values():
            if not download.done.done():
                download.done.set_exception(FetchError(reason))

    def _add(self, ident: int, download: _Download, chunk: Any) -> None:
        try:
            piece = base64.b64decode(chunk if isinstance(chunk, str) else "", validate=True)
        except (binascii.Error, ValueError):
            download.done.set_exception(FetchError("the browser sent a malformed piece"))
            self._cancel(ident)
            return
        if download.body.tell() + len(piece) > download.max_bytes:
            download.done.set_exception(FetchError(
                f"{download.url} is larger than the {download.max_bytes} bytes allowed"))
            self._cancel(ident)
            return
        download.body.write(piece)

    def _cancel(self, ident: int) -> None:
        with contextlib.suppress(SampError):  # no page left: nothing runs there either
            self._send({"type": "fetch-cancel", "id": ident})
