"""The URL tracker: what a web client may have translated."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_samp.hub.web import urltracker
from jupyter_samp.hub.web.urltracker import UrlTracker, find_urls, looks_like_url, normalised


def test_permit_block_sequence_as_jsamp_tests_it() -> None:
    tracker = UrlTracker()
    secret = "file:///etc/passwd"
    assert not tracker.is_permitted("c1", secret)  # never seen: refused
    tracker.outgoing("c1", {"samp.params": {"url": secret}})  # the page names it first
    tracker.incoming("c1", {"samp.params": {"url": secret}})  # a desktop app echoes it
    assert not tracker.is_permitted("c1", secret)  # still refused, for good
    shown = "file:///data/table.vot"
    tracker.incoming("c1", ["c2", "msg-1", {"samp.params": {"url": shown}}])
    assert tracker.is_permitted("c1", shown)
    tracker.outgoing("c1", {"reply": shown})  # sending back a permitted URL is fine
    assert tracker.is_permitted("c1", shown)


def test_permission_is_per_client_blocking_is_for_all() -> None:
    tracker = UrlTracker()
    tracker.incoming("c1", "http://example.org/t.vot")
    assert tracker.is_permitted("c1", "http://example.org/t.vot")
    assert not tracker.is_permitted("c2", "http://example.org/t.vot")
    tracker.outgoing("c2", "http://intranet/secret")
    tracker.incoming("c1", "http://intranet/secret")
    assert not tracker.is_permitted("c1", "http://intranet/secret")
    assert tracker.is_blocked("http://intranet/secret")


def test_urls_are_found_everywhere_in_a_value() -> None:
    value = {
        "http://key.example/": "x",
        "list": ["ftp://a/b", {"deep": ["file:/tmp/x"]}],
        "not": ["c1", "samp.app.ping", "a:b", "data:text/plain,hi", "http://a b"],
    }
    assert sorted(find_urls(value)) == ["file:/tmp/x", "ftp://a/b", "http://key.example/"]


@pytest.mark.parametrize(
    ("text", "url"),
    [("http://x/y", True), ("file:///tmp/a.vot", True), ("ivo://org/res", True),
     ("x:/y", True), (":/y", False), ("1http://x", False), ("http:x", False),
     ("http://x y", False), ("", False), ("http://" + "a" * 20000, False)],
)
def test_looks_like_url(text: str, url: bool) -> None:
    assert looks_like_url(text) is url


def test_forget_drops_permissions_and_limits_bound_memory() -> None:
    tracker = UrlTracker(limit=3)
    for n in range(5):
        tracker.incoming("c1", f"http://x/{n}")
    assert [tracker.is_permitted("c1", f"http://x/{n}") for n in range(5)] == [
        False, False, True, True, True,
    ]
    tracker.forget("c1")
    assert not tracker.is_permitted("c1", "http://x/4")


def test_flooding_mentions_never_unblocks() -> None:
    tracker = UrlTracker(limit=1000, filter_bits=1 << 22)
    secret = "file:///home/user/.ssh/id_rsa"
    tracker.outgoing("page", {"home.page": secret})
    tracker.outgoing("page", [f"http://junk/{n}" for n in range(200_000)])
    tracker.incoming("page", {"url": secret})  # its own metadata read back, or an echo
    assert not tracker.is_permitted("page", secret)


def test_a_full_allow_list_forgets_never_grants() -> None:
    tracker = UrlTracker(limit=10)
    tracker.incoming("page", "file:///data/shown.vot")
    for n in range(1000):
        tracker.incoming("page", f"http://x/{n}")
    assert tracker.allowed_count("page") == 10
    assert not tracker.is_permitted("page", "file:///data/shown.vot")
    assert not tracker.is_permitted("page", "file:///etc/passwd")


def test_a_saturated_filter_refuses_everything() -> None:
    tracker = UrlTracker(filter_bits=1 << 10)
    tracker.incoming("page", "http://example.org/t.vot")
    assert tracker.is_permitted("page", "http://example.org/t.vot")
    tracker.outgoing("other", [f"http://junk/{n}" for n in range(1000)])
    assert not tracker.is_permitted("page", "http://example.org/t.vot")


@pytest.mark.parametrize(
    "mentioned",
    ["see file:///etc/passwd.", "FILE:///etc/passwd", "file:///etc/%70asswd",
     "file://localhost/etc/passwd", "file:/etc//passwd", "<a href='file:///etc/passwd'>"],
)
def test_mentions_are_recorded_leniently(mentioned: str) -> None:
    tracker = UrlTracker()
    tracker.outgoing("page", {"samp.params": {"text": mentioned}})
    tracker.incoming("page", {"samp.params": {"url": "file:///etc/passwd"}})
    assert not tracker.is_permitted("page", "file:///etc/passwd")


def test_permission_needs_the_exact_url() -> None:
    tracker = UrlTracker()
    tracker.incoming("page", "http://example.org/t.vot")
    assert not tracker.is_permitted("page", "http://EXAMPLE.org/t.vot")
    assert not tracker.is_permitted("page", "http://example.org/t.vot?x")


def test_own_content_is_not_incoming() -> None:
    from jupyter_samp.core.model import Deliver
    from jupyter_samp.hub.web.profile import foreign_part, written_by

    meta = {"home.page": "file:///x"}
    assert foreign_part("c1", "getMetadata", ["key", "c1"], meta) is None
    assert foreign_part("c1", "getMetadata", ["key", "c2"], meta) == meta
    assert foreign_part("c1", "getSubscriptions", ["key", "c1"], meta) is None
    assert foreign_part("c1", "callAndWait", ["key", "c1", {}, "10"], meta) is None
    subscribed = {"c1": meta, "c2": {}}
    assert foreign_part("c1", "getSubscribedClients", ["key", "x"], subscribed) == {"c2": {}}

    def effect(params: tuple[object, ...], mtype: str = "table.load.votable") -> Deliver:
        return Deliver("c1", "web", None, "k", "receiveNotification", params, None, mtype)

    assert written_by("c1", effect(("c1", {})))
    assert not written_by("c1", effect(("c2", {})))
    event = {"samp.mtype": "samp.hub.event.metadata",
             "samp.params": {"id": "c1", "metadata": meta}}
    assert written_by("c1", effect(("hub", event), "samp.hub.event.metadata"))
    assert not written_by("c2", effect(("hub", event), "samp.hub.event.metadata"))


def _slow_normalised(url: str) -> str:
    parts = urlsplit(url)
    query = f"?{unquote(parts.query)}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{unquote(parts.path)}{query}"


@given(st.from_regex(urltracker._ALREADY_NORMAL, fullmatch=True))
def test_the_fast_path_keeps_only_urls_already_normal(url: str) -> None:
    """What skips urlsplit is exactly what urlsplit would spell the same way."""
    assert normalised(url) == url == _slow_normalised(url)


@pytest.mark.parametrize("url", [
    "HTTP://Example.org/a", "http://example.org/%41", "http://example.org/a?b=%41",
    "http://example.org/a#frag", "file:///tmp/../etc/passwd", "http://u@example.org/",
    "http://example.org/a\tb", "http://example.org/\u00e9",
])
def test_urls_needing_normalisation_take_the_slow_path(url: str) -> None:
    assert urltracker._ALREADY_NORMAL.match(url) is None
