"""Sans-IO HTTP/1.1 framing: heads, Content-Length and chunked bodies, fed as bytes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_samp.errors import ProtocolError
from jupyter_samp.transport.framing import MAX_HEAD_BYTES, BodyReader, Head, take_head

NEXT = b"POST /next HTTP/1.1\r\n\r\n"


def _read(data: bytes, limit: int = 1000) -> tuple[Head, BodyReader, bytearray]:
    """Take a head and a whole body from ``data``; return what is left too."""
    buffer = bytearray(data)
    head = take_head(buffer)
    assert head is not None
    reader = BodyReader(head.headers, limit)
    assert reader.feed(buffer)
    return head, reader, buffer


def _chunked(*chunks: bytes, trailers: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
    return body + b"0\r\n" + trailers + b"\r\n"


CHUNKED_HEAD = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"

# ---------------------------------------------------------------- heads


def test_incomplete_head_returns_none_and_keeps_the_bytes() -> None:
    """Until the blank line arrives nothing is taken from the buffer."""
    buffer = bytearray(b"POST /xmlrpc HTTP/1.1\r\nHost: x\r\n")
    assert take_head(buffer) is None
    assert buffer == b"POST /xmlrpc HTTP/1.1\r\nHost: x\r\n"


def test_head_is_split_and_removed_leaving_the_body() -> None:
    """Start line split in three, names lower-cased, values stripped, body left behind."""
    buffer = bytearray(b"POST /xmlrpc HTTP/1.1\r\nHost:  a:1 \r\nContent-TYPE: x/y\r\n\r\nBODY")
    head = take_head(buffer)
    assert head == Head(("POST", "/xmlrpc", "HTTP/1.1"), {"host": "a:1", "content-type": "x/y"})
    assert buffer == b"BODY"


def test_status_line_reason_keeps_its_spaces() -> None:
    """A status line splits into version, code and the whole reason phrase."""
    head = take_head(bytearray(b"HTTP/1.1 404 Not Found Here\r\n\r\n"))
    assert head is not None and head.start == ("HTTP/1.1", "404", "Not Found Here")


def test_bare_lf_head_is_accepted() -> None:
    """Lines ended by LF alone parse like CRLF lines."""
    buffer = bytearray(b"GET / HTTP/1.1\nHost: h\nAccept: */*\n\nrest")
    head = take_head(buffer)
    assert head == Head(("GET", "/", "HTTP/1.1"), {"host": "h", "accept": "*/*"})
    assert buffer == b"rest"


def test_bare_lf_head_followed_by_crlf_head_ends_at_its_own_blank_line() -> None:
    """A pipelined CRLF request after a bare-LF one does not swallow the first head."""
    buffer = bytearray(b"POST / HTTP/1.1\nContent-Length: 2\n\nabPOST /x HTTP/1.1\r\n\r\n")
    head = take_head(buffer)
    assert head == Head(("POST", "/", "HTTP/1.1"), {"content-length": "2"})
    assert buffer == b"ab" + b"POST /x HTTP/1.1\r\n\r\n"


def test_blank_line_before_the_head_is_skipped() -> None:
    """A stray CRLF before a request line is tolerated (RFC 9112 2.2)."""
    head = take_head(bytearray(b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"))
    assert head == Head(("GET", "/", "HTTP/1.1"), {"host": "h"})


def test_repeated_headers_are_joined_with_comma() -> None:
    """Repeated names, in any case, join their values in order."""
    head = take_head(bytearray(b"GET / HTTP/1.1\r\nVia: a\r\nX: 1\r\nvia: b\r\nVIA: c\r\n\r\n"))
    assert head is not None and head.headers == {"via": "a, b, c", "x": "1"}


def test_empty_header_value_is_kept() -> None:
    """A header with an empty value is present with value ""."""
    head = take_head(bytearray(b"GET / HTTP/1.1\r\nX-Empty:\r\n\r\n"))
    assert head is not None and head.headers == {"x-empty": ""}


@pytest.mark.parametrize(
    "line",
    [b"no colon here", b": no name", b"Name : space before colon", b" folded: continuation"],
)
def test_bad_header_line_raises(line: bytes) -> None:
    """A header line without a colon, a name, or with spaces around the name is refused."""
    with pytest.raises(ProtocolError, match="bad HTTP header line"):
        take_head(bytearray(b"GET / HTTP/1.1\r\nHost: h\r\n" + line + b"\r\n\r\n"))


def test_oversized_incomplete_head_raises() -> None:
    """More than MAX_HEAD_BYTES without a blank line is refused before it completes."""
    buffer = bytearray(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES)
    with pytest.raises(ProtocolError, match="larger than"):
        take_head(buffer)


def test_oversized_complete_head_raises() -> None:
    """A complete head longer than MAX_HEAD_BYTES is refused too."""
    buffer = bytearray(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n")
    with pytest.raises(ProtocolError, match="larger than"):
        take_head(buffer)


def test_head_at_the_size_limit_is_accepted() -> None:
    """A head of exactly MAX_HEAD_BYTES (before the blank line) still parses."""
    start = b"GET / HTTP/1.1\r\nX: "
    buffer = bytearray(start + b"a" * (MAX_HEAD_BYTES - len(start)) + b"\r\n\r\n")
    head = take_head(buffer)
    assert head is not None and len(head.headers["x"]) == MAX_HEAD_BYTES - len(start)


@pytest.mark.parametrize(
    ("version", "connection", "expected"),
    [
        ("HTTP/1.1", None, True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Keep-Alive, Close", False),
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "Keep-Alive", True),
        ("HTTP/1.0", "close", False),
    ],
)
def test_keep_alive_follows_version_and_connection_header(
    version: str, connection: str | None, expected: bool
) -> None:
    """HTTP/1.1 persists unless ``close``; HTTP/1.0 only with ``keep-alive``."""
    headers = {} if connection is None else {"connection": connection}
    assert Head(("POST", "/", version), headers).keep_alive(version) is expected


# ---------------------------------------------------------------- Content-Length bodies


def test_content_length_body_leaves_following_bytes() -> None:
    """Exactly Content-Length bytes are taken; the next request stays in the buffer."""
    _, reader, rest = _read(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" + NEXT)
    assert reader.done and reader.body == b"hello" and not reader.too_big
    assert rest == NEXT


def test_content_length_body_arrives_in_pieces() -> None:
    """feed() returns False until the last byte arrives, keeping what it has."""
    reader = BodyReader({"content-length": "6"}, 100)
    assert not reader.feed(bytearray(b"abc"))
    assert not reader.done and reader.body == b"abc"
    assert reader.feed(bytearray(b"def"))
    assert reader.body == b"abcdef"


def test_request_without_length_has_empty_body() -> None:
    """A request with neither framing header has no body at all."""
    reader = BodyReader({}, 100)
    buffer = bytearray(NEXT)
    assert reader.done and reader.feed(buffer) and reader.body == b""
    assert buffer == NEXT


def test_zero_content_length_is_done_at_once() -> None:
    """Content-Length: 0 is complete before any byte is fed."""
    assert BodyReader({"content-length": "0"}, 100).done


@pytest.mark.parametrize("value", ["abc", "-1", "5, 5", "1e3", "0x10", "\u00b2", ""])
def test_bad_content_length_raises(value: str) -> None:
    """A Content-Length that is not plain ASCII digits is refused (even '²')."""
    with pytest.raises(ProtocolError, match="Content-Length"):
        BodyReader({"content-length": value}, 100)


def test_answer_without_length_runs_until_close() -> None:
    """With until_close the body is everything until finish_at_close()."""
    reader = BodyReader({}, 100, until_close=True)
    assert not reader.feed(bytearray(b"part one, "))
    assert not reader.feed(bytearray(b"part two"))
    assert reader.finish_at_close()
    assert reader.done and reader.body == b"part one, part two"


def test_close_before_content_length_is_complete_is_not_done() -> None:
    """A close in the middle of a Content-Length body does not complete it."""
    reader = BodyReader({"content-length": "10"}, 100, until_close=True)
    reader.feed(bytearray(b"short"))
    assert not reader.finish_at_close()
    assert not reader.done


def test_too_big_content_length_is_consumed_and_dropped() -> None:
    """A body over the limit is read to its end, kept empty, and flagged too_big."""
    _, reader, rest = _read(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n0123456789X" + NEXT, 10)
    assert reader.done and reader.too_big and reader.body == b""
    assert rest == NEXT


def test_body_at_the_limit_is_not_too_big() -> None:
    """A body of exactly ``limit`` bytes is kept."""
    _, reader, _ = _read(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 10)
    assert not reader.too_big and reader.body == b"0123456789"


def test_too_big_until_close_body_is_dropped() -> None:
    """An answer running to the close is also dropped once over the limit."""
    reader = BodyReader({}, 4, until_close=True)
    reader.feed(bytearray(b"abc"))
    reader.feed(bytearray(b"de"))
    assert reader.finish_at_close() and reader.too_big and reader.body == b""


# ---------------------------------------------------------------- chunked bodies


def test_chunked_body_is_joined_and_leaves_following_bytes() -> None:
    """Chunks are joined; the bytes after the last chunk stay in the buffer."""
    _, reader, rest = _read(CHUNKED_HEAD + _chunked(b"hello ", b"chunked ", b"world") + NEXT)
    assert reader.body == b"hello chunked world"
    assert rest == NEXT


def test_chunked_wins_over_content_length() -> None:
    """With both framing headers the chunked coding is used."""
    reader = BodyReader({"transfer-encoding": "chunked", "content-length": "1"}, 100)
    assert reader.feed(bytearray(_chunked(b"abc")))
    assert reader.body == b"abc"


def test_chunk_sizes_in_upper_case_hex_with_extensions() -> None:
    """Hex sizes in either case, with ``;ext`` extensions and bare LF line ends."""
    reader = BodyReader({"transfer-encoding": "gzip, Chunked"}, 100)
    data = b"A;name=value\r\n0123456789\r\n1 ; x\n!\n0\r\n\r\n"
    assert reader.feed(bytearray(data))
    assert reader.body == b"0123456789!"


def test_trailers_are_skipped() -> None:
    """Trailer fields after the last chunk are read and dropped."""
    data = _chunked(b"abc", trailers=b"Checksum: 1234\r\nX-More: yes\r\n") + NEXT
    reader = BodyReader({"transfer-encoding": "chunked"}, 100)
    buffer = bytearray(data)
    assert reader.feed(buffer)
    assert reader.body == b"abc"
    assert buffer == NEXT


def test_chunked_body_waits_for_final_blank_line() -> None:
    """The body is not done until the blank line after the last chunk."""
    reader = BodyReader({"transfer-encoding": "chunked"}, 100)
    assert not reader.feed(bytearray(b"3\r\nabc\r\n0\r\n"))
    assert not reader.done
    assert reader.feed(bytearray(b"\r\n"))


@pytest.mark.parametrize("size", [b"zz", b"", b"-1", b"0x5", b"+5", b"1_0", b"5 5"])
def test_bad_chunk_size_raises(size: bytes) -> None:
    """A chunk size that is not plain hex digits is refused."""
    reader = BodyReader({"transfer-encoding": "chunked"}, 100)
    with pytest.raises(ProtocolError, match="bad chunk size"):
        reader.feed(bytearray(size + b"\r\nabcde\r\n0\r\n\r\n"))


def test_chunk_longer_than_its_size_raises() -> None:
    """Data running past a chunk's declared size is refused."""
    reader = BodyReader({"transfer-encoding": "chunked"}, 100)
    with pytest.raises(ProtocolError, match="longer than its declared size"):
        reader.feed(bytearray(b"3\r\nabcdef\r\n0\r\n\r\n"))


