"""Finding an application by the name a user types."""

from __future__ import annotations

import pytest

from jupyter_samp.client.naming import matching

APPS = ["topcat", "SAOImageDS9", "Aladin", "jupyter: analysis.ipynb", "jupyter: plots.ipynb"]


def found(target: str, apps: list[str] = APPS) -> list[str]:
    return matching(target, apps, lambda name: name)


@pytest.mark.parametrize(("typed", "expected"), [
    ("topcat", ["topcat"]),
    ("TOPCAT", ["topcat"]),
    ("ds9", ["SAOImageDS9"]),
    ("DS9", ["SAOImageDS9"]),
    ("saoimageds9", ["SAOImageDS9"]),
    ("aladin", ["Aladin"]),
    ("plots", ["jupyter: plots.ipynb"]),
])
def test_the_names_users_type(typed: str, expected: list[str]) -> None:
    assert found(typed) == expected


def test_a_part_of_several_names_is_ambiguous() -> None:
    assert found("jupyter") == ["jupyter: analysis.ipynb", "jupyter: plots.ipynb"]


def test_an_exact_name_wins_over_parts_and_case() -> None:
    apps = ["ds9", "SAOImageDS9", "Topcat", "topcat"]
    assert found("ds9", apps) == ["ds9"]
    assert found("Topcat", apps) == ["Topcat"]
    assert found("TOPCAT", apps) == ["Topcat", "topcat"]  # ambiguous ignoring case


def test_nothing_matches() -> None:
    assert found("glue") == []
    assert found("") == []
