"""Keeping track of the other applications on the hub.

The tracker is fed the hub's ``samp.hub.event.*`` messages and the answers to
the initial queries, and keeps an up-to-date view of every other client.
Observers are told about each change; the notebook layer turns them into
traitlets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_samp.core.mtypes import Subscriptions

log = logging.getLogger("jupyter_samp.client")


@dataclass(frozen=True)
class ClientView:
    """What is known about another registered client.

    Attributes
    ----------
    id : str
        Its public id.
    metadata : dict
        Its declared metadata (``samp.name``, ``samp.icon.url``, ...).
    subscriptions : dict
        Its declared subscriptions (pattern -> annotation).
    is_hub : bool
        True for the hub's own client.
    subscriptions_known : bool
        False while only its registration has been heard of: its
        subscriptions (and metadata) are still on their way.
    first_seen : float
        ``time.monotonic()`` when this client first heard of it: its
        registration, or this client's own (when it was there already).
    """

    id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    subscriptions: dict[str, Any] = field(default_factory=dict)
    is_hub: bool = False
    subscriptions_known: bool = False
    first_seen: float = field(default_factory=time.monotonic, compare=False)

    @property
    def name(self) -> str:
        """``samp.name``, or the id when the client declared no name."""
        name = self.metadata.get("samp.name")
        return name if isinstance(name, str) and name else self.id

    @property
    def description(self) -> str | None:
        """``samp.description.text``, if declared."""
        return self.metadata.get("samp.description.text")

    @property
    def icon_url(self) -> str | None:
        """``samp.icon.url``, if declared."""
        return self.metadata.get("samp.icon.url")

    def accepts(self, mtype: str) -> bool:
        """Return True if its subscriptions match ``mtype``."""
        try:
            return mtype in Subscriptions(self.subscriptions)
        except ValueError:
            return False


@dataclass(frozen=True)
class ClientEvent:
    """A change in the set of other clients.

    ``kind`` is ``"added"``, ``"removed"``, ``"metadata"`` or
    ``"subscriptions"``; ``client`` is the view after the change (before it,
    for removals).
    """

    kind: str
    client: ClientView


Observer = Callable[[ClientEvent], None]


class ClientTracker:
    """The other clients of the hub, kept current from hub events."""

    def __init__(self) -> None:
        self._clients: dict[str, ClientView] = {}
        self._observers: list[Observer] = []
        self.hub_id: str | None = None
        self.self_id: str | None = None

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(event)`` on every change; return a function that stops it."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    @property
    def clients(self) -> dict[str, ClientView]:
        """The other clients by id (a copy; the hub's own client included)."""
        return dict(self._clients)

    def reset(self, hub_id: str | None, self_id: str | None) -> None:
        """Forget everything (a new registration), telling observers of each removal."""
        for view in list(self._clients.values()):
            self._set(view.id, None)
        self.hub_id, self.self_id = hub_id, self_id

    def add(self, client_id: str, metadata: Any = None, subscriptions: Any = None) -> None:
        """Record a client (from the initial query or a register event)."""
        if client_id == self.self_id:
            return
        old = self._clients.get(client_id)
        view = old or ClientView(client_id, is_hub=client_id == self.hub_id)
        if isinstance(metadata, dict):
            view = replace(view, metadata=metadata)
        if isinstance(subscriptions, dict):
            view = replace(view, subscriptions=subscriptions, subscriptions_known=True)
        self._set(client_id, view, "added" if old is None else None)

    def handle_event(self, mtype: str, params: dict[str, Any]) -> None:
        """Apply one ``samp.hub.event.*`` message."""
        client_id = params.get("id")
        if not isinstance(client_id, str) or client_id == self.self_id:
            return
        if mtype == "samp.hub.event.register":
            self.add(client_id)
        elif mtype == "samp.hub.event.unregister":
            self._set(client_id, None)
        elif mtype == "samp.hub.event.metadata":
            self._update(client_id, "metadata", params.get("metadata"))
        elif mtype == "samp.hub.event.subscriptions":
            self._update(client_id, "subscriptions", params.get("subscriptions"))

    def _update(self, client_id: str, what: str, value: Any) -> None:
        if not isinstance(value, dict):
            return
        old = self._clients.get(client_id)
        if old is None:
            self.add(client_id, **{what: value})
            return
        updated = replace(old, metadata=value) if what == "metadata" else replace(
            old, subscriptions=value, subscriptions_known=True
        )
        self._set(client_id, updated, what)

    def _set(self, client_id: str, view: ClientView | None, kind: str | None = None) -> None:
        if view is None:
            old = self._clients.pop(client_id, None)
            if old is not None:
                self._emit(ClientEvent("removed", old))
            return
        self._clients[client_id] = view
        if kind is not None:
            self._emit(ClientEvent(kind, view))

    def _emit(self, event: ClientEvent) -> None:
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:
                log.exception("client observer %r failed on %s", observer, event.kind)

    def subscribers(self, mtype: str) -> list[ClientView]:
        """Return the other clients whose subscriptions match ``mtype`` (hub excluded)."""
        return [v for v in self._clients.values() if not v.is_hub and v.accepts(mtype)]
