"""The URL tracker: what a web client may have translated."""

from __future__ import annotations

import pytest

from jupyter_samp.hub.web.urltracker import UrlTracker, find_urls, looks_like_url


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
