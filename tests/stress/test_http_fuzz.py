"""Property-based fuzzing of the hub's HTTP ports with raw bytes on a socket.

``test_fuzz.py`` fuzzes XML-RPC bodies through :mod:`http.client` and
``tests/transport/test_framing.py`` the sans-IO reader; here hypothesis
writes the bytes themselves (request lines, header sets, body framing,
bare LF, truncations, pipelined pairs) and sends them to the running hub's
Standard Profile port (our llhttp server) and its Web Profile port (tornado).

The property: a complete request always gets a well-formed answer, either
200 (for a POST, with an XML-RPC result or a fault that says what was wrong)
or a 4xx/5xx with a reason. The server may close after an answer that says
so, or after an error, but never closes a complete request unanswered and
never leaves one waiting: every read has a deadline, and running into it
fails the case. A request cut short is followed by a half-close, after which
the server must close cleanly. After each batch the hub still serves a
well-behaved client.
"""

from __future__ import annotations

import contextlib
import re
import socket
import xmlrpc.client
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_samp.core.xmlrpc import Fault, decode_response
from tests.web.webrpc import PAGE_ORIGIN

from .conftest import ThreadedHub
from .test_fuzz import assert_healthy

#: Seconds a case may wait for an answer or a close; past it the case fails as a hang.
DEADLINE = 5.0
#: Bytes of a head that tornado reads before giving up without an answer (its default).
TORNADO_MAX_HEAD = 65536
#: Bytes of a chunk size line tornado reads before giving up without an answer.
TORNADO_MAX_CHUNK_LINE = 64

STANDARD = settings(max_examples=600, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
WEB = settings(STANDARD, max_examples=200)


# ---------------------------------------------------------------- the requests


@dataclass(frozen=True)
class Sent:
    """One generated request: its bytes, and what a conforming server owes for it.

    Attributes
    ----------
    data : bytes
        The request as sent.
    method : str
        The method token as sent (a ``HEAD`` answer has no body).
    complete : bool
        Whether enough was sent that the server must answer (or refuse) it
        without waiting for more.
    exact : bool
        Whether its framing ends exactly where ``data`` ends, so that a
        request sent after it is read as a request of its own.
    """

    data: bytes
    method: str
    complete: bool = True
    exact: bool = True


@dataclass(frozen=True)
class Body:
    """The body as framed on the wire, and whether that framing is sound."""

    headers: list[str]
    data: bytes
    complete: bool = True
    exact: bool = True


@dataclass(frozen=True)
class Port:
    """What the generators need to know about the server under test.

    ``tornado`` marks the Web Profile: tornado closes without an answer when a
    head or a chunk size line passes its read limit, and waits for CRLF on a
    chunk line, so those cases are left out there (see docs/stress.rst).
    """

    port: int
    paths: tuple[str, ...]
    call: bytes
    tornado: bool = False


METHODS = ["POST", "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT",
           "PRI", "PROPFIND", "M-SEARCH", "post", "Post", "POSTX", "P\x00ST", "\xffPOST", "G T",
           ""]
VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/9.9", "HTTP/1.",
            "HTTP/11", "http/1.1", "HTTPS/1.1", "HTTP/1.1 x", "HTTP/1.1\x00", ""]
HEADER_NAMES = ["Host", "Content-Type", "Connection", "Expect", "Upgrade", "Origin", "Accept",
                "User-Agent", "Keep-Alive", "Cookie", "Referer", "Access-Control-Request-Method",
                "Access-Control-Request-Private-Network", "HTTP2-Settings", "X-Samp", "TE",
                "Trailer", "Content-Encoding", "Bad Name", "Bad\x00Name", "\xffName", "X@Y", ""]
#: Headers that real clients send together and that change how a request is handled.
HEADER_SETS = [
    ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"],
    ["Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13"],
    ["Connection: close"], ["Connection: keep-alive"], ["Expect: 100-continue"],
    [f"Origin: {PAGE_ORIGIN}"], [f"Origin: {PAGE_ORIGIN}", "Access-Control-Request-Method: POST"],
]
HEADER_VALUES = ["close", "keep-alive", "Upgrade", "upgrade", "Upgrade, HTTP2-Settings", "h2c",
                 "websocket", "100-continue", "127.0.0.1", "localhost", "evil.example", "null",
                 PAGE_ORIGIN, "text/xml", "gzip", "chunked", "POST", "true", "AAMAAABkAAQAAP__",
                 "a\x00b", "\xe9t\xe9", "", " ", "\t"]
