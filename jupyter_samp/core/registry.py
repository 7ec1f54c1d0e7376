"""Who is registered with the hub: records by private key and public id.

Public ids are ``c1``, ``c2``, ... in order of registration and never
reused; the hub's own client has a record too. Private keys come from the
factory the router is given, so the registry itself draws no randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_samp.core.model import ClientRecord
from jupyter_samp.core.mtypes import Subscriptions
from jupyter_samp.errors import NoSuchClientError, NotRegisteredError

#: What the hub's own client subscribes to (answered in :mod:`.hubself`).
HUB_SUBSCRIPTIONS = ("samp.app.ping", "x-samp.query.by-meta", "samp.query.by-meta")


class Registry:
    """Registered clients by private key and public id, and the hub's own record."""

    def __init__(self, hub_id: str, hub_metadata: dict[str, Any], new_key: Callable[[], str]):
        self._new_key = new_key
        self._by_key: dict[str, ClientRecord] = {}
        self._by_id: dict[str, ClientRecord] = {}
        # Public ids are "c1", "c2", ... and never reused, so whether an id
        # departed follows from the serial alone: no set of every id that ever
        # left (which grew by one entry per client for the hub's lifetime).
        self._serial = 0
        self.hub = ClientRecord(hub_id, new_key(), "hub", metadata=dict(hub_metadata))
        self.hub.subscriptions = Subscriptions({mtype: {} for mtype in HUB_SUBSCRIPTIONS})
        self.hub.callback = "hub"
        self._by_id[hub_id] = self.hub

    def add(self, profile: str, restricted: bool) -> ClientRecord:
        """Create a record with a fresh public id and private key."""
        self._serial += 1
        record = ClientRecord(f"c{self._serial}", self._new_key(), profile, restricted)
        self._by_key[record.private_key] = record
        self._by_id[record.public_id] = record
        return record

    def remove(self, record: ClientRecord) -> None:
        """Drop a record (errors about its id still say that it departed)."""
        self._by_key.pop(record.private_key, None)
        self._by_id.pop(record.public_id, None)

    def departed(self, public_id: Any) -> bool:
        """Whether ``public_id`` was given to a client that is no longer registered."""
        if not isinstance(public_id, str) or public_id in self._by_id:
            return False
        digits = public_id[1:]
        return (
            public_id.startswith("c")
            and digits.isascii()
            and digits.isdigit()
            and not digits.startswith("0")
            and int(digits) <= self._serial
        )

    def by_key(self, private_key: Any) -> ClientRecord:
        """Return the caller's record.

        Raises
        ------
        NotRegisteredError
            If the key is not (or no longer) registered.
        """
        record = self._by_key.get(private_key) if isinstance(private_key, str) else None
        if record is None and private_key == self.hub.private_key:
            record = self.hub  # the hub itself sends (its key never leaves the process)
        if record is None:
            raise NotRegisteredError(
                "Unknown private key: this client is not registered (or was unregistered)"
            )
        return record

    def by_id(self, public_id: Any) -> ClientRecord:
        """Return the record of a public id, hub included.

        Raises
        ------
        NoSuchClientError
            If no client with that id is registered, saying whether it left.
        """
        record = self._by_id.get(public_id) if isinstance(public_id, str) else None
        if record is None:
            if self.departed(public_id):
                raise NoSuchClientError(f"Client {public_id} is no longer registered")
            raise NoSuchClientError(f'No registered client with ID "{public_id}"')
        return record

    def others(self, caller: ClientRecord) -> list[ClientRecord]:
        """Every registered record except ``caller`` (hub included)."""
        return [record for record in self._by_id.values() if record is not caller]

    def clients(self) -> list[ClientRecord]:
        """Every registered record except the hub's own."""
        return list(self._by_key.values())
