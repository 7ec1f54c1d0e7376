"""Fetch data another application pointed at: ``http(s):`` URLs and local ``file:`` URLs.

Downloads run on the event loop with tornado's ``AsyncHTTPClient`` (never
blocking it), with a size limit enforced while the body arrives; ``file:``
URLs are checked (exists, size) and handed to the parser as a path, which
then reads the file in a worker thread.
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from jupyter_samp.errors import FetchError

#: Default largest download accepted (bytes).
DEFAULT_MAX_BYTES = 4 << 30


async def fetch(url: str, *, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = 600.0
                ) -> io.BytesIO | Path:
    """Fetch ``url``: a readable in-memory file for HTTP, a checked path for ``file:``.

    Parameters
    ----------
    url : str
        ``http:``, ``https:`` or ``file:`` URL.
    max_bytes : int
        Refuse anything larger.
    timeout : float
        Seconds for the whole download.

    Raises
    ------
    FetchError
        The URL is malformed or of another scheme, the server cannot be
        reached or answers an HTTP error, the body is larger than
        ``max_bytes``, or the file does not exist; the message says which.
    """
    scheme = urlparse(url).scheme.lower()
    if scheme == "file":
        return local_path(url, max_bytes)
    if scheme in ("http", "https"):
        return await _download(url, max_bytes, timeout)
    raise FetchError(f"cannot fetch {url!r}: only http, https and file URLs are supported")


def names_this_host(url: str) -> bool:
    """True for a ``file:`` URL or an http(s) URL of a loopback address or ``localhost``.

    Such a URL means "on the sender's computer": fetched on another machine
    it would name something else, or nothing.
    """
    parts = urlparse(url)
    if parts.scheme.lower() == "file":
        return True
    host = (parts.hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the short and numeric IPv4 forms a URL may use: 127.1, 2130706433, 0x7f.1
            address = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def local_path(url: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """The path a ``file:`` URL names, after checking it is a readable file of allowed size.

    Raises
    ------
    FetchError
        Another host than ``localhost``, no such file, or too large.
    """
    parts = urlparse(url)
    if parts.netloc not in ("", "localhost", "127.0.0.1"):
        raise FetchError(f"cannot read {url}: the file is on another host ({parts.netloc})")
    path = Path(url2pathname(unquote(parts.path)))
    if not path.is_file():
        raise FetchError(f"cannot read {url}: no such file {path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise FetchError(f"{url} holds {size} bytes, more than the limit of {max_bytes}")
    if not os.access(path, os.R_OK):
        raise FetchError(f"cannot read {url}: permission denied")
    return path


async def _download(url: str, max_bytes: int, timeout: float) -> io.BytesIO:
    from tornado.httpclient import AsyncHTTPClient

    body = io.BytesIO()
    declared: list[int] = []

    def take(piece: bytes) -> None:
        body.write(piece)

    def header(line: str) -> None:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            declared.append(int(value))

    # max_body_size makes tornado drop the connection once the limit is passed;
    # the declared length (or what arrived) tells us that was the reason.
    client = AsyncHTTPClient(force_instance=True, max_body_size=max_bytes)
    try:
        await client.fetch(url, streaming_callback=take, header_callback=header,
                           request_timeout=timeout, connect_timeout=min(timeout, 20))
    except Exception as exc:
        size = max([body.tell(), *declared])
        if size > max_bytes:
            raise FetchError(f"{url} holds {size} bytes, more than the limit of {max_bytes}"
                             ) from exc
        raise FetchError(f"could not fetch {url}: {_reason(exc)}") from exc
    finally:
        client.close()
    body.seek(0)
    return body


def _reason(exc: Exception) -> str:
    """Why a fetch failed, in words (HTTP status, or the network error)."""
    from tornado.httpclient import HTTPClientError

    if isinstance(exc, HTTPClientError) and exc.code != 599:
        return f"HTTP {exc.code} {exc.message or ''}".rstrip()
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    return str(exc)
