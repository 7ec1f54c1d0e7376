"""astropy's SAMP clients (pyvo.samp's copy, or astropy.samp) talking through our hub.

astropy clients are blocking and threaded (each runs an XML-RPC server
thread), so each scenario runs in a worker thread while our hub serves on
the event loop. Callbacks are awaited with ``queue.Queue.get(timeout=...)``:
nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from jupyter_samp.hub import Hub
from jupyter_samp.lockfile import read_lockfile
from jupyter_samp.testing.rawclient import PROMPT, standard_hub

pytestmark = pytest.mark.peers

EVENT_MTYPES = (
    "samp.hub.event.register",
    "samp.hub.event.unregister",
    "samp.hub.event.metadata",
    "samp.hub.event.subscriptions",
)


class Recorder:
    """A thread-safe queue of (sender, mtype, params, extra) and a waiter with a deadline."""

    def __init__(self) -> None:
        self.items: queue.Queue[tuple[str, str, dict[str, Any], Any]] = queue.Queue()
        self.seen: list[tuple[str, str, dict[str, Any], Any]] = []

    def notification(
        self, key: str, sender: str, mtype: str, params: dict[str, Any], extra: Any
    ) -> None:
        self.items.put((sender, mtype, params, extra))

    def wait_for(
        self, predicate: Callable[[str, str, dict[str, Any]], bool], timeout: float = PROMPT
    ) -> tuple[str, str, dict[str, Any], Any]:
        for item in self.seen:
            if predicate(*item[:3]):
                self.seen.remove(item)
                return item
        while True:
            try:
                item = self.items.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"nothing matching arrived in {timeout} s; saw {self.seen}"
                ) from None
            if predicate(*item[:3]):
                return item
            self.seen.append(item)


@contextmanager
def astropy_client(samp: Any, name: str, **kwargs: Any) -> Iterator[Any]:
    """A connected SAMPIntegratedClient on 127.0.0.1, always disconnected afterwards."""
    client = samp.SAMPIntegratedClient(
        name=name, description=f"test client {name}", addr="127.0.0.1"
    )
    try:
        client.connect(**kwargs)
        yield client
    finally:
        disconnect(client)


def disconnect(client: Any, *, hub_gone: bool = False) -> None:
    """Disconnect an astropy client and really close its connections to the hub.

    astropy's ``ServerProxyPool.shutdown`` runs ``proxy("close")``, which only
    looks the close method up without calling it, so every pooled connection
    leaks (a ResourceWarning each). Close them here. With ``hub_gone``, skip
    unregistering from a hub that no longer exists.
    """
    pool = getattr(client.hub, "proxy", None)
    proxies = list(getattr(getattr(pool, "_proxies", None), "queue", ()))
    try:
        if hub_gone:
            if client.client.is_running:
                client.client.stop()
            client.hub.disconnect()
        elif client.is_connected:
            client.disconnect()
    finally:
        for proxy in proxies:
            proxy("close")()


@contextmanager
def no_internet(samp: Any) -> Iterator[None]:
    """Stop astropy's clients probing google.com to choose a host name."""
    with samp.conf.set_temp("use_internet", False):
        yield


def _watch_events(client: Any, recorder: Recorder) -> None:
    for mtype in EVENT_MTYPES:
        client.bind_receive_notification(mtype, recorder.notification)


def _is(mtype: str, client_id: str) -> Callable[[str, str, dict[str, Any]], bool]:
    return lambda sender, got, params: got == mtype and params.get("id") == client_id


