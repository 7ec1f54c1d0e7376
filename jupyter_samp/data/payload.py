"""What a published resource serves: its length, when known, and its bytes from any offset.

A :class:`Payload` never holds a whole encoded document unless it was given
one: the resource server asks it for the bytes from an offset onwards, one
piece at a time, and asks for the next piece only as the end of the previous
one is being sent.

* :class:`BytesPayload`: bytes already in memory (a FITS file astropy wrote).
* :class:`FilePayload`: a file on disk, served as it is.
* :class:`SegmentPayload`: a document made of pieces whose sizes are known in
  advance (a binary VOTable): any byte range is produced by encoding only the
  pieces it touches.
* :class:`StreamPayload`: a generator of unknown total size (a TABLEDATA
  VOTable): a range is produced by generating and skipping, and the length is
  measured once (by generating) when it is first needed, then remembered.

Pieces are produced by blocking code; the server calls :meth:`Payload.open`'s
iterator from a worker thread, so the event loop stays free.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Bytes per piece when slicing in-memory data (views of it: nothing is copied).
BLOCK = 1 << 20
#: Bytes read from a file at a time. Each read is a new buffer that a download
#: holds until its peer has taken it, so it is kept small: a peer that stops
#: reading then costs little (the resource server writes 128 KiB at a time).
FILE_BLOCK = 256 << 10

#: What :meth:`Payload.open` yields: bytes, or a view of bytes held elsewhere.
Piece = bytes | memoryview


class Payload:
    """Base class: ``length()`` and ``open(start)``; see the module docstring."""

    def length(self) -> int | None:
        """Total size in bytes, or None while unknown."""
        raise NotImplementedError

    def measure(self) -> int:
        """Total size in bytes, computing it if needed (may be slow; blocking)."""
        size = self.length()
        if size is None:
            size = sum(len(piece) for piece in self.open(0))
        return size

    def open(self, start: int = 0) -> Iterator[Piece]:
        """Iterate over the bytes from offset ``start`` to the end, in pieces."""
        raise NotImplementedError


class BytesPayload(Payload):
    """Bytes held in memory, handed out as :data:`BLOCK`-sized views (not copies)."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = memoryview(data).cast("B")

    def length(self) -> int:
        """The size of the data."""
        return len(self.data)

    def open(self, start: int = 0) -> Iterator[Piece]:
        """Views of the data from ``start``, one block at a time.

        Not copies: a download that stalls holds no more than the data itself.
        """
        for offset in range(start, len(self.data), BLOCK):
            yield self.data[offset : offset + BLOCK]


class FilePayload(Payload):
    """A file served as it is, read :data:`FILE_BLOCK` bytes at a time.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Its size is read at each request, so a file that changes
        between requests is served as it is then.

    Raises
    ------
    FileNotFoundError
        (at construction) The file does not exist or is not a regular file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no such file to serve: {self.path}")

    def length(self) -> int:
        """The current size of the file."""
        return self.path.stat().st_size

    def open(self, start: int = 0) -> Iterator[Piece]:
        """Blocks of the file from ``start``; the file is closed when iteration ends."""
        with self.path.open("rb") as handle:
            handle.seek(start)
            while block := handle.read(FILE_BLOCK):
                yield block


@dataclass(frozen=True)
class Segment:
    """A piece of a document: its exact size, and how to produce it."""

    size: int
    produce: Callable[[], Piece]


class SegmentPayload(Payload):
    """A document made of segments of known size (see :class:`Segment`).

    Parameters
    ----------
    segments : sequence of Segment
        In document order. Each ``produce()`` must return exactly ``size``
        bytes (or a view of them).
    """

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.segments = tuple(segments)
        self._length = sum(segment.size for segment in self.segments)

    def length(self) -> int:
        """The sum of the segment sizes."""
        return self._length

    def open(self, start: int = 0) -> Iterator[Piece]:
        """Produce only the segments at or after ``start``, the first one cut to it.

        Raises
        ------
        RuntimeError
            A segment produced a different number of bytes than announced
            (the ``Content-Length`` already sent would be wrong).
        """
        offset = 0
        for segment in self.segments:
            end = offset + segment.size
            if end > start:
                piece = segment.produce()
                if len(piece) != segment.size:
                    raise RuntimeError(
                        f"segment at byte {offset} has {len(piece)} bytes, not {segment.size}"
                    )
                yield piece[start - offset :] if start > offset else piece
            offset = end


class StreamPayload(Payload):
    """A document produced by a generator whose total size is not known in advance.

    Parameters
    ----------
    factory : callable
        Returns a fresh iterable of the document's bytes each time it is called.
    length : int, optional
        The size, if the caller knows it.
    """

    def __init__(self, factory: Callable[[], Iterable[bytes]], length: int | None = None) -> None:
        self.factory = factory
        self._length = length

    def length(self) -> int | None:
        """The size, once known (given, measured, or learnt from a complete fetch)."""
        return self._length

    def learn_length(self, size: int) -> None:
        """Remember the size, seen by a fetch that got the whole document."""
        self._length = size

    def measure(self) -> int:
        """Generate the document once to count its bytes, and remember the result."""
        if self._length is None:
            self._length = sum(len(piece) for piece in self.factory())
        return self._length

    def open(self, start: int = 0) -> Iterator[Piece]:
        """Generate from the beginning, skipping the bytes before ``start``."""
        skipped = 0
        for piece in self.factory():
            if skipped >= start:
                yield piece
            elif skipped + len(piece) > start:
                yield piece[start - skipped :]
            skipped += len(piece)
