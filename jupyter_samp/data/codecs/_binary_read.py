"""A vectorised reader for single-table BINARY/BINARY2 VOTables with fixed-size fields.

astropy parses binary VOTable streams row by row in Python (about 12 s for
a million rows of ten doubles). A binary stream of fixed-size fields is just
a packed array of big-endian records, so it can be read with one base64
decode and one ``numpy.frombuffer``. This module does that for the documents
it can handle completely (one TABLE, a base64 ``STREAM`` inline, every field
of fixed size and of a plain type) and returns None for anything else, which
the caller then gives to astropy. The column metadata is still astropy's: the
part of the document before ``<DATA>`` is parsed by astropy, so names, units,
UCDs, descriptions and ``VALUES`` are read exactly as it reads them.
"""

from __future__ import annotations

import binascii
import io
import re
from typing import Any

import numpy as np
from astropy.io.votable import parse
from astropy.table import MaskedColumn, Table

#: Anything exposing the buffer protocol: bytes, memoryview, mmap.
Buffer = Any

_STREAM = re.compile(rb"<STREAM\b([^>]*)>")
_TABLE = re.compile(rb"<TABLE[\s>]")
_MARKUP = re.compile(rb"<")
_NROWS = re.compile(rb'(<TABLE\b[^>]*?)\s+nrows\s*=\s*("[^"]*"|\'[^\']*\')')
_NUMERIC = {
    "unsignedByte": "u1", "short": ">i2", "int": ">i4", "long": ">i8",
    "float": ">f4", "double": ">f8",
}  # fmt: skip
_TRUE = np.frombuffer(b"Tt1", np.uint8)
_NULL_BOOL = np.frombuffer(b"? \0", np.uint8)


def read_binary_votable(buffer: Buffer) -> Any:
    """Read ``buffer`` into an astropy Table, or return None if this reader cannot.

    Nulls become masked values: BINARY2 null flags, NaN floats, integers
    equal to the field's ``<VALUES null>``, and ``?`` booleans.
    """
    view = memoryview(buffer).cast("B")
    found = _locate(view)
    if found is None:
        return None
    head_end, stream_start, stream_end, binary2 = found
    empty = _header_table(bytes(view[:head_end]))
    if empty is None:
        return None
    fields, table = empty
    layout = _layout(fields, binary2)
    if layout is None:
        return None
    raw = binascii.a2b_base64(view[stream_start:stream_end])
    if len(raw) % layout.itemsize:
        return None
    records = np.frombuffer(raw, layout)
    return _build(table, fields, records, binary2)


def _locate(view: memoryview) -> tuple[int, int, int, bool] | None:
    """Offsets of ``<DATA``, the stream text and its end; None unless one inline base64 stream."""
    data = bytes(view[: min(len(view), 1 << 20)])  # the header is near the start
    data_at = data.find(b"<DATA")
    if data_at < 0:
        return None
    match = _STREAM.search(data, data_at)
    if match is None or b"base64" not in match.group(1) or b"href" in match.group(1):
        return None
    kind = data[data_at : match.start()]
    if b"<BINARY" not in kind or b"<FITS" in kind or len(_TABLE.findall(data[:data_at])) != 1:
        return None
    # Base64 text holds no "<": the first one after the stream's start ends it.
    close = _MARKUP.search(view, match.end())
    if close is None or bytes(view[close.start() : close.start() + 9]) != b"</STREAM>":
        return None
    end = close.start()
    if _TABLE.search(view, end) is not None:
        return None  # more tables follow
    return data_at, match.end(), end, b"<BINARY2" in kind


def _header_table(head: bytes) -> tuple[list[Any], Any] | None:
    """astropy's reading of the document up to ``<DATA``: the fields and an empty table."""

    if head.count(b"<RESOURCE") != 1:
        return None
    head = _NROWS.sub(rb"\1", head)  # astropy would preallocate nrows rows
    try:
        document = parse(io.BytesIO(head + b"</TABLE></RESOURCE></VOTABLE>"), verify="ignore")
        votable = document.get_first_table()
        return list(votable.fields), votable.to_table(use_names_over_ids=True)
    except Exception:
        return None  # let the full parser explain what is wrong


