"""The kernel's end of the browser route: hub calls out, callbacks in, as JSON.

The page (``static/relay.js``) connects, through the Jupyter server
extension, to a websocket this kernel serves on 127.0.0.1 at a secret path.
It says hello (where the page is, whether it reaches the desktop hub), runs
the XML-RPC calls the kernel asks for against the hub's Web Profile, and
forwards the callbacks it pulls from the hub. One page at a time carries the
route: a newer page (the tab reloaded, another tab) replaces the older one.

Messages, each a JSON object with a ``type``:

kernel -> page
    ``call`` (``id``, ``method``, ``params``, ``timeout``), ``pull`` (``key``:
    start pulling this registration's callbacks), ``stop`` (stop pulling),
    ``probe`` (say hello again); ``fetch`` and ``fetch-cancel`` (see
    :mod:`jupyter_samp.remote.downloads`).
page -> kernel
    ``hello`` (``page``, ``data_base``, ``hub``, ``hub_state``, ``lna``,
    ``detail``), ``result`` (``id``, ``result``), ``fault`` (``id``, ``code``,
    ``message``), ``error`` (``id``, ``message``: the hub could not be
    reached), ``callback`` (``method``, ``params``), ``hub-lost`` (``key`` of the
    registration whose pull loop ended, ``detail``); ``fetch-data``,
    ``fetch-end``, ``fetch-error``.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.web import Application
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from jupyter_samp.errors import ClientTimeoutError, HubUnavailableError, fault_from_code
from jupyter_samp.remote.downloads import PageDownloads
from jupyter_samp.transport.listen import listening_sockets

log = logging.getLogger("jupyter_samp.remote")

#: The largest message either side may send (metadata and message maps are small).
MAX_MESSAGE = 4 << 20
#: Calls waiting for the page at once; more are refused rather than queued without end.
MAX_PENDING = 256
#: Callbacks and the number of their arguments (after the key, which web callbacks lack).
CALLBACKS = {"receiveNotification": 2, "receiveCall": 3, "receiveResponse": 3}

CallbackReceiver = Callable[[str, list[Any]], None]


class BrowserRelay:
    """Serves the page's websocket and multiplexes hub calls over it.

    Attributes
    ----------
    hello : dict or None
        The current page's latest hello (None while no page is connected).
    receiver : callable or None
        ``receiver(method, args)`` takes each callback the page forwards.
    on_lost : callable or None
        ``on_lost(reason)`` is called when the page goes away or reports
        that the hub stopped answering.
    on_page : callable or None
        ``on_page()`` is called when a page says hello.
    """

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(32)
        self.hello: dict[str, Any] | None = None
        self.receiver: CallbackReceiver | None = None
        self.on_lost: Callable[[str], None] | None = None
        self.on_page: Callable[[], None] | None = None
        self._page: RelaySocket | None = None
        self._greeted = asyncio.Event()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._pulled_key: str | None = None
        self.downloads = PageDownloads(self._send)
        self._ids = itertools.count(1)
        self._server: HTTPServer | None = None
        self.url: str | None = None

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port) and return the relay's websocket URL.

        Raises
        ------
        OSError
            If no port can be bound.
        """
        if self.url is None:
            app = Application([(r"/relay/([^/]+)", RelaySocket, {"relay": self})],
                              websocket_max_message_size=MAX_MESSAGE)
            sockets = listening_sockets("127.0.0.1", 0)
            self._server = HTTPServer(app, max_body_size=0)
            self._server.add_sockets(sockets)
            port = sockets[0].getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/relay/{self.secret}"
        return self.url

    async def close(self) -> None:
        """Stop listening, close the page's connection, fail the calls waiting."""
        self._fail_pending("the browser relay was closed")
        if self._page is not None:
            page, self._page = self._page, None
            page.close(4001, "the notebook closed its SAMP route")
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.url = None

    @property
    def connected(self) -> bool:
        """Whether a page is connected now."""
        return self._page is not None

    async def wait_for_page(self, timeout: float) -> dict[str, Any]:
        """The hello of the page, waiting up to ``timeout`` seconds for one.

        Raises
        ------
        ClientTimeoutError
            If no page connects in time (no front end renders the widget).
        """
        if self.hello is None:
            try:
                await asyncio.wait_for(self._greeted.wait(), timeout)
            except asyncio.TimeoutError:
                raise ClientTimeoutError(
                    f"no browser page answered within {timeout:g} s"
                ) from None
        assert self.hello is not None
        return self.hello

    async def probe(self, timeout: float = 10.0) -> dict[str, Any]:
        """Ask the page to check the hub again; return its new hello.

        Raises
        ------
        HubUnavailableError
            If no page is connected.
        ClientTimeoutError
            If the page does not answer in time.
        """
        self._greeted.clear()
        self.hello = None
        self._send({"type": "probe"})
        return await self.wait_for_page(timeout)

    async def call(self, method: str, params: list[Any], timeout: float | None) -> Any:
        """Have the page call ``method`` on the hub; return the result.

        Raises
        ------
        HubFault
            The hub answered with a fault (the class its code stands for).
        HubUnavailableError
            No page is connected, the page went away, or the hub did not answer it.
        ClientTimeoutError
            No answer within ``timeout`` seconds.
        """
        if len(self._pending) >= MAX_PENDING:
            raise HubUnavailableError(
                f"{MAX_PENDING} hub calls are already waiting for the browser page"
            )
        ident = next(self._ids)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = answer
        try:
            self._send({"type": "call", "id": ident, "method": method, "params": params,
                        "timeout": timeout})
            return await asyncio.wait_for(asyncio.shield(answer), timeout)
        except asyncio.TimeoutError:
            raise ClientTimeoutError(
                f"{method}: no answer through the browser within {timeout:g} s"
            ) from None
        finally:
            self._pending.pop(ident, None)

    def start_pulling(self, key: str) -> None:
        """Have the page pull the callbacks of the registration with ``key``.

        Raises
        ------
        HubUnavailableError
            If no page is connected.
        """
        self._send({"type": "pull", "key": key})
        self._pulled_key = key

    def stop_pulling(self) -> None:
        """Have the page stop pulling callbacks (nothing happens with no page)."""
        self._pulled_key = None
        if self._page is not None:
            self._send({"type": "stop"})

    # ------------------------------------------------------------ from the socket

    def attach(self, page: RelaySocket) -> None:
        """A page connected (its hello comes next)."""
        if self._page is not None and self._page is not page:
            old, self._page = self._page, None
            self._fail_pending("another browser page took over the SAMP route")
            old.close(4000, "another page took over")
        self._page = page

    def detach(self, page: RelaySocket) -> None:
        """A page's connection closed."""
        if page is not self._page:
            return
        self._page = None
        self.hello = None
        self._pulled_key = None
        self._greeted.clear()
        self._fail_pending("the browser page closed (the tab was closed or reloaded)")
        self._lost("the browser page that carried the SAMP route closed")

    def take(self, page: RelaySocket, data: Any) -> None:
        """Handle one message from the page; malformed ones are logged and dropped."""
        if page is not self._page or not isinstance(data, dict):
            return
        kind = data.get("type")
        log.debug("from the page: %s %s", kind, data.get("method") or data.get("detail") or "")
        if kind == "hello":
            self.hello = data
            self._greeted.set()
            if self.on_page is not None:
                self.on_page()
        elif kind in ("result", "fault", "error"):
            self._answer(kind, data)
        elif kind == "callback":
            self._callback(data)
        elif kind == "hub-lost":
            self._hub_lost(data)
        elif kind in ("fetch-data", "fetch-end", "fetch-error"):
            self.downloads.take(kind, data)
        else:
            log.warning("the browser page sent an unknown message type %r", kind)

    def _answer(self, kind: str, data: dict[str, Any]) -> None:
        answer = self._pending.get(data.get("id"))  # type: ignore[arg-type]
        if answer is None or answer.done():
            return
        if kind == "result":
            answer.set_result(data.get("result"))
        elif kind == "fault":
            code = data.get("code")
            answer.set_exception(fault_from_code(code if isinstance(code, int) else 1,
                                                 str(data.get("message", ""))))
        else:
            answer.set_exception(HubUnavailableError(
                f"the hub did not answer the browser: {data.get('message', '')}"
            ))

    def _callback(self, data: dict[str, Any]) -> None:
        method, params = data.get("method"), data.get("params")
        name = method.removeprefix("samp.client.") if isinstance(method, str) else ""
        if CALLBACKS.get(name) is None or not isinstance(params, list) or (
            len(params) != CALLBACKS[name]
        ):
            log.warning("the browser page forwarded a malformed callback %r", method)
            return
        if self.receiver is not None:
            self.receiver(name, params)

    def _hub_lost(self, data: dict[str, Any]) -> None:
        # Only the pull loop of the registration in use speaks for the hub: a
        # loop of an earlier key (ended by its unregistration) says nothing.
        key = data.get("key")
        if key is not None and key != self._pulled_key:
            log.debug("the page's pull loop of an earlier registration ended")
            return
        self._pulled_key = None
        self._lost(f"the hub stopped answering the browser: {data.get('detail', '')}")

    def _lost(self, reason: str) -> None:
        if self.on_lost is not None:
            self.on_lost(reason)

    def _send(self, message: dict[str, Any]) -> None:
        if self._page is None:
            raise HubUnavailableError(
                "no browser page carries the SAMP route now (is the notebook open in a tab?)"
            )
        try:
            self._page.write_message(json.dumps(message))
        except WebSocketClosedError:
            raise HubUnavailableError("the browser page closed") from None

    def _fail_pending(self, reason: str) -> None:
        self.downloads.fail_all(reason)
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(HubUnavailableError(reason))


class RelaySocket(WebSocketHandler):
    """One page's connection (through the Jupyter server extension)."""

    def initialize(self, relay: BrowserRelay) -> None:
        self.relay = relay

    def open(self, secret: str) -> None:
        if not hmac.compare_digest(secret.encode(), self.relay.secret.encode()):
            self.close(4403, "wrong relay secret")
            return
        self.relay.attach(self)

    def on_message(self, message: str | bytes) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            log.warning("the browser page sent a message that is not JSON")
            return
        self.relay.take(self, data)

    def on_close(self) -> None:
        self.relay.detach(self)

    def check_origin(self, origin: str) -> bool:
        # Tornado asks only when an Origin header came, which browsers always
        # send: a page may never connect here directly. The server extension
        # sends none, and proves itself with the secret path.
        return False
