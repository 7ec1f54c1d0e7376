"""What the Web Profile keeps about each web client besides the router's record."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from jupyter_samp.hub.web.callback_queues import CallbackQueue


@dataclass(eq=False)
class WebClient:
    """Transport state of one registered web client.

    Attributes
    ----------
    public_id, private_key : str
        As in the router's record.
    token : str
        Unguessable path segment of its URL translator (not the private key,
        so translated URLs that end up in logs or history reveal no credential).
    queue : CallbackQueue or None
        Its callbacks, while it allows reverse callbacks.
    last_active : float
        Loop time of the end of its latest request.
    busy : int
        Its requests in progress (a parked poll counts).
    """

    public_id: str
    private_key: str = field(repr=False)
    token: str = field(repr=False)
    queue: CallbackQueue | None = None
    last_active: float = 0.0
    busy: int = 0

    def idle_for(self, now: float) -> float:
        """Seconds since its last request ended; 0 while one is in progress."""
        return 0.0 if self.busy else max(0.0, now - self.last_active)


#: Seconds after unregistering during which a client's key counts as just departed.
DEPARTED_GRACE = 30.0
_MAX_DEPARTED = 1024


class WebClients:
    """Registered web clients by private key, public id and translator token.

    It also remembers the keys of clients that left in the last
    :data:`DEPARTED_GRACE` seconds: such a client's poll thread may not know
    yet that it is gone.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, WebClient] = {}
        self._by_id: dict[str, WebClient] = {}
        self._by_token: dict[str, WebClient] = {}
        self._departed: dict[str, float] = {}  # private key -> when it left, oldest first

    def add(self, public_id: str, private_key: str, now: float) -> WebClient:
        """Remember a newly registered client and give it a translator token."""
        client = WebClient(public_id, private_key, secrets.token_urlsafe(24), last_active=now)
        self._by_key[private_key] = client
        self._by_id[public_id] = client
        self._by_token[client.token] = client
        return client

    def remove(self, public_id: str, now: float) -> WebClient | None:
        """Forget a client that left at loop time ``now``; return it (None if unknown)."""
        client = self._by_id.pop(public_id, None)
        if client is not None:
            self._by_key.pop(client.private_key, None)
            self._by_token.pop(client.token, None)
            self._departed[client.private_key] = now
        return client

    def departed(self, private_key: object, now: float) -> bool:
        """Whether ``private_key`` belonged to a client that left in the grace period."""
        while self._departed:  # oldest first: drop what is past its grace
            oldest, left_at = next(iter(self._departed.items()))
            if now - left_at <= DEPARTED_GRACE and len(self._departed) <= _MAX_DEPARTED:
                break
            del self._departed[oldest]
        return isinstance(private_key, str) and private_key in self._departed

    def by_key(self, private_key: object) -> WebClient | None:
        """The client with this private key, or None."""
        return self._by_key.get(private_key) if isinstance(private_key, str) else None

    def by_id(self, public_id: str) -> WebClient | None:
        """The client with this public id, or None."""
        return self._by_id.get(public_id)

    def by_token(self, token: str) -> WebClient | None:
        """The client whose translator uses ``token``, or None."""
        return self._by_token.get(token)

    def all(self) -> list[WebClient]:
        """Every registered web client."""
        return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)
