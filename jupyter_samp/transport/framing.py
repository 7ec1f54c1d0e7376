"""HTTP/1.1 message framing, sans-IO, on the llhttp parser (``httptools``).

The XML-RPC server and the pooled client read HTTP from bytes as they
arrive. Parsing is left to llhttp, the parser of Node.js and uvicorn, which
is strict where hand-written parsers are lax: it refuses unknown transfer
codings, ``Content-Length`` together with ``Transfer-Encoding``, duplicate or
malformed lengths and bare-LF line ends, which is what keeps requests from
being smuggled past each other.

llhttp stops at a request that asks to switch protocols (``Upgrade`` with
``Connection: upgrade``, or ``CONNECT``), leaving its body unread. Nothing
here switches protocols, and RFC 9110 7.8 lets a server ignore the request
to: such a request is read on as plain HTTP/1.1, its body included (Java's
``java.net.http`` client sends ``Upgrade: h2c`` with its first POST). A
peer's answer that switches protocols is an error.

What llhttp does not bound, this module does: the size of a head, the number
of headers, the bytes of chunk-size lines and extensions, and the size of a
body. llhttp reports no byte offsets, so those bounds are kept by accounting:
the bytes fed, less the bytes of bodies and heads seen, is what went to
framing, and that must stay within a small allowance per head and per chunk.

Nothing here blocks or touches a socket, so it is tested with plain bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import httptools

from jupyter_samp.errors import ProtocolError
from jupyter_samp.transport.body_budget import LARGE_BODY, BodyBudget

#: Largest head (start line and headers) accepted, in bytes.
MAX_HEAD_BYTES = 65536
#: Most header lines accepted in one head.
MAX_HEADERS = 100
#: Framing bytes allowed per chunk (its size line, any extension, CRLFs).
CHUNK_LINE_ALLOWANCE = 1024
#: Framing bytes allowed per head beyond its start line and header fields
#: (line ends, the separators, whitespace around values, trailers).
HEAD_ALLOWANCE = 1024


class FramingError(ProtocolError):
    """A message that cannot be read; ``status`` is the HTTP error to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        #: Messages completed in the same feed, before the error.
        self.completed: list[Any] = []


def _framing_error(exc: Exception) -> FramingError:
    """The error to answer for what llhttp or a callback of ours raised."""
    cause = exc.__context__ if isinstance(exc, httptools.HttpParserCallbackError) else exc
    if isinstance(cause, FramingError):
        return cause
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return FramingError("method not allowed: SAMP uses POST", 405)
    return FramingError(f"bad HTTP message: {exc}")