def _scenario(samp: Any, lockfile: Path, hub_id_expected: str) -> None:
    hub_params = read_lockfile(lockfile)
    events_a, events_b = Recorder(), Recorder()
    notes_b = Recorder()
    responses_a: queue.Queue[tuple[str, str, dict[str, Any]]] = queue.Queue()
    with no_internet(samp), astropy_client(samp, "alpha", hub_params=hub_params) as alpha:
        a_id = alpha.get_public_id()
        _watch_events(alpha, events_a)
        # Discovery through SAMP_HUB would work too, but astropy's liveness
        # check (lockfile_helpers.check_running_hub) leaks its connection.
        with astropy_client(samp, "beta", hub_params=hub_params) as beta:
            b_id = beta.get_public_id()
            assert beta.get_private_key() != alpha.get_private_key()
            events_a.wait_for(_is("samp.hub.event.register", b_id))
            meta = events_a.wait_for(_is("samp.hub.event.metadata", b_id))
            assert meta[0] == hub_id_expected
            assert meta[2]["metadata"]["samp.name"] == "beta"

            _watch_events(beta, events_b)
            alpha.declare_metadata({"samp.name": "alpha", "test.colour": "blue"})
            meta = events_b.wait_for(_is("samp.hub.event.metadata", a_id))
            assert meta[2]["metadata"]["test.colour"] == "blue"
            assert beta.get_metadata(a_id)["test.colour"] == "blue"
            assert alpha.get_metadata(b_id)["samp.name"] == "beta"
            assert {a_id, hub_id_expected} <= set(beta.get_registered_clients())
            assert b_id not in beta.get_registered_clients()

            def echo_call(
                key: str, sender: str, msg_id: str, mtype: str, params: Any, extra: Any
            ) -> None:
                beta.reply(msg_id, {"samp.status": "samp.ok", "samp.result": params})

            beta.bind_receive_notification("test.note", notes_b.notification)
            beta.bind_receive_call("test.echo", echo_call)
            subs = events_a.wait_for(
                lambda s, m, p: (
                    m == "samp.hub.event.subscriptions"
                    and p.get("id") == b_id
                    and "test.echo" in p.get("subscriptions", {})
                )
            )
            assert "test.note" in subs[2]["subscriptions"]
            assert set(alpha.get_subscribed_clients("test.echo")) == {b_id}
            assert "test.echo" in alpha.get_subscriptions(b_id)

            # notify, targeted and broadcast
            alpha.notify(b_id, {"samp.mtype": "test.note", "samp.params": {"x": "1"}})
            sender, mtype, _, _ = notes_b.wait_for(lambda s, m, p: p.get("x") == "1")
            assert (sender, mtype) == (a_id, "test.note")
            assert alpha.notify_all({"samp.mtype": "test.note", "samp.params": {"x": "2"}}) == [
                b_id
            ]
            notes_b.wait_for(lambda s, m, p: p.get("x") == "2")

            # asynchronous call with a reply
            alpha.bind_receive_response(
                "tag-1",
                lambda key, responder, tag, response: responses_a.put((responder, tag, response)),
            )
            message = {"samp.mtype": "test.echo", "samp.params": {"y": ["a", {"b": ""}]}}
            msg_id = alpha.call(b_id, "tag-1", message)
            assert msg_id
            responder, tag, response = responses_a.get(timeout=PROMPT)
            assert (responder, tag) == (b_id, "tag-1")
            assert response["samp.status"] == "samp.ok"
            assert response["samp.result"] == message["samp.params"]

            # synchronous calls: to beta, to the hub, and back to alpha's built-in ping
            answer = alpha.call_and_wait(b_id, message, "10")
            assert answer["samp.result"] == message["samp.params"]
            ping = {"samp.mtype": "samp.app.ping", "samp.params": {}}
            assert alpha.call_and_wait(hub_id_expected, ping, "10")["samp.status"] == "samp.ok"
            assert beta.call_and_wait(a_id, ping, "10")["samp.status"] == "samp.ok"
            found = beta.call_and_wait(
                hub_id_expected,
                {
                    "samp.mtype": "x-samp.query.by-meta",
                    "samp.params": {"key": "test.colour", "value": "blue"},
                },
                "10",
            )
            assert found["samp.result"]["ids"] == [a_id]

            # a third client: both see it come and go
            with astropy_client(samp, "gamma", hub_params=hub_params) as gamma:
                c_id = gamma.get_public_id()
                for events in (events_a, events_b):
                    events.wait_for(_is("samp.hub.event.register", c_id))
                    events.wait_for(_is("samp.hub.event.metadata", c_id))
            for events in (events_a, events_b):
                events.wait_for(_is("samp.hub.event.unregister", c_id))
        events_a.wait_for(_is("samp.hub.event.unregister", b_id))


async def test_astropy_clients_talk_through_our_hub(hub: Hub, samp_module: Any) -> None:
    assert hub.lockfile is not None
    await asyncio.wait_for(
        asyncio.to_thread(_scenario, samp_module, hub.lockfile, hub.hub_id), timeout=120
    )
    assert hub.clients == ()


def _hub_shutdown_scenario(
    samp: Any, lockfile: Path, hub_id: str, listening: Callable[[], object]
) -> None:
    shutdowns = Recorder()
    with (
        no_internet(samp),
        astropy_client(samp, "listener", hub_params=read_lockfile(lockfile)) as client,
    ):
        client.bind_receive_notification("samp.hub.event.shutdown", shutdowns.notification)
        listening()
        sender, _, params, _ = shutdowns.wait_for(lambda s, m, p: m == "samp.hub.event.shutdown")
        assert (sender, params) == (hub_id, {})
        disconnect(client, hub_gone=True)


async def test_astropy_client_hears_hub_shutdown(samp_module: Any, samp_env: Any) -> None:
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    async with standard_hub(lockfile=samp_env.lockfile) as hub:
        worker = asyncio.ensure_future(
            asyncio.to_thread(
                _hub_shutdown_scenario,
                samp_module,
                samp_env.lockfile,
                hub.hub_id,
                partial(loop.call_soon_threadsafe, ready.set),
            )
        )
        waiter = asyncio.ensure_future(ready.wait())
        done, _ = await asyncio.wait(
            {worker, waiter}, timeout=PROMPT, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            await asyncio.wait_for(worker, PROMPT)  # raises what went wrong
            pytest.fail("the astropy client never started listening")
        await hub.stop()
        await asyncio.wait_for(worker, 60)
    assert not samp_env.lockfile.exists()
