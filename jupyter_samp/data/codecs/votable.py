"""A fast, streaming VOTable 1.4 writer for astropy tables and pandas DataFrames.

Typical use::

    from jupyter_samp.data.codecs.votable import iter_votable, votable_bytes

    body = votable_bytes(df)                       # whole document at once
    for piece in iter_votable(table, chunk_rows=30_000):
        handler.write(piece)                       # or stream it

The default serialization is BINARY2 (null flags per row; TOPCAT, astropy
and STIL read it); ``"binary"`` and ``"tabledata"`` are available on request.
Everything is validated by :func:`plan_votable` before the first byte is
produced, so a server never sends half a document because of a bad column.

How values are written
----------------------
* Integers keep their width; VOTable has no signed byte or unsigned 16/32/64
  bit types, so int8 becomes ``short``, uint16 ``int``, uint32 and uint64
  ``long`` (uint64 values above 2**63-1 are refused).
* Strings are fixed-width: ``char`` with the longest UTF-8 length when all
  text is ASCII, otherwise ``unicodeChar`` (UTF-16BE) sized in code units.
* datetime64 (and aware pandas timestamps, in UTC with a ``Z``) become ISO-8601
  ``char`` with ``xtype="timestamp"``; timedeltas become float seconds.
* Categoricals are written as their values; pandas nullable types keep nulls.
* Nulls: BINARY2 sets the row's null flag; BINARY writes NaN for floats, a
  ``<VALUES null="...">`` sentinel not used by the data for integers, ``?``
  for booleans, and an empty string for text (BINARY has no null string, so
  a null string reads back as ``""``); TABLEDATA writes an empty ``<TD/>``
  (for text, the same as an empty string). Array cells always list all their
  elements, with NaN, the integer sentinel or ``?`` for the null ones.
* Strings are fixed width, so one very long value widens every row; a column
  of long, mostly short, strings is better sent as TABLEDATA.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jupyter_samp.data.codecs import _frames
from jupyter_samp.data.codecs._encode import binary_chunk, binary_layout, tabledata_chunk
from jupyter_samp.data.codecs._fields import Field, plan_field
from jupyter_samp.data.codecs._frames import apply_overrides
from jupyter_samp.data.codecs._xml import document_parts
from jupyter_samp.data.payload import Segment, SegmentPayload, StreamPayload
from jupyter_samp.errors import InvalidValueError

if TYPE_CHECKING:
    from jupyter_samp.data.payload import Payload, Segment

#: The media type SAMP and HTTP servers should announce for these documents.
VOTABLE_MEDIA_TYPE = "application/x-votable+xml"
SERIALIZATIONS = ("binary2", "binary", "tabledata")

#: Binary bytes per chunk when the caller does not choose: big enough that the
#: per-chunk overhead vanishes, small enough to stay cache- and memory-friendly.
_CHUNK_BYTES = 4 << 20
#: Cells per TABLEDATA chunk (text costs ~50 bytes of Python objects per cell).
_CHUNK_CELLS = 200_000


@dataclass(frozen=True)
class VOTablePlan:
    """A validated table, ready to be written any number of times.

    The plan keeps a reference to the data, not a copy: do not modify the
    table while its document is being produced.

    Attributes
    ----------
    fields : tuple of Field
        The columns with their VOTable types decided.
    nrows : int
        Number of rows.
    serialization : str
        ``"binary2"``, ``"binary"`` or ``"tabledata"``.
    name, description : str or None
        Table name and description.
    """

    fields: tuple[Field, ...]
    nrows: int
    serialization: str
    name: str | None = None
    description: str | None = None

    @property
    def row_bytes(self) -> int:
        """Size of one binary row (BINARY2 includes the null flags)."""

        return binary_layout(self.fields, self.serialization == "binary2").itemsize

    def chunk_rows(self, requested: int | None = None) -> int:
        """Rows per chunk actually used for a requested size.

        Binary chunks are a multiple of 3 rows, so each chunk is a multiple of
        3 bytes and its base64 text needs no padding: the pieces concatenate
        into one valid base64 stream.

        Raises
        ------
        InvalidValueError
            ``requested`` is not a positive integer.
        """
        integral = isinstance(requested, numbers.Integral) and not isinstance(requested, bool)
        if requested is not None and (not integral or requested < 1):
            raise InvalidValueError(f"chunk_rows must be a positive integer, not {requested!r}")
        requested = None if requested is None else int(requested)
        if self.serialization == "tabledata":
            return requested or max(1, _CHUNK_CELLS // len(self.fields))
        rows = requested or _CHUNK_BYTES // max(1, self.row_bytes)
        return max(3, rows - rows % 3)

    def chunks(self, chunk_rows: int | None = None) -> Iterator[bytes]:
        """Yield the UTF-8 document: header, data chunks, footer.

        Peak extra memory is about one chunk (its binary rows plus their
        base64 text), whatever the size of the table.

        Raises
        ------
        InvalidValueError
            Bad ``chunk_rows`` (raised at the first ``next()``).
        """

        rows = self.chunk_rows(chunk_rows)
        head, tail = document_parts(self)
        yield head
        if self.serialization == "tabledata":
            for start in range(0, self.nrows, rows):
                yield tabledata_chunk(self.fields, start, min(self.nrows, start + rows))
        else:
            layout = binary_layout(self.fields, self.serialization == "binary2")
            for start in range(0, self.nrows, rows):
                yield binary_chunk(self.fields, layout, start, min(self.nrows, start + rows))
        yield tail

    def content_length(self, chunk_rows: int | None = None) -> int | None:
        """Exact byte length of :meth:`chunks` for binary serializations, else None.

        Lets an HTTP server send ``Content-Length`` while still streaming.
        """
        if self.serialization == "tabledata":
            return None
        head, tail = document_parts(self)
        rows, size = self.chunk_rows(chunk_rows), self.row_bytes
        full, rest = divmod(self.nrows, rows)
        body = full * (4 * -(-rows * size // 3) + 1)
        body += (4 * -(-rest * size // 3) + 1) if rest else 0
        return len(head) + body + len(tail)

    def segments(self, chunk_rows: int | None = None) -> list[Segment] | None:
        """The document as :class:`~jupyter_samp.data.payload.Segment` pieces of known size.

        Binary serializations only (None for TABLEDATA, whose size is not
        known before it is written). Concatenating every segment's bytes gives
        :meth:`chunks`; a server can produce just the rows a byte range needs.
        """
        if self.serialization == "tabledata":
            return None

        head, tail = document_parts(self)
        rows, size = self.chunk_rows(chunk_rows), self.row_bytes
        layout = binary_layout(self.fields, self.serialization == "binary2")
        pieces = [Segment(len(head), lambda: head)]
        for start in range(0, self.nrows, rows):
            stop = min(self.nrows, start + rows)
            encoded = 4 * -(-(stop - start) * size // 3) + 1  # base64 text plus newline

            def produce(start: int = start, stop: int = stop) -> bytes:
                return binary_chunk(self.fields, layout, start, stop)

            pieces.append(Segment(encoded, produce))
        pieces.append(Segment(len(tail), lambda: tail))
        return pieces

    def payload(self, chunk_rows: int | None = None) -> Payload:
        """A :class:`~jupyter_samp.data.payload.Payload` serving this document, streamed."""

        segments = self.segments(chunk_rows)
        if segments is None:
            return StreamPayload(lambda: self.chunks(chunk_rows))
        return SegmentPayload(segments)

    def to_bytes(self, chunk_rows: int | None = None) -> bytes:
        """The whole document as one bytes object."""
        return b"".join(self.chunks(chunk_rows))


def plan_votable(
    data: Any,
    *,
    name: str | None = None,
    description: str | None = None,
    serialization: str = "binary2",
    index: bool = True,
    units: Mapping[Any, Any] | None = None,
    ucds: Mapping[Any, str] | None = None,
    descriptions: Mapping[Any, str] | None = None,
) -> VOTablePlan:
    """Check a table and decide how every column is written, producing no output.

    Parameters
    ----------
    data : astropy.table.Table, QTable, pandas.DataFrame or pandas.Series
        The table. Astropy column metadata (``unit``, ``description``,
        ``meta["ucd"]``) and pandas ``df.attrs`` entries (``"units"``,
        ``"ucds"``, ``"descriptions"`` dicts; ``"name"``, ``"description"``)
        are written to the document.
    name, description : str, optional
        Table name and description; default ``meta``/``attrs`` ``"name"`` and
        ``"description"``.
    serialization : {"binary2", "binary", "tabledata"}
        How the rows are encoded.
    index : bool
        Write a DataFrame's index as leading column(s), unless it is the
        default ``RangeIndex``.
    units, ucds, descriptions : dict, optional
        Per-column metadata, keyed by column name; they override the table's.

    Returns
    -------
    VOTablePlan

    Raises
    ------
    InvalidValueError
        Unknown serialization, unsupported data type, a table with no columns,
        metadata for a column that does not exist, or a column that cannot be
        written (see the module docstring); the message names the column.
    """
    if serialization not in SERIALIZATIONS:
        raise InvalidValueError(
            f"serialization must be one of {', '.join(SERIALIZATIONS)}, not {serialization!r}"
        )
    sources, meta = _sources_and_meta(data, index)
    if not sources:
        raise InvalidValueError("cannot write a VOTable with no columns")

    given = {"unit": units, "ucd": ucds, "description": descriptions}
    sources = apply_overrides(sources, {k: v for k, v in given.items() if v}, strict=True)
    fields = tuple(plan_field(source, serialization) for source in sources)
    plan = VOTablePlan(
        fields,
        sources[0].nrows,
        serialization,
        name if name is not None else _optional_str(meta.get("name")),
        description if description is not None else _optional_str(meta.get("description")),
    )
    document_parts(plan)  # refuses names XML cannot hold, before any output
    return plan


def iter_votable(data: Any, *, chunk_rows: int | None = None, **options: Any) -> Iterator[bytes]:
    """Plan ``data`` now, and return an iterator over the document's bytes.

    Validation happens in this call, not at the first ``next()``, so errors
    surface before a response is started. ``options`` are those of
    :func:`plan_votable`.

    Raises
    ------
    InvalidValueError
        As :func:`plan_votable`, or a bad ``chunk_rows``.
    """
    plan = plan_votable(data, **options)
    plan.chunk_rows(chunk_rows)  # validate now rather than inside the generator
    return plan.chunks(chunk_rows)


def votable_bytes(data: Any, **options: Any) -> bytes:
    """The whole VOTable document for ``data`` (options as :func:`iter_votable`).

    Raises
    ------
    InvalidValueError
        As :func:`plan_votable`.
    """
    return b"".join(iter_votable(data, **options))


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _sources_and_meta(data: Any, index: bool) -> tuple[list[Any], dict[str, Any]]:
    """Column sources plus table-level metadata, for any supported table type.

    Raises
    ------
    InvalidValueError
        ``data`` is not an astropy Table, a pandas DataFrame/Series or a numpy
        structured array.
    """

    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.Series):
        data = data.to_frame(name="value" if data.name is None else data.name)
    if _frames.is_dataframe(data):
        meta = {k: (data.attrs or {}).get(k) for k in ("name", "description")}
        return _frames.dataframe_sources(data, index=index), meta
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(data, numpy.ndarray) and data.dtype.names:
        from astropy.table import Table

        data = Table(data, copy=False)
    table_module = sys.modules.get("astropy.table")
    if table_module is not None and isinstance(data, table_module.Table):
        meta = {k: data.meta.get(k) for k in ("name", "description")}
        return _frames.table_sources(data), meta
    raise InvalidValueError(
        f"cannot write a {type(data).__name__} as a VOTable; "
        "give an astropy Table, a pandas DataFrame or a numpy structured array"
    )
