"""A raw Web Profile client for tests: XML-RPC over HTTP with the headers a browser sends.

Every call is a separate HTTP request (as browsers make them), so any number
of long polls can be parked at once. Faults become the matching
:class:`~jupyter_samp.errors.HubFault` subclass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from jupyter_samp.core.xmlrpc import Fault, decode_response, encode_call
from jupyter_samp.errors import fault_from_code

#: Deadline for anything that should happen "at once".
PROMPT = 10.0
#: The Origin our pretend page has.
PAGE_ORIGIN = "http://127.0.0.1:8000"


async def within(awaitable: Awaitable[Any], timeout: float = PROMPT) -> Any:
    """Await with a deadline, so a failing test fails instead of hanging."""
    return await asyncio.wait_for(awaitable, timeout)


async def wait_for(condition: Callable[[], bool], timeout: float = PROMPT) -> None:
    """Wait until ``condition()`` holds, re-checking each time the loop turns.

    For conditions that change as the hub handles requests on this loop;
    nothing here sleeps for a fixed time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0)


class WebRpc:
    """Posts XML-RPC calls to a Web Profile endpoint.

    Parameters
    ----------
    url : str
        The endpoint, e.g. ``http://127.0.0.1:21012/``.
    origin : str or None
        ``Origin`` header sent with every call (None: no header).
    """

    def __init__(self, url: str, origin: str | None = PAGE_ORIGIN) -> None:
        self.url = url
        self.origin = origin
        self.http = SimpleAsyncHTTPClient(force_instance=True, max_clients=128)

    async def post(
        self, body: bytes, headers: dict[str, str] | None = None, timeout: float = 60.0
    ) -> HTTPResponse:
        """POST ``body`` and return the raw response (any status)."""
        sent = {"Content-Type": "text/xml"}
        if self.origin is not None:
            sent["Origin"] = self.origin
        sent.update(headers or {})
        request = HTTPRequest(
            self.url, method="POST", body=body, headers=sent, request_timeout=timeout
        )
        return await self.http.fetch(request, raise_error=False)

    async def request(
        self, method: str, path: str = "/", headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> HTTPResponse:
        """Any request to ``path`` on the same server (any status)."""
        url = self.url.rstrip("/") + path
        request = HTTPRequest(
            url, method=method, headers=headers or {}, body=body,
            allow_nonstandard_methods=True, request_timeout=30.0,
        )
        return await self.http.fetch(request, raise_error=False)

    async def call(
        self, method: str, *params: Any, headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Any:
        """Call ``method`` and return its result.

        Raises
        ------
        HubFault
            If the hub answered a fault.
        AssertionError
            If the HTTP status is not 200.
        """
        response = await self.post(encode_call(method, list(params)), headers, timeout)
        assert response.code == 200, f"{method}: HTTP {response.code} {response.body!r}"
        result = decode_response(response.body)
        if isinstance(result, Fault):
            raise fault_from_code(result.code, result.string)
        return result

    async def register(self, name: str = "web-test", **headers: str) -> WebSession:
        """Register (the hub's consent callable decides) and return the session."""
        info = await self.call("samp.webhub.register", {"samp.name": name}, headers=headers)
        return WebSession(self, info)

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()


class WebSession:
    """One registered web client: its registration info and keyed calls."""

    def __init__(self, rpc: WebRpc, info: dict[str, str]) -> None:
        self.rpc = rpc
        self.info = info
        self.key = info["samp.private-key"]
        self.id = info["samp.self-id"]
        self.translator = info["samp.url-translator"]

    async def hub(self, name: str, *params: Any, timeout: float = 60.0) -> Any:
        """Call ``samp.webhub.<name>`` with this client's key."""
        return await self.rpc.call(f"samp.webhub.{name}", self.key, *params, timeout=timeout)

    async def pull(self, timeout: int = 0) -> list[dict[str, Any]]:
        """``pullCallbacks`` with ``timeout`` seconds."""
        return list(await self.hub("pullCallbacks", str(timeout), timeout=timeout + 30.0))

    async def become_callable(self, subscriptions: dict[str, Any] | None = None) -> None:
        """allowReverseCallbacks("1"), then declare ``subscriptions`` if given."""
        await self.hub("allowReverseCallbacks", "1")
        if subscriptions is not None:
            await self.hub("declareSubscriptions", subscriptions)