class BodyTooLarge(FramingError):
    """A body over the limit: answered, and the connection then closed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes", 413)
        self.limit = limit


@dataclass(frozen=True)
class Request:
    """One complete request.

    Attributes
    ----------
    method : str
        ``"POST"``, ``"GET"``, ...
    path : str
        The target's path, also for an absolute-form target
        (``http://host/xmlrpc``); the query string is dropped.
    version : str
        ``"1.1"`` or ``"1.0"``.
    headers : dict
        Lower-case names; repeated headers joined with ``", "``.
    body : bytes
        The body, chunked coding removed.
    keep_alive : bool
        Whether the connection stays open after the answer.
    too_big : bool
        Whether the body was over the limit: it was read to its end, so the
        connection stays usable, but not kept (``body`` is empty).
    busy : bool
        Whether the body was large and the server's :class:`BodyBudget` was
        spent: read to its end but not kept, like ``too_big``.
    held : int
        Bytes of the body counted against the server's budget; the server
        gives them back once it has decoded or dropped the body.
    """

    method: str
    path: str
    version: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    keep_alive: bool
    too_big: bool = False
    busy: bool = False
    held: int = 0


@dataclass(frozen=True)
class Response:
    """One complete answer: status, headers (lower-case names), body, keep-alive."""

    status: int
    version: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    keep_alive: bool


class _Reader:
    """What requests and answers share: callbacks, the body cap, the accounting."""

    def __init__(self, parser_class: Any, max_body: int, max_head: int) -> None:
        self.max_body = max_body
        self.max_head = max_head
        self._parser_class = parser_class
        self._parser = parser_class(self)
        self._bare_lf(True)
        self._done: list[Any] = []
        self._reset_message()
        self._reset_accounting()

    # --------------------------------------------------------------- state

    @property
    def in_head(self) -> bool:
        """Whether a message has begun but its head is not complete."""
        return self._begun and not self._head_done

    @property
    def in_message(self) -> bool:
        """Whether a message has begun and is not complete."""
        return self._begun

    # --------------------------------------------------------------- feeding

    def _bare_lf(self, allowed: bool) -> None:
        """Accept a bare LF as a line end (in heads), or require CRLF (in bodies).

        SAOImage DS9 ends its request and answer lines with a bare LF, which
        RFC 9112 2.2 lets a recipient accept. With no proxy in front of us,
        no other reader of the stream can frame it differently. (llhttp
        checks the end of a request line under the second flag's name.) In
        chunked framing llhttp takes a bare LF for some line ends but waits
        forever at the last one (``0\\n\\n``), so there CRLF is required and
        a bare LF is refused at once.
        """
        self._parser.set_dangerous_leniencies(
            lenient_optional_cr_before_lf=allowed, lenient_optional_lf_after_cr=allowed
        )

    def _feed(self, data: bytes) -> list[Any]:
        self._received += len(data)
        self._done = []
        try:
            self._parse(data)
        except (httptools.HttpParserError, FramingError) as exc:
            # llhttp stops at the offending byte: what completed before it is sound.
            error = _framing_error(exc)
            error.completed, self._done = self._done, []
            raise error from None
        # Over-long framing may lie in any message of this feed: keep none of them.
        self._check_framing_bytes()
        done, self._done = self._done, []
        return done

    def _parse(self, data: bytes) -> None:
        """Feed llhttp, reading on past a message that asks to switch protocols."""
        while True:
            try:
                self._parser.feed_data(data)
                return
            except httptools.HttpParserUpgrade as exc:
                data = data[int(exc.args[0]):]  # llhttp stopped there; the rest is ours
                self._after_upgrade()

    def _after_upgrade(self) -> None:
        """llhttp completed a message that switches protocols, without its body.

        Raises
        ------
        FramingError
            Always, unless a subclass reads on: the stream has left HTTP.
        """
        raise FramingError("the peer switched to another protocol")

    def _check_framing_bytes(self) -> None:
        framing = self._received - self._body_bytes - self._head_bytes
        allowance = HEAD_ALLOWANCE * self._heads + CHUNK_LINE_ALLOWANCE * self._chunks
        if self.in_head:
            if framing > allowance + self.max_head:
                raise FramingError(f"HTTP head larger than {self.max_head} bytes", 431)
        elif framing > allowance:
            raise FramingError("chunk size line or extension too long")
        if not self._begun:
            self._reset_accounting()  # a message boundary: everything fed is accounted for

    def _reset_accounting(self) -> None:
        self._received = self._body_bytes = self._head_bytes = 0
        self._heads = self._chunks = 0

    def _reset_message(self) -> None:
        self._begun = False
        self._head_done = False
        self._headers: dict[str, str] = {}
        self._header_count = 0
        self._pieces: list[bytes] = []
        self._kept = 0
        self._too_big = False
        self._keep_alive = False

    # --------------------------------------------------------------- llhttp callbacks

    def on_message_begin(self) -> None:
        self._reset_message()
        self._begun = True
        self._bare_lf(True)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._head_bytes += len(name) + len(value)
        if self._header_count > MAX_HEADERS:
            raise FramingError(f"more than {MAX_HEADERS} header lines", 431)
        if self._head_bytes > self.max_head:
            raise FramingError(f"HTTP head larger than {self.max_head} bytes", 431)
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._heads += 1
        # llhttp forgets this once the message is complete: read it now.
        self._keep_alive = self._parser.should_keep_alive()
        self._check_head()
        self._bare_lf(False)

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._too_big:
            return
        self._kept += len(body)
        if self._kept > self.max_body:
            self._body_over_limit()
        else:
            self._pieces.append(body)

    def _body_over_limit(self) -> None:
        """An answer over the limit fails at once (a request is read to its end)."""
        raise BodyTooLarge(self.max_body)

    def on_message_complete(self) -> None:
        self._done.append(self._message())
        self._reset_message()

    # --------------------------------------------------------------- per kind

    def _check_head(self) -> None:
        coding = self._headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            raise FramingError(f"transfer coding {coding[:40]!r} is not supported", 501)
        length = self._headers.get("content-length")
        if length is not None and int(length) > self.max_body:
            self._body_over_limit()

    def _message(self) -> Any:
        raise NotImplementedError


class RequestReader(_Reader):
    """Reads the requests of one connection, as a server.

    Parameters
    ----------
    max_body : int
        Largest request body accepted.
    max_head : int
        Largest head accepted.
    budget : BodyBudget, optional
        What bodies over :data:`LARGE_BODY` are counted against, shared by
        the server's connections; a body that does not fit is read and
        dropped, its request marked ``busy``. None: no bound but ``max_body``.
    """

    def __init__(
        self, max_body: int, max_head: int = MAX_HEAD_BYTES, budget: BodyBudget | None = None
    ) -> None:
        self._url = b""
        self.budget = budget
        self._held: int = 0  # bytes of the message being read counted against the budget
        self._held_up_front: bool = False
        self._busy: bool = False
        super().__init__(httptools.HttpRequestParser, max_body, max_head)
        self._expects_continue = False
        # A request that asked to switch protocols, whose body is being read.
        self._upgraded: Request | None = None

    def feed(self, data: bytes) -> list[Request]:
        """Parse ``data`` and return the requests it completes, in order.

        Raises
        ------
        FramingError
            If the stream is not valid HTTP/1.x or goes over a limit; its
            ``status`` says which HTTP error to answer. The stream cannot be
            read further: answer and close. A body over ``max_body`` is not
            an error: it is read and dropped, and the request marked
            ``too_big``; only when the client waits for ``100 Continue`` is
            :class:`BodyTooLarge` raised at once. Nor is a request that asks
            to switch protocols: it is read as an ordinary request, body
            included, and the stream read on.
        """
        return self._feed(data)

    def _body_over_limit(self) -> None:
        if self._expects_continue:
            # The client waits before sending the body: tell it now, and close.
            raise BodyTooLarge(self.max_body)
        # Read it to its end, keeping nothing: the answer (a fault) then
        # reaches a client still writing, which a close mid-body would lose.
        self._too_big = True
        self._pieces = []
        self.release()

    def _after_upgrade(self) -> None:
        """Read on as HTTP/1.1: the request keeps its body, its ``Upgrade`` is ignored.

        llhttp left the body unread and would take it for the next request
        (a way to smuggle one past us), so a new parser reads it, primed
        with a head of ours that frames the body as the request declared.
        """
        upgraded = self._done.pop()
        if upgraded.held and self.budget is not None:
            self.budget.give_back(upgraded.held)  # taken again as the body is framed below
        self._parser = self._parser_class(self)
        framing = _declared_framing(upgraded.headers)
        if framing is None:  # no body: the request is complete as it is
            self._done.append(upgraded)
            return
        accounted = self._head_bytes, self._heads
        self._parser.feed_data(b"POST / HTTP/1.1\r\n" + framing + b"\r\n\r\n")
        self._head_bytes, self._heads = accounted  # our bytes are not the peer's
        self._upgraded = upgraded
        self._headers = upgraded.headers
        self._keep_alive = upgraded.keep_alive
        self._expects_continue = "100-continue" in upgraded.headers.get("expect", "").lower()

    def take_continue(self) -> bool:
        """Whether to send ``100 Continue`` now (once per request that asks for it)."""
        wanted = self._expects_continue and self._head_done and self._begun
        self._expects_continue = False
        return wanted

    def release(self) -> None:
        """Give back the budget held by a body not yet complete (the connection is gone)."""
        if self._held and self.budget is not None:
            self.budget.give_back(self._held)
        self._held = 0

    def _reset_message(self) -> None:
        super()._reset_message()
        # A complete message's share went with it (see _message); a message cut
        # short by an error keeps its share until release().
        self._busy = False
        self._held = 0
        self._held_up_front = False

    def on_message_begin(self) -> None:
        self.release()
        super().on_message_begin()
        self._url = b""

    def on_body(self, body: bytes) -> None:
        if self._busy or not self._hold(len(body)):
            self._body_bytes += len(body)  # framing accounting counts what is dropped too
            return
        super().on_body(body)

    def _hold(self, size: int) -> bool:
        """Take budget for ``size`` more body bytes where it is due; False if refused."""
        if self.budget is None or self._too_big or self._held_up_front:
            return True
        if self._kept + size <= LARGE_BODY:
            return True
        need = size if self._held else self._kept + size  # what is kept so far counts too
        if self.budget.take(need):
            self._held += need
            return True
        self._refuse_busy()
        return False

    def _refuse_busy(self) -> None:
        """The budget is spent: read the body to its end, keeping nothing of it."""
        self._busy = True
        self._pieces = []
        self.release()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if len(self._url) > self.max_head:
            raise FramingError(f"request target longer than {self.max_head} bytes", 414)

    def _check_head(self) -> None:
        version = self._parser.get_http_version()
        if version not in ("1.0", "1.1"):
            raise FramingError(f"HTTP/{version} is not supported: use HTTP/1.1", 505)
        self._head_bytes += len(self._parser.get_method()) + len(version)
        self._expects_continue = "100-continue" in self._headers.get("expect", "").lower()
        super()._check_head()
        self._hold_declared()

    def _hold_declared(self) -> None:
        """Take budget for a large declared body before any of it is read."""
        length = self._headers.get("content-length")
        if self.budget is None or self._too_big or length is None:
            return
        size = int(length)
        if size <= LARGE_BODY:
            return
        if self.budget.take(size):
            self._held, self._held_up_front = size, True
        else:
            self._refuse_busy()

    def _message(self) -> Request:
        if self._upgraded is not None:
            upgraded, self._upgraded = self._upgraded, None
            return replace(
                upgraded, body=b"".join(self._pieces), too_big=self._too_big, busy=self._busy,
                held=self._held,
            )
        return Request(
            method=self._parser.get_method().decode("ascii"),
            path=_path_of(self._url),
            version=self._parser.get_http_version(),
            headers=self._headers,
            body=b"".join(self._pieces),
            keep_alive=self._keep_alive,
            too_big=self._too_big,
            busy=self._busy,
            held=self._held,
        )


class ResponseReader(_Reader):
    """Reads the answers on one connection, as a client.

    Interim answers (``1xx``) are skipped. An answer with neither
    ``Content-Length`` nor chunked coding runs to the end of the connection:
    call :meth:`finish` when the connection closes.

    Parameters
    ----------
    max_body : int
        Largest answer body accepted.
    max_head : int
        Largest head accepted.
    """

    def __init__(self, max_body: int, max_head: int = MAX_HEAD_BYTES) -> None:
        super().__init__(httptools.HttpResponseParser, max_body, max_head)

    def feed(self, data: bytes) -> list[Response]:
        """Parse ``data`` and return the final answers it completes.

        Raises
        ------
        FramingError
            If the stream is not valid HTTP/1.x, goes over a limit or
            switches to another protocol (``101``); its ``completed`` holds
            the final answers that came before.
        """
        try:
            done = self._feed(data)
        except FramingError as exc:
            exc.completed = [r for r in exc.completed if r.status >= 200]
            raise
        return [r for r in done if r.status >= 200]

    def finish(self) -> Response | None:
        """The connection closed: the answer that ends with it, if one was under way.

        Returns None when no answer was under way or when the one under way
        had a declared length that did not arrive (cut short).
        """
        if not self._head_done or not self._begun:
            return None
        if "content-length" in self._headers or "transfer-encoding" in self._headers:
            return None
        response = self._message()
        self._reset_message()
        return response if response.status >= 200 else None

    @property
    def started(self) -> bool:
        """Whether any byte of an answer has arrived since the last complete one."""
        return self._begun

    def _check_head(self) -> None:
        super()._check_head()
        self._head_bytes += 16  # status line: version and code
        if self._parser.get_http_version() not in ("1.0", "1.1"):
            raise FramingError(f"HTTP/{self._parser.get_http_version()} answer")

    def on_status(self, status: bytes) -> None:
        self._head_bytes += len(status)

    def _message(self) -> Response:
        return Response(
            status=self._parser.get_status_code(),
            version=self._parser.get_http_version(),
            headers=self._headers,
            body=b"".join(self._pieces),
            keep_alive=self._keep_alive,
        )


def _declared_framing(headers: dict[str, str]) -> bytes | None:
    """The framing header of a request's body, or None when it has none.

    Only what llhttp accepted gets here: a ``Transfer-Encoding`` is chunked
    and a ``Content-Length`` is digits.
    """
    if "transfer-encoding" in headers:
        return b"Transfer-Encoding: chunked"
    length = int(headers.get("content-length", "0"))
    return b"Content-Length: %d" % length if length else None


def _path_of(target: bytes) -> str:
    """The path of an origin-form or absolute-form request target."""
    text = target.decode("latin-1")
    if not text.startswith("/"):
        try:
            text = (httptools.parse_url(target).path or b"/").decode("latin-1")
        except httptools.HttpParserInvalidURLError:
            raise FramingError(f"bad request target {text[:100]!r}") from None
    return text.split("?", 1)[0]
