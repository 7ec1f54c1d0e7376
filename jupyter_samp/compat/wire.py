"""XML-RPC to a hub over our pooled HTTP client, shaped like ``xmlrpc.client.ServerProxy``.

astropy's :class:`SAMPHubProxy` keeps an ``xmlrpc.client.ServerProxy`` pool in
``self.proxy`` and calls ``self.proxy.samp.hub.<method>(...)``; code written
against it (subclasses for the Web Profile, for instance) relies on that
shape. :class:`HubWire` keeps it, but each call goes through
:func:`jupyter_samp.transport.xmlrpc.xmlrpc_call` on a private loop, with
keep-alive connections and a deadline, and values are made SAMP values first.
"""

from __future__ import annotations

from typing import Any

from jupyter_samp.compat.errors import proxy_error
from jupyter_samp.compat.loop import LoopThread
from jupyter_samp.core.message import to_samp
from jupyter_samp.errors import ClientTimeoutError, SampError
from jupyter_samp.transport.http import HttpPool
from jupyter_samp.transport.xmlrpc import xmlrpc_call

#: Seconds an ordinary hub call may take.
REQUEST_TIMEOUT = 30.0
#: Extra seconds a ``callAndWait`` may take beyond its own timeout.
CALL_AND_WAIT_MARGIN = 10.0


class _Method:
    """``proxy.samp.hub.ping`` and the like: a dotted name that calls when called."""

    def __init__(self, wire: HubWire, name: str) -> None:
        self._wire = wire
        self._name = name

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Method(self._wire, f"{self._name}.{name}")

    def __call__(self, *args: Any) -> Any:
        return self._wire.call(self._name, list(args))


class HubWire:
    """Blocking XML-RPC calls to one URL.

    Parameters
    ----------
    url : str
        The hub's XML-RPC endpoint.
    pool_size : int
        Idle keep-alive connections kept for reuse.
    """

    def __init__(self, url: str, pool_size: int = 20) -> None:
        self.url = url
        self._pool_size = max(1, int(pool_size))
        self._loop = LoopThread("samp-hub-proxy")
        self._pool: HttpPool | None = None

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Method(self, name)

    def call(self, method: str, params: list[Any]) -> Any:
        """Call ``method`` with ``params`` and return the result.

        Raises
        ------
        SAMPProxyError
            If the hub answers a fault, or a value cannot be sent as SAMP.
        SAMPProxyTimeoutError
            If a ``callAndWait`` ran out of time at the hub.
        SAMPHubError
            If the hub cannot be reached or does not answer in time.
        """
        try:
            values = [to_samp(value, f"argument {index + 1} of {method}")
                      for index, value in enumerate(params)]
            return self._loop.run(self._call(method, values, _deadline(method, values)))
        except SampError as exc:
            raise proxy_error(exc) from None

    async def _call(self, method: str, params: list[Any], timeout: float | None) -> Any:
        if self._pool is None:
            self._pool = HttpPool(max_idle=self._pool_size)
        try:
            return await xmlrpc_call(self._pool, self.url, method, params, timeout=timeout)
        except ClientTimeoutError as exc:
            raise ClientTimeoutError(f"the hub did not answer {method} in {timeout:g} s") from exc

    async def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def shutdown(self) -> None:
        """Close the connections and stop the loop; safe to call more than once."""
        if self._loop.alive:
            self._loop.run(self._close_pool())
        self._loop.close()


def _deadline(method: str, params: list[Any]) -> float | None:
    """How long to wait for ``method``: a ``callAndWait`` gets its own timeout and more,
    and as long as it takes when its timeout is 0 or less (SAMP's "no limit")."""
    if method.endswith("callAndWait") and params:
        try:
            seconds = float(params[-1])
        except ValueError:
            return REQUEST_TIMEOUT  # the hub refuses it at once
        return seconds + CALL_AND_WAIT_MARGIN if seconds > 0 else None
    return REQUEST_TIMEOUT