def test_endless_chunk_size_line_raises() -> None:
    """A chunk size line that never ends is refused once it is too long."""
    reader = BodyReader({"transfer-encoding": "chunked"}, 100)
    with pytest.raises(ProtocolError, match="too long"):
        reader.feed(bytearray(b"1" * 2000))


def test_too_big_chunked_body_is_consumed_and_dropped() -> None:
    """A chunked body over the limit is read to its end and flagged too_big."""
    data = CHUNKED_HEAD + _chunked(b"12345", b"67890", b"X") + NEXT
    _, reader, rest = _read(data, limit=10)
    assert reader.done and reader.too_big and reader.body == b""
    assert rest == NEXT


# ---------------------------------------------------------------- split feeding

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_value = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)


@st.composite
def _requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bytes]:
    """A request (bytes), its expected headers and its body; CRLF or bare-LF, length or chunked."""
    extra = draw(st.dictionaries(_token.filter(lambda n: n not in _FRAMING), _value, max_size=4))
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
    body = b"".join(chunks)
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    if draw(st.booleans()):
        headers = {**extra, "transfer-encoding": "chunked"}
        trailers = draw(st.sampled_from([b"", b"X-Sum: 1\r\n"]))
        payload = _chunked(*chunks, trailers=trailers)
    else:
        headers = {**extra, "content-length": str(len(body))}
        payload = body
    lines = "".join(f"{name}: {value}{eol}" for name, value in headers.items())
    head = f"POST /xmlrpc HTTP/1.1{eol}{lines}{eol}".encode("latin-1")
    return head + payload, headers, body


