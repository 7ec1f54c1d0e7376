"""Application icons for the panel, fetched by the kernel with a size cap and a timeout.

``samp.icon.url`` is whatever another application declared: an untrusted URL.
The browser is never pointed at it (an ``<img src>`` to an arbitrary address
would let any client of the hub make the notebook's page load what it
likes). Instead the kernel fetches ``http(s):`` URLs itself, at most
:data:`MAX_ICON_BYTES` and :data:`ICON_TIMEOUT` seconds, or decodes a
``data:`` URL, and keeps the bytes only if they are a PNG, GIF, JPEG or WebP
image; an ipywidgets ``Image`` then shows them from memory. Anything else
(another scheme, a failure, an SVG, which may hold scripts) leaves a
placeholder. Results are kept in :attr:`SampState.icons
<jupyter_samp.notebook.model.SampState.icons>`, so they are observable and
each URL is fetched once per kernel.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from jupyter_samp.data.fetch import fetch
from jupyter_samp.errors import FetchError
from jupyter_samp.notebook.model import SampState

#: Largest icon accepted, in bytes.
MAX_ICON_BYTES = 256 * 1024
#: Seconds an icon download may take.
ICON_TIMEOUT = 5.0
#: Most icon URLs remembered; beyond, new ones are not fetched (placeholders).
MAX_ICONS = 64

#: Leading bytes of the image formats shown, and their ``Image.format`` names.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\xff\xd8\xff", "jpeg"),
)

Fetcher = Callable[[str], Awaitable[tuple[bytes, str]]]


def sniff(data: bytes) -> str | None:
    """The image format of ``data`` by its leading bytes, or None if it is none of ours."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((name for magic, name in SIGNATURES if data.startswith(magic)), None)


async def fetch_icon(url: str, *, max_bytes: int = MAX_ICON_BYTES,
                     timeout: float = ICON_TIMEOUT) -> tuple[bytes, str]:
    """Fetch or decode the icon at ``url``; return its bytes and format.

    Raises
    ------
    FetchError
        Another scheme than http, https or data; the download failed, took
        longer than ``timeout`` or is larger than ``max_bytes``; or the bytes
        are not a PNG, GIF, JPEG or WebP image. The message says which.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        body = await fetch(url, max_bytes=max_bytes, timeout=timeout)
        data = body.read() if hasattr(body, "read") else b""
    elif scheme == "data":
        data = decode_data_url(url, max_bytes)
    else:
        raise FetchError(f"icon {url[:80]!r}: only http, https and data URLs are shown")
    kind = sniff(data)
    if kind is None:
        raise FetchError(f"icon {url[:80]!r} is not a PNG, GIF, JPEG or WebP image")
    return data, kind


def decode_data_url(url: str, max_bytes: int = MAX_ICON_BYTES) -> bytes:
    """The bytes of a ``data:`` URL (base64 or percent-encoded).

    Raises
    ------
    FetchError
        No comma, bad base64, or more than ``max_bytes`` once decoded.
    """
    header, comma, payload = url.partition(",")
    if not comma:
        raise FetchError("icon data URL without a comma")
    if len(payload) > 2 * max_bytes:  # before decoding: base64 is 4/3, escapes 3x
        raise FetchError(f"icon data URL larger than {max_bytes} bytes")
    try:
        data = (base64.b64decode(payload, validate=True) if header.endswith(";base64")
                else unquote_to_bytes(payload))
    except (binascii.Error, ValueError) as exc:
        raise FetchError(f"icon data URL does not decode: {exc}") from None
    if len(data) > max_bytes:
        raise FetchError(f"icon data URL larger than {max_bytes} bytes")
    return data


class IconLoader:
    """Keeps ``state.icons`` filled for the icons the applications in ``state.clients`` declare.

    Each new URL is marked ``loading`` and fetched in the background on the
    running loop; it then becomes ``ok`` (with ``data`` and ``format``) or
    ``failed`` (with ``reason``). Without a running loop (plain Python)
    nothing is fetched and views show placeholders.

    Parameters
    ----------
    state : SampState
        The state to follow and fill.
    fetcher : callable, optional
        ``await fetcher(url) -> (bytes, format)``; :func:`fetch_icon` by default.
    """

    def __init__(self, state: SampState, fetcher: Fetcher = fetch_icon) -> None:
        self.state = state
        self.fetcher = fetcher
        self._tasks: set[asyncio.Task[None]] = set()
        state.observe(self._on_clients, names="clients")
        self._on_clients()

    def _on_clients(self, change: Any = None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for url in self.wanted():
            self._set(url, {"status": "loading"})
            task = loop.create_task(self._load(url))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def wanted(self) -> list[str]:
        """Icon URLs declared by applications and not yet known (up to :data:`MAX_ICONS`)."""
        known = self.state.icons
        urls = dict.fromkeys(entry["icon_url"] for entry in self.state.clients
                             if entry["icon_url"] and not entry["is_hub"])
        fresh = [url for url in urls if url not in known]
        return fresh[: max(0, MAX_ICONS - len(known))]

    async def _load(self, url: str) -> None:
        try:
            data, kind = await self.fetcher(url)
        except FetchError as exc:
            self._set(url, {"status": "failed", "reason": str(exc)})
        except Exception as exc:  # an icon must never break the panel
            self._set(url, {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"})
        else:
            self._set(url, {"status": "ok", "data": data, "format": kind})

    def _set(self, url: str, entry: dict[str, Any]) -> None:
        self.state.icons = {**self.state.icons, url: entry}
