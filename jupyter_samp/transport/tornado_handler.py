"""The tornado request handler behind the Web Profile's XML-RPC endpoint.

The Web Profile needs tornado's request machinery for CORS and header
checks; the Standard Profile and client callbacks use the leaner
:mod:`jupyter_samp.transport.rpcserver`. This handler reads the body with a
size limit (answering a fault that says so, rather than cutting the
connection), decodes the call, hands it to the profile, and encodes the
result or the fault. Every fault says what was wrong.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from tornado.web import HTTPError, RequestHandler, stream_request_body

from jupyter_samp.core.xmlrpc import encode_fault, encode_response
from jupyter_samp.transport.faults import fault_for, too_large, undecodable
from jupyter_samp.transport.rpcserver import ABOUT_PAGE, LARGE_BODY, decode_aside, decode_request

log = logging.getLogger("jupyter_samp.xmlrpc")


#: One large decode at a time per event loop (a semaphore belongs to one loop).
_LARGE_DECODES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _large_decodes() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _LARGE_DECODES.get(loop)
    if slots is None:
        slots = _LARGE_DECODES[loop] = asyncio.Semaphore(1)
    return slots


class XmlRpcEndpoint(Protocol):
    """What a profile implements to serve XML-RPC calls."""

    max_body: int

    async def handle_call(self, method: str, params: list[Any], handler: RequestHandler) -> Any:
        """Run one call; raise :class:`HubFault` to refuse it."""


@stream_request_body
class XmlRpcHandler(RequestHandler):
    """POST: an XML-RPC call; GET/HEAD: a short page saying what this is."""

    def initialize(self, endpoint: XmlRpcEndpoint) -> None:
        """Take the profile that serves the calls (tornado passes it from the route)."""
        self.endpoint = endpoint
        self._chunks: list[bytes] = []
        self._size = 0
        self._too_big = False

    def prepare(self) -> None:
        """Refuse bodies whose declared length is over the limit before reading them."""
        length = self.request.headers.get("Content-Length", "0")
        if length.isdigit() and int(length) > self.endpoint.max_body:
            self._too_big = True

    def data_received(self, chunk: bytes) -> None:
        """Collect the body, dropping it once it passes the limit."""
        if self._too_big:
            return
        self._size += len(chunk)
        if self._size > self.endpoint.max_body:
            self._too_big = True
            self._chunks = []
        else:
            self._chunks.append(chunk)

    async def post(self) -> None:
        """Decode, dispatch and answer one XML-RPC call."""
        if self._too_big:
            self._send_fault(*too_large(self.endpoint.max_body))
            return
        body, self._chunks = b"".join(self._chunks), []
        if len(body) > LARGE_BODY:  # decoded aside, so that other clients are served meanwhile
            decoded = await decode_aside(body, _large_decodes())
        else:
            decoded = decode_request(body)
        if isinstance(decoded, Exception):
            self._send_fault(*undecodable(decoded))
            return
        method, params = decoded
        try:
            result = await self.endpoint.handle_call(method, params, self)
            body = encode_response(result)
        except Exception as exc:  # every failure is answered, a bug included
            self._send_fault(*fault_for(exc, method))
            return
        self._send(body)

    def get(self) -> None:
        """Say what this endpoint is, for people who open it in a browser."""
        self.set_header("Content-Type", "text/html")
        self.finish(ABOUT_PAGE)

    def head(self) -> None:
        """Like GET without the body."""
        self.set_header("Content-Type", "text/html")
        self.finish()

    def _send_fault(self, code: int, message: str) -> None:
        log.debug("fault %d: %s", code, message)
        self._send(encode_fault(code, message))

    def _send(self, body: bytes) -> None:
        self.set_header("Content-Type", "text/xml")
        self.finish(body)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Log unexpected errors on the hub's logger with their traceback.

        An :class:`~tornado.web.HTTPError` is a refusal (405 for ``PUT``, say),
        not a fault of ours: tornado's own handling logs it, briefly, so a
        peer sending odd methods cannot fill the log with tracebacks.
        """
        if isinstance(value, HTTPError):
            super().log_exception(typ, value, tb)
            return
        log.error("unexpected error serving %s", self.request.uri, exc_info=(typ, value, tb))
