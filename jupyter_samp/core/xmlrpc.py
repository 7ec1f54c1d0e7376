"""An XML-RPC codec restricted to what SAMP carries.

Output is strict: only ``<string>``, ``<array>`` and ``<struct>`` values (plus
the ``<int>`` fault code XML-RPC requires), with CR written as ``&#13;`` so it
survives XML line-end normalisation. Input is tolerant where other
implementations are known to stray: bare ``<value>text</value>`` strings, and
``<int>``/``<i4>``/``<double>``/``<boolean>`` turned into their SAMP string
forms. Anything else (``<nil/>``, ``<base64>``, dates, a DOCTYPE or entity,
unknown elements, malformed XML, an encoding expat cannot read) raises
:class:`~jupyter_samp.errors.ProtocolError`, and nothing else ever comes out
of the decoders.

Decoding tries the fast tree walk of :mod:`jupyter_samp.core.xmlrpc_tree`
first; whatever it does not recognise goes through the strict event decoder
here, which is the reference for what is accepted and how errors read.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from xml.parsers import expat

from jupyter_samp.core.values import MAX_DEPTH
from jupyter_samp.core.xmlrpc_tree import Decoded, decode_tree
from jupyter_samp.core.xmlsafe import harden, parse_error
from jupyter_samp.errors import InvalidValueError, ProtocolError


class Fault(NamedTuple):
    """An XML-RPC fault: ``faultCode`` and ``faultString``."""

    code: int
    string: str


# ---------------------------------------------------------------- encoding

_PROLOG = "<?xml version='1.0'?>\n"


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _encode_value(value: Any, out: list[str], depth: int = 0) -> None:
    if isinstance(value, str):
        out.append("<value><string>")
        out.append(_escape(value))
        out.append("</string></value>")
    elif isinstance(value, dict):
        _check_depth(depth)
        out.append("<value><struct>")
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValueError(f"cannot encode map key {key!r}: keys are strings")
            out.append("<member><name>")
            out.append(_escape(key))
            out.append("</name>")
            _encode_value(item, out, depth + 1)
            out.append("</member>")
        out.append("</struct></value>")
    elif isinstance(value, (list, tuple)):
        _check_depth(depth)
        out.append("<value><array><data>")
        for item in value:
            _encode_value(item, out, depth + 1)
        out.append("</data></array></value>")
    else:
        raise InvalidValueError(f"cannot encode {type(value).__name__} {value!r} as a SAMP value")


def _check_depth(depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise InvalidValueError(f"value nested more than {MAX_DEPTH} levels deep")


def encode_call(method: str, params: list[Any] | tuple[Any, ...]) -> bytes:
    """Encode an XML-RPC ``methodCall``.

    Raises
    ------
    InvalidValueError
        If a parameter is not a SAMP value.
    """
    out = [_PROLOG, "<methodCall><methodName>", _escape(method), "</methodName><params>"]
    for param in params:
        out.append("<param>")
        _encode_value(param, out)
        out.append("</param>")
    out.append("</params></methodCall>\n")
    return "".join(out).encode("utf-8")


def encode_response(value: Any) -> bytes:
    """Encode a successful XML-RPC ``methodResponse`` holding one SAMP value.

    Raises
    ------
    InvalidValueError
        If ``value`` is not a SAMP value.
    """
    out = [_PROLOG, "<methodResponse><params><param>"]
    _encode_value(value, out)
    out.append("</param></params></methodResponse>\n")
    return "".join(out).encode("utf-8")


def encode_fault(code: int, message: str) -> bytes:
    """Encode an XML-RPC fault with exactly ``faultCode`` (int) and ``faultString``."""
    return (
        f"{_PROLOG}<methodResponse><fault><value><struct>"
        f"<member><name>faultCode</name><value><int>{int(code)}</int></value></member>"
        f"<member><name>faultString</name><value><string>{_escape(message)}</string>"
        f"</value></member></struct></value></fault></methodResponse>\n"
    ).encode()


# ---------------------------------------------------------------- decoding

_STRUCTURE = frozenset(
    {"methodCall", "methodName", "methodResponse", "params", "param", "fault", "data", "member"}
)
_SCALARS = frozenset({"string", "int", "i4", "i8", "double", "boolean"})
_REFUSED = frozenset({"nil", "base64", "dateTime.iso8601"})


class _ValueFrame:
    __slots__ = ("has", "result")

    def __init__(self) -> None:
        self.result: Any = None
        self.has = False


class _StructFrame:
    __slots__ = ("items", "name")

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.name: str | None = None


class _Decoder:
    """Builds Python values from expat events without recursion."""

    def __init__(self) -> None:
        self.method: str | None = None
        self.values: list[Any] = []
        self.is_fault = False
        self.root: str | None = None
        self._stack: list[Any] = [self.values]
        self._text: list[str] = []
        self._depth = 0

    def start(self, tag: str, attrs: Any) -> None:
        self._text = []
        if self.root is None:
            self.root = tag
        if tag == "value":
            self._depth += 1
            if self._depth > MAX_DEPTH + 2:
                raise ProtocolError(f"value nested more than {MAX_DEPTH} levels deep")
            self._stack.append(_ValueFrame())
        elif tag == "array":
            self._stack.append([])
        elif tag == "struct":
            self._stack.append(_StructFrame())
        elif tag == "fault":
            self.is_fault = True
        elif tag in _REFUSED:
            raise ProtocolError(f"XML-RPC type <{tag}> is not a SAMP type")
        elif tag not in _STRUCTURE and tag not in _SCALARS and tag != "name":
            raise ProtocolError(f"unexpected XML-RPC element <{tag}>")

    def chars(self, data: str) -> None:
        self._text.append(data)

    def end(self, tag: str) -> None:
        text = "".join(self._text)
        self._text = []
        top = self._stack[-1]
        if tag in _SCALARS:
            self._set(top, _scalar(tag, text))
        elif tag == "value":
            self._end_value(text)
        elif tag == "name":
            if not isinstance(top, _StructFrame):
                raise ProtocolError("<name> outside a struct member")
            top.name = text
        elif tag in ("array", "struct"):
            self._stack.pop()
            done = top.items if isinstance(top, _StructFrame) else top
            self._set(self._stack[-1], done)
        elif tag == "methodName":
            self.method = text.strip()

    def _end_value(self, text: str) -> None:
        frame = self._stack.pop()
        self._depth -= 1
        result = frame.result if frame.has else text
        parent = self._stack[-1]
        if isinstance(parent, list):
            parent.append(result)
        elif isinstance(parent, _StructFrame):
            if parent.name is None:
                raise ProtocolError("struct <member> without a <name>")
            parent.items[parent.name] = result
            parent.name = None
        else:
            raise ProtocolError("misplaced <value>")

    @staticmethod
    def _set(frame: Any, value: Any) -> None:
        if not isinstance(frame, _ValueFrame):
            raise ProtocolError("typed element outside a <value>")
        frame.result = value
        frame.has = True


def _scalar(tag: str, text: str) -> Any:
    if tag == "string":
        return text
    stripped = text.strip()
    try:
        if tag == "double":
            return repr(float(stripped))
        if tag == "boolean":
            return "1" if int(stripped) else "0"
        return str(int(stripped))
    except ValueError as exc:
        raise ProtocolError(f"bad <{tag}> content {stripped!r}") from exc


#: Bodies up to this size are decoded through an element tree (the fast path);
#: larger ones by the event decoder. The tree is built in one C call that
#: holds the GIL throughout, and makes an object per tag for the garbage
#: collector to scan again and again: for 15 MB, seconds during which no
#: other thread (the event loop, when a server decodes in a worker) can run.
#: The event decoder makes only the values, and lets other threads in.
TREE_LIMIT = 256 * 1024


def _decode(body: bytes) -> Decoded:
    """Decode with the fast path (small bodies), else the strict decoder.

    Raises
    ------
    ProtocolError
        For every failure, whatever its cause: servers answer a fault for a
        ProtocolError, and callers of the hub expect only package errors.
    """
    try:
        fast = decode_tree(body) if len(body) <= TREE_LIMIT else None
        if fast is not None:
            return fast
        decoder = _decode_events(body)
    except ProtocolError:
        raise
    except Exception as exc:  # a bug here must still give the peer an answer
        raise ProtocolError(f"undecodable XML-RPC: {type(exc).__name__}: {exc}") from exc
    return Decoded(decoder.root or "", decoder.method, decoder.values, decoder.is_fault)


def _decode_events(body: bytes) -> _Decoder:
    """The strict decoder: every expat event through :class:`_Decoder`.

    Raises
    ------
    ProtocolError
        For every failure: bad XML, a DTD or entity (refused by expat's own
        handlers, see :func:`~jupyter_samp.core.xmlsafe.harden`), an encoding
        expat cannot read, or content that is not SAMP XML-RPC.
    """
    decoder = _Decoder()
    parser = harden(expat.ParserCreate())
    parser.StartElementHandler = decoder.start
    parser.EndElementHandler = decoder.end
    parser.CharacterDataHandler = decoder.chars
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        culprit = _culprit(body, parser.ErrorByteIndex)
        raise ProtocolError(f"malformed XML: {exc}{culprit}") from exc
    except ProtocolError:
        raise
    except Exception as exc:  # an unknown encoding: LookupError or ValueError
        raise parse_error(exc) from exc
    return decoder


_CHAR_REF = re.compile(rb"&#(?:x([0-9a-fA-F]+)|([0-9]+));")


def _culprit(body: bytes, index: int) -> str:
    """Name the character expat stopped at if it is one no SAMP string may hold.

    XML 1.0 cannot carry most control characters at all, so a client that
    sends one gets an XML error; saying which character it was helps.
    """
    if not 0 <= index < len(body):
        return ""
    reference = _CHAR_REF.match(body, index)
    if reference is not None:
        digits = reference.group(1) or reference.group(2)
        code = int(digits, 16 if reference.group(1) else 10)
    else:
        code = body[index]
    if code in (0x09, 0x0A, 0x0D) or 0x20 <= code <= 0x7F:
        return ""
    return (
        f" (at character 0x{code:02x}: SAMP strings may hold only printable 7-bit "
        f"ASCII, TAB, LF and CR)"
    )


def decode_call(body: bytes) -> tuple[str, list[Any]]:
    """Decode an XML-RPC ``methodCall`` into its method name and parameters.

    Raises
    ------
    ProtocolError
        If the body is not well-formed XML-RPC restricted to SAMP types.
    """
    decoder = _decode(body)
    if decoder.root != "methodCall" or not decoder.method:
        raise ProtocolError("not an XML-RPC methodCall with a methodName")
    return decoder.method, decoder.values


#: Small answers that held one string, by their exact bytes. A client
#: answers every ``receiveNotification``, ``receiveCall`` and
#: ``receiveResponse`` with the same few bytes (an empty value, mostly), and
#: the hub delivers thousands a second: decoding is a function of the bytes
#: alone, so an answer seen before is not parsed again. Bounded: when full it
#: is emptied, so a peer sending ever new answers only costs itself decoding.
_KNOWN_ANSWERS: dict[bytes, str] = {}
_KNOWN_ANSWERS_MAX = 64
_KNOWN_ANSWER_SIZE = 512


def decode_response(body: bytes) -> Any:
    """Decode an XML-RPC ``methodResponse``.

    Returns
    -------
    object or Fault
        The single returned value, or a :class:`Fault` if the call failed.

    Raises
    ------
    ProtocolError
        If the body is not a well-formed methodResponse.
    """
    known = _KNOWN_ANSWERS.get(body)
    if known is not None:
        return known
    value = _decode_response(body)
    if isinstance(value, str) and len(body) <= _KNOWN_ANSWER_SIZE:
        if len(_KNOWN_ANSWERS) >= _KNOWN_ANSWERS_MAX:
            _KNOWN_ANSWERS.clear()
        _KNOWN_ANSWERS[body] = value
    return value


def _decode_response(body: bytes) -> Any:
    decoder = _decode(body)
    if decoder.root != "methodResponse":
        raise ProtocolError("not an XML-RPC methodResponse")
    if len(decoder.values) != 1:
        raise ProtocolError(f"methodResponse holds {len(decoder.values)} values, expected 1")
    value = decoder.values[0]
    if decoder.is_fault:
        return _fault(value)
    return value


def _fault(value: Any) -> Fault:
    if not isinstance(value, dict):
        raise ProtocolError("XML-RPC fault is not a struct")
    try:
        code = int(value.get("faultCode", "1"))
    except ValueError:
        code = 1
    return Fault(code, str(value.get("faultString", "unknown fault")))
