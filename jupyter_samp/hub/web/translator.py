"""The URL translator: lets a web client read resources its browser sandbox forbids.

A web client's registration info carries ``samp.url-translator``, a prefix of
the form ``http://127.0.0.1:<port>/proxied/<token>?``; the client reads a URL
by fetching that prefix followed by the URL (percent-encoded or raw). The hub
reads the resource and streams it back, but only if the URL tracker says
another application sent that URL to this client
(:mod:`jupyter_samp.hub.web.urltracker`); redirects are followed only to
URLs that are themselves permitted.

Statuses, as JSAMP's translator: 404 when there is no ``?``, 403 for an
unknown token or a URL that is not permitted, 400 for a malformed URL, 404
when the target cannot be opened (missing, unreachable, an error status, too
large), 405 for methods other than GET and HEAD. ``file:`` targets are
streamed from disk, ``http:``/``https:`` targets through tornado's HTTP
client; neither is ever held in memory whole, and both obey a size and a
time limit.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import re
import stat
import time
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

from tornado.http1connection import HTTP1Connection
from tornado.httpclient import HTTPRequest
from tornado.httputil import HTTPHeaders
from tornado.iostream import StreamClosedError
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from jupyter_samp.hub.web.clients import WebClient, WebClients
from jupyter_samp.hub.web.cors import LocalOnlyHandler
from jupyter_samp.hub.web.urltracker import UrlTracker, looks_like_url

log = logging.getLogger("jupyter_samp.hub.web")

#: Default cap on one translated resource, in bytes.
DEFAULT_MAX_SIZE = 1 << 30
#: Default cap on the time one translation may take, in seconds.
DEFAULT_TIME_LIMIT = 600.0
_CHUNK = 256 * 1024
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_COPIED = ("Content-Type", "Content-Length", "Content-Encoding")


class Refusal(Exception):
    """A translation cannot be done: answer ``status`` with ``text``."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class Translator:
    """Resolves and serves translator requests for the registered web clients.

    Parameters
    ----------
    clients : WebClients
        Maps translator tokens to clients.
    tracker : UrlTracker
        Says which URLs each client may read.
    max_size : int
        Largest resource served, in bytes; larger ones are refused (404), or
        cut off if their size was not announced.
    time_limit : float
        Seconds one translation may take in all.
    max_redirects : int
        Most (permitted) redirects followed for one request.
    """

    def __init__(
        self,
        clients: WebClients,
        tracker: UrlTracker,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        time_limit: float = DEFAULT_TIME_LIMIT,
        max_redirects: int = 5,
    ) -> None:
        self.clients = clients
        self.tracker = tracker
        self.max_size = max_size
        self.time_limit = time_limit
        self.max_redirects = max_redirects
        self._http: SimpleAsyncHTTPClient | None = None

    def resolve(self, token: str, uri: str) -> tuple[WebClient, str]:
        """Find the client and the permitted target URL of a request URI.

        Raises
        ------
        Refusal
            404 without ``?``, 403 for an unknown token or a URL that is not
            permitted, 400 for a malformed URL.
        """
        if "?" not in uri:
            raise Refusal(404, "No URL to translate: append it after the '?'")
        client = self.clients.by_token(token)
        if client is None:
            raise Refusal(403, "Unknown translator (not a registered web client)")
        raw = uri.split("?", 1)[1]
        candidates = [raw, *_decoded(raw)]
        for url in candidates:
            if self.tracker.is_permitted(client.public_id, url):
                return client, url
        if not any(looks_like_url(url) for url in candidates):
            raise Refusal(400, "Malformed URL")
        raise Refusal(403, "URL not permitted: only URLs other applications sent to "
                           "this client can be translated")

    async def serve(self, handler: TranslatorHandler, token: str) -> None:
        """Answer one GET or HEAD translator request on ``handler``."""
        try:
            client, url = self.resolve(token, handler.request.uri or "")
            await self._open(handler, client, url, self.max_redirects, time.monotonic())
        except Refusal as refusal:
            _refuse(handler, refusal)
        except StreamClosedError:
            pass  # the page went away

    async def _open(
        self, handler: TranslatorHandler, client: WebClient, url: str, redirects: int,
        started: float,
    ) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            await self._send_file(handler, url, started)
        elif scheme in ("http", "https"):
            await self._proxy(handler, client, url, redirects, started)
        else:
            raise Refusal(404, f"Cannot open {scheme}: URLs")

    # ------------------------------------------------------------ file:

    async def _send_file(self, handler: TranslatorHandler, url: str, started: float) -> None:
        path = _file_path(url)
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below, across awaits
        except OSError as exc:
            raise Refusal(404, f"Cannot open {url}: {exc.strerror}") from None
        with stream:
            info = os.fstat(stream.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise Refusal(404, f"Cannot open {url}: not a regular file")
            if info.st_size > self.max_size:
                raise Refusal(404, f"Cannot open {url}: larger than {self.max_size} bytes")
            kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
            handler.set_header("Content-Type", kind)
            handler.set_header("Content-Length", str(info.st_size))
            if handler.request.method != "HEAD":
                await self._copy_file(handler, stream, info.st_size, started)
        handler.finish()

    async def _copy_file(
        self, handler: TranslatorHandler, stream: Any, size: int, started: float
    ) -> None:
        sent = 0
        while sent < size:
            chunk = stream.read(min(_CHUNK, size - sent))
            if not chunk:
                break
            handler.write(chunk)
            await handler.flush()  # wait for the page to take it: bounded memory
            sent += len(chunk)
            self._check_time(handler, started)

    def _check_time(self, handler: TranslatorHandler, started: float) -> None:
        if time.monotonic() - started > self.time_limit:
            raise Refusal(404, f"Translation took longer than {self.time_limit:g} s")

    # ------------------------------------------------------------ http:

    def _client(self) -> SimpleAsyncHTTPClient:
        if self._http is None:  # made on first use, on the running loop
            self._http = SimpleAsyncHTTPClient(
                force_instance=True, max_clients=64, max_body_size=self.max_size
            )
        return self._http

    async def _proxy(
        self, handler: TranslatorHandler, client: WebClient, url: str, redirects: int,
        started: float,
    ) -> None:
        remaining = self.time_limit - (time.monotonic() - started)
        upstream = _Upstream(handler, self.max_size)
        request = HTTPRequest(
            url,
            method="HEAD" if handler.request.method == "HEAD" else "GET",
            follow_redirects=False,
            decompress_response=False,
            connect_timeout=min(30.0, remaining),
            request_timeout=remaining,
            header_callback=upstream.header_line,
            streaming_callback=upstream.chunk,
        )
        try:
            await self._client().fetch(request, raise_error=False)
        except Exception as exc:  # unreachable, refused, timed out, too big, bad TLS...
            upstream.check()
            raise Refusal(404, f"Cannot open {url}: {exc}") from None
        upstream.check()
        if upstream.location is not None:
            target = urljoin(url, upstream.location)
            self._check_redirect(client, target, redirects)
            await self._proxy(handler, client, target, redirects - 1, started)
        elif not upstream.ok:
            raise Refusal(404, f"Cannot open {url}: HTTP {upstream.status}")
        else:
            handler.finish()

    def _check_redirect(self, client: WebClient, target: str, redirects: int) -> None:
        if redirects <= 0:
            raise Refusal(404, "Too many redirects")
        if not self.tracker.is_permitted(client.public_id, target):
            raise Refusal(403, "Redirect to a URL that is not permitted")

    def close(self) -> None:
        """Close the HTTP client's connections."""
        if self._http is not None:
            self._http.close()
            self._http = None


class _Upstream:
    """Copies one upstream HTTP response onto a translator handler as it arrives.

    Its callbacks never raise: tornado would log that as an uncaught error.
    They record what went wrong instead, and :meth:`check` reports it once
    the fetch is over. (The HTTP client itself stops reading a body larger
    than the size limit.)
    """

    def __init__(self, handler: TranslatorHandler, max_size: int) -> None:
        self.handler = handler
        self.max_size = max_size
        self.status = 0
        self.location: str | None = None
        self.streaming = False
        self.too_large = False
        self.page_gone = False
        self._lines: list[str] = []

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def check(self) -> None:
        """Raise what the callbacks recorded.

        Raises
        ------
        StreamClosedError
            If the page closed the connection.
        Refusal
            404 if the resource is larger than the limit.
        """
        if self.page_gone:
            raise StreamClosedError()
        if self.too_large:
            raise Refusal(404, f"Resource larger than {self.max_size} bytes")

    def header_line(self, line: str) -> None:
        if line.strip():
            self._lines.append(line)
            return
        first, *rest = self._lines or ["HTTP/1.1 0 none"]
        self._lines = []
        self.status = int(first.split()[1]) if len(first.split()) > 1 else 0
        headers = HTTPHeaders.parse("".join(rest))
        if 300 <= self.status < 400 and "Location" in headers:
            self.location = headers["Location"]
        elif self.ok:
            self._start(headers)

    def _start(self, headers: HTTPHeaders) -> None:
        length = headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_size:
            self.too_large = True
            return
        for name in _COPIED:
            if name in headers:
                self.handler.set_header(name, headers[name])
        self.streaming = True

    async def chunk(self, data: bytes) -> None:
        if not self.streaming or self.page_gone:
            return  # the body of a redirect or an error page, or nobody to send it to
        self.handler.write(data)
        try:
            await self.handler.flush()  # the next chunk is read only once this one is sent
        except StreamClosedError:
            self.page_gone = True


class TranslatorHandler(LocalOnlyHandler):
    """``GET``/``HEAD /proxied/<token>?<url>``; every other method gets 405."""

    def initialize(self, translator: Translator) -> None:
        """Take the translator from the route."""
        self.translator = translator

    async def get(self, token: str) -> None:
        """Stream the permitted target."""
        await self.translator.serve(self, token)

    async def head(self, token: str) -> None:
        """The target's headers only."""
        await self.translator.serve(self, token)


def _decoded(raw: str) -> list[str]:
    """The percent-decoded form of ``raw`` (``%XX`` only; ``+`` stays), if well formed."""
    if "%" not in raw or _BAD_ESCAPE.search(raw):
        return []
    try:
        return [unquote(raw, errors="strict")]
    except UnicodeDecodeError:
        return []


def _file_path(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise Refusal(404, f"Cannot open {url}: file on another host")
    return url2pathname(parts.path)


def _refuse(handler: TranslatorHandler, refusal: Refusal) -> None:
    if handler._headers_written:  # too late for a status: cut the response short
        log.info("translation cut off: %s", refusal.text)
        connection = handler.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.close()
        return
    log.info("translator refused (%d): %s", refusal.status, refusal.text)
    handler.clear()
    handler.set_status(refusal.status)
    handler.set_header("Content-Type", "text/plain")
    handler.finish(refusal.text + "\n")
