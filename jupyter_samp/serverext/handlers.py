"""The endpoints of the server extension: kernel data without login, the page relay.

Both look up the kernel by the token in the URL in the registration files
(:mod:`jupyter_samp.remote.registry`): a token no kernel registered gets 404,
so nothing else on the server's loopback can be reached through them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import quote

import httpx
from jupyter_server.auth.decorator import allow_unauthenticated, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClientConnection, WebSocketHandler, websocket_connect

from jupyter_samp.remote import registry
from jupyter_samp.remote.relay import MAX_MESSAGE

#: Request headers passed on to the kernel's resource server.
FORWARDED_REQUEST = ("Range", "If-Range")
#: Response headers passed back to the downloading application.
FORWARDED_RESPONSE = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges",
                      "Content-Disposition", "ETag", "Last-Modified", "Retry-After")
#: Seconds to wait for the kernel's server to connect and to send the next bytes.
TIMEOUT = httpx.Timeout(60.0, connect=5.0)


class KernelDataHandler(web.RequestHandler):
    """Streams one published resource from its kernel's resource server."""

    _client: httpx.AsyncClient | None = None

    @classmethod
    def client(cls) -> httpx.AsyncClient:
        # No proxies from the environment: the kernel is on this host's loopback.
        if cls._client is None:
            cls._client = httpx.AsyncClient(trust_env=False, timeout=TIMEOUT)
        return cls._client

    @allow_unauthenticated
    async def get(self, token: str, resource: str, filename: str) -> None:
        await self._forward("GET", token, resource, filename)

    @allow_unauthenticated
    async def head(self, token: str, resource: str, filename: str) -> None:
        await self._forward("HEAD", token, resource, filename)

    async def _forward(self, method: str, token: str, resource: str, filename: str) -> None:
        entry = registry.read(token)
        if entry is None or not entry.resources.startswith("http://127.0.0.1:"):
            raise web.HTTPError(404)
        url = f"{entry.resources}/{quote(resource, safe='')}/{quote(filename, safe='')}"
        headers = {name: self.request.headers[name] for name in FORWARDED_REQUEST
                   if name in self.request.headers}
        try:
            async with self.client().stream(method, url, headers=headers) as reply:
                self.set_status(reply.status_code)
                for name in FORWARDED_RESPONSE:
                    if name in reply.headers:
                        self.set_header(name, reply.headers[name])
                if method == "GET":
                    async for chunk in reply.aiter_raw():
                        self.write(chunk)
                        await self.flush()  # at the reader's pace: nothing piles up here
        except httpx.HTTPError as exc:
            if self._headers_written:
                raise  # cut short: the reader sees a short body
            raise web.HTTPError(502, reason=f"the kernel's data server: {exc}") from exc
        except StreamClosedError:
            pass  # the reader went away


class DataProbeHandler(web.RequestHandler):
    """Answers 204 for a registered token: the page checks the data path needs no login.

    Deployments that force a login on every path (an authenticating proxy in
    front of the server) answer a redirect or 401/403 instead, and the
    notebook tells the user that desktop applications cannot download.
    """

    @allow_unauthenticated
    def get(self, token: str) -> None:
        if registry.read(token) is None:
            raise web.HTTPError(404)
        self.set_status(204)


class PageRelayHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Joins the page's websocket to its kernel's relay, message by message."""

    kernel: WebSocketClientConnection | None = None

    def set_default_headers(self) -> None:
        """No page headers on a websocket (as Jupyter's own kernel websocket)."""

    @ws_authenticated
    async def get(self, token: str) -> None:
        user = self.current_user
        if not await _ensure(self.authorizer.is_authorized(self, user, "execute", "kernels")):
            raise web.HTTPError(403)
        entry = registry.read(token)
        if entry is None or not entry.relay.startswith("ws://127.0.0.1:"):
            raise web.HTTPError(404)
        try:
            self.kernel = await websocket_connect(entry.relay, max_message_size=MAX_MESSAGE,
                                                  connect_timeout=10)
        except Exception as exc:  # refused, reset: the kernel is gone
            raise web.HTTPError(502, reason=f"the kernel's relay: {exc}") from exc
        await super().get(token)

    def open(self, token: str) -> None:
        super().open()  # Jupyter's keep-alive pings
        asyncio.get_running_loop().create_task(self._from_kernel())

    async def on_message(self, message: str | bytes) -> None:
        if self.kernel is not None:
            with contextlib.suppress(Exception):
                await self.kernel.write_message(message)  # at the kernel's pace

    def on_close(self) -> None:
        if self.kernel is not None:
            self.kernel.close()

    async def _from_kernel(self) -> None:
        assert self.kernel is not None
        while True:
            message = await self.kernel.read_message()
            if message is None:
                # Pass the kernel's reason on: the page decides whether to retry by it.
                self.close(self.kernel.close_code or 1011, self.kernel.close_reason)
                return
            try:
                await self.write_message(message)
            except Exception:
                return  # the page went away; on_close closes the kernel side


async def _ensure(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) or asyncio.isfuture(value) else value


def handlers(base_url: str) -> list[tuple[str, type[web.RequestHandler]]]:
    """The extension's routes under ``base_url``."""
    token = r"([A-Za-z0-9_-]{32,64})"
    return [
        (url_path_join(base_url, rf"/jupyter-samp/data/{token}/([^/]+)/([^/]+)"),
         KernelDataHandler),
        (url_path_join(base_url, rf"/jupyter-samp/data/{token}/?"), DataProbeHandler),
        (url_path_join(base_url, rf"/jupyter-samp/relay/{token}"), PageRelayHandler),
    ]