def _layout(fields: list[Any], binary2: bool) -> np.dtype | None:
    """The packed record dtype, or None for variable-size or unusual fields."""
    names, formats = [], []
    if binary2:
        names.append("__flags")
        formats.append(np.dtype(("u1", ((len(fields) + 7) // 8,))))
    for i, field in enumerate(fields):
        shape = _shape(field.arraysize)
        if shape is None:
            return None
        if field.datatype in _NUMERIC:
            fmt = np.dtype((_NUMERIC[field.datatype], shape)) if shape else np.dtype(
                _NUMERIC[field.datatype])
        elif field.datatype == "boolean":
            fmt = np.dtype(("u1", shape)) if shape else np.dtype("u1")
        elif field.datatype in ("char", "unicodeChar") and len(shape) <= 1:
            width = shape[0] if shape else 1
            fmt = np.dtype(f"S{width}") if field.datatype == "char" else np.dtype((">u2", (width,)))
        else:
            return None
        names.append(f"f{i}")
        formats.append(fmt)
    return np.dtype({"names": names, "formats": formats})


def _shape(arraysize: str | None) -> tuple[int, ...] | None:
    """numpy shape of a fixed ``arraysize`` (``()`` for scalars); None for variable ones."""
    if not arraysize:
        return ()
    if "*" in arraysize:
        return None
    try:
        return tuple(int(n) for n in reversed(arraysize.split("x")))
    except ValueError:
        return None


def _build(empty: Any, fields: list[Any], records: np.ndarray, binary2: bool) -> Any:

    flags = None
    if binary2:
        bits = np.unpackbits(records["__flags"], axis=1)
        flags = bits[:, : len(fields)].astype(bool)
    columns = []
    for i, (field, template) in enumerate(zip(fields, empty.itercols(), strict=True)):
        values, mask = _values(field, records[f"f{i}"])
        if flags is not None:
            row_null = flags[:, i].reshape((-1,) + (1,) * (values.ndim - 1))
            mask = row_null if mask is None else (mask | row_null)
        if mask is not None:
            mask = np.broadcast_to(mask, values.shape)
        columns.append(MaskedColumn(
            values, name=template.info.name, mask=mask, unit=template.unit,
            description=template.info.description, meta=dict(template.info.meta or {}),
            format=template.info.format,
        ))
    table = Table(columns, meta=dict(empty.meta), copy=False)
    return table


def _values(field: Any, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Native-order values of one field and the nulls its own encoding marks."""
    kind = field.datatype
    if kind in _NUMERIC:
        values = packed.astype(packed.dtype.base.newbyteorder("="))
        if values.dtype.kind == "f":
            return values, np.isnan(values)
        null = getattr(field.values, "null", None)
        return values, (values == null) if null is not None else None
    if kind == "boolean":
        return np.isin(packed, _TRUE), np.isin(packed, _NULL_BOOL)
    if kind == "char":
        return np.char.decode(packed, "latin-1") if packed.size else packed.astype("U1"), None
    return _utf16(packed), None


def _utf16(codes: np.ndarray) -> np.ndarray:
    """UTF-16BE code units (one row per string, zero-padded) as a ``U`` array."""
    width = codes.shape[1] if codes.ndim > 1 else 1
    if codes.size == 0:
        return np.zeros(len(codes), "U1")
    if not ((codes >= 0xD800) & (codes <= 0xDFFF)).any():
        wide = np.ascontiguousarray(codes.astype(np.uint32))
        return wide.view(f"U{width}").reshape(len(codes))
    # Surrogate pairs: decode each string (rare: characters beyond U+FFFF).
    big = np.ascontiguousarray(codes.astype(">u2"))
    texts = [row.tobytes().decode("utf-16-be", "replace").rstrip("\0") for row in big]
    return np.array(texts, dtype=str)
