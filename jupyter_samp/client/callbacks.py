"""The client's callback endpoint: where the hub delivers ``samp.client.*`` calls.

It listens on 127.0.0.1 (port 0) on the client's own event loop, checks that
each callback carries this client's private key, answers at once, and hands
the callback to the client, which does the real work afterwards.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any, Protocol

from jupyter_samp.errors import InvalidRequestError, NotRegisteredError
from jupyter_samp.transport.rpcserver import DEFAULT_MAX_BODY, RpcServer

PREFIX = "samp.client."
_SIGNATURES = {"receiveNotification": 2, "receiveCall": 3, "receiveResponse": 3}


class CallbackReceiver(Protocol):
    """What the callback server hands callbacks to."""

    @property
    def private_key(self) -> str | None:
        """The key every callback must carry."""

    def receive(self, method: str, args: list[Any]) -> None:
        """Take one callback (``receiveCall`` etc.) with its arguments after the key."""


class CallbackEndpoint:
    """Validates and forwards ``samp.client.*`` calls."""

    max_body = DEFAULT_MAX_BODY

    def __init__(self, receiver: CallbackReceiver) -> None:
        self.receiver = receiver

    def handle_call(self, method: str, params: list[Any]) -> Any:
        """Check one callback and pass it on; the answer is the empty string.

        Raises
        ------
        HubFault
            For unknown methods, wrong arguments, or a key that is not ours.
        """
        name = method[len(PREFIX) :] if method.startswith(PREFIX) else None
        count = _SIGNATURES.get(name or "")
        if name is None or count is None:
            raise InvalidRequestError(f"Unknown method {method!r}")
        if len(params) != count + 1 or not isinstance(params[0], str):
            raise InvalidRequestError(f"Bad arguments for {method}")
        key = self.receiver.private_key
        if key is None or not hmac.compare_digest(params[0].encode(), key.encode()):
            raise NotRegisteredError("Callback with a private key that is not this client's")
        self.receiver.receive(name, params[1:])
        if name == "receiveCall":
            return _acknowledge_after_handler_starts()
        return ""


async def _acknowledge_after_handler_starts() -> str:
    """Acknowledge a ``receiveCall`` one loop turn after its handler was scheduled.

    In that turn the handler takes its first step: a handler that answers at
    once has then already written its ``samp.hub.reply``. The hub reads the
    reply before this acknowledgement and answers the caller first, which
    takes the acknowledgement off every call's round trip. A handler that
    awaits something never delays the acknowledgement beyond that one turn.
    """
    await asyncio.sleep(0)
    return ""


class CallbackServer:
    """An HTTP server for one client's callbacks, on 127.0.0.1."""

    def __init__(self, receiver: CallbackReceiver, addr: str = "127.0.0.1") -> None:
        self.addr = addr
        self._server = RpcServer(CallbackEndpoint(receiver), addr)
        self.url: str | None = None

    async def start(self) -> str:
        """Start listening on a free port (once) and return the callback URL.

        Raises
        ------
        OSError
            If no port can be bound.
        """
        if self.url is None:
            port = await self._server.start(0)
            self.url = f"http://{self.addr}:{port}/xmlrpc"
        return self.url

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self.url is not None:
            self.url = None
            await self._server.stop()
