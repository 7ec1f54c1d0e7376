"""HTTP/1.1 message framing, sans-IO: heads, ``Content-Length`` and chunked bodies.

The XML-RPC server and the pooled client both read HTTP from a byte buffer
that grows as data arrives. This module takes complete pieces off the front
of that buffer: a head (start line and headers), then a body framed by
``Content-Length`` or by chunked transfer coding. It never blocks and never
touches a socket, so it is tested with plain bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from jupyter_samp.errors import ProtocolError

#: Largest head (start line and headers) accepted, in bytes.
MAX_HEAD_BYTES = 65536
_MAX_CHUNK_LINE = 1024


@dataclass(frozen=True)
class Head:
    """The start line of a request or status line, split on spaces, and the headers.

    Header names are lower case; repeated headers are joined with ``", "``.
    """

    start: tuple[str, ...]
    headers: dict[str, str]

    def keep_alive(self, version: str) -> bool:
        """Whether the connection stays open after this message (RFC 9112 9.3)."""
        connection = self.headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            return "close" not in connection
        return "keep-alive" in connection


def take_head(buffer: bytearray) -> Head | None:
    """Remove a complete head from the front of ``buffer`` and parse it.

    Returns
    -------
    Head or None
        None while the head is still incomplete.

    Raises
    ------
    ProtocolError
        If the head is larger than :data:`MAX_HEAD_BYTES` or a header line has
        no colon.
    """
    end, skip = _head_end(buffer)
    if end < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise ProtocolError(f"HTTP head larger than {MAX_HEAD_BYTES} bytes")
        return None
    if end > MAX_HEAD_BYTES:
        raise ProtocolError(f"HTTP head larger than {MAX_HEAD_BYTES} bytes")
    text = bytes(buffer[:end]).decode("latin-1")
    del buffer[: end + skip]
    # Tolerate blank lines before a head (RFC 9112 2.2) and bare LF line ends.
    lines = text.lstrip("\r\n").split("\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ProtocolError(f"bad HTTP header line {line.strip()!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Head(tuple(lines[0].strip().split(" ", 2)), headers)


def _head_end(buffer: bytearray) -> tuple[int, int]:
    # The earlier of the two ends: a bare-LF head may be followed by CRLF bytes.
    crlf = buffer.find(b"\r\n\r\n")
    lf = buffer.find(b"\n\n")
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, 2
    return crlf, 4


class BodyReader:
    """Takes one message body off a buffer as it arrives.

    Parameters
    ----------
    headers : dict
        The message's headers (lower-case names), which say how the body is
        framed: chunked, ``Content-Length``, or (``until_close``) the rest of
        the connection.
    limit : int
        Largest body kept. A larger body is still read to its end, so the
        connection stays usable, but dropped; :attr:`too_big` is then set.
    until_close : bool
        Whether a body with neither framing header runs to the end of the
        connection (answers) rather than being empty (requests).

    Raises
    ------
    ProtocolError
        From the constructor if ``Content-Length`` is not a number, and from
        :meth:`feed` if a chunk size line is malformed.
    """

    def __init__(self, headers: dict[str, str], limit: int, *, until_close: bool = False) -> None:
        self.limit = limit
        self.too_big = False
        self.until_close = False
        self._pieces: list[bytes] = []
        self._kept = 0
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._remaining = 0  # bytes left in the body (or in the current chunk)
        self._state = "chunk-size" if self._chunked else "data"
        if not self._chunked:
            length = headers.get("content-length")
            if length is None:
                self.until_close = until_close
                self._state = "data" if until_close else "done"
            elif length.strip().isascii() and length.strip().isdigit():
                self._remaining = int(length)
                self.too_big = self._remaining > limit
                self._state = "data" if self._remaining else "done"
            else:
                raise ProtocolError(f"bad Content-Length {length!r}")

    @property
    def done(self) -> bool:
        """Whether the whole body has been read."""
        return self._state == "done"

    @property
    def body(self) -> bytes:
        """The body read so far (empty if it was too big)."""
        return b"" if self.too_big else b"".join(self._pieces)

    def feed(self, buffer: bytearray) -> bool:
        """Take as much of the body as ``buffer`` holds; return whether it is complete."""
        while self._state != "done" and buffer:
            if self._state == "data":
                self._take_data(buffer)
            elif not self._take_line(buffer):
                break
        return self._state == "done"

    def finish_at_close(self) -> bool:
        """The connection closed: return whether that completes the body."""
        if self.until_close:
            self._state = "done"
        return self._state == "done"

    def _take_data(self, buffer: bytearray) -> None:
        if self.until_close:
            size = len(buffer)
        else:
            size = min(self._remaining, len(buffer))
            self._remaining -= size
        self._keep(bytes(buffer[:size]))
        del buffer[:size]
        if not self.until_close and self._remaining == 0:
            self._state = "chunk-end" if self._chunked else "done"

    def _take_line(self, buffer: bytearray) -> bool:
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) > _MAX_CHUNK_LINE:
                raise ProtocolError("chunk line too long")
            return False
        line = bytes(buffer[:end]).strip()
        del buffer[: end + 1]
        if self._state == "chunk-size":
            self._chunk_size(line)
        elif self._state == "chunk-end":
            if line:
                raise ProtocolError("chunk data longer than its declared size")
            self._state = "chunk-size"
        elif not line:  # "trailers": skip them up to the blank line
            self._state = "done"
        return True

    def _chunk_size(self, line: bytes) -> None:
        digits = line.split(b";", 1)[0].strip()
        # Hex digits only: int(..., 16) also takes "0x", "+", "-" and "_".
        if not digits or digits.strip(b"0123456789abcdefABCDEF"):
            raise ProtocolError(f"bad chunk size {digits[:20]!r}")
        size = int(digits, 16)
        self._remaining = size
        self._state = "data" if size else "trailers"

    def _keep(self, data: bytes) -> None:
        if self.too_big:
            return
        self._kept += len(data)
        if self._kept > self.limit:
            self.too_big = True
            self._pieces = []
        else:
            self._pieces.append(data)
