"""Sans-IO HTTP/1.1 framing on llhttp: requests and answers fed as bytes, and their bounds."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_samp.transport.framing import (
    CHUNK_LINE_ALLOWANCE,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    BodyTooLarge,
    FramingError,
    Request,
    RequestReader,
    ResponseReader,
)

NEXT = b"POST /next HTTP/1.1\r\nContent-Length: 0\r\n\r\n"


def _chunked(*chunks: bytes, trailers: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
    return body + b"0\r\n" + trailers + b"\r\n"


def _one(data: bytes, limit: int = 1000) -> Request:
    requests = RequestReader(limit).feed(data)
    assert len(requests) == 1
    return requests[0]


def _refused(data: bytes, limit: int = 1000) -> FramingError:
    with pytest.raises(FramingError) as caught:
        RequestReader(limit).feed(data)
    return caught.value


# ---------------------------------------------------------------- requests


def test_content_length_request() -> None:
    """Method, path, version, lower-case headers and body come out of a plain POST."""
    request = _one(b"POST /xmlrpc HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
    assert (request.method, request.path, request.version) == ("POST", "/xmlrpc", "1.1")
    assert request.headers == {"host": "h", "content-length": "3"}
    assert request.body == b"abc" and request.keep_alive and not request.too_big


def test_chunked_request_with_trailers() -> None:
    """A chunked body is joined; trailers are skipped."""
    data = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    request = _one(data + _chunked(b"ab", b"cde", trailers=b"X-Sum: 1\r\n"))
    assert request.body == b"abcde"


def test_repeated_headers_are_joined() -> None:
    """Repeated headers are joined with a comma, whatever their case."""
    request = _one(b"GET / HTTP/1.1\r\nVia: a\r\nvia: b\r\nVIA: c\r\n\r\n")
    assert request.headers["via"] == "a, b, c"


@pytest.mark.parametrize(
    ("target", "path"),
    [("/xmlrpc?x=1", "/xmlrpc"), ("http://127.0.0.1:5/xmlrpc?q", "/xmlrpc"), ("http://h", "/")],
)
def test_origin_and_absolute_form_targets_give_the_path(target: str, path: str) -> None:
    """An absolute-form target (RFC 9112 3.2.2) is accepted; the query is dropped."""
    assert _one(f"GET {target} HTTP/1.1\r\n\r\n".encode()).path == path


def test_http10_closes_unless_keep_alive() -> None:
    """HTTP/1.0 keeps the connection only when it asks to."""
    assert not _one(b"GET / HTTP/1.0\r\n\r\n").keep_alive
    assert _one(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive
    assert not _one(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive


def test_bare_lf_lines_are_accepted() -> None:
    """SAOImage DS9 ends its lines with LF alone (RFC 9112 2.2 allows it)."""
    request = _one(b"POST /xmlrpc HTTP/1.0\nContent-length: 2\n\nok")
    assert request.body == b"ok"


def test_pipelined_requests_come_out_in_order() -> None:
    """Several requests in one feed come out in order; a partial one waits."""
    reader = RequestReader(100)
    one = b"POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\na"
    done = reader.feed(one + one.replace(b"/a", b"/b") + b"POST /c HT")
    assert [r.path for r in done] == ["/a", "/b"] and reader.in_head
    assert [r.path for r in reader.feed(b"TP/1.1\r\nContent-Length: 0\r\n\r\n")] == ["/c"]
    assert not reader.in_message


def test_expect_continue_is_offered_once() -> None:
    """A client waiting for 100 Continue is told once, after the head."""
    reader = RequestReader(100)
    reader.feed(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert reader.take_continue() and not reader.take_continue()
    assert reader.feed(b"ok")[0].body == b"ok"


# ---------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("data", "status"),
    [
        # Only "chunked" framing: "xchunked" is not chunked, and gzip is not supported.
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        # Both framing headers: a smuggling attempt (RFC 9112 6.1). Refused, then closed.
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\na", 400),
        (b"POST / HTTP/1.1\r\nContent-Length : 1\r\n\r\na", 400),
        (b"POST / HTTP/1.1\r\nX: 1\r\rY: 2\r\n\r\n", 400),
        (b"POST / HTTP/2.0\r\n\r\n", 505),
        (b"BREW / HTTP/1.1\r\n\r\n", 405),
        (b"POST / HTTP/1.1\r\n" + b"X: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD_BYTES + 10), 431),
    ],
    ids=["xchunked", "gzip", "cl-and-te", "two-lengths", "signed-length", "space-in-name",
         "bare-cr-header", "http2", "unknown-method", "too-many-headers", "huge-head"],
)
def test_malformed_requests_are_refused_with_a_status(data: bytes, status: int) -> None:
    """What llhttp or our bounds refuse comes out as a FramingError with the status to answer."""
    assert _refused(data).status == status


def test_long_chunk_extension_is_refused() -> None:
    """A chunk-size line longer than its allowance is refused, even when it trickles in."""
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    line = b"1;" + b"e" * 5000 + b"\r\na\r\n0\r\n\r\n"
    assert _refused(head + line).status == 400
    reader = RequestReader(100)
    reader.feed(head + b"1;")
    with pytest.raises(FramingError, match="chunk"):
        for _ in range(2 * CHUNK_LINE_ALLOWANCE):
            reader.feed(b"e")


def test_short_chunk_extensions_are_accepted() -> None:
    """Extensions well within the allowance are fine, over many chunks."""
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"".join(b"1;name=value\r\nx\r\n" for _ in range(50)) + b"0\r\n\r\n"
    assert _one(head + body).body == b"x" * 50


def test_head_trickled_in_is_bounded() -> None:
    """A head that never ends is refused once it passes the limit, byte by byte or not."""
    reader = RequestReader(100)
    reader.feed(b"POST / HTTP/1.1\r\nX: ")
    with pytest.raises(FramingError) as caught:
        for _ in range(MAX_HEAD_BYTES // 1000 + 2):
            reader.feed(b"a" * 1000)
    assert caught.value.status == 431


def test_requests_completed_before_an_error_are_kept() -> None:
    """The error carries the requests that came whole before it, to answer first."""
    good = b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\na"
    error = _refused(good + b"BREW / HTTP/1.1\r\n\r\n")
    assert [r.body for r in error.completed] == [b"a"]


@pytest.mark.parametrize(
    "data",
    [
        b"POST / HTTP/1.1\r\nContent-Length: 20\r\n\r\n" + b"z" * 20,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(b"z" * 12, b"z" * 8),
    ],
    ids=["length", "chunked"],
)
def test_body_over_the_limit_is_read_and_dropped(data: bytes) -> None:
    """An oversized request body is read to its end, not kept, and marked too big."""
    reader = RequestReader(10)
    done = reader.feed(data + NEXT)
    assert done[0].too_big and done[0].body == b""
    assert done[1].path == "/next"


def test_body_over_the_limit_with_expect_continue_is_refused_at_once() -> None:
    """A client that waits for 100 Continue is refused at the head instead."""
    data = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n"
    assert isinstance(_refused(data, limit=10), BodyTooLarge)


# ---------------------------------------------------------------- answers


def test_answers_skip_interim_and_keep_alive() -> None:
    """Interim answers are skipped; keep-alive is read from the head."""
    reader = ResponseReader(100)
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    (answer,) = reader.feed(data)
    assert (answer.status, answer.body, answer.keep_alive) == (200, b"ok", True)


def test_no_content_answer_has_no_body() -> None:
    """204 has no body whatever its headers say."""
    (answer,) = ResponseReader(100).feed(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n")
    assert answer.status == 204 and answer.body == b""


def test_answer_until_close() -> None:
    """An answer with no length ends with the connection; one with a length cut short does not."""
    reader = ResponseReader(100)
    assert reader.feed(b"HTTP/1.0 200 OK\r\n\r\nsome") == []
    answer = reader.finish()
    assert answer is not None and answer.body == b"some" and not answer.keep_alive
    cut = ResponseReader(100)
    cut.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsome")
    assert cut.finish() is None


def test_answer_over_the_limit_fails_at_once() -> None:
    """An answer over the limit raises as soon as that is known."""
    with pytest.raises(BodyTooLarge):
        ResponseReader(10).feed(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")
    with pytest.raises(BodyTooLarge):
        ResponseReader(10).feed(b"HTTP/1.0 200 OK\r\n\r\n" + b"z" * 11)


# ---------------------------------------------------------------- properties

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_value = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)
_FRAMING = {"transfer-encoding", "content-length"}


@st.composite
def _requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bytes]:
    """A request (bytes), its expected headers and its body; CRLF or bare-LF, length or chunked."""
    extra = draw(st.dictionaries(_token.filter(lambda n: n not in _FRAMING), _value, max_size=4))
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
    body = b"".join(chunks)
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    if draw(st.booleans()):
        headers = {**extra, "transfer-encoding": "chunked"}
        payload = _chunked(*chunks)  # bare-LF chunk lines: nobody sends them
    else:
        headers = {**extra, "content-length": str(len(body))}
        payload = body
    lines = "".join(f"{name}: {value}{eol}" for name, value in headers.items())
    head = f"POST /xmlrpc HTTP/1.1{eol}{lines}{eol}".encode("latin-1")
    return head + payload, headers, body


def _feed_pieces(pieces: list[bytes]) -> list[tuple[str, dict[str, str], bytes]]:
    reader = RequestReader(10_000)
    done: list[Request] = []
    for piece in pieces:
        done += reader.feed(piece)
    return [(r.path, r.headers, r.body) for r in done]


@given(_requests(), st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
def test_split_feeding_gives_the_same_requests(
    message: tuple[bytes, dict[str, str], bytes], cuts: list[int]
) -> None:
    """Feeding requests split at arbitrary points gives the same result as feeding them whole."""
    data, headers, body = message
    data += NEXT
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in itertools.pairwise(points) if b > a]
    whole = _feed_pieces([data])
    assert _feed_pieces(pieces) == whole
    assert whole[0] == ("/xmlrpc", headers, body) and whole[1][0] == "/next"


@settings(max_examples=300)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_garbage_raises_only_framing_error(head_bytes: bytes, body_bytes: bytes) -> None:
    """Arbitrary bytes either frame messages or raise FramingError, nothing else."""
    for reader in (RequestReader(100), ResponseReader(100)):
        try:
            reader.feed(head_bytes + b"\r\n\r\n" + body_bytes)
        except FramingError as exc:
            assert 400 <= exc.status < 600


# ---------------------------------------------------------------- protocol upgrades

H2C = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"


def test_upgrade_without_a_body_is_read_as_plain_http() -> None:
    """``Upgrade`` is ignored (RFC 9110 7.8): the request comes out and the stream goes on."""
    done = RequestReader(100).feed(b"GET / HTTP/1.1\r\n" + H2C + b"\r\n" + NEXT)
    assert [r.path for r in done] == ["/", "/next"]
    assert done[0].headers["upgrade"] == "h2c" and done[0].keep_alive


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_upgrade_keeps_its_body_and_nothing_is_smuggled(chunked: bool) -> None:
    """Java's HttpClient sends its first POST with ``Upgrade: h2c``: the body is the request's.

    llhttp leaves that body unread; read as the next request, a body holding
    a request would have been served as one.
    """
    body = b"GET /smuggled HTTP/1.1\r\n\r\n"
    framing = (b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body[:10], body[10:]) if chunked
               else b"Content-Length: %d\r\n\r\n" % len(body) + body)
    data = b"POST /xmlrpc HTTP/1.1\r\n" + H2C + framing + NEXT
    for pieces in ([data], [data[:90], data[90:130], data[130:]]):
        reader = RequestReader(1000)
        done = [request for piece in pieces for request in reader.feed(piece)]
        assert [r.path for r in done] == ["/xmlrpc", "/next"]
        assert done[0].body == body and done[0].headers["upgrade"] == "h2c"
        assert done[0].method == "POST" and not reader.in_message


def test_upgrade_with_a_body_over_the_limit_is_read_and_dropped() -> None:
    """The body limit holds for an upgrade request's body too."""
    data = b"POST / HTTP/1.1\r\n" + H2C + b"Content-Length: 20\r\n\r\n" + b"x" * 20 + NEXT
    done = RequestReader(10).feed(data)
    assert done[0].too_big and done[0].body == b"" and done[1].path == "/next"


