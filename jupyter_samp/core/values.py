"""SAMP values: strings, lists and maps, and the scalar conventions on strings.

SAMP has exactly three types: ``string`` (7-bit printable ASCII plus TAB, LF
and CR), ``list`` and ``map`` (string keys). Numbers and booleans travel as
strings by convention; the helpers here encode and decode them strictly on
output and leniently on input, as the standard's reference implementation does.
"""

from __future__ import annotations

import math
import re
from typing import Any

from jupyter_samp.errors import InvalidValueError

#: Deepest nesting accepted anywhere; deeper values are refused rather than
#: risking the interpreter's recursion limit.
MAX_DEPTH = 64

_BAD_CHAR = re.compile(r"[^\t\n\r\x20-\x7f]")
_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")

SampValue = Any  # str | list[SampValue] | dict[str, SampValue]


def check_string(text: str, where: str = "value") -> None:
    """Raise unless ``text`` holds only characters SAMP strings may carry.

    Raises
    ------
    InvalidValueError
        Naming the first bad character and where it was found.
    """
    bad = _BAD_CHAR.search(text)
    if bad is not None:
        char = bad.group()
        raise InvalidValueError(
            f"Bad SAMP string in {where}: contains character 0x{ord(char):02x} "
            f"({char!r}); SAMP strings are 7-bit printable ASCII (escape other text, "
            f"e.g. percent-encode it in URLs)"
        )


def validate(value: Any, where: str = "value", depth: int = 0) -> None:
    """Check that ``value`` is a legal SAMP value: str, list or dict of them.

    Parameters
    ----------
    value : object
        The candidate value.
    where : str
        A path such as ``message.samp.params`` used in the error text.

    Raises
    ------
    InvalidValueError
        For ``None``, numbers, booleans, non-string keys, bad characters,
        or nesting deeper than :data:`MAX_DEPTH`.
    """
    if isinstance(value, str):
        check_string(value, where)
    elif isinstance(value, dict):
        _check_depth(depth, where)
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValueError(f"Bad SAMP map key {key!r} in {where}: keys are strings")
            check_string(key, f"a key of {where}")
            validate(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, (list, tuple)):
        _check_depth(depth, where)
        for index, item in enumerate(value):
            validate(item, f"{where}[{index}]", depth + 1)
    else:
        raise InvalidValueError(_type_complaint(value, where))


def _check_depth(depth: int, where: str) -> None:
    if depth >= MAX_DEPTH:
        raise InvalidValueError(f"SAMP value nested more than {MAX_DEPTH} levels deep at {where}")


def _type_complaint(value: Any, where: str) -> str:
    if value is None:
        return f"Bad SAMP value in {where}: None (leave the key out instead)"
    hint = ""
    if isinstance(value, (bool, int, float)):
        hint = " (encode numbers with encode_int/encode_float, booleans with encode_bool)"
    return f"Bad SAMP value in {where}: {type(value).__name__} {value!r}{hint}"


def is_valid(value: Any) -> bool:
    """Return True if ``value`` is a legal SAMP value (see :func:`validate`)."""
    try:
        validate(value)
    except InvalidValueError:
        return False
    return True


def encode_int(number: int) -> str:
    """Encode an integer as a SAMP int string.

    Raises
    ------
    InvalidValueError
        If ``number`` is not an integer (booleans are refused too).
    """
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidValueError(f"not an integer: {number!r}")
    return str(number)


def decode_int(text: Any, where: str = "value") -> int:
    """Decode a SAMP int string.

    Parameters
    ----------
    text : str
        The value received.
    where : str
        What the value is, for the error message.

    Raises
    ------
    InvalidValueError
        If ``text`` is not an optionally signed run of decimal digits.
    """
    if not isinstance(text, str) or not _INT.match(text):
        raise InvalidValueError(f"{where} is not a SAMP int: {text!r}")
    return int(text)


def encode_float(number: float) -> str:
    """Encode a finite number as a SAMP float string.

    Raises
    ------
    InvalidValueError
        For NaN, infinities and non-numbers, which SAMP floats cannot carry.
    """
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise InvalidValueError(f"not a number: {number!r}")
    if not math.isfinite(number):
        raise InvalidValueError(f"SAMP floats must be finite, got {number!r}")
    return repr(float(number))


def decode_float(text: str) -> float:
    """Decode a SAMP float string.

    Raises
    ------
    InvalidValueError
        If ``text`` does not follow the SAMP float grammar.
    """
    if not isinstance(text, str) or not _FLOAT.match(text):
        raise InvalidValueError(f"not a SAMP float: {text!r}")
    return float(text)


def encode_bool(flag: bool) -> str:
    """Encode a truth value as ``"1"`` or ``"0"``."""
    return "1" if flag else "0"


def decode_bool(text: Any) -> bool:
    """Decode a SAMP boolean leniently: any non-zero SAMP int is true, anything else false."""
    try:
        return decode_int(text) != 0
    except InvalidValueError:
        return False
