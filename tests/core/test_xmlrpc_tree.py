"""The fast tree decoder agrees with the strict event decoder, or defers to it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_samp.core.xmlrpc import (
    _decode_events,
    decode_call,
    encode_call,
    encode_fault,
    encode_response,
)
from jupyter_samp.core.xmlrpc_tree import PLAIN_PROLOG, Decoded, decode_tree
from jupyter_samp.core.xmlsafe import check_prolog

# Printable ASCII plus TAB, LF and CR: every character a SAMP string may hold.
samp_text = st.text(st.sampled_from([chr(c) for c in range(0x20, 0x7F)] + ["\t", "\n", "\r"]))
samp_values = st.recursive(
    samp_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(samp_text, inner, max_size=4),
    max_leaves=20,
)


def _strict(body: bytes) -> Decoded:
    decoder = _decode_events(body)
    return Decoded(decoder.root or "", decoder.method, decoder.values, decoder.is_fault)


@settings(max_examples=300, deadline=None)
@given(st.lists(samp_values, max_size=4), samp_text.filter(lambda t: t.strip() != ""))
def test_encoded_calls_take_the_fast_path_and_agree(params: list[Any], method: str) -> None:
    """Everything our encoder writes is read by the fast path, identically."""
    body = encode_call(method, params)
    fast = decode_tree(body)
    assert fast is not None
    assert fast == _strict(body)


@settings(max_examples=200, deadline=None)
@given(samp_values)
def test_encoded_responses_take_the_fast_path_and_agree(value: Any) -> None:
    """Responses too."""
    body = encode_response(value)
    assert decode_tree(body) == _strict(body)


def test_faults_take_the_fast_path_and_agree() -> None:
    """A fault's faultCode is an <int>: the fast path defers, the result is the same."""
    body = encode_fault(5, "no & <good>")
    assert decode_tree(body) is None
    assert _strict(body).is_fault


# Documents the fast path does not handle itself: typed scalars, DOCTYPEs
# (wherever they hide), strange elements, odd encodings and bad XML must all
# reach the strict decoder.
DEFERRED = [
    b"<methodCall><methodName>m</methodName><params><param><value><int>5</int></value>"
    b"</param></params></methodCall>",
    b"<!DOCTYPE x [<!ENTITY a 'b'>]><methodCall><methodName>&a;</methodName></methodCall>",
    b"<?x <method?><!DOCTYPE x [<!ENTITY a 'b'>]><methodCall><methodName>&a;</methodName>"
    b"</methodCall>",
    b"<!-- <method --><!DOCTYPE x><methodCall><methodName>m</methodName></methodCall>",
    "<!DOCTYPE x><methodCall><methodName>m</methodName></methodCall>".encode("utf-16"),
    b"<?xml version='1.0' encoding='x-no-such'?><methodCall><methodName>m</methodName>"
    b"</methodCall>",
    b"<methodCall><methodName>m</methodName><params><param><value><nil/></value>"
    b"</param></params></methodCall>",
    b"<methodCall><methodName>m</methodName><params><value>x</value></params></methodCall>",
    b"<methodCall><methodName>m</methodName><params><param><value><string>x",
    b"<methodCall><methodName>m</methodName><params><param><value><struct><member>"
    b"<value>x</value><name>n</name></member></struct></value></param></params></methodCall>",
    b"<?xml version='1.0'?><other/>",
]


@pytest.mark.parametrize("body", DEFERRED, ids=lambda b: repr(b[:40]))
def test_unusual_documents_are_left_to_the_strict_decoder(body: bytes) -> None:
    """The fast path returns None rather than guessing."""
    assert decode_tree(body) is None


def test_comments_and_processing_instructions_before_the_root_agree() -> None:
    """A prolog without a DTD is read by the fast path, as the strict decoder reads it."""
    body = (
        b"<?xml version='1.0'?><!-- hi --><?pi x?>\n"
        b"<methodCall><methodName>m</methodName></methodCall>"
    )
    fast = decode_tree(body)
    assert fast is not None and fast == _strict(body)


def test_deep_nesting_is_left_to_the_strict_decoder() -> None:
    """Depth limits and their error messages stay with the strict decoder."""
    value: Any = "x"
    for _ in range(70):
        value = [value]
    body = b"".join(
        [b"<methodCall><methodName>m</methodName><params><param>"]
        + [b"<value><array><data>"] * 70
        + [b"<value>x</value>"]
        + [b"</data></array></value>"] * 70
        + [b"</param></params></methodCall>"]
    )
    assert decode_tree(body) is None
    with pytest.raises(Exception, match="nested"):
        decode_call(body)


def test_whitespace_and_bare_strings_agree() -> None:
    """Indented documents and untyped values read the same both ways."""
    body = (
        b"<?xml version='1.0'?>\n<methodCall>\n <methodName> samp.hub.ping </methodName>\n"
        b" <params>\n  <param>\n   <value>  bare  </value>\n  </param>\n"
        b"  <param><value>\n <struct>\n <member>\n <name>k</name>\n <value><string> v </string>"
        b"</value>\n </member>\n </struct>\n </value></param>\n </params>\n</methodCall>\n"
    )
    fast = decode_tree(body)
    assert fast is not None and fast == _strict(body)
    assert fast.method == "samp.hub.ping"
    assert fast.values == ["  bare  ", {"k": " v "}]


PROLOG_PIECES = st.lists(st.sampled_from([
    b"<?xml version='1.0'?>", b'<?xml version="1.0" encoding="UTF-8"?>',
    b"<?xml version='1.0' encoding='utf-16'?>", b" ", b"\n", b"\t", b"<!-- c -->",
    b"<?pi <methodCall>?>", b"<!DOCTYPE methodCall>", b'<!ENTITY a "b">', b"\xef\xbb\xbf",
    b"<!DOCTYPE m [<!ENTITY a 'b'>]>", b"]>", b"<methodCall>",
]), max_size=5)


@settings(max_examples=400)
@given(PROLOG_PIECES)
def test_a_prolog_skips_the_hardened_parser_only_when_it_holds_no_declarations(
        pieces: list[bytes]) -> None:
    """What the plain-prolog pattern accepts has no DTD, comment, PI or BOM before the root."""
    body = b"".join(pieces) + b"<methodCall><methodName>m</methodName></methodCall>"
    match = PLAIN_PROLOG.match(body)
    if match is not None:
        prolog = body[: match.end() - len(b"<methodCall>")]
        assert b"<!" not in prolog and b"\xef" not in prolog
        assert prolog.count(b"<?") <= 1 and (not prolog.strip() or prolog.lstrip() == prolog)
        assert b"utf-16" not in prolog.lower()
        check_prolog((body,))  # the hardened parser agrees: nothing to refuse


@pytest.mark.parametrize("prolog", [
    b"<?x <methodCall>?><!DOCTYPE a [<!ENTITY e 'x'>]>",
    b"<?xml version='1.0' encoding='UTF-16'?>",
    b"\xef\xbb\xbf",
    b"<!-- <methodCall> -->",
    b"<?xml version='1.0'?><!DOCTYPE methodCall [<!ENTITY e 'x'>]>",
])
def test_tricky_prologs_go_to_the_hardened_parser(prolog: bytes) -> None:
    assert PLAIN_PROLOG.match(prolog + b"<methodCall>") is None
