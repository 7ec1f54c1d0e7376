"""DTDs and entities are refused by expat itself, wherever they hide, in every decoder.

Each attack is tried on the fast path (:func:`decode_tree` must defer), the
strict decoder, the public decoders (a :class:`ProtocolError` saying a DTD
is not allowed), and the VOTable reader (an :class:`InvalidValueError`).
"""

from __future__ import annotations

import io
import resource
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_samp.core.xmlrpc import (
    _decode_events,
    decode_call,
    decode_response,
    encode_call,
    encode_response,
)
from jupyter_samp.core.xmlrpc_tree import Decoded, decode_tree
from jupyter_samp.core.xmlsafe import check_prolog
from jupyter_samp.data.codecs.decode import read_votable
from jupyter_samp.errors import InvalidValueError, ProtocolError

CALL = "<methodCall><methodName>samp.hub.ping</methodName><params><param><value>{}</value>" \
       "</param></params></methodCall>"


def _laughs(levels: int = 10, fan: int = 10) -> str:
    """The classic billion-laughs DTD: ``&l{levels-1};`` expands to fan**levels 'lol's."""
    entities = "".join(
        f"<!ENTITY l{i} '{('&l' + str(i - 1) + ';') * fan}'>" for i in range(1, levels)
    )
    return f"<!DOCTYPE methodCall [<!ENTITY l0 'lol'>{entities}]>"


BOMB = _laughs() + CALL.format("&l9;")
ATTACKS = {
    "pi-before-doctype": "<?x <method?><!DOCTYPE x [<!ENTITY e 'AAAA'>]>" + CALL.format("&e;"),
    "comment-before-doctype": "<!-- <method --><!DOCTYPE x [<!ENTITY e 'A'>]>"
    + CALL.format("&e;"),
    "whitespace-before-doctype": "<?xml version='1.0'?>\n\n  <!DOCTYPE x [<!ENTITY e 'A'>]>"
    + CALL.format("&e;"),
    "billion-laughs": BOMB,
    "pi-before-billion-laughs": "<?x <methodCall?>" + BOMB,
    "external-entity": "<!DOCTYPE x [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
    + CALL.format("&x;"),
    "external-dtd": "<!DOCTYPE x SYSTEM 'file:///etc/passwd'>" + CALL.format("a"),
    "public-dtd": "<!DOCTYPE x PUBLIC '-//x//y' 'http://127.0.0.1:9/x.dtd'>" + CALL.format("a"),
    "parameter-entity": "<!DOCTYPE x [<!ENTITY % p SYSTEM 'file:///etc/passwd'> %p;]>"
    + CALL.format("a"),
    "parameter-entity-internal": "<!DOCTYPE x [<!ENTITY % p '<!ENTITY e \"A\">'> %p;]>"
    + CALL.format("&e;"),
    "unparsed-entity": "<!DOCTYPE x [<!NOTATION n SYSTEM 'n'><!ENTITY u SYSTEM 'u' NDATA n>]>"
    + CALL.format("a"),
    "empty-doctype": "<!DOCTYPE x>" + CALL.format("a"),
}


def _bodies() -> list[tuple[str, bytes]]:
    """Every attack as UTF-8, UTF-8 with a BOM, and UTF-16 (both byte orders, with BOM)."""
    out = []
    for name, text in ATTACKS.items():
        out.append((name, text.encode()))
        out.append((name + "-bom", b"\xef\xbb\xbf" + text.encode()))
        out.append((name + "-utf16le", b"\xff\xfe" + text.encode("utf-16-le")))
        out.append((name + "-utf16be", b"\xfe\xff" + text.encode("utf-16-be")))
    return out


BODIES = _bodies()


@pytest.mark.parametrize(("name", "body"), BODIES, ids=[name for name, _ in BODIES])
def test_dtds_are_refused_everywhere(name: str, body: bytes) -> None:
    assert decode_tree(body) is None
    with pytest.raises(ProtocolError, match=r"DTD .* is not allowed"):
        _decode_events(body)
    with pytest.raises(ProtocolError, match=r"DTD .* is not allowed"):
        decode_call(body)
    with pytest.raises(ProtocolError, match=r"DTD .* is not allowed"):
        decode_response(body)