def test_connect_comes_out_as_a_request() -> None:
    """``CONNECT`` is no tunnel here: the server refuses its method like any other."""
    done = RequestReader(100).feed(b"CONNECT / HTTP/1.1\r\n\r\n" + NEXT)
    assert [(r.method, r.path) for r in done] == [("CONNECT", "/"), ("POST", "/next")]


def test_answer_switching_protocols_is_refused() -> None:
    """A peer answering 101 has left HTTP: that is an error, not an answer."""
    with pytest.raises(FramingError) as caught:
        ResponseReader(100).feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
                                 b"Connection: Upgrade\r\n\r\n\x00\x00\x12\x04")
    assert caught.value.completed == []


def test_interim_answer_before_junk_is_not_taken_for_the_answer() -> None:
    """Only final answers are listed as completed before an error."""
    with pytest.raises(FramingError) as caught:
        ResponseReader(100).feed(b"HTTP/1.1 100 Continue\r\n\r\n\x00junk")
    assert caught.value.completed == []


def test_bare_lf_chunk_lines_are_refused_at_once() -> None:
    """llhttp would wait forever after ``0\\n\\n``; a bare LF in chunked framing is refused."""
    head = b"POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n"
    assert _refused(head + b"3\nabc\n0\n\n").status == 400
    assert _one(head + _chunked(b"abc")).body == b"abc"  # a bare-LF head, CRLF chunks
