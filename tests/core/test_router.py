"""The hub's sans-IO router: registration, events, messaging, replies, time, failures.

Time is a parameter (``now``), so timeouts are tested without sleeping, and
every effect the router leaves (callbacks to deliver, synchronous calls to
resolve, clients to forget) is inspected directly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from jupyter_samp.core.model import (
    RECEIVE_CALL,
    RECEIVE_NOTIFICATION,
    RECEIVE_RESPONSE,
    Deliver,
    Effect,
    Forget,
    Resolve,
)
from jupyter_samp.core.restrictions import MTypeRestriction
from jupyter_samp.core.router import Router
from jupyter_samp.errors import (
    BadReplyError,
    CallTimeoutError,
    InvalidRequestError,
    InvalidValueError,
    MTypeBlockedError,
    NoSuchClientError,
    NotCallableError,
    NotRegisteredError,
    NotSubscribedError,
)

EVENTS: dict[str, dict[str, str]] = {
    "samp.hub.event.register": {},
    "samp.hub.event.unregister": {},
    "samp.hub.event.metadata": {},
    "samp.hub.event.subscriptions": {},
}
OK = {"samp.status": "samp.ok", "samp.result": {}}


@dataclass
class C:
    """A registered test client: its private key and public id."""

    key: str
    id: str


def make_router(**options: Any) -> Router:
    serial = itertools.count(1)
    return Router(lambda: f"key-{next(serial)}", {"samp.name": "Test hub"}, **options)


def join(
    router: Router,
    name: str | None = None,
    subs: dict[str, Any] | None = None,
    *,
    callable: bool = True,
    restricted: bool = False,
) -> C:
    """Register a client, optionally callable and subscribed; drop the effects."""
    info = router.register("standard", restricted=restricted)
    client = C(info["samp.private-key"], info["samp.self-id"])
    if name is not None:
        router.declare_metadata(client.key, {"samp.name": name})
    if callable:
        router.set_callback(client.key, f"http://127.0.0.1/{client.id}")
    if subs is not None:
        router.declare_subscriptions(client.key, subs)
    router.take_effects()
    return client


def deliveries(router: Router) -> list[Deliver]:
    effects = router.take_effects()
    assert all(isinstance(e, Deliver) for e in effects), effects
    return effects  # type: ignore[return-value]


def summary(effects: list[Effect]) -> list[tuple[Any, ...]]:
    """(recipient, method, params) of each Deliver, in order."""
    return [(e.recipient_id, e.method, e.params) for e in effects if isinstance(e, Deliver)]


def msg(mtype: str = "test.echo", **params: Any) -> dict[str, Any]:
    return {"samp.mtype": mtype, "samp.params": params}


def event(router: Router, mtype: str, **params: Any) -> tuple[str, dict[str, Any]]:
    return (router.hub_id, {"samp.mtype": mtype, "samp.params": params})


# ---------------------------------------------------------------- registration


def test_register_returns_reg_info_with_fresh_ids_and_keys() -> None:
    router = make_router()
    infos = [router.register("standard") for _ in range(5)]
    assert all(set(i) == {"samp.private-key", "samp.hub-id", "samp.self-id"} for i in infos)
    assert {i["samp.hub-id"] for i in infos} == {"hub"}
    assert len({i["samp.self-id"] for i in infos}) == 5
    assert len({i["samp.private-key"] for i in infos}) == 5
    router.unregister(infos[0]["samp.private-key"])
    again = router.register("standard")
    assert again["samp.self-id"] not in {i["samp.self-id"] for i in infos}
    assert again["samp.self-id"] != router.hub_id


def test_register_event_goes_to_subscribed_callable_clients_only() -> None:
    router = make_router()
    watcher = join(router, "watcher", EVENTS)
    wildcard = join(router, "wildcard", {"samp.hub.event.*": {}})
    join(router, "deaf", {})
    join(router, "mute", EVENTS, callable=False)
    info = router.register("standard")
    new = info["samp.self-id"]
    effects = router.take_effects()
    got = summary(effects)
    register_event = event(router, "samp.hub.event.register", id=new)
    assert (watcher.id, RECEIVE_NOTIFICATION, register_event) in got
    assert (wildcard.id, RECEIVE_NOTIFICATION, register_event) in got
    assert len(got) == 2
    assert all(e.private_key != info["samp.private-key"] for e in effects)  # type: ignore[union-attr]


def test_subscribed_but_uncallable_client_gets_no_events() -> None:
    router = make_router()
    join(router, "mute", EVENTS, callable=False)
    router.register("standard")
    assert router.take_effects() == []


def test_unregister_tells_the_others_and_forgets_the_client() -> None:
    router = make_router()
    watcher = join(router, "watcher", EVENTS)
    leaver = join(router, "leaver", EVENTS)
    router.unregister(leaver.key)
    effects = router.take_effects()
    forgets = [e for e in effects if isinstance(e, Forget)]
    assert [f.client.public_id for f in forgets] == [leaver.id]
    assert summary(effects) == [
        (watcher.id, RECEIVE_NOTIFICATION, event(router, "samp.hub.event.unregister", id=leaver.id))
    ]
    with pytest.raises(NotRegisteredError):
        router.get_registered_clients(leaver.key)
    with pytest.raises(NotRegisteredError):
        router.unregister(leaver.key)
    assert leaver.id not in router.get_registered_clients(watcher.key)


def test_get_registered_clients_excludes_caller_and_includes_hub() -> None:
    router = make_router()
    a, b, c = (join(router, name) for name in "abc")
    assert sorted(router.get_registered_clients(a.key)) == sorted([router.hub_id, b.id, c.id])
    assert a.id not in router.get_registered_clients(a.key)
    router.unregister(c.key)
    assert sorted(router.get_registered_clients(a.key)) == sorted([router.hub_id, b.id])


def test_unknown_private_key_is_refused_everywhere() -> None:
    router = make_router()
    other = join(router, "other", {"test.echo": {}})
    calls = [
        lambda: router.unregister("nope"),
        lambda: router.set_callback("nope", "http://x/"),
        lambda: router.declare_metadata("nope", {}),
        lambda: router.get_metadata("nope", other.id),
        lambda: router.declare_subscriptions("nope", {}),
        lambda: router.get_subscriptions("nope", other.id),
        lambda: router.get_registered_clients("nope"),
        lambda: router.get_subscribed_clients("nope", "test.echo"),
        lambda: router.notify("nope", other.id, msg()),
        lambda: router.notify_all("nope", msg()),
        lambda: router.call("nope", other.id, "t", msg(), now=0),
        lambda: router.call_all("nope", "t", msg(), now=0),
        lambda: router.call_and_wait("nope", other.id, msg(), "0", now=0),
        lambda: router.reply("nope", "id", OK),
        lambda: router.get_registered_clients(None),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(NotRegisteredError, match="Unknown private key"):
            call()
    assert router.take_effects() == []


# ---------------------------------------------------------------- metadata


def test_fresh_client_has_empty_metadata_and_subscriptions() -> None:
    router = make_router()
    client = join(router, callable=False)
    assert router.get_metadata(client.key, client.id) == {}
    assert router.get_subscriptions(client.key, client.id) == {}


def test_metadata_is_replaced_not_merged_and_visible_to_others() -> None:
    router = make_router()
    one, two = join(router), join(router)
    router.declare_metadata(one.key, {"samp.name": "one", "test.drink": "tea"})
    assert router.get_metadata(two.key, one.id) == {"samp.name": "one", "test.drink": "tea"}
    router.declare_metadata(one.key, {"test.drink": "coffee"})
    assert router.get_metadata(two.key, one.id) == {"test.drink": "coffee"}
    assert router.get_metadata(one.key, one.id) == {"test.drink": "coffee"}


def test_metadata_event_reaches_the_declarer_itself() -> None:
    router = make_router()
    watcher = join(router, "watcher", EVENTS)
    other = join(router, "other", EVENTS)
    metadata = {"samp.name": "w2", "x.key": ["a", {"b": ""}]}
    router.declare_metadata(watcher.key, metadata)
    got = summary(router.take_effects())
    expected = event(router, "samp.hub.event.metadata", id=watcher.id, metadata=metadata)
    assert sorted(got) == sorted(
        [(watcher.id, RECEIVE_NOTIFICATION, expected), (other.id, RECEIVE_NOTIFICATION, expected)]
    )


def test_hub_metadata_and_subscriptions_are_readable() -> None:
    router = make_router()
    client = join(router)
    assert router.get_metadata(client.key, router.hub_id) == {"samp.name": "Test hub"}
    subs = router.get_subscriptions(client.key, router.hub_id)
    assert {"samp.app.ping", "x-samp.query.by-meta"} <= set(subs)


def test_metadata_of_unknown_and_departed_clients() -> None:
    router = make_router()
    client, gone = join(router), join(router)
    router.unregister(gone.key)
    with pytest.raises(NoSuchClientError, match='No registered client with ID "c999"'):
        router.get_metadata(client.key, "c999")
    with pytest.raises(NoSuchClientError, match="no longer registered"):
        router.get_metadata(client.key, gone.id)
    with pytest.raises(NoSuchClientError):
        router.get_subscriptions(client.key, "c999")
    with pytest.raises(NoSuchClientError, match="no longer registered"):
        router.get_subscriptions(client.key, gone.id)


@pytest.mark.parametrize("other", ["c0", "c01", "c3x", "x1", "c", "c\u0663"])
def test_only_ids_once_given_out_count_as_departed(other: str) -> None:
    router = make_router()
    client, gone = join(router), join(router)
    router.unregister(gone.key)
    assert router.registry.departed(gone.id)
    assert not router.registry.departed(client.id)
    assert not router.registry.departed(router.hub_id)
    assert not router.registry.departed(other)
    assert not router.registry.departed(f"c{int(gone.id[1:]) + 1}")  # not given out yet
    with pytest.raises(NoSuchClientError) as raised:
        router.get_metadata(client.key, other)
    assert "no longer registered" not in str(raised.value)


def _sizes(*objects: object) -> dict[str, int]:
    """The length of every container attribute of ``objects``."""
    return {
        f"{type(owner).__name__}.{name}": len(value)
        for owner in objects
        for name, value in vars(owner).items()
        if isinstance(value, (dict, list, set, tuple))
    }


def test_joining_and_leaving_leaves_nothing_behind() -> None:
    # The soak in tests/stress/test_soak.py measures the hub process; this is
    # the router's share: after thousands of clients came and went (some with
    # calls in flight, some evicted), no table holds more than at the start.
    router = make_router(call_timeout=60.0)
    stay = join(router, subs={"test.echo": {}, **EVENTS})
    before = _sizes(router, router.registry, router.calls)
    for index in range(2000):
        passer = join(router, "passer", subs={"test.echo": {}, **EVENTS})
        router.call(passer.key, stay.id, f"t{index}", {"samp.mtype": "test.echo"}, now=0.0)
        if index % 2:
            router.unregister(passer.key)
        else:
            router.evict(passer.id, "gone")
        router.take_effects()
    router.expire(1000.0)
    router.take_effects()
    after = _sizes(router, router.registry, router.calls)
    grown = {name: (before[name], size) for name, size in after.items()
             if size > before[name] and name != "PendingCalls._endings"}
    assert not grown, grown
    assert after["PendingCalls._endings"] <= 4096  # bounded on purpose


@pytest.mark.parametrize(
    "metadata",
    [
        "not a map",
        ["list"],
        {"samp.name": None},
        {"samp.name": 3},
        {"samp.name": "caf\u00e9"},
        {"samp.icon.url": "not a url"},
        {"samp.documentation.url": "://no-scheme"},
        {"samp.icon.url": ["http://x/"]},
    ],
    ids=repr,
)
def test_bad_metadata_is_refused_and_the_old_kept(metadata: Any) -> None:
    router = make_router()
    client = join(router, "keep")
    with pytest.raises(InvalidValueError):
        router.declare_metadata(client.key, metadata)
    assert router.get_metadata(client.key, client.id) == {"samp.name": "keep"}
    assert router.take_effects() == []


def test_metadata_urls_with_any_scheme_are_accepted() -> None:
    router = make_router()
    client = join(router)
    metadata = {
        "samp.icon.url": "http://127.0.0.1:2525/icon.png",
        "samp.documentation.url": "file:///usr/share/doc/x.html",
    }
    router.declare_metadata(client.key, metadata)
    assert router.get_metadata(client.key, client.id) == metadata


# ---------------------------------------------------------------- subscriptions


def test_subscriptions_are_replaced_and_returned_exactly() -> None:
    router = make_router()
    one, two = join(router), join(router)
    router.declare_subscriptions(one.key, {"test.dummy.1": {}, "test.dummy.2": {}})
    declared = {
        "test.dummy.1": {},
        "test.dummy.2": {},
        "test.dummy.3": {"size": "big", "colour": "blue"},
    }
    router.declare_subscriptions(one.key, declared)
    assert router.get_subscriptions(two.key, one.id) == declared
    assert router.get_subscriptions(one.key, one.id) == declared
    router.declare_subscriptions(one.key, {})
    assert router.get_subscriptions(two.key, one.id) == {}
    assert router.get_subscribed_clients(two.key, "test.dummy.1") == {}


def test_subscriptions_event_reaches_the_declarer_itself() -> None:
    router = make_router()
    watcher = join(router, "watcher", {})
    subs = {**EVENTS, "test.echo": {"note": "x"}}
    router.declare_subscriptions(watcher.key, subs)
    assert summary(router.take_effects()) == [
        (
            watcher.id,
            RECEIVE_NOTIFICATION,
            event(router, "samp.hub.event.subscriptions", id=watcher.id, subscriptions=subs),
        )
    ]


@pytest.mark.parametrize(
    "subs",
    ["x", {"a*": {}}, {"*.b": {}}, {"a..b": {}}, {"a.b": "notamap"}, {"a.b": {"k": 1}}],
    ids=repr,
)
def test_bad_subscriptions_are_refused_and_the_old_kept(subs: Any) -> None:
    router = make_router()
    client = join(router, "c", {"keep.me": {}})
    with pytest.raises(InvalidValueError):
        router.declare_subscriptions(client.key, subs)
    assert router.get_subscriptions(client.key, client.id) == {"keep.me": {}}
    assert router.take_effects() == []


def test_get_subscribed_clients_excludes_caller_and_uses_best_annotation() -> None:
    router = make_router()
    caller = join(router, "caller", {"test.echo": {}})
    exact = join(router, "exact", {"*": {"m": "star"}, "test.echo": {"m": "exact"}})
    wild = join(router, "wild", {"test.*": {"m": "test"}, "*": {"m": "star"}})
    join(router, "none", {"other.*": {}})
    assert router.get_subscribed_clients(caller.key, "test.echo") == {
        exact.id: {"m": "exact"},
        wild.id: {"m": "test"},
    }
    found = router.get_subscribed_clients(caller.key, "samp.app.ping")
    assert found == {router.hub_id: {}, exact.id: {"m": "star"}, wild.id: {"m": "star"}}


@pytest.mark.parametrize("mtype", ["test.*", "*", "a..b", "", 5], ids=repr)
def test_get_subscribed_clients_needs_an_exact_mtype(mtype: Any) -> None:
    router = make_router()
    client = join(router)
    with pytest.raises(InvalidValueError):
        router.get_subscribed_clients(client.key, mtype)


# ---------------------------------------------------------------- notify


def test_notify_delivers_to_the_recipient_with_its_own_key() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    message = {**msg(x="1"), "test.extra": {"kept": ["as", "is"]}}
    router.notify(sender.key, recipient.id, message)
    [effect] = deliveries(router)
    assert effect.recipient_id == recipient.id
    assert effect.private_key == recipient.key
    assert effect.callback == f"http://127.0.0.1/{recipient.id}"
    assert effect.method == RECEIVE_NOTIFICATION
    assert effect.params == (sender.id, message)
    assert effect.msg_id is None


def test_notify_all_excludes_the_sender_and_returns_the_recipients() -> None:
    router = make_router()
    sender = join(router, "sender", {"test.echo": {}})
    a = join(router, "a", {"test.echo": {}})
    b = join(router, "b", {"test.*": {}})
    join(router, "c", {"other": {}})
    join(router, "d", {"test.echo": {}}, callable=False)
    recipients = router.notify_all(sender.key, msg())
    assert sorted(recipients) == sorted([a.id, b.id])
    assert sorted(e.recipient_id for e in deliveries(router)) == sorted([a.id, b.id])


def test_notify_all_nobody_subscribed() -> None:
    router = make_router()
    sender = join(router, "sender", {"test.echo": {}})
    assert router.notify_all(sender.key, msg("not.an.mtype")) == []
    assert router.call_all(sender.key, "t", msg("not.an.mtype"), now=0) == {}
    assert router.take_effects() == []


def test_notify_all_counts_the_hub_but_sends_it_nothing() -> None:
    router = make_router()
    sender = join(router, "sender")
    pinger = join(router, "pinger", {"samp.app.ping": {}})
    assert sorted(router.notify_all(sender.key, msg("samp.app.ping"))) == sorted(
        [router.hub_id, pinger.id]
    )
    assert [e.recipient_id for e in deliveries(router)] == [pinger.id]
    router.notify(sender.key, router.hub_id, msg("samp.app.ping"))
    assert router.take_effects() == []


def test_targeted_sends_to_self_work() -> None:
    router = make_router()
    me = join(router, "me", {"test.echo": {}})
    router.notify(me.key, me.id, msg())
    msg_id = router.call(me.key, me.id, "self", msg(), now=0)
    sync_id = router.call_and_wait(me.key, me.id, msg(), "0", now=0)
    got = summary(router.take_effects())
    assert got == [
        (me.id, RECEIVE_NOTIFICATION, (me.id, msg())),
        (me.id, RECEIVE_CALL, (me.id, msg_id, msg())),
        (me.id, RECEIVE_CALL, (me.id, sync_id, msg())),
    ]
    router.reply(me.key, msg_id, OK)
    assert summary(router.take_effects()) == [(me.id, RECEIVE_RESPONSE, (me.id, "self", OK))]


def _targets(router: Router) -> dict[str, tuple[str, type[Exception], str]]:
    """Four clients that targeted sends of test.echo must fail on."""
    gone = join(router, "gone", {"test.echo": {}})
    router.unregister(gone.key)
    mute = join(router, "mute", {"test.echo": {}}, callable=False)
    deaf = join(router, "deaf", {"other.thing": {}})
    router.take_effects()
    return {
        "unknown": ("c404", NoSuchClientError, "No registered client"),
        "departed": (gone.id, NoSuchClientError, "no longer registered"),
        "uncallable": (mute.id, NotCallableError, "not callable"),
        "unsubscribed": (deaf.id, NotSubscribedError, "not subscribed to test.echo"),
    }


@pytest.mark.parametrize("case", ["unknown", "departed", "uncallable", "unsubscribed"])
@pytest.mark.parametrize("how", ["notify", "call", "callAndWait"])
def test_targeted_sends_to_bad_recipients_fault(case: str, how: str) -> None:
    router = make_router()
    sender = join(router, "sender")
    target, fault, text = _targets(router)[case]
    with pytest.raises(fault, match=text):
        if how == "notify":
            router.notify(sender.key, target, msg())
        elif how == "call":
            router.call(sender.key, target, "t", msg(), now=0)
        else:
            router.call_and_wait(sender.key, target, msg(), "10", now=0)
    assert router.take_effects() == []
    assert len(router.calls) == 0


def test_broadcasts_skip_bad_recipients() -> None:
    router = make_router()
    sender = join(router, "sender")
    _targets(router)
    good = join(router, "good", {"test.echo": {}})
    assert router.notify_all(sender.key, msg()) == [good.id]
    ids = router.call_all(sender.key, "t", msg(), now=0)
    assert list(ids) == [good.id]
    assert [e.recipient_id for e in deliveries(router)] == [good.id, good.id]


@pytest.mark.parametrize(
    "message",
    [
        "string",
        [],
        {"samp.params": {}},
        {"samp.mtype": "a.*", "samp.params": {}},
        {"samp.mtype": "*", "samp.params": {}},
        {"samp.mtype": "a..b", "samp.params": {}},
        {"samp.mtype": 5, "samp.params": {}},
        {"samp.mtype": "test.echo", "samp.params": "x"},
        {"samp.mtype": "test.echo", "samp.params": {"k": None}},
        {"samp.mtype": "test.echo", "samp.params": {"k": "\x00"}},
        {"samp.mtype": "test.echo", "extra": 1.5},
    ],
    ids=repr,
)
def test_bad_messages_are_refused(message: Any) -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"*": {}})
    with pytest.raises(InvalidValueError):
        router.notify(sender.key, recipient.id, message)
    with pytest.raises(InvalidValueError):
        router.notify_all(sender.key, message)
    with pytest.raises(InvalidValueError):
        router.call_all(sender.key, "t", message, now=0)
    assert router.take_effects() == []


def test_message_without_params_is_accepted() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    router.notify(sender.key, recipient.id, {"samp.mtype": "test.echo"})
    assert deliveries(router)[0].params == (sender.id, {"samp.mtype": "test.echo"})


@pytest.mark.parametrize("tag", [None, 5, ["t"], "bad\x01tag"], ids=repr)
def test_bad_msg_tags_are_refused(tag: Any) -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    with pytest.raises(InvalidValueError):
        router.call(sender.key, recipient.id, tag, msg(), now=0)
    with pytest.raises(InvalidValueError):
        router.call_all(sender.key, tag, msg(), now=0)


# ---------------------------------------------------------------- calls and replies


def test_call_and_reply_round_trip_keeps_unknown_keys() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    message = {**msg(a="1"), "test.msgid": "1", "test.wait": "0"}
    msg_id = router.call(sender.key, recipient.id, "tag0", message, now=0)
    [delivered] = deliveries(router)
    assert (delivered.method, delivered.params, delivered.msg_id) == (
        RECEIVE_CALL,
        (sender.id, msg_id, message),
        msg_id,
    )
    response = {
        "samp.status": "samp.error",
        "samp.error": {"samp.errortxt": "failure", "samp.code": "999", "do.what": "do.that"},
        "test.msgid": msg_id,
    }
    router.reply(recipient.key, msg_id, response)
    [answer] = deliveries(router)
    assert answer.recipient_id == sender.id
    assert answer.private_key == sender.key
    assert (answer.method, answer.params) == (RECEIVE_RESPONSE, (recipient.id, "tag0", response))


def test_call_all_returns_the_msg_ids_each_recipient_receives() -> None:
    router = make_router()
    sender = join(router, "sender", {"test.echo": {}})
    others = [join(router, f"r{i}", {"test.echo": {}}) for i in range(3)]
    ids = router.call_all(sender.key, "tag99", msg(), now=0)
    assert sorted(ids) == sorted(o.id for o in others)
    delivered = {e.recipient_id: e.params[1] for e in deliveries(router)}
    assert delivered == ids
    for other in others:
        router.reply(other.key, ids[other.id], OK)
    answers = summary(router.take_effects())
    assert sorted(answers) == sorted(
        (sender.id, RECEIVE_RESPONSE, (o.id, "tag99", OK)) for o in others
    )


def test_call_all_to_hub_ping_is_answered_by_the_hub() -> None:
    router = make_router()
    sender = join(router, "sender")
    pinger = join(router, "pinger", {"samp.app.ping": {}})
    ids = router.call_all(sender.key, "ping", msg("samp.app.ping"), now=0)
    assert set(ids) == {router.hub_id, pinger.id}
    got = summary(router.take_effects())
    assert (sender.id, RECEIVE_RESPONSE, (router.hub_id, "ping", OK)) in got
    assert (pinger.id, RECEIVE_CALL, (sender.id, ids[pinger.id], msg("samp.app.ping"))) in got


def test_reused_tags_keep_every_reply() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    msg_ids = [
        router.call(sender.key, recipient.id, "sametag", msg(n=str(i)), now=0) for i in range(5)
    ]
    assert len(set(msg_ids)) == 5
    router.take_effects()
    for i in (3, 0, 4, 1, 2):
        router.reply(
            recipient.key, msg_ids[i], {"samp.status": "samp.ok", "samp.result": {"n": str(i)}}
        )
    answers = summary(router.take_effects())
    assert [a[2][2]["samp.result"]["n"] for a in answers] == ["3", "0", "4", "1", "2"]
    assert {a[2][1] for a in answers} == {"sametag"}


def test_call_and_wait_resolves_with_the_reply() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    msg_id = router.call_and_wait(sender.key, recipient.id, msg(x="1"), "0", now=0)
    [delivered] = deliveries(router)
    assert delivered.params == (sender.id, msg_id, msg(x="1"))
    response = {"samp.status": "samp.ok", "samp.result": {"x": "1"}, "extra": "kept"}
    router.reply(recipient.key, msg_id, response)
    [resolved] = router.take_effects()
    assert isinstance(resolved, Resolve)
    assert (resolved.msg_id, resolved.response, resolved.error) == (msg_id, response, None)


@pytest.mark.parametrize(
    "response",
    [
        "not a map",
        {},
        {"samp.result": {}},
        {"samp.status": 1, "samp.result": {}},
        {"samp.status": "samp.ok"},
        {"samp.status": "samp.ok", "samp.error": {"samp.errortxt": "x"}},
        {"samp.status": "samp.error"},
        {"samp.status": "samp.error", "samp.error": {}},
        {"samp.status": "samp.error", "samp.error": "text"},
        {"samp.status": "samp.warning", "samp.result": {}},
        {"samp.status": "samp.warning", "samp.result": {}, "samp.error": {"samp.usertxt": "x"}},
        {"samp.status": "samp.ok", "samp.result": {"k": None}},
        {"samp.status": "samp.ok", "samp.result": {"k": "\u00e9"}},
    ],
    ids=repr,
)
def test_malformed_replies_fault_and_the_caller_learns_why(response: Any) -> None:
    """The recipient gets the fault; its caller a samp.error now, not a wait for its timeout."""
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    msg_id = router.call(sender.key, recipient.id, "t", msg(), now=0)
    router.take_effects()
    with pytest.raises(InvalidValueError):
        router.reply(recipient.key, msg_id, response)
    [delivery] = deliveries(router)
    assert (delivery.recipient_id, delivery.params[0]) == (sender.id, recipient.id)
    answer = delivery.params[2]
    assert answer["samp.status"] == "samp.error"
    assert "breaks SAMP's rules" in answer["samp.error"]["samp.errortxt"]
    assert answer["samp.error"]["samp.errortxt"].isascii()
    with pytest.raises(BadReplyError, match="already been answered"):
        router.reply(recipient.key, msg_id, OK)


def test_a_malformed_reply_to_a_call_of_another_leaves_that_call_alone() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    other = join(router, "other", {"test.echo": {}})
    msg_id = router.call(sender.key, recipient.id, "t", msg(), now=0)
    router.take_effects()
    with pytest.raises(InvalidValueError):
        router.reply(other.key, msg_id, {})
    assert router.take_effects() == []
    router.reply(recipient.key, msg_id, OK)
    assert len(deliveries(router)) == 1


@pytest.mark.parametrize(
    "response",
    [
        {"samp.status": "samp.warning", "samp.result": {}, "samp.error": {"samp.errortxt": "w"}},
        {"samp.status": "x-unknown.status", "samp.result": {}},
        {"samp.status": "samp.error", "samp.error": {"samp.errortxt": "e"}, "samp.result": {}},
    ],
    ids=repr,
)
def test_legal_and_lenient_replies_pass_through(response: dict[str, Any]) -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    msg_id = router.call(sender.key, recipient.id, "t", msg(), now=0)
    router.take_effects()
    router.reply(recipient.key, msg_id, response)
    assert deliveries(router)[0].params == (recipient.id, "t", response)


def test_duplicate_foreign_and_unknown_replies_fault() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    stranger = join(router, "stranger", {"test.echo": {}})
    msg_id = router.call(sender.key, recipient.id, "t", msg(), now=0)
    router.take_effects()
    with pytest.raises(BadReplyError, match="was not sent to"):
        router.reply(stranger.key, msg_id, OK)
    with pytest.raises(BadReplyError, match="was not sent to"):
        router.reply(sender.key, msg_id, OK)
    router.reply(recipient.key, msg_id, OK)
    router.take_effects()
    with pytest.raises(BadReplyError, match="already been answered"):
        router.reply(recipient.key, msg_id, OK)
    with pytest.raises(BadReplyError, match="Unknown message ID"):
        router.reply(recipient.key, "made-up-id", OK)
    with pytest.raises(BadReplyError, match="Unknown message ID"):
        router.reply(recipient.key, ["not", "a", "string"], OK)
    assert router.take_effects() == []


def test_reply_after_the_sender_left_is_accepted_and_dropped() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    msg_id = router.call(sender.key, recipient.id, "t", msg(), now=0)
    router.unregister(sender.key)
    router.take_effects()
    router.reply(recipient.key, msg_id, OK)
    assert router.take_effects() == []


def test_uncallable_sender_gets_no_response_delivery() -> None:
    router = make_router()
    sender = join(router, "sender", callable=False)
    recipient = join(router, "recipient", {"test.echo": {}})
    msg_id = router.call(sender.key, recipient.id, "t", msg(), now=0)
    router.take_effects()
    router.reply(recipient.key, msg_id, OK)
    assert router.take_effects() == []


# ---------------------------------------------------------------- time


def test_sync_timeout_expires_at_its_deadline() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    msg_id = router.call_and_wait(sender.key, recipient.id, msg(), "5", now=100.0)
    router.take_effects()
    assert router.next_deadline() == 105.0
    router.expire(104.999)
    assert router.take_effects() == []
    router.expire(105.0)
    [resolved] = router.take_effects()
    assert isinstance(resolved, Resolve) and resolved.msg_id == msg_id
    assert isinstance(resolved.error, CallTimeoutError)
    assert "timeout" in str(resolved.error).lower()
    assert router.next_deadline() is None
    with pytest.raises(BadReplyError, match="timed out"):
        router.reply(recipient.key, msg_id, OK)


def test_several_deadlines_expire_in_order() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    late = router.call_and_wait(sender.key, recipient.id, msg(), "30", now=0)
    early = router.call_and_wait(sender.key, recipient.id, msg(), "10", now=0)
    answered = router.call_and_wait(sender.key, recipient.id, msg(), "1.5", now=0)
    router.take_effects()
    router.reply(recipient.key, answered, OK)
    router.take_effects()
    assert router.next_deadline() == 10
    router.expire(20)
    assert [e.msg_id for e in router.take_effects()] == [early]  # type: ignore[union-attr]
    assert router.next_deadline() == 30
    router.expire(1000)
    assert [e.msg_id for e in router.take_effects()] == [late]  # type: ignore[union-attr]


@pytest.mark.parametrize("timeout", ["0", "-1", "-0.5", "999999999"])
def test_no_or_huge_timeout_is_capped_by_the_hub(timeout: str) -> None:
    router = make_router(max_sync_timeout=600.0)
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    router.call_and_wait(sender.key, recipient.id, msg(), timeout, now=50.0)
    assert router.next_deadline() == 650.0


@pytest.mark.parametrize("timeout", ["", "ten", "1,5", "nan", " 5"])
def test_bad_timeout_is_refused(timeout: str) -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    with pytest.raises(InvalidRequestError, match="Bad timeout"):
        router.call_and_wait(sender.key, recipient.id, msg(), timeout, now=0)
    assert router.take_effects() == []


def test_async_call_timeout_answers_the_sender_with_an_error() -> None:
    router = make_router(call_timeout=10.0)
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    msg_id = router.call(sender.key, recipient.id, "slow", msg(), now=0)
    router.take_effects()
    assert router.next_deadline() == 10.0
    router.expire(9.9)
    assert router.take_effects() == []
    router.expire(10.0)
    [answer] = deliveries(router)
    responder, tag, response = answer.params
    assert (answer.recipient_id, answer.method, responder, tag) == (
        sender.id,
        RECEIVE_RESPONSE,
        recipient.id,
        "slow",
    )
    assert response["samp.status"] == "samp.error"
    assert "samp.errortxt" in response["samp.error"]
    with pytest.raises(BadReplyError, match="timed out"):
        router.reply(recipient.key, msg_id, OK)


def test_without_call_timeout_async_calls_never_expire() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    router.call(sender.key, recipient.id, "t", msg(), now=0)
    assert router.next_deadline() is None


def test_sync_calls_use_their_own_timeout_not_call_timeout() -> None:
    router = make_router(call_timeout=10.0)
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    router.call_and_wait(sender.key, recipient.id, msg(), "60", now=0)
    assert router.next_deadline() == 60.0


# ---------------------------------------------------------------- departures and failures


def test_recipient_unregistering_fails_its_pending_calls_at_once() -> None:
    router = make_router()
    sender = join(router, "sender")
    recipient = join(router, "recipient", {"test.echo": {}})
    async_id = router.call(sender.key, recipient.id, "t", msg(), now=0)
    sync_id = router.call_and_wait(sender.key, recipient.id, msg(), "0", now=0)
    router.take_effects()
    router.unregister(recipient.key)
    effects = router.take_effects()
    resolved = [e for e in effects if isinstance(e, Resolve)]
    assert [r.msg_id for r in resolved] == [sync_id]
    assert isinstance(resolved[0].error, NoSuchClientError)
    [answer] = [e for e in effects if isinstance(e, Deliver)]
    assert answer.recipient_id == sender.id
    assert answer.params[:2] == (recipient.id, "t")
    assert answer.params[2]["samp.status"] == "samp.error"
    assert len(router.calls) == 0
    assert router.next_deadline() is None
    assert async_id != sync_id


def _failed_call(router: Router, sync: bool) -> tuple[C, C, str, Deliver]:
    sender = join(router, "sender", EVENTS)
    recipient = join(router, "recipient", {"test.echo": {}, "samp.hub.disconnect": {}})
    if sync:
        msg_id = router.call_and_wait(sender.key, recipient.id, msg(), "0", now=0)
    else:
        msg_id = router.call(sender.key, recipient.id, "tag", msg(), now=0)
    [delivery] = deliveries(router)
    return sender, recipient, msg_id, delivery


def test_failed_delivery_of_a_call_answers_the_sender_with_an_error() -> None:
    router = make_router()
    sender, recipient, msg_id, delivery = _failed_call(router, sync=False)
    router.delivery_failed(delivery, "no answer within 30 s")
    [answer] = deliveries(router)
    assert answer.recipient_id == sender.id and answer.method == RECEIVE_RESPONSE
    responder, tag, response = answer.params
    assert (responder, tag) == (recipient.id, "tag")
    assert response["samp.status"] == "samp.error"
    assert "no answer within 30 s" in response["samp.error"]["samp.errortxt"]
    assert recipient.id in router.get_registered_clients(sender.key)  # not evicted
    with pytest.raises(BadReplyError):
        router.reply(recipient.key, msg_id, OK)


def test_failed_delivery_of_a_sync_call_faults_the_waiter() -> None:
    router = make_router()
    _, _, msg_id, delivery = _failed_call(router, sync=True)
    router.delivery_failed(delivery, "it answered with a fault")
    [resolved] = router.take_effects()
    assert isinstance(resolved, Resolve) and resolved.msg_id == msg_id
    assert isinstance(resolved.error, NotCallableError)


def test_dead_recipient_is_evicted_and_the_others_told() -> None:
    router = make_router()
    sender, recipient, _, delivery = _failed_call(router, sync=False)
    router.delivery_failed(delivery, "connection refused", dead=True)
    effects = router.take_effects()
    got = summary(effects)
    assert got[0][0] == sender.id and got[0][1] == RECEIVE_RESPONSE
    assert got[0][2][2]["samp.status"] == "samp.error"
    assert (
        recipient.id,
        RECEIVE_NOTIFICATION,
        (
            router.hub_id,
            msg("samp.hub.disconnect", reason="its callback failed: connection refused"),
        ),
    ) in got
    assert (
        sender.id,
        RECEIVE_NOTIFICATION,
        event(router, "samp.hub.event.unregister", id=recipient.id),
    ) in got
    assert [e.client.public_id for e in effects if isinstance(e, Forget)] == [recipient.id]
    assert recipient.id not in router.get_registered_clients(sender.key)


def test_dead_recipient_of_a_sync_call_faults_the_waiter() -> None:
    router = make_router()
    _, _, msg_id, delivery = _failed_call(router, sync=True)
    router.delivery_failed(delivery, "connection refused", dead=True)
    resolved = [e for e in router.take_effects() if isinstance(e, Resolve)]
    assert [r.msg_id for r in resolved] == [msg_id]
    assert isinstance(resolved[0].error, NoSuchClientError)


def test_failed_notification_evicts_only_dead_recipients() -> None:
    router = make_router()
    sender = join(router, "sender", EVENTS)
    recipient = join(router, "recipient", {"test.echo": {}})
    router.notify(sender.key, recipient.id, msg())
    [delivery] = deliveries(router)
    router.delivery_failed(delivery, "timed out")
    assert router.take_effects() == []
    router.delivery_failed(delivery, "connection refused", dead=True)
    assert recipient.id not in router.get_registered_clients(sender.key)
    router.take_effects()
    router.delivery_failed(delivery, "connection refused", dead=True)  # already gone: no-op
    assert router.take_effects() == []


def test_evict_and_shutdown() -> None:
    router = make_router()
    watcher = join(router, "watcher", {**EVENTS, "samp.hub.event.shutdown": {}})
    victim = join(router, "victim", {"samp.hub.disconnect": {}})
    router.evict(victim.id, "misbehaving")
    got = summary(router.take_effects())
    assert got == [
        (
            victim.id,
            RECEIVE_NOTIFICATION,
            (router.hub_id, msg("samp.hub.disconnect", reason="misbehaving")),
        ),
        (
            watcher.id,
            RECEIVE_NOTIFICATION,
            event(router, "samp.hub.event.unregister", id=victim.id),
        ),
    ]
    with pytest.raises(InvalidRequestError):
        router.evict(router.hub_id, "no")
    with pytest.raises(NoSuchClientError):
        router.evict(victim.id, "again")
    router.shutdown()
    assert summary(router.take_effects()) == [
        (watcher.id, RECEIVE_NOTIFICATION, event(router, "samp.hub.event.shutdown"))
    ]


# ---------------------------------------------------------------- the hub as a client


def test_hub_answers_ping_calls() -> None:
    router = make_router()
    sender = join(router, "sender")
    msg_id = router.call(sender.key, router.hub_id, "p", msg("samp.app.ping"), now=0)
    assert summary(router.take_effects()) == [
        (sender.id, RECEIVE_RESPONSE, (router.hub_id, "p", OK))
    ]
    sync_id = router.call_and_wait(sender.key, router.hub_id, msg("samp.app.ping"), "0", now=0)
    [resolved] = router.take_effects()
    assert isinstance(resolved, Resolve)
    assert (resolved.msg_id, resolved.response) == (sync_id, OK)
    assert msg_id != sync_id
    assert len(router.calls) == 0


@pytest.mark.parametrize("mtype", ["x-samp.query.by-meta", "samp.query.by-meta"])
def test_hub_answers_query_by_meta(mtype: str) -> None:
    router = make_router()
    caller = join(router, "topcat")
    other = join(router, "topcat")
    join(router, "ds9")
    query = msg(mtype, key="samp.name", value="topcat")
    router.call_and_wait(caller.key, router.hub_id, query, "0", now=0)
    [resolved] = router.take_effects()
    assert isinstance(resolved, Resolve) and resolved.response is not None
    assert resolved.response["samp.status"] == "samp.ok"
    assert sorted(resolved.response["samp.result"]["ids"]) == sorted([caller.id, other.id])
    router.call_and_wait(
        caller.key, router.hub_id, msg(mtype, key="samp.name", value="Test hub"), "0", now=0
    )
    [resolved] = router.take_effects()
    assert isinstance(resolved, Resolve) and resolved.response is not None
    assert resolved.response["samp.result"]["ids"] == [router.hub_id]
    router.call_and_wait(caller.key, router.hub_id, msg(mtype, key="samp.name"), "0", now=0)
    [resolved] = router.take_effects()
    assert isinstance(resolved, Resolve) and resolved.response is not None
    assert resolved.response["samp.status"] == "samp.error"


def test_hub_refuses_mtypes_it_does_not_subscribe_to() -> None:
    router = make_router()
    sender = join(router, "sender")
    with pytest.raises(NotSubscribedError):
        router.call(sender.key, router.hub_id, "t", msg("test.echo"), now=0)


# ---------------------------------------------------------------- MType restriction


def _restricted_setup(router: Router) -> tuple[C, C, C]:
    web = join(router, "web", {"samp.hub.event.subscriptions": {}}, restricted=True)
    plain = join(
        router,
        "plain",
        {
            "table.load.votable": {},
            "image.load.fits": {"x-samp.mostly-harmless": "0"},
            "x.custom": {},
            "x.harmless": {"x-samp.mostly-harmless": "1"},
            "y.harmless": {"samp.mostly-harmless": "1"},
            "samp.app.ping": {},
        },
    )
    wild = join(router, "wild", {"*": {}, "table.*": {}, "x.*": {"x-samp.mostly-harmless": "1"}})
    return web, plain, wild


def test_restricted_sender_may_send_only_allowed_mtypes() -> None:
    router = make_router()
    web, plain, _ = _restricted_setup(router)
    router.notify(web.key, plain.id, msg("table.load.votable", url="http://x/t.vot"))
    router.notify(web.key, plain.id, msg("x.harmless"))
    router.notify(web.key, plain.id, msg("y.harmless"))
    router.call(web.key, plain.id, "t", msg("samp.app.ping"), now=0)
    with pytest.raises(MTypeBlockedError, match=r"x\.custom"):
        router.notify(web.key, plain.id, msg("x.custom"))
    with pytest.raises(MTypeBlockedError):
        router.call(web.key, plain.id, "t", msg("image.load.fits"), now=0)
    with pytest.raises(MTypeBlockedError):
        router.call_and_wait(web.key, plain.id, msg("x.custom"), "0", now=0)


def test_unrestricted_senders_are_not_filtered() -> None:
    router = make_router()
    _, plain, wild = _restricted_setup(router)
    router.notify(wild.key, plain.id, msg("x.custom"))
    router.notify(wild.key, plain.id, msg("image.load.fits"))
    assert router.get_subscribed_clients(wild.key, "x.custom") == {plain.id: {}}


def test_restricted_broadcasts_skip_blocked_recipients() -> None:
    router = make_router()
    web, plain, wild = _restricted_setup(router)
    assert sorted(router.notify_all(web.key, msg("table.load.votable"))) == sorted(
        [plain.id, wild.id]
    )
    assert router.notify_all(web.key, msg("image.load.fits")) == [wild.id]
    assert router.notify_all(web.key, msg("x.custom")) == [wild.id]  # wild annotated x.* harmless
    assert router.notify_all(web.key, msg("z.other")) == []
    assert router.call_all(web.key, "t", msg("z.other"), now=0) == {}


def test_restricted_get_subscribed_clients_is_filtered() -> None:
    router = make_router()
    web, plain, wild = _restricted_setup(router)
    assert router.get_subscribed_clients(web.key, "x.custom") == {
        wild.id: {"x-samp.mostly-harmless": "1"}
    }
    assert router.get_subscribed_clients(web.key, "image.load.fits") == {wild.id: {}}
    assert set(router.get_subscribed_clients(web.key, "samp.app.ping")) == {
        router.hub_id,
        plain.id,
        wild.id,
    }


def test_restricted_get_subscriptions_is_filtered() -> None:
    router = make_router()
    web, plain, wild = _restricted_setup(router)
    assert router.get_subscriptions(web.key, plain.id) == {
        "table.load.votable": {},
        "x.harmless": {"x-samp.mostly-harmless": "1"},
        "y.harmless": {"samp.mostly-harmless": "1"},
        "samp.app.ping": {},
    }
    assert router.get_subscriptions(web.key, wild.id) == {
        "table.*": {},
        "x.*": {"x-samp.mostly-harmless": "1"},
    }
    assert len(router.get_subscriptions(plain.key, wild.id)) == 3


def test_subscriptions_events_are_filtered_for_restricted_recipients() -> None:
    router = make_router()
    web, plain, _ = _restricted_setup(router)
    watcher = join(router, "watcher", {"samp.hub.event.subscriptions": {}})
    subs: dict[str, Any] = {
        "table.load.fits": {},
        "secret.thing": {},
        "samp.hub.event.subscriptions": {},
    }
    router.declare_subscriptions(plain.key, subs)
    got = {e.recipient_id: e.params[1]["samp.params"] for e in deliveries(router)}
    assert got[watcher.id] == {"id": plain.id, "subscriptions": subs}
    assert got[plain.id] == {"id": plain.id, "subscriptions": subs}
    assert got[web.id] == {"id": plain.id, "subscriptions": {"table.load.fits": {}}}


def test_custom_allow_list() -> None:
    router = make_router(restriction=MTypeRestriction(["only.this"]))
    web = join(router, "web", restricted=True)
    target = join(router, "target", {"only.this": {}, "table.load.votable": {}})
    router.notify(web.key, target.id, msg("only.this"))
    with pytest.raises(MTypeBlockedError):
        router.notify(web.key, target.id, msg("table.load.votable"))


@pytest.mark.parametrize(
    ("mtype", "annotation", "allowed"),
    [
        ("table.load.votable", None, True),
        ("table.load.votable", {}, True),
        ("table.load.votable", {"x-samp.mostly-harmless": "0"}, False),
        ("samp.app.ping", None, True),
        ("samp.msg.progress", None, True),
        ("samp.hub.event.shutdown", None, False),
        ("x.custom", None, False),
        ("x.custom", {"x-samp.mostly-harmless": "1"}, True),
        ("x.custom", {"samp.mostly-harmless": "1"}, True),
        ("x.custom", {"x-samp.mostly-harmless": "yes"}, False),
        ("tablex.load", None, False),
        ("table", None, False),
    ],
)
def test_restriction_permits(mtype: str, annotation: dict[str, str] | None, allowed: bool) -> None:
    assert MTypeRestriction().permits(mtype, annotation) is allowed


def test_get_subscribed_clients_leaves_out_uncallable_clients() -> None:
    router = make_router()
    asker = join(router)
    listening = join(router, subs={"test.echo": {}})
    deaf = join(router, subs={"test.echo": {}}, callable=False)
    found = router.get_subscribed_clients(asker.key, "test.echo")
    assert listening.id in found and deaf.id not in found