def test_billion_laughs_costs_nothing() -> None:
    """Refused as soon as the DOCTYPE starts: no time, no memory, nothing expanded."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    for _ in range(100):
        with pytest.raises(ProtocolError, match="DTD"):
            decode_call(("<?x <methodCall?>" + BOMB).encode())
    assert time.perf_counter() - started < 1.0
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 50_000


def test_an_entity_declaration_alone_is_refused_by_its_own_handler() -> None:
    """Belt and braces: the entity handlers refuse too, not only the DOCTYPE one."""
    from xml.parsers import expat

    from jupyter_samp.core.xmlsafe import harden

    parser = harden(expat.ParserCreate())
    parser.StartDoctypeDeclHandler = None  # as if the DOCTYPE had been let through
    with pytest.raises(ProtocolError, match=r"entity declaration .*e.* is not allowed"):
        parser.Parse(b"<!DOCTYPE x [<!ENTITY e 'A'>]><x>&e;</x>", True)


def test_prolog_check_reads_only_up_to_the_root() -> None:
    """What follows the root's start tag is not the guard's business (nor parsed)."""
    check_prolog([b"<?xml version='1.0'?><!-- c -->", b"<root>", b"\x00 not even XML"])
    with pytest.raises(ProtocolError, match="DTD"):
        check_prolog([b"<?x y?><!DOC", b"TYPE r><r/>"])
    with pytest.raises(ProtocolError, match="malformed"):
        check_prolog([b""])


# ---------------------------------------------------------------- odd inputs


def _declared(encoding: str) -> bytes:
    return f"<?xml version='1.0' encoding='{encoding}'?>{CALL.format('a')}".encode()


ODD = {
    "unknown-encoding": _declared("x-no-such"),
    "utf-32-declared": _declared("utf-32"),
    "utf-32-encoded": ("<?xml version='1.0' encoding='utf-32'?>" + CALL.format("a")).encode(
        "utf-32"
    ),
    "not-a-text-codec": _declared("base64"),
    "utf-7": _declared("utf-7"),
    "idna": _declared("idna"),
    "unicode-escape": _declared("unicode_escape"),
    "nul-byte": CALL.format("a\x00b").encode(),
    "nul-only": b"\x00" * 64,
    "utf-16-odd-length": b"\xff\xfe" + CALL.format("a").encode("utf-16-le")[:-1],
    "bom-then-garbage": b"\xef\xbb\xbf\xff\xfe",
    "undefined-entity": CALL.format("&x;").encode(),
    "deep-unknown": (b"<methodCall>" + b"<x>" * 100_000 + b"</x>" * 100_000 + b"</methodCall>"),
    "deep-values": (
        b"<methodCall><methodName>m</methodName><params><param>"
        + b"<value><array><data>" * 10_000
        + b"</data></array></value>" * 10_000
        + b"</param></params></methodCall>"
    ),
    "deep-unclosed": b"<methodCall>" + b"<value>" * 100_000,
    "many-attributes": (
        b"<methodCall "
        + b" ".join(b"a%d='x'" % i for i in range(100_000))
        + b"><methodName>m</methodName></methodCall>"
    ),
    "duplicate-attributes": b"<methodCall a='1' a='2'><methodName>m</methodName></methodCall>",
}


@pytest.mark.parametrize("body", ODD.values(), ids=ODD.keys())
def test_odd_inputs_decode_or_raise_protocol_error(body: bytes) -> None:
    assert _outcome(decode_call, body) in ("ok", "refused")
    assert _outcome(decode_response, body) in ("ok", "refused")


@pytest.mark.parametrize(
    "encoding", ["x-no-such", "utf-32", "base64", "utf-7", "idna", "unicode_escape"]
)
def test_unreadable_encodings_say_so(encoding: str) -> None:
    with pytest.raises(ProtocolError, match="encoding"):
        decode_call(_declared(encoding))


def test_many_attributes_are_ignored_quickly() -> None:
    started = time.perf_counter()
    assert decode_call(ODD["many-attributes"]) == ("m", [])
    assert time.perf_counter() - started < 2.0


def test_utf16_documents_without_a_dtd_are_read() -> None:
    text = "<?xml version='1.0' encoding='utf-16'?>" + CALL.format("a")
    assert decode_call(text.encode("utf-16")) == ("samp.hub.ping", ["a"])


def _outcome(decoder: Any, body: bytes) -> str:
    """'ok' or 'refused' (ProtocolError); any other exception fails the test."""
    try:
        decoder(body)
    except ProtocolError as exc:
        assert str(exc), "a ProtocolError must say what was wrong"
        return "refused"
    return "ok"


# ---------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=400, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
samp_text = st.text(st.sampled_from([chr(c) for c in range(0x20, 0x7F)] + ["\t", "\n"]))
samp_values = st.recursive(
    samp_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(samp_text, inner, max_size=3),
    max_leaves=10,
)
PIECES = [
    "<methodCall>", "</methodCall>", "<methodResponse>", "</methodResponse>", "<methodName>",
    "</methodName>", "<params>", "</params>", "<param>", "</param>", "<value>", "</value>",
    "<string>", "</string>", "<struct>", "</struct>", "<member>", "</member>", "<name>",
    "</name>", "<array>", "</array>", "<data>", "</data>", "<int>", "</int>", "<fault>",
    "</fault>", "<nil/>", "<?xml version='1.0'?>", "<?x <method?>", "<!-- c -->",
    "<!DOCTYPE m>", "<!DOCTYPE m [<!ENTITY e 'x'>]>", "<!ENTITY e 'x'>", "&e;", "&amp;",
    "&#13;", "&#0;", "<![CDATA[x]]>", "x", " ", "\n", "\x00", "\ufeff", "é", "<", ">", "&",
    "<?xml version='1.0' encoding='x-no-such'?>", "<?xml version='1.0' encoding='utf-16'?>",
]
xmlish = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)
encodings = st.sampled_from(["utf-8", "utf-16", "utf-16-le", "latin-1", "utf-32"])


def _strict(body: bytes) -> Decoded:
    decoder = _decode_events(body)
    return Decoded(decoder.root or "", decoder.method, decoder.values, decoder.is_fault)


def _agree(body: bytes) -> None:
    """Decodes or raises ProtocolError; if the fast path accepts, the strict decoder agrees."""
    fast = decode_tree(body)
    try:
        strict = _strict(body)
    except ProtocolError:
        assert fast is None, f"fast path accepted what the strict decoder refuses: {body!r}"
        strict = None
    if fast is not None:
        assert fast == strict
    _outcome(decode_call, body)
    _outcome(decode_response, body)


@FUZZ
@given(text=xmlish, encoding=encodings)
def test_random_xmlish_documents(text: str, encoding: str) -> None:
    _agree(text.encode(encoding, errors="replace"))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(body: bytes) -> None:
    _agree(body)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A valid call or response with a few bytes changed, inserted or deleted."""
    if draw(st.booleans()):
        body = bytearray(encode_call(draw(samp_text) or "m", draw(st.lists(samp_values,
                                                                        max_size=3))))
    else:
        body = bytearray(encode_response(draw(samp_values)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["set", "insert", "delete"]))
        if action == "insert":
            piece = draw(st.sampled_from(PIECES)).encode()
            body[at:at] = piece
        elif at < len(body):
            if action == "set":
                body[at] = draw(st.integers(0, 255))
            else:
                del body[at]
    return bytes(body)