_FRAMING = {"transfer-encoding", "content-length"}


def _take_whole(data: bytes, pieces: list[bytes]) -> tuple[Head, bytes, bytes]:
    """Feed ``pieces`` one by one, as a connection would; return head, body and the rest."""
    buffer = bytearray()
    head: Head | None = None
    reader: BodyReader | None = None
    unread = list(pieces)
    while unread and (reader is None or not reader.done):
        buffer += unread.pop(0)
        if head is None:
            head = take_head(buffer)
            if head is None:
                continue
            reader = BodyReader(head.headers, 10_000)
        assert reader is not None
        reader.feed(buffer)
    assert head is not None and reader is not None and reader.done
    return head, reader.body, bytes(buffer) + b"".join(unread)


@given(_requests(), st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
def test_split_feeding_gives_the_same_head_and_body(
    message: tuple[bytes, dict[str, str], bytes], cuts: list[int]
) -> None:
    """Feeding a request split at arbitrary points gives the same result as feeding it whole."""
    data, headers, body = message
    data += NEXT
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in itertools.pairwise(points) if b > a]
    whole = _take_whole(data, [data])
    split = _take_whole(data, pieces)
    assert split == whole
    assert whole[0].headers == headers and whole[1] == body and whole[2] == NEXT


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_garbage_raises_only_protocol_error(head_bytes: bytes, body_bytes: bytes) -> None:
    """Arbitrary bytes either frame a message or raise ProtocolError, nothing else."""
    buffer = bytearray(head_bytes + b"\r\n\r\n" + body_bytes)
    try:
        head = take_head(buffer)
        assert head is not None
        for headers in (head.headers, {"transfer-encoding": "chunked"}):
            BodyReader(headers, 100, until_close=True).feed(bytearray(body_bytes))
    except ProtocolError:
        pass
