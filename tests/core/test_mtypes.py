"""MType syntax, subscription patterns, wildcard matching and best-match annotations."""

from __future__ import annotations

import pytest

from jupyter_samp.core.mtypes import (
    Subscriptions,
    candidate_patterns,
    check_mtype,
    is_mtype,
    is_pattern,
    matches,
)
from jupyter_samp.errors import InvalidValueError

GOOD_MTYPES = [
    "a",
    "samp.app.ping",
    "table.load.votable",
    "coord.pointAt.sky",
    "table.select.rowList",
    "x-samp.query.by-meta",
    "a_b.c-d.0",
    "9",
    "A.B",
]
BAD_MTYPES = [
    "",
    ".",
    "a.",
    ".a",
    "a..b",
    "a b",
    "a/b",
    "*",
    "a.*",
    "a*",
    "*.b",
    "a.b*",
    "caf\u00e9",
    "a.b.",
    "a\t",
    None,
    1,
    ["a"],
]


@pytest.mark.parametrize("mtype", GOOD_MTYPES)
def test_valid_mtypes(mtype: str) -> None:
    assert is_mtype(mtype)
    assert check_mtype(mtype) == mtype
    assert is_pattern(mtype)


@pytest.mark.parametrize("mtype", BAD_MTYPES, ids=repr)
def test_invalid_mtypes_are_refused(mtype: object) -> None:
    assert not is_mtype(mtype)
    with pytest.raises(InvalidValueError, match="Bad MType"):
        check_mtype(mtype)


@pytest.mark.parametrize("pattern", ["*", "a.*", "samp.hub.event.*", "table.load.votable"])
def test_valid_patterns(pattern: str) -> None:
    assert is_pattern(pattern)
    Subscriptions({pattern: {}})


@pytest.mark.parametrize(
    "pattern", ["a*", "*.b", "a..b", "a.*.b", "a.**", ".*", "**", "a.b*", "", "a.", 5], ids=repr
)
def test_invalid_patterns_are_refused(pattern: object) -> None:
    assert not is_pattern(pattern)
    with pytest.raises(InvalidValueError, match="Illegal subscription key"):
        Subscriptions({pattern: {}})  # type: ignore[dict-item]


def test_subscription_values_must_be_maps() -> None:
    with pytest.raises(InvalidValueError, match="not a map"):
        Subscriptions({"a.b": "yes"})
    with pytest.raises(InvalidValueError, match="not a map"):
        Subscriptions({"a.b": []})


def test_mtypes_are_case_sensitive() -> None:
    subs = Subscriptions({"coord.pointAt.sky": {}})
    assert "coord.pointAt.sky" in subs
    assert "coord.pointat.sky" not in subs


@pytest.mark.parametrize(
    ("pattern", "mtype", "expected"),
    [
        ("*", "a", True),
        ("*", "a.b.c", True),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", True),
        ("a.*", "a", False),
        ("a.*", "ab.c", False),
        ("a.*", "ab", False),
        ("a.b.*", "a.b", False),
        ("a.b.*", "a.bc", False),
        ("a.b.*", "a.b.c.d", True),
        ("a.b", "a.b", True),
        ("a.b", "a.b.c", False),
        ("a.b", "a", False),
    ],
)
def test_wildcard_matching(pattern: str, mtype: str, expected: bool) -> None:
    assert matches(pattern, mtype) is expected
    assert (mtype in Subscriptions({pattern: {}})) is expected


def test_candidate_patterns_most_specific_first() -> None:
    assert candidate_patterns("a.b.c") == ["a.b.c", "a.b.*", "a.*", "*"]
    assert candidate_patterns("a") == ["a", "*"]


def test_candidates_agree_with_matches() -> None:
    patterns = ["*", "a.*", "a.b.*", "a.b", "ab.*", "a.bc", "b.*"]
    for mtype in ["a", "a.b", "a.bc", "ab.c", "a.b.c", "b"]:
        expected = {p for p in patterns if matches(p, mtype)}
        assert set(candidate_patterns(mtype)) & set(patterns) == expected


def test_best_match_annotation_prefers_the_most_specific_pattern() -> None:
    subs = Subscriptions(
        {
            "*": {"level": "all"},
            "a.*": {"level": "a"},
            "a.b.*": {"level": "a.b"},
            "a.b.c": {"level": "exact"},
        }
    )
    assert subs.annotation("a.b.c") == {"level": "exact"}
    assert subs.annotation("a.b.d") == {"level": "a.b"}
    assert subs.annotation("a.b.d.e") == {"level": "a.b"}
    assert subs.annotation("a.x") == {"level": "a"}
    assert subs.annotation("a.b") == {"level": "a"}
    assert subs.annotation("a") == {"level": "all"}
    assert subs.annotation("zz.top") == {"level": "all"}


def test_no_match_gives_none_and_empty_annotation_is_a_match() -> None:
    subs = Subscriptions({"a.b": {}})
    assert subs.annotation("a.b") == {}
    assert "a.b" in subs
    assert subs.annotation("a.c") is None
    assert "a.c" not in subs
    assert Subscriptions().annotation("a") is None
    assert Subscriptions({}).annotation("a") is None


def test_declared_map_is_kept_exactly_and_copied() -> None:
    declared = {"test.dummy.3": {"size": "big", "colour": "blue"}, "x.*": {}, "other.key": {}}
    subs = Subscriptions(declared)
    assert subs.as_map() == declared
    copy = subs.as_map()
    copy["new"] = {}
    assert "new" not in subs.as_map()
    assert set(subs.patterns()) == set(declared)
    assert len(subs) == 3


def test_non_string_mtype_is_never_contained() -> None:
    subs = Subscriptions({"*": {}})
    assert 5 not in subs
    assert None not in subs
