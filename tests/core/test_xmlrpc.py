"""The XML-RPC codec: strict output, tolerant input, refusals, faults."""

from __future__ import annotations

import xmlrpc.client
from typing import Any

import pytest

from jupyter_samp.core.values import MAX_DEPTH
from jupyter_samp.core.xmlrpc import (
    Fault,
    decode_call,
    decode_response,
    encode_call,
    encode_fault,
    encode_response,
)
from jupyter_samp.errors import InvalidValueError, ProtocolError

EVERY_LEGAL = "".join(chr(c) for c in [0x09, 0x0A, 0x0D, *range(0x20, 0x80)])

SAMPLES: list[Any] = [
    "",
    "plain",
    EVERY_LEGAL,
    "<tag> & ]]> &amp; &#13; \"quotes\" 'apos'",
    "\r",
    "line1\r\nline2\rline3\n",
    "  leading and trailing spaces  ",
    "\t\n",
    [],
    {},
    {"": ""},
    ["a", ["b", ["c"]], {"d": {"e": []}}],
    {"samp.mtype": "test.echo", "samp.params": {"x": ["1", "2"], "y": {}}, "test.wait": "0"},
    [str(i) for i in range(10000)],
]


def _call(*values: str) -> bytes:
    params = "".join(f"<param>{value}</param>" for value in values)
    return (
        f"<?xml version='1.0'?><methodCall><methodName>m</methodName>"
        f"<params>{params}</params></methodCall>"
    ).encode()


def _response(value: str) -> bytes:
    return (
        f"<?xml version='1.0'?><methodResponse><params><param>{value}</param>"
        f"</params></methodResponse>"
    ).encode()


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: repr(v)[:40])
def test_call_round_trip(value: Any) -> None:
    method, params = decode_call(encode_call("samp.hub.notify", ["key", value]))
    assert method == "samp.hub.notify"
    assert params == ["key", value]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: repr(v)[:40])
def test_response_round_trip(value: Any) -> None:
    assert decode_response(encode_response(value)) == value


def test_round_trip_through_the_standard_library_parser() -> None:
    value = {"s": EVERY_LEGAL, "l": ["", "x"], "m": {"k": "v"}}
    params, method = xmlrpc.client.loads(encode_call("m", [value]))
    assert method == "m"
    assert params == (value,)


def test_cr_is_written_as_a_character_reference() -> None:
    body = encode_response("a\rb")
    assert b"&#13;" in body
    assert b"\r" not in body
    assert decode_response(body) == "a\rb"


def test_tuples_encode_as_lists() -> None:
    assert decode_response(encode_response(("a", ("b",)))) == ["a", ["b"]]


def test_output_uses_only_string_array_struct() -> None:
    body = encode_call("m", [{"a": ["b", {"c": "d"}]}]).decode()
    for refused in ("<int>", "<i4>", "<double>", "<boolean>", "<nil", "<base64>", "<dateTime"):
        assert refused not in body


@pytest.mark.parametrize("value", [None, 1, 1.5, True, b"x", {1: "a"}], ids=repr)
def test_encoding_refuses_non_samp_values(value: Any) -> None:
    with pytest.raises(InvalidValueError):
        encode_call("m", [value])
    with pytest.raises(InvalidValueError):
        encode_response({"k": value})


def test_encoding_refuses_too_deep_values() -> None:
    value: Any = "x"
    for _ in range(MAX_DEPTH + 1):
        value = [value]
    with pytest.raises(InvalidValueError, match="nested"):
        encode_response(value)


# ---------------------------------------------------------------- tolerant input


def test_bare_value_is_a_string() -> None:
    assert decode_call(_call("<value>bare text</value>"))[1] == ["bare text"]
    assert decode_call(_call("<value></value>"))[1] == [""]
    assert decode_call(_call("<value>  spaced  </value>"))[1] == ["  spaced  "]
    assert decode_call(_call("<value>a&amp;b&#13;</value>"))[1] == ["a&b\r"]


def test_bare_values_inside_arrays_and_structs() -> None:
    body = _call(
        "<value><array><data><value>x</value><value><string>y</string></value>"
        "</data></array></value>",
        "<value><struct><member><name>k</name><value>v</value></member></struct></value>",
    )
    assert decode_call(body)[1] == [["x", "y"], {"k": "v"}]


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ("<int>42</int>", "42"),
        ("<int> -7 </int>", "-7"),
        ("<i4>0</i4>", "0"),
        ("<i8>12345678901</i8>", "12345678901"),
        ("<double>1.5</double>", "1.5"),
        ("<double>-2</double>", "-2.0"),
        ("<boolean>1</boolean>", "1"),
        ("<boolean>0</boolean>", "0"),
    ],
)
def test_typed_scalars_become_samp_strings(element: str, expected: str) -> None:
    assert decode_call(_call(f"<value>{element}</value>"))[1] == [expected]