CHUNK_SIZES_BAD = ["zz", "-1", "", " 5", "5 ", "0x5", "+5", "f" * 20, "5\x00"]
CHUNK_EXTENSIONS = ["", ";a=b", ";a", ';a="q"', "; a = b", ";", ";a=\"open", ";a=b c", ";\x00",
                    ";" + "e" * 2000]
TRANSFER_CODINGS = ["chunked", "Chunked", "CHUNKED", " chunked", "chunked ", "gzip", "xchunked",
                    "chunked, gzip", "gzip, chunked", "identity", "chunked;q=1", "chunked\x00",
                    "chunked, chunked", ""]
LENGTHS_BAD = ["abc", "-1", "+5", "5 5", "0x10", "1e3", "", "9" * 25, "5\x00"]


def _text(value: str) -> bytes:
    return value.encode("latin-1", "replace")


def mostly(draw: st.DrawFn, usual: Any, unusual: st.SearchStrategy[Any], one_in: int = 3) -> Any:
    """``usual``, or one time in ``one_in`` a draw of ``unusual``.

    Most parts of a request stay sound so that each case has few flaws
    (and a failing case shrinks towards a sound request).
    """
    return usual if draw(st.integers(0, one_in - 1)) < one_in - 1 else draw(unusual)


@st.composite
def targets(draw: st.DrawFn, port: Port) -> str:
    """A request target: the endpoint's paths, absolute-form, odd and long ones."""
    authority = f"127.0.0.1:{port.port}"
    path = draw(st.sampled_from(port.paths))
    long = "/" + "a" * draw(st.sampled_from([100, 5000] if port.tornado else [100, 5000, 70_000]))
    return mostly(draw, path, one_in=5, unusual=st.sampled_from([
        f"{path}?x=1", f"http://{authority}{path}", f"HTTP://{authority}{path}",
        f"http://evil.example{path}", f"http://{authority}", authority, "*", "", "//", "/nope",
        "/%00", "/\xff", "/x y", "/x\ty", "/crossdomain.xml", "/proxied/abc?http://x/", long,
    ]))


@st.composite
def request_lines(draw: st.DrawFn, port: Port) -> tuple[str, str]:
    """A start line (without its line end) and its method token."""
    tokens = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=8)
    method = mostly(draw, "POST", st.sampled_from(METHODS * 4) | tokens, one_in=5)
    target = draw(targets(port))
    version = mostly(draw, "HTTP/1.1", st.sampled_from(VERSIONS), one_in=6)
    separator = mostly(draw, " ", st.sampled_from(["  ", "\t", " \t"]), one_in=10)
    parts = [method, target, version] if version else [method, target]
    return separator.join(parts), method


@st.composite
def header_lines(draw: st.DrawFn, port: Port) -> list[str]:
    """Header lines: plain, oddly spaced, obs-folded, repeated, huge."""
    names = st.from_regex(r"[A-Za-z-]{1,12}", fullmatch=True)
    values = st.text(st.characters(codec="latin-1", exclude_characters="\n"), max_size=12)
    lines = [f"Host: 127.0.0.1:{port.port}", "Content-Type: text/xml"]
    lines += mostly(draw, [], st.sampled_from(HEADER_SETS), one_in=2)
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(HEADER_NAMES) | names)
        value = draw(st.sampled_from(HEADER_VALUES) | values)
        lines.append(mostly(draw, f"{name}: {value}", one_in=5, unusual=st.sampled_from([
            f"{name}:{value}", f"{name} : {value}", f"{name}:\t{value}\t",
            f"{name}: {value}\r\n {value}", f"{name}: {value}\r\n\t{value}", f" {name}: {value}",
        ])))
    if draw(st.integers(0, 9)) == 9:
        limit = TORNADO_MAX_HEAD // 2 if port.tornado else 2 * TORNADO_MAX_HEAD
        lines.append("X-Huge: " + "v" * draw(st.integers(1000, limit)))
    if lines[2:] and draw(st.booleans()):
        lines.append(draw(st.sampled_from(lines)))  # a duplicate
    return lines


def _chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    pieces, start = [], 0
    for size in sizes:
        if start < len(data):
            pieces.append(data[start:start + size])
            start += size
    if start < len(data):
        pieces.append(data[start:])
    return pieces


