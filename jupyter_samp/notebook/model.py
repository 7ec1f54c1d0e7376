"""Observable SAMP state for notebooks: traitlets kept current from the client.

Views (widgets, magics) never own state: they render a :class:`SampState`
and call ``observe`` on its traits. The state is updated on the kernel's
event loop thread, from the client's observers, so no locks are needed.
"""

from __future__ import annotations

import time
from typing import Any

from traitlets import Bool, Dict, HasTraits, Int, List, Unicode

from jupyter_samp.client import Client, ClientEvent, ClientView


def describe_client(view: ClientView) -> dict[str, Any]:
    """Turn a tracked client into the plain dict the ``clients`` trait holds."""
    return {
        "id": view.id,
        "name": view.name,
        "description": view.description or "",
        "icon_url": view.icon_url or "",
        "subscriptions": sorted(view.subscriptions),
        "subscriptions_known": view.subscriptions_known or view.is_hub,
        "is_hub": view.is_hub,
    }


class SampState(HasTraits):
    """What a notebook knows about SAMP right now.

    Observe any trait, e.g. ``state.observe(callback, names="clients")``.
    """

    connected = Bool(False, help="Whether the notebook's client is registered with a hub.")
    status = Unicode("not connected", help="A one-line description of the connection.")
    hub = Dict(help="The hub: url, profile, embedded (started by this kernel) or external.")
    self_id = Unicode("", help="The notebook client's public id.")
    route = Unicode("", help="How the hub is reached: 'local' (this machine) or 'browser'.")
    route_reason = Unicode("", help="Why that route, in words.")
    clients: List[dict[str, Any]] = List(
        help="The other applications: id, name, description, icon_url, subscriptions, "
        "subscriptions_known, is_hub."
    )
    icons: Dict[str, dict[str, Any]] = Dict(
        help="Icon URL -> {'status': 'loading', 'ok' or 'failed', 'data' (bytes) and 'format' "
        "when ok, 'reason' when failed}; filled by notebook.icons.IconLoader."
    )
    log: List[dict[str, Any]] = List(help="The most recent messages sent and received (bounded).")
    log_limit = Int(200, help="How many log entries are kept.")

    def bind(self, client: Client) -> None:
        """Follow ``client``: its connection state and the other applications."""
        client.on_state(lambda state, reason: self._on_state(client, state, reason))
        client.observe(lambda event: self._on_clients(client, event))
        self._on_state(client, client.state, "")

    def _on_state(self, client: Client, state: str, reason: str) -> None:
        self.connected = state == "connected"
        self.self_id = client.self_id or ""
        self.status = f"{state}: {reason}" if reason else state
        embedded = client.embedded_hub is not None
        self.hub = {
            "url": client.hub_url or "",
            "profile": "standard",
            "lockfile": client.hub_location,
            "embedded": embedded,
            "kind": "embedded" if embedded else "external",
        }
        self._on_clients(client, None)
        if reason:  # the first call, at bind time, has nothing to report
            self.add_log("state", f"{state} ({reason})")

    def _on_clients(self, client: Client, event: ClientEvent | None) -> None:
        views = sorted(client.clients.values(), key=lambda view: (view.is_hub, view.name.lower()))
        self.clients = [describe_client(view) for view in views]

    def add_log(self, kind: str, text: str, **details: Any) -> None:
        """Append a log entry, dropping the oldest beyond :attr:`log_limit`."""
        entry = {"time": time.strftime("%H:%M:%S"), "kind": kind, "text": text, **details}
        self.log = [*self.log[-(self.log_limit - 1) :], entry]

    def apps_accepting(self, mtype: str) -> list[dict[str, Any]]:
        """The applications (not the hub) whose subscriptions match ``mtype``."""
        from jupyter_samp.core.mtypes import Subscriptions

        return [
            entry
            for entry in self.clients
            if not entry["is_hub"]
            and mtype in Subscriptions({pattern: {} for pattern in entry["subscriptions"]})
        ]