@pytest.mark.parametrize(
    "element", ["<int>x</int>", "<double>abc</double>", "<boolean>yes</boolean>"]
)
def test_malformed_typed_scalars_are_refused(element: str) -> None:
    with pytest.raises(ProtocolError, match="bad"):
        decode_call(_call(f"<value>{element}</value>"))


@pytest.mark.parametrize(
    "element",
    [
        "<nil/>",
        "<base64>eHl6</base64>",
        "<dateTime.iso8601>20240101T00:00:00</dateTime.iso8601>",
        "<float>1</float>",
        "<ex:nil xmlns:ex='http://ws.apache.org/xmlrpc/namespaces/extensions'/>",
    ],
)
def test_non_samp_types_are_refused(element: str) -> None:
    with pytest.raises(ProtocolError):
        decode_call(_call(f"<value>{element}</value>"))


def test_doctype_is_refused() -> None:
    body = (
        b"<?xml version='1.0'?><!DOCTYPE methodCall [<!ENTITY x 'boom'>]>"
        b"<methodCall><methodName>m</methodName><params><param><value>&x;</value>"
        b"</param></params></methodCall>"
    )
    with pytest.raises(ProtocolError, match="DOCTYPE"):
        decode_call(body)


def test_billion_laughs_is_refused() -> None:
    entities = "".join(f"<!ENTITY l{i} '{('&l' + str(i - 1) + ';') * 10}'>" for i in range(1, 10))
    body = (
        f"<?xml version='1.0'?><!DOCTYPE m [<!ENTITY l0 'ha'>{entities}]>"
        f"<methodCall><methodName>m</methodName><params><param><value>&l9;</value>"
        f"</param></params></methodCall>"
    ).encode()
    with pytest.raises(ProtocolError):
        decode_call(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<methodCall><methodName>m</methodName><params>",
        b"<methodCall><methodName>m</methodName></methodCall><extra/>",
        b"<methodCall><methodName>m</methodName><params><param><value>a\x01b</value>"
        b"</param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value>&#1;</value>"
        b"</param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value>\xff\xfe</value>"
        b"</param></params></methodCall>",
    ],
    ids=["empty", "text", "truncated", "two-roots", "raw-control", "control-ref", "bad-utf8"],
)
def test_malformed_xml_is_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed XML"):
        decode_call(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<methodResponse><params/></methodResponse>",
        b"<methodCall><params/></methodCall>",
        b"<methodCall><methodName></methodName><params/></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><struct><member>"
        b"<value>v</value></member></struct></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><frob/></value>"
        b"</param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><string>x</string>"
        b"</param></params></methodCall>",
    ],
    ids=[
        "response-as-call",
        "no-name",
        "empty-name",
        "member-without-name",
        "unknown-element",
        "scalar-outside-value",
    ],
)
def test_bad_call_structure_is_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_call(body)


def test_non_samp_character_in_decoded_text_is_left_to_validation() -> None:
    # The codec decodes any XML character; SAMP's character rules are
    # checked by core.values where the error can say where the value was.
    body = _call("<value><string>caf\u00e9\u0085</string></value>")
    assert decode_call(body)[1] == ["caf\u00e9\u0085"]


def _deep(levels: int) -> str:
    return "<value><array><data>" * levels + "<value>x</value>" + "</data></array></value>" * levels


def test_moderate_nesting_is_accepted() -> None:
    assert decode_call(_call(_deep(10)))[1][0] is not None


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    with pytest.raises(ProtocolError, match="nested"):
        decode_call(_call(_deep(MAX_DEPTH + 10)))
    with pytest.raises(ProtocolError, match="nested"):
        decode_call(_call(_deep(100_000)))


def test_duplicate_struct_members_keep_the_last() -> None:
    body = _call(
        "<value><struct><member><name>k</name><value>1</value></member>"
        "<member><name>k</name><value>2</value></member></struct></value>"
    )
    assert decode_call(body)[1] == [{"k": "2"}]


