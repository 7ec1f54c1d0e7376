# ruff: noqa: RUF001
"""Readable ASCII renderings of the names astronomers give."""

from __future__ import annotations

import pytest

from jupyter_samp.data.labels import ascii_label


@pytest.mark.parametrize(("text", "rendered"), [
    ("θ¹ Ori C ✓", "theta1 Ori C"),
    ("Hα flux", "Halpha flux"),
    ("λ Ori", "lambda Ori"),
    ("ΔT", "DeltaT"),
    ("Café", "Cafe"),
    ("M31 — core", "M31 - core"),
    ("NGC 1976 – 1982", "NGC 1976 - 1982"),
    ("plain text", "plain text"),
    ("✓", ""),
])
def test_renderings(text: str, rendered: str) -> None:
    assert ascii_label(text) == rendered
    assert ascii_label(text).isascii()
