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
from jupyter_samp.transport.body_budget import LARGE_BODY, BodyBudget
from jupyter_samp.transport.faults import busy_with_large_bodies, fault_for, too_large, undecodable
from jupyter_samp.transport.rpcserver import ABOUT_PAGE, decode_aside, decode_request

log = logging.getLogger("jupyter_samp.xmlrpc")


class _LargeBodies:
    """One large decode at a time, and a bound on the large bodies held, per event loop."""

    def __init__(self) -> None:
        self.decodes = asyncio.Semaphore(1)  # a semaphore belongs to one loop
        self.budget = BodyBudget()


_LARGE_BODIES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LargeBodies] = (
    weakref.WeakKeyDictionary()
)


def _large_bodies() -> _LargeBodies:
    loop = asyncio.get_running_loop()
    found = _LARGE_BODIES.get(loop)
    if found is None:
        found = _LARGE_BODIES[loop] = _LargeBodies()
    return found


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
        self._busy = False  # a large body that found the budget spent
        self._large = _large_bodies()
        self._held = 0  # bytes of this body counted against the budget
        self._held_up_front = False

    def prepare(self) -> None:
        """Refuse bodies whose declared length is over the limit before reading them.

        A large declared body takes its share of the budget now; if that is
        spent, the body is read and dropped and the call answered ``busy``.
        """
        length = self.request.headers.get("Content-Length", "0")
        if not length.isdigit():
            return
        if int(length) > self.endpoint.max_body:
            self._too_big = True
        elif int(length) > LARGE_BODY:
            self._held_up_front = self._hold(int(length))

    def data_received(self, chunk: bytes) -> None:
        """Collect the body, dropping it once it passes the limit or finds the budget spent."""
        if self._too_big or self._busy:
            return
        self._size += len(chunk)
        if self._size > self.endpoint.max_body:
            self._too_big = True
            self._drop_body()
        elif self._size > LARGE_BODY and not self._held_up_front:
            need = len(chunk) if self._held else self._size  # a chunked body, growing
            if not self._hold(need):
                return
        self._chunks.append(chunk)

    def _hold(self, size: int) -> bool:
        if self._large.budget.take(size):
            self._held += size
            return True
        self._busy = True
        self._drop_body()
        return False

    def _drop_body(self) -> None:
        self._chunks = []
        self._release()

    def _release(self) -> None:
        if self._held:
            self._large.budget.give_back(self._held)
            self._held = 0

    def on_finish(self) -> None:
        """Give back the body's share of the budget (the answer is out)."""
        self._release()

    def on_connection_close(self) -> None:
        """Give back the body's share of the budget (the peer left mid-request)."""
        self._release()

    async def post(self) -> None:
        """Decode, dispatch and answer one XML-RPC call."""
        if self._too_big:
            self._send_fault(*too_large(self.endpoint.max_body))
            return
        if self._busy:
            self._send_fault(*busy_with_large_bodies(self._large.budget.limit))
            return
        body, self._chunks = b"".join(self._chunks), []
        if len(body) > LARGE_BODY:  # decoded aside, so that other clients are served meanwhile
            decoded = await decode_aside(body, self._large.decodes)
        else:
            decoded = decode_request(body)
        del body
        self._release()  # the body is dropped: the decoded call is the profile's
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
