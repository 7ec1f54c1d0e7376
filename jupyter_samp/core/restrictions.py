"""Which MTypes a restricted (Web Profile) client may send.

Browser pages are less trusted than desktop applications, so what they send
is limited to an allow-list of harmless MTypes. A recipient can widen or
narrow that per subscription with the annotation ``x-samp.mostly-harmless``
(``"1"`` allows, ``"0"`` blocks; ``samp.mostly-harmless`` is read too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jupyter_samp.core.mtypes import matches

#: The MTypes web clients may send unless a recipient says otherwise.
DEFAULT_SAFE_MTYPES: tuple[str, ...] = (
    "samp.app.*",
    "samp.msg.progress",
    "table.*",
    "image.*",
    "coord.*",
    "spectrum.*",
    "bibcode.*",
    "voresource.*",
    "coverage.*",
)

_HARMLESS_KEYS = ("x-samp.mostly-harmless", "samp.mostly-harmless")


class MTypeRestriction:
    """An allow-list of MType patterns, overridable by subscription annotations.

    Parameters
    ----------
    allowed : iterable of str
        Subscription-style patterns (``table.*``, ``samp.msg.progress``, ``*``).
    """

    def __init__(self, allowed: Iterable[str] = DEFAULT_SAFE_MTYPES) -> None:
        self.allowed = tuple(allowed)

    def permits(self, mtype: str, annotation: Mapping[str, Any] | None) -> bool:
        """Return True if a restricted client may send ``mtype`` to a recipient.

        Parameters
        ----------
        mtype : str
            The exact MType being sent.
        annotation : Mapping or None
            The recipient's best-matching subscription annotation.
        """
        verdict = _harmless_flag(annotation)
        if verdict is not None:
            return verdict
        return any(matches(pattern, mtype) for pattern in self.allowed)

    def permits_pattern(self, pattern: str, annotation: Mapping[str, Any] | None) -> bool:
        """Return True if a subscription ``pattern`` should be visible to restricted clients.

        A wildcard pattern is visible only when an allowed pattern covers all
        of it (``table.load.*`` under ``table.*``), or when it is annotated
        as mostly harmless.
        """
        verdict = _harmless_flag(annotation)
        if verdict is not None:
            return verdict
        return any(_covers(allowed, pattern) for allowed in self.allowed)


def _harmless_flag(annotation: Mapping[str, Any] | None) -> bool | None:
    if not annotation:
        return None
    for key in _HARMLESS_KEYS:
        flag = annotation.get(key)
        if flag == "1":
            return True
        if flag == "0":
            return False
    return None


def _covers(allowed: str, pattern: str) -> bool:
    if allowed == "*":
        return True
    if pattern == "*":
        return False
    if pattern.endswith(".*"):
        return allowed.endswith(".*") and pattern.startswith(allowed[:-1])
    return matches(allowed, pattern)
