"""A vectorised FITS table writer: FITS-plus (a BINTABLE with its VOTable metadata).

Typical use::

    from jupyter_samp.data.codecs.fits_fast import plan_fits_table

    plan = plan_fits_table(df, name="stars")      # validates, writes nothing
    if plan.fits_ok:
        payload = plan.payload()                   # streamed, sizes known in advance

The file is what STIL (TOPCAT, STILTS) calls *FITS-plus*: the primary HDU
holds the bytes of a DATA-less VOTable document describing the table (names,
units, UCDs, descriptions, ``xtype``, null values, in full Unicode), marked by
``VOTMETA = T`` as the fifth card, and the first extension holds the rows as an
ordinary BINTABLE, which any FITS reader understands. TOPCAT maps such a file
when it is on local disk, so loading it costs almost nothing.

Rows are written a chunk at a time from the same column plan as the VOTable
writer (:func:`~jupyter_samp.data.codecs.votable.plan_votable`, BINARY
rules): one packed big-endian structured array per chunk, no per-row Python.
Nulls are NaN for floats, ``TNULLn`` (a value the data does not use) for
integers, byte 0 for logicals and an empty string for text.

FITS text is bytes: STIL reads it as Latin-1, so a table with non-ASCII text
is not offered as FITS (:attr:`FitsTablePlan.fits_ok` is False, and
:attr:`FitsTablePlan.why_not` says why); send it as a VOTable instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jupyter_samp.data.codecs._encode import binary_layout, binary_values
from jupyter_samp.data.codecs._fields import Field
from jupyter_samp.data.codecs._xml import _DATA_CLOSE, _DATA_OPEN, document_parts
from jupyter_samp.data.codecs.votable import VOTablePlan, plan_votable
from jupyter_samp.data.labels import ascii_label
from jupyter_samp.data.payload import Segment, SegmentPayload

BLOCK = 2880
#: Bytes of rows per chunk: large enough that per-chunk costs vanish, small
#: enough that the writer's extra memory stays a few MB whatever the table.
CHUNK_BYTES = 8 << 20
_QUESTION = 63  # ord("?"): VOTable's null boolean, byte 0 in FITS
_FORMS = {"f4": "E", "f8": "D", "u1": "B", "i2": "I", "i4": "J", "i8": "K"}
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def card(key: str, value: Any = None, comment: str = "") -> bytes:
    """One 80-byte header card; strings are quoted (and cut to fit), booleans T/F.

    ``value`` None gives a keyword with no value (``END``, ``COMMENT``...).
    """
    if value is None:
        text = f"{key:<8}{comment}"
    else:
        if isinstance(value, bool):
            shown = f"{'T' if value else 'F':>20}"
        elif isinstance(value, (int, np.integer)):
            shown = f"{int(value):>20}"
        else:
            quoted = _UNPRINTABLE.sub("?", str(value)).replace("'", "''")[:66]
            if quoted.endswith("'") and not quoted.endswith("''"):
                quoted = quoted[:-1]  # do not split a doubled quote
            shown = f"'{quoted:<8}'"
        text = f"{key:<8}= {shown}" + (f" / {comment}" if comment else "")
    return _UNPRINTABLE.sub("?", text)[:80].ljust(80).encode("ascii")


def header_block(cards: Sequence[bytes]) -> bytes:
    """Cards plus ``END``, padded with spaces to a whole number of FITS blocks."""
    body = b"".join(cards) + card("END")
    return body + b" " * (-len(body) % BLOCK)


def _column_form(field: Field) -> tuple[str, str | None] | None:
    """``(TFORM, TDIM)`` of a field, or None when FITS cannot hold it faithfully."""
    base, shape = field.binary.base, field.binary.shape
    if field.datatype == "unicodeChar":
        return None
    if field.datatype == "char":
        return (f"{base.itemsize}A", None) if not shape else None
    form = "L" if field.datatype == "boolean" else _FORMS[f"{base.kind}{base.itemsize}"]
    repeat = math.prod(shape) if shape else 1
    tdim = "(" + ",".join(str(n) for n in reversed(shape)) + ")" if len(shape) > 1 else None
    return f"{repeat}{form}", tdim


@dataclass(frozen=True)
class FitsTablePlan:
    """A validated table and how each column is written as FITS.

    Attributes
    ----------
    votable : VOTablePlan
        The column plan (BINARY rules), shared with the VOTable writer.
    forms : tuple
        ``(TFORM, TDIM)`` per column, or None for a column FITS cannot hold.
    """

    votable: VOTablePlan
    forms: tuple[tuple[str, str | None] | None, ...]

    @property
    def nrows(self) -> int:
        """Rows of the table."""
        return self.votable.nrows

    @property
    def fits_ok(self) -> bool:
        """True when every column can be written as FITS without loss."""
        return all(form is not None for form in self.forms)

    @property
    def why_not(self) -> str | None:
        """Why the table cannot be written as FITS, or None if it can."""
        bad = [f.source.name for f, form in zip(self.votable.fields, self.forms, strict=True)
               if form is None]
        if not bad:
            return None
        return (f"column(s) {', '.join(map(repr, bad))} hold non-ASCII or multi-dimensional "
                "text, which FITS tables cannot carry")

    @property
    def row_bytes(self) -> int:
        """Bytes of one BINTABLE row."""
        return binary_layout(self.votable.fields, False).itemsize

    def primary_hdu(self) -> bytes:
        """The primary HDU: header plus the VOTable metadata document, padded."""
        head, tail = document_parts(self.votable)
        opening, closing = _DATA_OPEN["binary"].encode(), _DATA_CLOSE["binary"].encode()
        xml = head[: len(head) - len(opening)] + tail[len(closing):]
        cards = [card("SIMPLE", True), card("BITPIX", 8), card("NAXIS", 1),
                 card("NAXIS1", len(xml)),
                 card("VOTMETA", True, "Table metadata in VOTable format"),
                 card("EXTEND", True), card("NTABLE", 1, "Number of following BINTABLE HDUs")]
        return header_block(cards) + xml + bytes(-len(xml) % BLOCK)

    def table_header(self) -> bytes:
        """The BINTABLE header (ASCII renderings of names and units)."""
        fields = self.votable.fields
        cards = [card("XTENSION", "BINTABLE"), card("BITPIX", 8), card("NAXIS", 2),
                 card("NAXIS1", self.row_bytes), card("NAXIS2", self.nrows),
                 card("PCOUNT", 0), card("GCOUNT", 1), card("TFIELDS", len(fields))]
        if self.votable.name:
            cards.append(card("EXTNAME", ascii_label(self.votable.name)))
        for i, (field, form) in enumerate(zip(fields, self.forms, strict=True), start=1):
            assert form is not None
            source = field.source
            cards += [card(f"TTYPE{i}", ascii_label(source.name)), card(f"TFORM{i}", form[0])]
            if form[1]:
                cards.append(card(f"TDIM{i}", form[1]))
            if source.unit:
                cards.append(card(f"TUNIT{i}", source.unit))
            if field.null is not None:
                cards.append(card(f"TNULL{i}", int(field.null)))
            if source.ucd:
                cards.append(card(f"TUCD{i}", source.ucd))
            if source.description:  # for plain FITS readers; VOTable metadata has it in full
                cards.append(card(f"TCOMM{i}", ascii_label(source.description)))
        return header_block(cards)

    def chunk_rows(self) -> int:
        """Rows per data chunk."""
        return max(1, CHUNK_BYTES // max(1, self.row_bytes))

    def rows(self, start: int, stop: int) -> memoryview:
        """Rows ``[start, stop)`` as packed big-endian bytes (a view of a new buffer)."""
        fields = self.votable.fields
        layout = binary_layout(fields, False)
        raw = np.empty((stop - start) * layout.itemsize, np.uint8)
        packed = raw.view(layout)
        for i, field in enumerate(fields):
            values, nulls = binary_values(field, start, stop)
            if field.datatype == "boolean" and nulls is not None:
                values = np.where(values == _QUESTION, 0, values).astype(np.uint8)
            packed[f"f{i}"] = values  # casts to the big-endian field dtype as it copies
        return raw.data

    def segments(self) -> list[Segment]:
        """The file as segments of known size (see :class:`SegmentPayload`).

        Raises
        ------
        ValueError
            The table cannot be written as FITS (:attr:`fits_ok` is False).
        """
        if not self.fits_ok:
            raise ValueError(self.why_not)
        primary, header = self.primary_hdu(), self.table_header()
        pieces = [Segment(len(primary), lambda: primary), Segment(len(header), lambda: header)]
        step, size = self.chunk_rows(), self.row_bytes
        for start in range(0, self.nrows, step):
            stop = min(self.nrows, start + step)

            def produce(start: int = start, stop: int = stop) -> memoryview:
                return self.rows(start, stop)

            pieces.append(Segment((stop - start) * size, produce))
        pad = -self.nrows * size % BLOCK
        pieces.append(Segment(pad, lambda: bytes(pad)))
        return pieces

    def payload(self) -> SegmentPayload:
        """A payload serving the file, produced chunk by chunk as it is read.

        Raises
        ------
        ValueError
            The table cannot be written as FITS.
        """
        return SegmentPayload(self.segments())


def plan_fits_table(data: Any, **options: Any) -> FitsTablePlan:
    """Check a table and plan it as FITS-plus, producing no output.

    Parameters
    ----------
    data : DataFrame, Table, QTable, Series or structured ndarray
        The table.
    **options
        Those of :func:`~jupyter_samp.data.codecs.votable.plan_votable`
        except ``serialization``: ``name``, ``description``, ``index``,
        ``units``, ``ucds``, ``descriptions``.

    Raises
    ------
    InvalidValueError
        As :func:`~jupyter_samp.data.codecs.votable.plan_votable`: data that
        cannot be written at all. Data FITS alone cannot carry is not an
        error: see :attr:`FitsTablePlan.fits_ok`.
    """
    plan = plan_votable(data, serialization="binary", **options)
    return FitsTablePlan(plan, tuple(_column_form(field) for field in plan.fields))
