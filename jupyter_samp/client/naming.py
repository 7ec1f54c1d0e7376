"""Find a connected application by the name a user types: ``"topcat"``, ``"ds9"``, ``"aladin"``.

Applications declare names of their own choosing (DS9 registers as
``SAOImageDS9``, Aladin as ``Aladin``, TOPCAT as ``topcat``). Users type
the names they know, so a name is tried in steps, and the first step that
finds anything decides:

1. the exact ``samp.name``;
2. the same, ignoring case;
3. a known alias (:data:`ALIASES`), ignoring case;
4. a part of the name, ignoring case (``"ds9"`` in ``"SAOImageDS9"``).

Several matches at the step that decides are ambiguous: the caller then asks
for the id, as :class:`~jupyter_samp.errors.AmbiguousClientError` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

V = TypeVar("V")

#: Names users type for applications that register under another one
#: (both sides compared case-insensitively).
ALIASES = {
    "ds9": "saoimageds9",
    "saods9": "saoimageds9",
    "aladin desktop": "aladin",
    "stil": "topcat",
}


def matching(target: str, views: Iterable[V], name_of: Callable[[V], str]) -> list[V]:
    """The applications ``target`` names, by the first step that finds any (see above).

    Parameters
    ----------
    target : str
        What the user typed.
    views : iterable
        The connected applications.
    name_of : callable
        Gives an application's ``samp.name``.

    Returns
    -------
    list
        One application, several (ambiguous), or none.
    """
    candidates = list(views)
    wanted = target.casefold()
    alias = ALIASES.get(wanted)
    steps: list[Callable[[str], bool]] = [
        lambda name: name == target,
        lambda name: name.casefold() == wanted,
        lambda name: alias is not None and name.casefold() == alias,
        lambda name: bool(wanted) and wanted in name.casefold(),
    ]
    for step in steps:
        found = [view for view in candidates if step(name_of(view))]
        if found:
            return found
    return []