@st.composite
def chunked_bodies(draw: st.DrawFn, data: bytes, port: Port) -> Body:
    """A chunked body, sound or with one bad size line, extension, ending or line end."""
    pieces = _chunks(data, draw(st.lists(st.integers(1, 40), max_size=6)))
    end = "\r\n" if port.tornado else mostly(draw, "\r\n", st.just("\n"))
    lines, complete, exact = [], True, True
    flaw = draw(st.sampled_from(["none", "none", "size", "small", "large", "extension",
                                 "no-last", "trailer"]))
    bad = draw(st.integers(0, max(0, len(pieces) - 1)))
    for index, piece in enumerate(pieces):
        size = f"{len(piece):x}"
        extension = ""
        if index == bad and flaw == "size":
            size = draw(st.sampled_from(CHUNK_SIZES_BAD))
        elif index == bad and flaw == "small" and len(piece) > 1:
            size = f"{len(piece) - 1:x}"  # refused where the line end should be, or realigned
        elif index == bad and flaw == "large":
            size = f"{len(piece) + draw(st.integers(1, 10_000)):x}"
            complete = exact = False  # the server waits for data that never comes
        elif index == bad and flaw == "extension":
            extension = draw(st.sampled_from(CHUNK_EXTENSIONS))
            if port.tornado and len(size + extension) + 2 > TORNADO_MAX_CHUNK_LINE:
                extension = extension[:TORNADO_MAX_CHUNK_LINE // 2]
        lines.append(_text(size + extension + end) + piece + _text(end))
    if flaw == "no-last":
        complete = exact = False
    else:
        trailer = f"X-Trailer: 1{end}" if flaw == "trailer" else ""
        lines.append(_text(f"0{end}{trailer}{end}"))
    coding = draw(st.sampled_from(TRANSFER_CODINGS[:3] * 3 + TRANSFER_CODINGS))
    return Body([f"Transfer-Encoding: {coding}"], b"".join(lines), complete, exact)


@st.composite
def bodies(draw: st.DrawFn, port: Port) -> Body:
    """The body and its framing headers: Content-Length, chunked, both, or broken."""
    data = draw(st.sampled_from([port.call, b""]) | st.binary(max_size=64))
    framing = draw(st.sampled_from(["length"] * 6 + ["none", "short", "long", "odd-length",
                                    "bad-length", "two-lengths", "chunked", "chunked", "both"]))
    n = len(data)
    if framing == "length":
        return Body([f"Content-Length: {n}"], data)
    if framing == "none":
        return Body([], b"")
    if framing == "short" and n > 0:
        return Body([f"Content-Length: {n - 1}"], data, exact=False)
    if framing == "long":
        extra = draw(st.integers(1, 100_000))
        return Body([f"Content-Length: {n + extra}"], data, complete=False, exact=False)
    if framing == "odd-length":  # valid spellings of the right length
        value = draw(st.sampled_from([f" {n}", f"{n} ", f"0{n}", f"{n}, {n}", f"{n},{n}"]))
        return Body([f"Content-Length:{value}"], data)
    if framing == "bad-length":
        return Body([f"Content-Length: {draw(st.sampled_from(LENGTHS_BAD))}"], data)
    if framing == "two-lengths":
        other = draw(st.sampled_from([n, n + 1, 0]))
        return Body([f"Content-Length: {n}", f"Content-Length: {other}"], data)
    chunked = draw(chunked_bodies(data, port))
    if framing == "both":  # must be refused, or the chunked coding wins (RFC 9112 6.3)
        length = draw(st.sampled_from([len(chunked.data), 0, n, n + 10]))
        return Body([*chunked.headers, f"Content-Length: {length}"], chunked.data,
                    chunked.complete, chunked.exact)
    return chunked


@st.composite
def requests(draw: st.DrawFn, port: Port) -> Sent:
    """One whole request, mutated in its start line, headers and framing."""
    line, method = draw(request_lines(port))
    body = draw(bodies(port))
    headers = draw(st.permutations([*draw(header_lines(port)), *body.headers]))
    end = mostly(draw, "\r\n", st.just("\n"), one_in=4)
    head = end.join([line, *headers]) + end + end
    return Sent(_text(head) + body.data, method, body.complete, body.exact)


@st.composite
def cases(draw: st.DrawFn, port: Port) -> list[Sent]:
    """A request, a request cut short, or two pipelined on one connection."""
    first = draw(requests(port))
    kind = draw(st.sampled_from(["one", "one", "cut", "pair"]))
    if kind == "cut" and len(first.data) > 1:
        cut = draw(st.integers(1, len(first.data) - 1))
        return [Sent(first.data[:cut], first.method, complete=False, exact=False)]
    if kind == "pair":
        return [first, draw(requests(port))]
    return [first]


# ---------------------------------------------------------------- the answers


@dataclass
class Answer:
    """One answer as read off the wire."""

    status: int
    reason: bytes
    version: bytes
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def closes(self) -> bool:
        """Whether the server said it closes the connection after this answer."""
        connection = self.headers.get("connection", "").lower()
        return "close" in connection or (self.version == b"HTTP/1.0"
                                         and "keep-alive" not in connection)


STATUS_LINE = re.compile(rb"(HTTP/1\.[01]) ([1-5][0-9][0-9]) ([\t\x20-\x7e\x80-\xff]*)")
FIELD_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class AnswerStream:
    """Reads answers off a blocking socket, strictly, with a deadline on every read."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.eof = False

    def _more(self) -> bool:
        """Read more bytes; False once the server has closed."""
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"no answer and no close in {DEADLINE} s (a hang); "
                                 f"got {self.buffer[:200]!r}") from None
        except ConnectionResetError:
            chunk = b""  # closed after an error with bytes of ours still unread
        self.eof = not chunk
        self.buffer += chunk
        return bool(chunk)

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            assert self._more(), f"closed {n - len(self.buffer)} bytes short of a body"
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _line(self, separator: bytes = b"\r\n") -> bytes | None:
        while separator not in self.buffer:
            if not self._more():
                assert not self.buffer, f"closed inside an answer: {self.buffer[:200]!r}"
                return None
        line, _, self.buffer = self.buffer.partition(separator)
        return line

    def rest(self) -> bytes:
        """Everything until the server closes."""
        while self._more():
            pass
        data, self.buffer = self.buffer, b""
        return data

    def next(self, method: str) -> Answer | None:
        """The next final answer (interim 100s skipped), or None if the server closed."""
        while True:
            answer = self._one(method)
            if answer is None or answer.status >= 200:
                return answer
            assert answer.status == 100, f"unexpected interim answer {answer}"

    def _one(self, method: str) -> Answer | None:
        head = self._line(b"\r\n\r\n")
        if head is None:
            return None
        start, *lines = head.split(b"\r\n")
        matched = STATUS_LINE.fullmatch(start)
        assert matched, f"bad status line {start[:200]!r}"
        headers: dict[str, str] = {}
        for line in lines:
            name, colon, value = line.partition(b":")
            assert colon and FIELD_NAME.fullmatch(name), f"bad header line {line[:200]!r}"
            key = name.decode("ascii").lower()
            text = value.strip(b" \t").decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        version, status, reason = matched.group(1), int(matched.group(2)), matched.group(3)
        answer = Answer(status, reason, version, headers, b"")
        answer.body = self._body(answer, method)
        return answer

    def _body(self, answer: Answer, method: str) -> bytes:
        if answer.status < 200 or answer.status in (204, 304):
            return b""
        if method == "HEAD":
            return self._head_body(answer)
        if "transfer-encoding" in answer.headers:
            assert answer.headers["transfer-encoding"].lower() == "chunked", answer.headers
            return self._chunked()
        if "content-length" in answer.headers:
            length = answer.headers["content-length"]
            assert length.isdigit(), f"bad Content-Length {length!r}"
            return self._take(int(length))
        return self.rest()  # delimited by the close

    def _head_body(self, answer: Answer) -> bytes:
        """An answer to HEAD has no body; an error that closes may still carry one.

        A request refused for its framing may not be known to be a HEAD, so
        its error text is tolerated when the server says it closes after it.
        """
        if answer.status < 400 or answer.status == 404 or not answer.closes:
            return b""
        rest = self.rest()
        declared = answer.headers.get("content-length", "")
        assert not rest or str(len(rest)) == declared, f"bytes after a HEAD answer: {rest[:200]!r}"
        return b""

    def _chunked(self) -> bytes:
        pieces = []
        while True:
            size_line = self._line()
            assert size_line is not None, "closed inside a chunked answer"
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return b"".join(pieces)
            pieces.append(self._take(size))
            assert self._take(2) == b"\r\n", "chunk data not followed by CRLF"


# ---------------------------------------------------------------- the exchange


def answers_due(sent: list[Sent]) -> int:
    """How many answers the server owes before it may close."""
    due = 0
    for request in sent:
        if not request.complete:
            break
        due += 1
        if not request.exact:
            break  # what follows it is read as part of it, or as garbage
    return due


def check_answer(answer: Answer, method: str) -> None:
    """A well-formed answer: 200 (an XML-RPC answer to a POST) or an error with a reason."""
    assert answer.status == 200 or 400 <= answer.status <= 599, answer
    if answer.status >= 400:
        assert answer.reason.strip(), f"{answer.status} without a reason"
    elif method == "POST":
        assert "xml" in answer.headers.get("content-type", ""), answer.headers
        result = decode_response(answer.body)
        if isinstance(result, Fault):
            assert result.string, "a fault must say what was wrong"


def _send(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)  # the server may refuse and close before taking it all


def exchange(port: Port, sent: list[Sent], errors_close: bool) -> list[Answer]:
    """Send the case on a new connection and check every answer the server gives.

    Raises
    ------
    AssertionError
        If an answer is malformed, the server waits past the deadline, or it
        closes with a complete request unanswered.
    """
    due = answers_due(sent)
    answers: list[Answer] = []
    with socket.create_connection(("127.0.0.1", port.port), timeout=DEADLINE) as sock:
        _send(sock, b"".join(s.data for s in sent))
        if due == 0:  # nothing complete: say so, and the server must close
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        stream = AnswerStream(sock)
        while due == 0 or len(answers) < due:
            method = sent[len(answers)].method if len(answers) < len(sent) else ""
            answer = stream.next(method)
            if answer is None:
                break
            check_answer(answer, method)
            answers.append(answer)
            if errors_close and answer.status >= 400:
                assert stream.next("") is None, "the connection stayed open after an error"
                break
    if len(answers) < due:
        assert answers, f"closed with no answer to a complete request: {sent[0].data[:300]!r}"
        last = answers[-1]
        assert last.closes or last.status >= 400, (
            f"closed after a keep-alive answer {last} with a request unanswered")
    return answers


# ---------------------------------------------------------------- the tests


def _standard(hub: ThreadedHub) -> Port:
    call = xmlrpc.client.dumps((), "samp.hub.ping").encode()
    return Port(urlsplit(hub.url).port or 0, ("/xmlrpc", "/"), call)


def _web(hub: ThreadedHub) -> Port:
    call = xmlrpc.client.dumps((), "samp.webhub.ping").encode()
    paths = ("/", "/crossdomain.xml", "/clientaccesspolicy.xml")
    return Port(urlsplit(hub.web_url).port or 0, paths, call, tornado=True)


def _fuzz(port: Port, errors_close: bool, examples: settings) -> None:
    @examples
    @given(cases(port))
    def one_case(sent: list[Sent]) -> None:
        exchange(port, sent, errors_close)

    one_case()


def assert_web_healthy(hub: ThreadedHub) -> None:
    """A page's call (Origin and all) on the Web Profile port is answered as usual."""
    port = _web(hub)
    request = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port.port}\r\nOrigin: {PAGE_ORIGIN}\r\n"
               f"Content-Type: text/xml\r\nContent-Length: {len(port.call)}\r\n\r\n").encode()
    (answer,) = exchange(port, [Sent(request + port.call, "POST")], errors_close=False)
    assert answer.status == 200 and not isinstance(decode_response(answer.body), Fault)
    assert answer.headers.get("access-control-allow-origin") == PAGE_ORIGIN


