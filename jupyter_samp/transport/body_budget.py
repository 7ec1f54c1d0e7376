"""A bound on the bytes of large request bodies one server holds at once.

Bodies over :data:`LARGE_BODY` are decoded in a worker thread, one at a
time (decoding 16 MB takes over a second, and on the event loop it would
stall every other client). While one decodes, the loop goes on reading the
others: without a bound, N connections posting 16 MB each would hold N times
16 MB, and any local process may open hundreds. A :class:`BodyBudget` is
that bound. A large body takes its share before it is kept: its declared
``Content-Length`` up front, or, for a chunked body, piece by piece once it
has grown past :data:`LARGE_BODY`. A body that finds the budget spent is
read to its end and dropped, and its request answered with a fault that
says the server is busy with large requests and to retry, so nothing is
lost silently and the bodies already admitted all finish (none waits for
another to give way, so none can deadlock).

A peer that declares a large body and then sends it slowly holds its share
until the body deadline (``ServerLimits.body_timeout``) closes its
connection; meanwhile other large requests are told to retry, and ordinary
calls, which are small, are not affected at all.
"""

from __future__ import annotations

#: Bodies larger than this are decoded in a worker thread, one at a time per
#: server, and count against the server's :class:`BodyBudget`. Smaller
#: bodies (every ordinary SAMP call) are decoded on the loop at once.
LARGE_BODY = 256 * 1024

#: Default budget: four bodies at the default 16 MB cap, with room to spare.
DEFAULT_LARGE_BODY_BUDGET = 64 * 1024 * 1024


class BodyBudget:
    """Bytes of large request bodies held across the connections of one server.

    Parameters
    ----------
    limit : int
        Most bytes held at once; a body that would pass it is refused.

    Notes
    -----
    Not thread-safe: one event loop takes and gives back.
    """

    def __init__(self, limit: int = DEFAULT_LARGE_BODY_BUDGET) -> None:
        self.limit = limit
        self.held = 0
        #: Bodies refused since the server started (for the stress figures).
        self.refused = 0

    def take(self, size: int) -> bool:
        """Take ``size`` bytes if they fit; return whether they did.

        A refusal is counted in :attr:`refused`; it never raises.
        """
        if self.held + size > self.limit:
            self.refused += 1
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        """Return ``size`` bytes taken before (more than was taken is a bug)."""
        self.held -= size
        assert self.held >= 0, "gave back more than was taken"
