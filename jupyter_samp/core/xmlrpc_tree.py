"""The fast path of the XML-RPC decoder: expat builds a tree in C, Python walks it.

Calling a Python handler for every start tag, end tag and piece of text is
most of the cost of decoding a small SAMP message. Here ElementTree's C
builder makes the tree and a short walk turns it into values. The walk
knows only the canonical shapes that SAMP software writes (``<string>``,
``<struct>``, ``<array>``, bare text); on anything else (a typed scalar, a
DOCTYPE, an unknown element, malformed XML, an unusual encoding, deep
nesting) it gives up and returns None, and the strict event decoder in
:mod:`jupyter_samp.core.xmlrpc` decides, with its exact error messages. The
two agree on every input the fast path accepts (see the property tests).

ElementTree's C parser cannot be told to refuse entity declarations, and it
expands internal entities. So a hardened expat parser first reads the
prolog, up to the root element (:func:`~jupyter_samp.core.xmlsafe.check_prolog`):
a DTD can appear nowhere else, and a document with one never reaches
ElementTree. That parser is skipped only for the prolog every SAMP program
writes, matched whole from the first byte (:data:`PLAIN_PROLOG`): nothing but
an XML declaration in an encoding where each ASCII byte is that character,
white space, then the root's start tag. Such a prolog has no room for a DTD,
and what the pattern reads is exactly what expat reads; anything else, a
comment, a processing instruction or a byte-order mark included, goes to the
hardened parser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, NamedTuple

from jupyter_samp.core.values import MAX_DEPTH
from jupyter_samp.core.xmlsafe import check_prolog
from jupyter_samp.errors import ProtocolError

_SPACE = rb"[ \t\r\n]"
_ASCII_ENCODINGS = rb"(?i:utf-8|us-ascii|iso-8859-1)"

#: The whole of a plain prolog, from the first byte to the root's start tag.
PLAIN_PROLOG = re.compile(
    rb"(?:<\?xml" + _SPACE + rb"+version" + _SPACE + rb"*=" + _SPACE + rb"*(?:'1\.0'|\"1\.0\")"
    rb"(?:" + _SPACE + rb"+encoding" + _SPACE + rb"*=" + _SPACE + rb"*"
    rb"(?:'" + _ASCII_ENCODINGS + rb"'|\"" + _ASCII_ENCODINGS + rb"\"))?"
    + _SPACE + rb"*\?>)?" + _SPACE + rb"*<method(?:Call|Response)>"
)


class Decoded(NamedTuple):
    """What a body held: its root element, method name, values and whether it is a fault."""

    root: str
    method: str | None
    values: list[Any]
    is_fault: bool


class _Unusual(Exception):
    """The document is not in a canonical shape: leave it to the strict decoder."""


def decode_tree(body: bytes) -> Decoded | None:
    """Decode a canonical XML-RPC call or response, or return None to defer.

    Never raises: whatever goes wrong (a DTD, bad XML, an unknown encoding,
    anything unusual) returns None, and the strict decoder reports it.
    """
    if PLAIN_PROLOG.match(body) is None:
        try:
            check_prolog((body,))
        except ProtocolError:
            return None
    try:
        root = ET.XML(body)
        if root.tag == "methodCall":
            return _call(root)
        if root.tag == "methodResponse":
            return _response(root)
    except Exception:  # ParseError, _Unusual, codec errors: the strict decoder explains
        return None
    return None


def _call(root: ET.Element) -> Decoded:
    if len(root) not in (1, 2) or root[0].tag != "methodName" or len(root[0]):
        raise _Unusual()
    values = _params(root[1]) if len(root) == 2 else []
    return Decoded("methodCall", (root[0].text or "").strip(), values, False)


def _response(root: ET.Element) -> Decoded:
    if len(root) != 1:
        raise _Unusual()
    body = root[0]
    if body.tag == "params":
        return Decoded("methodResponse", None, _params(body), False)
    if body.tag == "fault" and len(body) == 1:
        return Decoded("methodResponse", None, [_value(body[0], 0)], True)
    raise _Unusual()


def _params(params: ET.Element) -> list[Any]:
    if params.tag != "params":
        raise _Unusual()
    values = []
    for param in params:
        if param.tag != "param" or len(param) != 1:
            raise _Unusual()
        values.append(_value(param[0], 0))
    return values


def _value(element: ET.Element, depth: int) -> Any:
    if element.tag != "value":
        raise _Unusual()
    if not len(element):
        return element.text or ""
    if len(element) != 1:
        raise _Unusual()
    child = element[0]
    tag = child.tag
    if tag == "string" and not len(child):
        return child.text or ""
    if depth >= MAX_DEPTH - 1:
        raise _Unusual()
    if tag == "struct":
        return _struct(child, depth)
    if tag == "array" and len(child) == 1 and child[0].tag == "data":
        return [_value(item, depth + 1) for item in child[0]]
    raise _Unusual()


def _struct(struct: ET.Element, depth: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for member in struct:
        if member.tag != "member" or len(member) != 2:
            raise _Unusual()
        name, value = member
        if name.tag != "name" or len(name):
            raise _Unusual()
        result[name.text or ""] = _value(value, depth + 1)
    return result