def test_standard_port_answers_raw_requests(threaded_hub: ThreadedHub) -> None:
    """Our llhttp server answers every complete request, and closes after each error."""
    _fuzz(_standard(threaded_hub), errors_close=True, examples=STANDARD)
    assert_healthy(threaded_hub)


def test_web_port_answers_raw_requests(threaded_hub: ThreadedHub) -> None:
    """tornado answers every complete request within its limits (it keeps 4xx connections)."""
    _fuzz(_web(threaded_hub), errors_close=False, examples=WEB)
    assert_web_healthy(threaded_hub)
    assert_healthy(threaded_hub)


def _closed_promptly(port: Port, data: bytes) -> bytes:
    """Send ``data`` and return what the server sends before it closes (within the deadline)."""
    with socket.create_connection(("127.0.0.1", port.port), timeout=DEADLINE) as sock:
        _send(sock, data)
        return AnswerStream(sock).rest()


def test_web_port_closes_past_tornados_limits(threaded_hub: ThreadedHub) -> None:
    """Past tornado's head and chunk-line limits the connection is closed at once, unanswered.

    These are the cases the fuzzing leaves out on the Web Profile port: no
    answer, but no hang either, and the port goes on serving.
    """
    port = _web(threaded_hub)
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port.port}\r\n"
    huge = head + "X-Huge: " + "v" * TORNADO_MAX_HEAD + "\r\n\r\n"
    assert _closed_promptly(port, huge.encode()) == b""
    chunked = head + "Transfer-Encoding: chunked\r\n\r\n1;" + "e" * 100 + "\r\nx\r\n0\r\n\r\n"
    assert _closed_promptly(port, chunked.encode()) == b""
    assert_web_healthy(threaded_hub)