def test_whitespace_between_elements_is_ignored() -> None:
    body = b"""<?xml version="1.0"?>
<methodCall>
  <methodName> samp.hub.ping </methodName>
  <params>
    <param>
      <value>
        <struct>
          <member>
            <name>k</name>
            <value><string>v</string></value>
          </member>
        </struct>
      </value>
    </param>
  </params>
</methodCall>
"""
    assert decode_call(body) == ("samp.hub.ping", [{"k": "v"}])


def test_call_without_params_element() -> None:
    assert decode_call(b"<methodCall><methodName>samp.hub.ping</methodName></methodCall>") == (
        "samp.hub.ping",
        [],
    )


def test_response_with_bare_value() -> None:
    assert decode_response(_response("<value>ok</value>")) == "ok"


def test_response_must_hold_exactly_one_value() -> None:
    with pytest.raises(ProtocolError):
        decode_response(b"<methodResponse><params></params></methodResponse>")
    with pytest.raises(ProtocolError):
        decode_response(
            b"<methodResponse><params><param><value>a</value></param>"
            b"<param><value>b</value></param></params></methodResponse>"
        )
    with pytest.raises(ProtocolError):
        decode_response(b"<methodCall><methodName>m</methodName></methodCall>")


# ---------------------------------------------------------------- faults


def test_fault_has_exactly_an_int_code_and_a_string() -> None:
    body = encode_fault(3204, 'No registered client with ID "c9" & <more>\r')
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(body)
    assert caught.value.faultCode == 3204
    assert caught.value.faultString == 'No registered client with ID "c9" & <more>\r'
    text = body.decode()
    assert text.count("<member>") == 2
    assert "<name>faultCode</name><value><int>3204</int></value>" in text
    assert "<name>faultString</name><value><string>" in text


def test_fault_round_trip() -> None:
    assert decode_response(encode_fault(1, "Bad secret")) == Fault(1, "Bad secret")


def test_foreign_faults_decode_leniently() -> None:
    body = (
        b"<methodResponse><fault><value><struct>"
        b"<member><name>faultCode</name><value><i4>5</i4></value></member>"
        b"<member><name>faultString</name><value>bare text</value></member>"
        b"</struct></value></fault></methodResponse>"
    )
    assert decode_response(body) == Fault(5, "bare text")
    odd = (
        b"<methodResponse><fault><value><struct>"
        b"<member><name>faultCode</name><value><string>x</string></value></member>"
        b"</struct></value></fault></methodResponse>"
    )
    assert decode_response(odd) == Fault(1, "unknown fault")


def test_fault_that_is_not_a_struct_is_refused() -> None:
    with pytest.raises(ProtocolError):
        decode_response(b"<methodResponse><fault><value>oops</value></fault></methodResponse>")


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"a\x01b", "0x01"),
        (b"&#1;", "0x01"),
        (b"&#x1F;", "0x1f"),
        (b"x\x0b", "0x0b"),
        (b"\xe9t\xe9", "0xe9"),
    ],
    ids=["raw-soh", "decimal-ref", "hex-ref", "raw-vt", "latin-1-byte"],
)
def test_malformed_xml_error_names_the_character(content: bytes, named: str) -> None:
    with pytest.raises(ProtocolError, match=f"malformed XML.*character {named}"):
        decode_call(_call("<value>" + "{}" + "</value>").replace(b"{}", content))


def test_other_xml_errors_do_not_blame_a_character() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_call(b"<methodCall><methodName>m</methodName></methodCall><junk/>")
    assert "character" not in str(caught.value)


def test_answers_seen_before_decode_the_same_and_the_memory_is_bounded() -> None:
    from jupyter_samp.core import xmlrpc as codec

    empty = encode_response("")
    assert decode_response(empty) == "" and decode_response(empty) == ""
    assert codec._KNOWN_ANSWERS[empty] == ""
    fault = encode_fault(1, "no")
    for _ in range(2):
        assert isinstance(decode_response(fault), codec.Fault)
    assert fault not in codec._KNOWN_ANSWERS
    assert decode_response(encode_response({"a": "b"})) == {"a": "b"}  # not kept: mutable
    for n in range(3 * codec._KNOWN_ANSWERS_MAX):
        assert decode_response(encode_response(f"answer {n}")) == f"answer {n}"
    assert len(codec._KNOWN_ANSWERS) <= codec._KNOWN_ANSWERS_MAX
    with pytest.raises(ProtocolError):
        decode_response(b"<methodResponse><params></params></methodResponse>")
