"""What the client knows of the others, and when it knows it (a unit test of the tracker)."""

from __future__ import annotations

from jupyter_samp.client.tracker import ClientTracker
from jupyter_samp.notebook.model import SampState, describe_client
from jupyter_samp.notebook.render import apps_table


def test_subscriptions_are_pending_until_declared_or_asked_for() -> None:
    tracker = ClientTracker()
    tracker.reset("hub", "c1")
    tracker.handle_event("samp.hub.event.register", {"id": "c2"})
    tracker.handle_event("samp.hub.event.metadata",
                         {"id": "c2", "metadata": {"samp.name": "topcat"}})
    assert not tracker.clients["c2"].subscriptions_known
    state = SampState()
    state.clients = [describe_client(view) for view in tracker.clients.values()]
    assert "topcat (c2): (subscriptions pending)" in apps_table(state).text
    tracker.handle_event("samp.hub.event.subscriptions",
                         {"id": "c2", "subscriptions": {"table.load.votable": {}}})
    assert tracker.clients["c2"].subscriptions_known
    state.clients = [describe_client(view) for view in tracker.clients.values()]
    assert "pending" not in apps_table(state).text
    tracker.add("c3", {"samp.name": "ds9"}, {"image.load.fits": {}})  # as getSubscriptions gives
    assert tracker.clients["c3"].subscriptions_known
