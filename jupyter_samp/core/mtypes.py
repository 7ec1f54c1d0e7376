"""MType syntax, subscription patterns and wildcard matching.

An MType is dot-separated atoms of letters, digits, ``-`` and ``_``. A
subscription pattern is an MType, an MType followed by ``.*``, or ``*`` alone.
``a.b.*`` matches ``a.b.c`` and ``a.b.c.d`` but neither ``a.b`` nor ``a.bc``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from jupyter_samp.errors import InvalidValueError

_MTYPE = re.compile(r"[0-9A-Za-z_\-]+(\.[0-9A-Za-z_\-]+)*\Z")


def is_mtype(text: object) -> bool:
    """Return True if ``text`` is a syntactically valid, unwildcarded MType."""
    return isinstance(text, str) and _MTYPE.match(text) is not None


def is_pattern(text: object) -> bool:
    """Return True if ``text`` is a valid subscription pattern (MType, ``x.*`` or ``*``)."""
    if not isinstance(text, str):
        return False
    if text == "*":
        return True
    return is_mtype(text[:-2] if text.endswith(".*") else text)


def check_mtype(text: object) -> str:
    """Return ``text`` if it is a valid MType.

    Raises
    ------
    InvalidValueError
        If it is not a string, contains a wildcard, or breaks the syntax.
    """
    if not is_mtype(text):
        raise InvalidValueError(
            f"Bad MType {text!r}: MTypes are dot-separated atoms of letters, digits, "
            f"'-' and '_', without wildcards"
        )
    assert isinstance(text, str)
    return text


def candidate_patterns(mtype: str) -> list[str]:
    """List every pattern that matches ``mtype``, most specific first.

    For ``a.b.c`` this is ``["a.b.c", "a.b.*", "a.*", "*"]``, so a lookup in a
    subscription map finds the best-matching annotation with a few dict probes.
    """
    atoms = mtype.split(".")
    wildcards = [".".join(atoms[:n]) + ".*" for n in range(len(atoms) - 1, 0, -1)]
    return [mtype, *wildcards, "*"]


def matches(pattern: str, mtype: str) -> bool:
    """Return True if subscription ``pattern`` matches the exact ``mtype``."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return mtype.startswith(pattern[:-1])
    return pattern == mtype


class Subscriptions:
    """A client's declared subscriptions: patterns mapped to annotation maps.

    The declared map is kept exactly as given (it is what ``getSubscriptions``
    returns); lookups walk :func:`candidate_patterns` so they cost a few dict
    probes whatever the number of patterns.

    Parameters
    ----------
    declared : Mapping
        Pattern -> annotation map.

    Raises
    ------
    InvalidValueError
        If a key is not a valid pattern or a value is not a map.
    """

    __slots__ = ("_declared",)

    def __init__(self, declared: Mapping[str, Any] | None = None) -> None:
        declared = dict(declared or {})
        for pattern, annotation in declared.items():
            if not is_pattern(pattern):
                raise InvalidValueError(f'Illegal subscription key "{pattern}"')
            if not isinstance(annotation, dict):
                raise InvalidValueError(
                    f'Subscription value for "{pattern}" is not a map (use {{}} for none)'
                )
        self._declared = declared

    def as_map(self) -> dict[str, Any]:
        """Return the declared map (a copy)."""
        return dict(self._declared)

    def annotation(self, mtype: str) -> dict[str, Any] | None:
        """Return the annotation of the best pattern matching ``mtype``, or None."""
        declared = self._declared
        if not declared:
            return None
        for pattern in candidate_patterns(mtype):
            found = declared.get(pattern)
            if found is not None:
                return found
        return None

    def __contains__(self, mtype: object) -> bool:
        return isinstance(mtype, str) and self.annotation(mtype) is not None

    def patterns(self) -> Iterable[str]:
        """Iterate over the declared patterns."""
        return iter(self._declared)

    def __len__(self) -> int:
        return len(self._declared)

    def __repr__(self) -> str:
        return f"Subscriptions({self._declared!r})"