@FUZZ
@given(_mutated())
def test_mutated_valid_messages(body: bytes) -> None:
    _agree(body)


# ---------------------------------------------------------------- VOTable

TABLE = (
    "<VOTABLE version='1.4'><RESOURCE><TABLE name='{}'><FIELD name='a' datatype='int'/>"
    "<DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
)
VOTABLE_ATTACKS = {
    "internal-entity": "<!DOCTYPE VOTABLE [<!ENTITY e 'EXPANDED'>]>" + TABLE.format("&e;"),
    "pi-before-doctype": "<?x <VOTABLE?><!DOCTYPE VOTABLE [<!ENTITY e 'X'>]>"
    + TABLE.format("&e;"),
    "billion-laughs": _laughs().replace("methodCall", "VOTABLE") + TABLE.format("&l9;"),
    "external-entity": "<!DOCTYPE VOTABLE [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
    + TABLE.format("&x;"),
    "parameter-entity": "<!DOCTYPE VOTABLE [<!ENTITY % p SYSTEM 'file:///etc/passwd'> %p;]>"
    + TABLE.format("t"),
}


@pytest.mark.parametrize("text", VOTABLE_ATTACKS.values(), ids=VOTABLE_ATTACKS.keys())
@pytest.mark.parametrize("form", ["bytes", "utf-16", "file", "gzip", "path"])
def test_votables_with_dtd_declarations_are_refused(
    text: str, form: str, tmp_path: Any
) -> None:
    import gzip

    body = text.encode("utf-16") if form == "utf-16" else text.encode()
    source: Any = body
    if form == "file":
        source = io.BytesIO(body)
    elif form == "gzip":
        source = gzip.compress(body)
    elif form == "path":
        source = tmp_path / "attack.xml"
        source.write_bytes(body)
    with pytest.raises(InvalidValueError, match=r"DTD .* is not allowed"):
        read_votable(source)


def test_votable_with_a_bare_external_dtd_is_read_without_fetching_it() -> None:
    """VOTable 1.0 documents name their DTD; it is never read (nothing listens there)."""
    text = "<!DOCTYPE VOTABLE SYSTEM 'http://127.0.0.1:9/VOTable.dtd'>" + TABLE.format("t")
    table = read_votable(text.encode())
    assert table.meta["name"] == "t"
    assert list(table["a"]) == [1]


def test_votable_from_an_unseekable_file_is_still_read() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    table = read_votable(Pipe(TABLE.format("t").encode()))
    assert list(table["a"]) == [1]
