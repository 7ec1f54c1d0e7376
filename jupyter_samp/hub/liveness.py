"""Noticing clients that died without unregistering.

A client killed with SIGKILL never says goodbye: it stays registered, calls
to it wait for nothing, and the other applications keep listing it. Every
``interval`` seconds the hub tries a TCP connection to each Standard Profile
client's callback address; a refused connection means the process is gone,
and the client is evicted (its pending calls are answered with errors and the
others get an unregister event). A client that accepts the connection but is
slow or stuck is left alone: being slow is not being dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from jupyter_samp.core.model import ClientRecord
from jupyter_samp.hub.periodic import Periodic
from jupyter_samp.transport.timeouts import within

log = logging.getLogger("jupyter_samp.hub")


async def accepts_connections(url: str, timeout: float) -> bool:
    """Return False only if nothing listens at ``url``'s host and port (connection refused)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return True
    try:
        _, writer = await within(asyncio.open_connection(parts.hostname, parts.port or 80), timeout)
    except (ConnectionRefusedError, OSError) as exc:
        return not isinstance(exc, ConnectionRefusedError)
    except asyncio.TimeoutError:
        return True
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class LivenessProbe(Periodic):
    """Periodically evicts Standard Profile clients whose callback address refuses connections.

    Parameters
    ----------
    clients : callable
        Returns the registered client records.
    evict : callable
        ``evict(public_id, reason)``.
    interval : float
        Seconds between rounds.
    """

    def __init__(
        self,
        clients: Callable[[], list[ClientRecord]],
        evict: Callable[[str, str], None],
        interval: float = 5.0,
    ) -> None:
        super().__init__(interval)
        self._clients = clients
        self._evict = evict

    async def tick(self) -> None:
        """One round: probe every client (see :meth:`probe_once`)."""
        await self.probe_once()

    async def probe_once(self) -> list[str]:
        """Probe every callable Standard Profile client once; return the ids evicted."""
        targets = [r for r in self._clients() if r.profile == "standard" and r.callback]
        answers = await asyncio.gather(
            *(accepts_connections(r.callback, timeout=2.0) for r in targets)
        )
        evicted = []
        for record, alive in zip(targets, answers, strict=True):
            if not alive and record in self._clients():
                log.warning("%s no longer accepts connections: evicting it", record.label)
                self._evict(record.public_id, "its callback address refuses connections")
                evicted.append(record.public_id)
        return evicted
