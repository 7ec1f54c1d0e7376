# ruff: noqa: RUF002 (Greek letters are the subject here)
"""Readable ASCII renderings of names, for the SAMP strings that carry them.

SAMP strings hold only 7-bit ASCII, while astronomers name things
"θ¹ Ori C" or "Hα flux". A VOTable carries such text faithfully (it is
UTF-8), in the table's name and its column names; the ``name`` parameter
of a load message, a SAMP string, gets a rendering that stays readable:
"θ¹ Ori C ✓" becomes "theta1 Ori C".
"""

from __future__ import annotations

import unicodedata

#: Words that Unicode names of Greek letters use, as astronomers spell them.
_GREEK_SPELLING = {"lamda": "lambda"}


def ascii_label(text: str) -> str:
    """A readable ASCII rendering of ``text`` (ASCII text comes back unchanged).

    Accents are dropped (é -> e), compatibility forms unfolded (¹ -> 1),
    Greek letters spelled out (α -> alpha, Θ -> Theta), dashes made
    hyphens (– -> -); other characters
    with no rendering (✓) are left out, and the spaces they leave collapsed.
    """
    if text.isascii():
        return text
    pieces = [_render(char) for char in unicodedata.normalize("NFKD", text)]
    return " ".join("".join(pieces).split())


def _render(char: str) -> str:
    if char.isascii():
        return char if char.isprintable() or char in "\t\n" else ""
    if unicodedata.combining(char):
        return ""  # the accent of a letter already rendered
    name = unicodedata.name(char, "")
    if name.startswith("GREEK ") and " LETTER " in name:
        word = name.rsplit(" ", 1)[-1].lower()
        word = _GREEK_SPELLING.get(word, word)
        return word.capitalize() if " CAPITAL " in name else word
    if char.isspace():
        return " "
    if unicodedata.category(char) == "Pd":
        return "-"  # en and em dashes, minus-like hyphens
    return ""
