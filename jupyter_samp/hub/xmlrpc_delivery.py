"""Deliver callbacks to Standard Profile clients over XML-RPC, concurrently.

Every delivery is its own task on its own pooled connection, so a slow,
stuck or dead recipient delays nobody else. At most ``per_address`` requests
are in flight to one callback address at a time; the rest wait their turn in
order. Without that limit a message storm opens hundreds of connections at
once to one application's server (JSAMP runs a thread per request), which
then answers none of them in time. A delivery that fails, for whatever
reason (the transport, a fault, an answer that does not decode, a bug here),
is reported to the service, which answers the call's sender with an error at
once and evicts a recipient that no longer listens at all. No delivery task
ever ends with an exception nobody retrieves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from jupyter_samp.core.model import ClientRecord, Deliver
from jupyter_samp.errors import (
    ClientTimeoutError,
    HubFault,
    InvalidValueError,
    ProtocolError,
    TransportError,
)
from jupyter_samp.transport.http import HttpPool
from jupyter_samp.transport.xmlrpc import xmlrpc_call

log = logging.getLogger("jupyter_samp.hub")

FailureHandler = Callable[[Deliver, str], None]


class XmlRpcDeliverer:
    """Runs ``samp.client.*`` callbacks for Standard Profile clients.

    Parameters
    ----------
    on_failure : callable
        ``on_failure(effect, reason, dead=...)`` is called when a delivery fails;
        with ``answered=True`` too when the recipient answered with a fault.
    timeout : float
        Seconds a client may take to accept a callback before it counts as failed.
    """

    def __init__(
        self, on_failure: Callable[..., None], timeout: float = 30.0, per_address: int = 8
    ) -> None:
        self.pool = HttpPool()
        self.timeout = timeout
        self.per_address = per_address
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._in_flight: dict[str, int] = {}
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[None]] = set()

    def deliver(self, effect: Deliver) -> None:
        """Start delivering ``effect`` in the background."""
        task = asyncio.get_running_loop().create_task(self._send(effect))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, client: ClientRecord, reason: str) -> None:
        """Nothing to drop: connections are pooled by address, not by client."""

    def _limit(self, url: str) -> asyncio.Semaphore:
        # Keyed by host:port: several clients often share one process's server.
        address = urlsplit(url).netloc
        limit = self._limits.get(address)
        if limit is None:
            limit = self._limits[address] = asyncio.Semaphore(self.per_address)
        return limit

    async def _send(self, effect: Deliver) -> None:
        address = urlsplit(effect.callback).netloc
        self._in_flight[address] = self._in_flight.get(address, 0) + 1
        try:
            async with self._limit(effect.callback):
                await self._post(effect)
        finally:
            # Every client has a callback address of its own: drop its
            # semaphore with its last delivery, or one stays per client ever seen.
            left = self._in_flight.pop(address) - 1
            if left:
                self._in_flight[address] = left
            else:
                self._limits.pop(address, None)

    async def _post(self, effect: Deliver) -> None:
        """Deliver one callback; report any failure (never raises, except cancellation)."""
        params = (effect.private_key, *effect.params)
        method = "samp.client." + effect.method
        try:
            await xmlrpc_call(self.pool, effect.callback, method, params, timeout=self.timeout)
        except TransportError as exc:
            self._report(effect, str(exc), dead=exc.refused)
        except ClientTimeoutError:
            self._report(effect, f"no answer within {self.timeout:g} s", dead=False)
        except HubFault as exc:
            self._report(effect, f"it answered with an XML-RPC fault: {exc}", dead=False,
                         answered=True)
        except (ProtocolError, InvalidValueError) as exc:
            self._report(effect, f"bad answer: {exc}", dead=False)
        except Exception as exc:  # a bug must still answer the caller, not kill the task
            log.exception("delivery of %s to %s failed", method, effect.recipient_id)
            self._report(effect, f"internal error: {type(exc).__name__}: {exc}", dead=False)

    def _report(self, effect: Deliver, reason: str, *, dead: bool, answered: bool = False) -> None:
        """Tell the service; a failure there is logged, since nobody else would see it."""
        try:
            if answered:
                self._on_failure(effect, reason, dead=dead, answered=True)
            else:
                self._on_failure(effect, reason, dead=dead)
        except Exception:
            log.exception("could not report the failed delivery to %s", effect.recipient_id)

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for deliveries under way to finish."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def close(self) -> None:
        """Cancel deliveries still under way and close pooled connections."""
        for task in list(self._tasks):
            task.cancel()
        self.pool.close()
