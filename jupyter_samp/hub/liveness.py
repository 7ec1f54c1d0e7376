"""Noticing clients that died without unregistering.

A client killed with SIGKILL never says goodbye: it stays registered, calls
to it wait for nothing, and the other applications keep listing it. Every
``interval`` seconds the hub looks, in the kernel's table of listening
sockets (:mod:`jupyter_samp.hub.listeners`), for each Standard Profile
client's callback address on this computer; a client whose address no longer
has a listening socket is gone, and is evicted (its pending calls are answered
with errors and the others get an unregister event). The probe never opens a
connection to a client (that makes DS9 show an error dialog) and leaves alone
what it cannot judge: a callback on another computer, a name that does not
resolve, or a system without that table. Those clients are still evicted when
a delivery to them is refused. A client that is slow or stuck still has its
listening socket and is left alone: being slow is not being dead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from jupyter_samp.core.model import ClientRecord
from jupyter_samp.hub.listeners import Listeners, is_local_address, read_listeners
from jupyter_samp.hub.periodic import Periodic
from jupyter_samp.transport.timeouts import within

log = logging.getLogger("jupyter_samp.hub")


async def _addresses(host: str, port: int, timeout: float) -> set[ipaddress.IPv4Address
                                                                 | ipaddress.IPv6Address]:
    """The addresses ``host`` resolves to; empty when it does not resolve in time."""
    try:
        infos = await within(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except (OSError, asyncio.TimeoutError):
        return set()
    found = set()
    for info in infos:
        # The scope of a link-local IPv6 address ("%eth0") is not part of the address.
        text = str(info[4][0]).partition("%")[0]
        try:
            found.add(ipaddress.ip_address(text))
        except ValueError:
            continue
    return found


async def callback_is_gone(url: str, listeners: Listeners, timeout: float = 2.0) -> bool:
    """Whether nothing on this computer listens at ``url`` any more.

    True only when the host resolves, every address it resolves to is on this
    computer, and none of them has a listening socket on the port; anything
    uncertain answers False, so a live client is never evicted.
    """
    parts = urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError:
        return False
    if not parts.hostname:
        return False
    addresses = await _addresses(parts.hostname, port, timeout)
    if not addresses or not all(is_local_address(address) for address in addresses):
        return False
    return not any(listeners.accepts(address, port) for address in addresses)


class LivenessProbe(Periodic):
    """Periodically evicts Standard Profile clients whose callback address no longer listens.

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
        """Look for every Standard Profile client's listening socket once; return the ids evicted.

        Nothing is evicted where the system has no socket table (see
        :func:`~jupyter_samp.hub.listeners.read_listeners`).
        """
        # The clients are listed before the table is read: a client that
        # registers in between is not in this round, rather than judged by a
        # table older than its socket.
        targets = [r for r in self._clients() if r.profile == "standard" and r.callback]
        # Read on the loop (about 3 ms, a kernel walk of its socket hash): a
        # worker thread for it would give the hub a thread, and glibc a malloc
        # arena, that the soak test sees as megabytes of growth.
        listeners = read_listeners() if targets else None
        if listeners is None:
            return []
        answers = await asyncio.gather(
            *(callback_is_gone(r.callback, listeners) for r in targets)
        )
        evicted = []
        for record, gone in zip(targets, answers, strict=True):
            if gone and record in self._clients():
                log.warning("%s no longer listens at its callback address: evicting it",
                            record.label)
                self._evict(record.public_id, "nothing listens at its callback address any more")
                evicted.append(record.public_id)
        return evicted
