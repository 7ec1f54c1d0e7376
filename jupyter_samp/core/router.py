"""The hub's router: every rule of SAMP messaging, as a sans-IO state machine.

Everything that decides "what does the hub do when..." lives in this module
and :mod:`jupyter_samp.core.messaging`. The router keeps the registry of
clients, answers queries at once, and queues *effects* (callbacks to deliver,
synchronous calls to resolve) that the profile adapters drain with
:meth:`Router.take_effects` and carry out. It never touches a socket, a
clock, a thread or a random source: time comes in as ``now`` and private keys
come from an injected factory.

Errors are raised as :class:`~jupyter_samp.errors.HubFault` subclasses, which
the profiles turn into XML-RPC faults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_samp.core.calls import PendingCalls
from jupyter_samp.core.messaging import MessagingRules
from jupyter_samp.core.model import (
    RECEIVE_NOTIFICATION,
    ClientRecord,
    Deliver,
    Effect,
    Forget,
)
from jupyter_samp.core.mtypes import Subscriptions, check_mtype
from jupyter_samp.core.restrictions import MTypeRestriction
from jupyter_samp.core.values import validate
from jupyter_samp.errors import (
    InvalidRequestError,
    InvalidValueError,
    NoSuchClientError,
    NotRegisteredError,
)

HUB_SUBSCRIPTIONS = ("samp.app.ping", "x-samp.query.by-meta", "samp.query.by-meta")
_URL_KEYS = ("samp.icon.url", "samp.documentation.url")


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


class Router(MessagingRules):
    """The hub's state machine (see the module docstring).

    Parameters
    ----------
    new_key : callable
        Returns a fresh unguessable private key each time it is called.
    hub_metadata : dict
        Metadata of the hub's own client.
    restriction : MTypeRestriction, optional
        What restricted (web) clients may send.
    max_sync_timeout : float
        Longest wait honoured for ``callAndWait``, in seconds.
    """

    def __init__(
        self,
        new_key: Callable[[], str],
        hub_metadata: dict[str, Any] | None = None,
        *,
        hub_id: str = "hub",
        restriction: MTypeRestriction | None = None,
        max_sync_timeout: float = 43200.0,
        call_timeout: float | None = None,
    ) -> None:
        self.registry = Registry(hub_id, hub_metadata or {"samp.name": "Hub"}, new_key)
        self.restriction = restriction or MTypeRestriction()
        self.calls = PendingCalls()
        self.max_sync_timeout = max_sync_timeout
        self.call_timeout = call_timeout
        self._effects: list[Effect] = []

    @property
    def hub_id(self) -> str:
        """Public id of the hub's own client."""
        return self.registry.hub.public_id

    def take_effects(self) -> list[Effect]:
        """Return and clear the effects queued since the last call."""
        effects, self._effects = self._effects, []
        return effects

    # ------------------------------------------------------------ registration

    def register(self, profile: str, *, restricted: bool = False) -> dict[str, str]:
        """Register a new client and return its registration info map."""
        record = self.registry.add(profile, restricted)
        self._event("samp.hub.event.register", {"id": record.public_id})
        return {
            "samp.private-key": record.private_key,
            "samp.hub-id": self.hub_id,
            "samp.self-id": record.public_id,
        }

    def unregister(self, private_key: str) -> None:
        """Unregister the caller: fail calls waiting on it, tell the others."""
        self._remove(self.registry.by_key(private_key), "unregistered")

    def evict(self, public_id: str, reason: str) -> None:
        """Forcibly unregister a client (dead or misbehaving), telling it first if it listens.

        Raises
        ------
        NoSuchClientError
            If no such client is registered.
        """
        record = self.registry.by_id(public_id)
        if record is self.registry.hub:
            raise InvalidRequestError("The hub cannot evict itself")
        if record.callback is not None and "samp.hub.disconnect" in record.subscriptions:
            self._deliver_notification(record, "samp.hub.disconnect", {"reason": reason})
        self._remove(record, f"disconnected by the hub: {reason}")

    def _remove(self, record: ClientRecord, reason: str) -> None:
        self.registry.remove(record)
        self.fail_calls_of(record, reason)
        self._effects.append(Forget(record, reason))
        self._event("samp.hub.event.unregister", {"id": record.public_id})

    def set_callback(self, private_key: str, callback: Any) -> None:
        """Make the caller callable at ``callback`` (None makes it uncallable)."""
        self.registry.by_key(private_key).callback = callback

    def shutdown(self) -> None:
        """Queue ``samp.hub.event.shutdown`` to every subscribed client."""
        self._event("samp.hub.event.shutdown", {})

    # ------------------------------------------------------------ metadata

    def declare_metadata(self, private_key: str, metadata: Any) -> None:
        """Replace the caller's metadata and broadcast the change.

        Raises
        ------
        InvalidValueError
            If it is not a map of SAMP values or an icon/doc URL is not a URL.
        """
        record = self.registry.by_key(private_key)
        _check_map(metadata, "metadata")
        for key in _URL_KEYS:
            if key in metadata and not _looks_like_url(metadata[key]):
                raise InvalidValueError(f"Bad URL in metadata {key}: {metadata[key]!r}")
        record.metadata = dict(metadata)
        self._event("samp.hub.event.metadata", {"id": record.public_id, "metadata": metadata})

    def get_metadata(self, private_key: str, client_id: str) -> dict[str, Any]:
        """Return a client's metadata (``{}`` if it declared none)."""
        self.registry.by_key(private_key)
        return self.registry.by_id(client_id).metadata

    # ------------------------------------------------------------ subscriptions

    def declare_subscriptions(self, private_key: str, subscriptions: Any) -> None:
        """Replace the caller's subscriptions and broadcast the change.

        Raises
        ------
        InvalidValueError
            If a key is not a valid pattern or a value is not a map.
        """
        record = self.registry.by_key(private_key)
        _check_map(subscriptions, "subscriptions")
        record.subscriptions = Subscriptions(subscriptions)
        self._event(
            "samp.hub.event.subscriptions",
            {"id": record.public_id, "subscriptions": subscriptions},
        )

    def get_subscriptions(self, private_key: str, client_id: str) -> dict[str, Any]:
        """Return a client's subscriptions, as a restricted caller may see them."""
        caller = self.registry.by_key(private_key)
        declared = self.registry.by_id(client_id).subscriptions.as_map()
        return self._visible_subscriptions(caller, declared)

    def _visible_subscriptions(
        self, viewer: ClientRecord, declared: dict[str, Any]
    ) -> dict[str, Any]:
        if not viewer.restricted:
            return declared
        permits = self.restriction.permits_pattern
        return {key: value for key, value in declared.items() if permits(key, value)}

    def get_registered_clients(self, private_key: str) -> list[str]:
        """Return the public ids of every other client, hub included."""
        caller = self.registry.by_key(private_key)
        return [record.public_id for record in self.registry.others(caller)]

    def get_subscribed_clients(self, private_key: str, mtype: str) -> dict[str, Any]:
        """Map each other client subscribed to ``mtype`` to its best annotation."""
        caller = self.registry.by_key(private_key)
        check_mtype(mtype)
        found = {}
        for record in self.registry.others(caller):
            if record.callback is None:  # it could not receive the message anyway
                continue
            annotation = record.subscriptions.annotation(mtype)
            if annotation is not None and self._permitted(caller, mtype, annotation):
                found[record.public_id] = annotation
        return found

    def _permitted(self, sender: ClientRecord, mtype: str, annotation: Any) -> bool:
        return not sender.restricted or self.restriction.permits(mtype, annotation)

    # ------------------------------------------------------------ events

    def _event(self, mtype: str, params: dict[str, Any]) -> None:
        """Notify every callable client subscribed to a hub event."""
        for record in self.registry.clients():
            if record.callback is None or mtype not in record.subscriptions:
                continue
            shown = params
            if record.restricted and "subscriptions" in params:
                visible = self._visible_subscriptions(record, params["subscriptions"])
                shown = {**params, "subscriptions": visible}
            self._deliver_notification(record, mtype, shown)

    def _deliver_notification(self, record: ClientRecord, mtype: str, params: Any) -> None:
        message = {"samp.mtype": mtype, "samp.params": params}
        self._effects.append(
            Deliver(
                record.public_id,
                record.profile,
                record.callback,
                record.private_key,
                RECEIVE_NOTIFICATION,
                (self.hub_id, message),
                mtype=mtype,
            )
        )

    def queue(self, effect: Effect) -> None:
        """Queue an effect (used by the messaging rules)."""
        self._effects.append(effect)


def _check_map(value: Any, what: str) -> None:
    if not isinstance(value, dict):
        raise InvalidValueError(f"{what} must be a map, got {type(value).__name__}")
    validate(value, what)


def _looks_like_url(value: Any) -> bool:
    if not isinstance(value, str) or ":" not in value:
        return False
    scheme = value.split(":", 1)[0]
    return scheme.isascii() and scheme[:1].isalpha() and all(
        c.isalnum() or c in "+-." for c in scheme
    )
