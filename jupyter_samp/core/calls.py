"""The table of calls waiting for a reply, with their deadlines.

Time is always passed in (``now``), so expiry is tested without sleeping.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterator

from jupyter_samp.core.model import PendingCall

#: How many finished msg-ids are remembered, so a late or repeated reply gets
#: a fault that says what happened instead of "unknown msg-id".
REMEMBERED_ENDINGS = 4096


class PendingCalls:
    """Calls delivered but not yet answered, indexed by msg-id."""

    def __init__(self) -> None:
        self._calls: dict[str, PendingCall] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._endings: OrderedDict[str, str] = OrderedDict()
        self._serial = 0

    def new_id(self, sender_id: str, sync: bool) -> str:
        """Invent a msg-id that is unique for the hub's lifetime."""
        self._serial += 1
        return f"{sender_id}_{'S' if sync else 'A'}{self._serial}"

    def add(self, call: PendingCall) -> None:
        """Start tracking ``call``."""
        self._calls[call.msg_id] = call
        if call.deadline is not None:
            heapq.heappush(self._deadlines, (call.deadline, call.msg_id))

    def get(self, msg_id: str) -> PendingCall | None:
        """Return the pending call with this msg-id, if any."""
        return self._calls.get(msg_id)

    def finish(self, msg_id: str, how: str) -> PendingCall | None:
        """Stop tracking a call, remembering ``how`` it ended."""
        call = self._calls.pop(msg_id, None)
        if call is not None:
            self._endings[msg_id] = how
            if len(self._endings) > REMEMBERED_ENDINGS:
                self._endings.popitem(last=False)
        return call

    def ending(self, msg_id: str) -> str | None:
        """Say how a recently finished call ended ("answered", "timed out", ...)."""
        return self._endings.get(msg_id)

    def next_deadline(self) -> float | None:
        """Return the earliest deadline still pending, or None."""
        while self._deadlines and self._deadlines[0][1] not in self._calls:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None

    def pop_expired(self, now: float) -> Iterator[PendingCall]:
        """Yield (and stop tracking) every call whose deadline is at or before ``now``."""
        while self._deadlines and self._deadlines[0][0] <= now:
            _, msg_id = heapq.heappop(self._deadlines)
            call = self.finish(msg_id, "timed out")
            if call is not None:
                yield call

    def involving(self, client_id: str) -> list[PendingCall]:
        """Return the pending calls sent by or to ``client_id``."""
        return [
            call
            for call in self._calls.values()
            if client_id in (call.sender_id, call.recipient_id)
        ]

    def __len__(self) -> int:
        return len(self._calls)
