"""Bounds on what the peers of a server may hold: connections, time, memory.

A hub is a local service that any process on the machine can reach, so no
peer may hold more than its share: idle connections are closed, a request
head that trickles in (slowloris) times out, a connection whose peer does not
read its answers stops being read and is dropped after a while, and the
number of connections has a cap kept well below the process's file
descriptor limit, so ``accept`` never runs out of descriptors. Reaching a
cap closes the connection that has waited longest without a call under way;
a connection carrying a call is never closed to make room.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from jupyter_samp.transport.body_budget import DEFAULT_LARGE_BODY_BUDGET
from jupyter_samp.transport.timeouts import within

log = logging.getLogger("jupyter_samp.xmlrpc")


#: Connections accepted in one go before the cap is applied to them; also
#: what ``accept`` may hold beyond the cap for a moment.
ACCEPT_BATCH = 32


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a unix socket path, or something else that has no address


def default_max_connections() -> int:
    """A connection cap that leaves half the file descriptors for everything else.

    The hub also opens a connection to each client and serves the Web
    Profile, so the Standard Profile takes at most half of the process's
    descriptor limit (and at most 4,096).
    """
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        soft = 1024
    if soft == getattr(os, "RLIM_INFINITY", -1) or soft < 0:
        soft = 8192
    # Less room for the accept batch (ACCEPT_BATCH) taken before any is refused.
    return max(16, min(4096, (soft - 64) // 2 - ACCEPT_BATCH))


@dataclass(frozen=True)
class ServerLimits:
    """What one server allows its peers.

    Attributes
    ----------
    max_connections : int
        Open connections in all.
    max_per_peer : int
        Open connections from one address other than loopback (every local
        process has the loopback address, so for them it would be the total
        again). Only a hub listening beyond loopback has such peers.
    idle_timeout : float
        Seconds a keep-alive connection may wait for its next request.
    head_timeout : float
        Seconds from a request's first byte to the end of its head.
    body_timeout : float
        Seconds from a request's first byte to the end of its body.
    write_timeout : float
        Seconds a connection may go on holding an answer its peer does not read.
    max_pipelined : int
        Requests read ahead of the one being answered; beyond it, the
        connection is not read until answers have gone out.
    max_queued_bytes : int
        Bytes of request bodies read ahead, likewise.
    max_unsent_total : int
        Bytes of answers held for peers that do not read, over all
        connections; past it the connection holding most is dropped.
    max_large_body_bytes : int
        Bytes of request bodies over ``LARGE_BODY`` held at once over all
        connections (see :mod:`.body_budget`); a large body beyond it is
        dropped and answered with a fault that says to retry.
    """

    max_connections: int = field(default_factory=default_max_connections)
    max_per_peer: int = 0  # 0: three quarters of max_connections
    idle_timeout: float = 60.0
    head_timeout: float = 10.0
    body_timeout: float = 60.0
    write_timeout: float = 30.0
    max_pipelined: int = 16
    max_queued_bytes: int = 1 << 20
    max_unsent_total: int = 128 << 20
    max_large_body_bytes: int = DEFAULT_LARGE_BODY_BUDGET

    @property
    def per_peer(self) -> int:
        """The effective per-address cap."""
        return self.max_per_peer or max(1, self.max_connections * 3 // 4)

    @property
    def tick(self) -> float:
        """How often deadlines are checked: a quarter of the shortest one."""
        shortest = min(self.idle_timeout, self.head_timeout, self.body_timeout, self.write_timeout)
        return min(1.0, max(0.01, shortest / 4))


class Bounded(Protocol):
    """What the book needs of a connection."""

    peer: str

    def overdue(self, now: float, limits: ServerLimits) -> str | None:
        """Why the connection is past a deadline, or None."""

    def unsent(self) -> int:
        """Bytes written but not yet taken by the peer."""

    def shut(self, reason: str) -> None:
        """Close the connection now, for ``reason``."""


class ConnectionBook:
    """The open connections of one server, and the caps and deadlines on them.

    Parameters
    ----------
    limits : ServerLimits
        The caps and timeouts.
    """

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.open: set[Bounded] = set()
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0
        # Connections with no call under way and nothing left to write, the
        # longest waiting first: the ones a cap may close without losing work.
        self._quiet: OrderedDict[Bounded, None] = OrderedDict()
        self._stalled: set[Bounded] = set()
        self._per_peer: dict[str, int] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None

    # ------------------------------------------------------------ membership

    def admit(self, connection: Bounded) -> bool:
        """Take a new connection in, closing a quiet one if a cap is reached.

        Returns False if the connection must be refused: every open
        connection has a call under way.
        """
        peer = connection.peer
        while not _is_loopback(peer) and self._per_peer.get(peer, 0) >= self.limits.per_peer:
            if not self._evict(peer):
                return self._refuse(peer)
        while len(self.open) >= self.limits.max_connections:
            if not self._evict(None):
                return self._refuse(peer)
        self.open.add(connection)
        self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
        self._quiet[connection] = None
        self._notify()
        return True

    def remove(self, connection: Bounded) -> None:
        """Forget a closed connection."""
        if connection not in self.open:
            return
        self.open.discard(connection)
        self._quiet.pop(connection, None)
        self._stalled.discard(connection)
        left = self._per_peer.pop(connection.peer, 1) - 1
        if left > 0:
            self._per_peer[connection.peer] = left
        self._notify()

    def quiet(self, connection: Bounded) -> None:
        """The connection has no call under way and nothing to write."""
        if connection in self.open:
            self._quiet.pop(connection, None)
            self._quiet[connection] = None

    def busy(self, connection: Bounded) -> None:
        """A call started on the connection, or an answer is waiting to go out."""
        if connection in self._quiet:
            del self._quiet[connection]
            self._notify()

    def stalled(self, connection: Bounded) -> None:
        """The connection's peer stopped reading; keep the total it holds bounded."""
        self._stalled.add(connection)
        self._notify()
        total = sum(c.unsent() for c in self._stalled)
        while total > self.limits.max_unsent_total and self._stalled:
            worst = max(self._stalled, key=lambda c: c.unsent())
            total -= worst.unsent()
            self._stalled.discard(worst)
            self.evicted += 1
            worst.shut("its peer holds too many unread answers")

    def drained(self, connection: Bounded) -> None:
        """The connection's peer read its answers."""
        self._stalled.discard(connection)
        self._notify()

    @property
    def closable(self) -> int:
        """How many open connections a cap may close: no call under way, nothing to write."""
        return len(self._quiet)

    def is_stalled(self, connection: Bounded) -> bool:
        """Whether the connection's peer has stopped reading its answers."""
        return connection in self._stalled

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``condition()`` holds, re-checking whenever a connection changes state.

        Raises
        ------
        asyncio.TimeoutError
            If it still does not hold after ``timeout`` seconds.
        """
        changed = self._changed = self._changed or asyncio.Event()

        async def check() -> None:
            while not condition():
                await changed.wait()
                changed.clear()

        await within(check(), timeout)

    def _evict(self, peer: str | None) -> bool:
        for connection in self._quiet:
            if peer is None or connection.peer == peer:
                self.evicted += 1
                self.remove(connection)
                connection.shut("the connection cap was reached")
                return True
        return False

    def _refuse(self, peer: str) -> bool:
        self.refused += 1
        self._notify()
        if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
            log.warning("refused a connection from %s: every connection is busy "
                        "(%d refused so far)", peer, self.refused)
        return False

    # ------------------------------------------------------------ deadlines

    def start(self) -> None:
        """Start checking deadlines on the running loop."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    def stop(self) -> None:
        """Stop checking deadlines."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def _sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.limits.tick)  # a periodic timer, not a synchronisation
            self.sweep(loop.time())

    def sweep(self, now: float) -> None:
        """Close every connection past one of its deadlines."""
        for connection in list(self.open):
            reason = connection.overdue(now, self.limits)
            if reason is not None:
                self.timed_out += 1
                connection.shut(reason)
