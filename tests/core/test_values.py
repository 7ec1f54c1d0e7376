"""SAMP values: the legal character set, types, nesting, and scalar encodings."""

from __future__ import annotations

import math

import pytest

from jupyter_samp.core.values import (
    MAX_DEPTH,
    check_string,
    decode_bool,
    decode_float,
    decode_int,
    encode_bool,
    encode_float,
    encode_int,
    is_valid,
    validate,
)
from jupyter_samp.errors import InvalidValueError

LEGAL = [0x09, 0x0A, 0x0D, *range(0x20, 0x80)]
ILLEGAL = [c for c in range(0x00, 0x20) if c not in (0x09, 0x0A, 0x0D)] + [
    0x80,
    0x85,
    0x9F,
    0xA0,
    0xE9,
    0xFF,
    0x2028,
    0xFFFD,
    0x1F600,
]


@pytest.mark.parametrize("code", LEGAL, ids=lambda c: f"0x{c:02x}")
def test_every_legal_character_is_accepted(code: int) -> None:
    text = f"a{chr(code)}b"
    check_string(text)
    validate({text: [text]})
    assert is_valid(text)


def test_all_legal_characters_in_one_string() -> None:
    everything = "".join(chr(c) for c in LEGAL)
    validate({"k": everything, everything: everything})


@pytest.mark.parametrize("code", ILLEGAL, ids=lambda c: f"0x{c:02x}")
def test_illegal_characters_are_refused_and_named(code: int) -> None:
    text = f"ok{chr(code)}"
    with pytest.raises(InvalidValueError, match=f"0x{code:02x}"):
        check_string(text)
    assert not is_valid(text)
    assert not is_valid({"key": text})
    assert not is_valid({text: "value"})
    assert not is_valid([["x", text]])


def test_error_says_where_the_bad_character_is() -> None:
    with pytest.raises(InvalidValueError, match=r"message\.samp\.params\.name.*0xe9"):
        validate({"samp.params": {"name": "caf\u00e9"}}, "message")
    with pytest.raises(InvalidValueError, match=r"a key of .*0x01"):
        validate({"bad\x01key": ""})


def test_empty_strings_lists_and_maps_are_legal() -> None:
    validate("")
    validate([])
    validate({})
    validate({"": ""})
    validate({"": [{}, [], ""]})
    validate(("a", "b"))  # a tuple is a list


@pytest.mark.parametrize(
    "value",
    [None, 0, 1, -5, 1.5, float("nan"), True, False, b"bytes", object(), {1, 2}],
    ids=repr,
)
def test_non_samp_types_are_refused(value: object) -> None:
    with pytest.raises(InvalidValueError):
        validate(value)
    with pytest.raises(InvalidValueError):
        validate({"k": value})
    with pytest.raises(InvalidValueError):
        validate(["ok", value])


def test_none_refusal_explains_what_to_do() -> None:
    with pytest.raises(InvalidValueError, match=r"None.*leave the key out"):
        validate({"k": None})


def test_number_refusal_points_at_the_encoders() -> None:
    with pytest.raises(InvalidValueError, match="encode_int"):
        validate({"k": 3})
    with pytest.raises(InvalidValueError, match="encode_bool"):
        validate({"k": True})


@pytest.mark.parametrize("key", [1, None, ("a",), True], ids=repr)
def test_non_string_map_keys_are_refused(key: object) -> None:
    with pytest.raises(InvalidValueError, match="key"):
        validate({key: "v"})


def _nested(levels: int, leaf: object = "x") -> object:
    value = leaf
    for index in range(levels):
        value = [value] if index % 2 else {"k": value}
    return value


def test_nesting_up_to_the_limit_is_accepted() -> None:
    validate(_nested(MAX_DEPTH))


def test_nesting_beyond_the_limit_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="nested more than"):
        validate(_nested(MAX_DEPTH + 1))
    with pytest.raises(InvalidValueError, match="nested more than"):
        validate(_nested(10 * MAX_DEPTH))


def test_self_referencing_value_is_refused_not_a_crash() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(InvalidValueError):
        validate(loop)


# ---------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("number", "text"), [(0, "0"), (1, "1"), (-17, "-17"), (10**30, str(10**30))]
)
def test_int_round_trip(number: int, text: str) -> None:
    assert encode_int(number) == text
    assert decode_int(text) == number


@pytest.mark.parametrize("text", ["+5", "-0", "007"])
def test_int_decoding_accepts_sign_and_leading_zeros(text: str) -> None:
    assert decode_int(text) == int(text)


@pytest.mark.parametrize(
    "text", ["", " 1", "1 ", "1_000", "0x10", "1.0", "1e3", "+", "-", "\u0661", "one"]
)
def test_int_decoding_is_strict(text: str) -> None:
    with pytest.raises(InvalidValueError):
        decode_int(text)


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None])
def test_int_encoding_refuses_non_integers(value: object) -> None:
    with pytest.raises(InvalidValueError):
        encode_int(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("number", [0.0, 1.5, -2.25, 1e-300, 1.7976931348623157e308, 3, 0.1])
def test_float_round_trip(number: float) -> None:
    text = encode_float(number)
    assert decode_float(text) == number
    assert "inf" not in text and "nan" not in text


@pytest.mark.parametrize(
    ("text", "number"),
    [("1", 1.0), ("1.", 1.0), (".5", 0.5), ("-.5", -0.5), ("+2.5e3", 2500.0), ("1E-2", 0.01)],
)
def test_float_grammar_forms(text: str, number: float) -> None:
    assert decode_float(text) == number


@pytest.mark.parametrize(
    "text",
    ["", ".", "e5", "1e", "1.5.2", "nan", "NaN", "inf", "-Infinity", " 1.0", "1_0.0", "0x1p3"],
)
def test_float_decoding_is_strict(text: str) -> None:
    with pytest.raises(InvalidValueError):
        decode_float(text)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "1.0", None])
def test_float_encoding_refuses_non_finite_and_non_numbers(value: object) -> None:
    with pytest.raises(InvalidValueError):
        encode_float(value)  # type: ignore[arg-type]


def test_bool_encoding() -> None:
    assert encode_bool(True) == "1"
    assert encode_bool(False) == "0"


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("1", True),
        ("0", False),
        ("2", True),
        ("-1", True),
        ("+0", False),
        ("007", True),
        ("true", False),
        ("", False),
        ("yes", False),
        (" 1", False),
        (None, False),
        (1, False),
    ],
)
def test_bool_decoding_is_lenient_like_jsamp(text: object, flag: bool) -> None:
    assert decode_bool(text) is flag
