"""Encode a range of rows: BINARY/BINARY2 as base64 text, or TABLEDATA rows.

Binary rows are built as one packed numpy structured array per chunk, with
big-endian field dtypes, so a chunk costs a handful of vectorised copies and
one ``base64.b64encode`` call instead of a Python loop over rows or cells.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence

import numpy as np

from jupyter_samp.data.codecs._fields import Field, cell_mask, iso_text

_T, _F, _UNKNOWN = 84, 70, 63  # ord("T"), ord("F"), ord("?"): VOTable boolean bytes
_FLAGS = "nulls"


def binary_layout(fields: Sequence[Field], with_flags: bool) -> np.dtype:
    """The packed dtype of one binary row; BINARY2 rows start with the null flags."""
    names = [f"f{i}" for i in range(len(fields))]
    formats = [field.binary for field in fields]
    if with_flags:
        names.insert(0, _FLAGS)
        formats.insert(0, np.dtype(("u1", ((len(fields) + 7) // 8,))))
    # No "offsets"/"align": numpy packs the fields back to back, as VOTable does.
    return np.dtype({"names": names, "formats": formats})


def binary_chunk(fields: Sequence[Field], layout: np.dtype, start: int, stop: int) -> bytes:
    """Rows ``[start, stop)`` as one line of base64 text, newline included.

    The caller keeps every chunk but the last a multiple of 3 bytes long, so
    no chunk but the last ends in ``=`` padding and the lines together form one
    valid base64 stream (decoders skip the newlines).
    """
    count = stop - start
    raw = np.empty(count * layout.itemsize, np.uint8)
    rows = raw.view(layout)  # write through the structured view, encode the flat bytes
    nulls: list[np.ndarray | None] = []
    for i, field in enumerate(fields):
        values, null = binary_values(field, start, stop)
        rows[f"f{i}"] = values  # casts to the big-endian field dtype as it copies
        nulls.append(null)
    if _FLAGS in (layout.names or ()):
        rows[_FLAGS] = _null_flags(nulls, count, layout[_FLAGS].shape[0])
    # b2a_base64 appends the newline in the same allocation: no extra copy.
    return binascii.b2a_base64(raw.data, newline=True)


def _null_flags(nulls: list[np.ndarray | None], count: int, width: int) -> np.ndarray | int:
    """BINARY2 null flags: one bit per field, most significant bit of byte 0 first."""
    if all(null is None for null in nulls):
        return 0
    matrix = np.zeros((count, width * 8), bool)
    for i, null in enumerate(nulls):
        if null is not None:
            matrix[:, i] = null
    return np.packbits(matrix, axis=1)  # bitorder="big" is exactly the VOTable order


def _expand(mask: np.ndarray | None, values: np.ndarray) -> np.ndarray | None:
    """A mask broadcast to the values' shape (per-row masks cover whole array cells)."""
    if mask is None:
        return None
    extra = values.ndim - mask.ndim
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * extra), values.shape)


def binary_values(field: Field, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Values ready to store in the binary field, and the per-row null flags.

    Nulls are written the VOTable way as well as flagged: NaN for floats, the
    ``<VALUES null>`` sentinel for integers when the field has one, ``?`` for
    booleans and an empty string for text (text has no null value in BINARY).
    """
    values, mask = field.source.fetch(start, stop)
    nulls = None if mask is None else cell_mask(mask)
    full = _expand(mask, values)
    kind = field.source.kind
    if kind == "float":
        values = values if full is None else np.where(full, np.nan, values)
    elif kind == "int":
        values = _with_sentinel(field, values, full)
    elif kind == "bool":
        values = _boolean_bytes(values, full)
    elif kind == "datetime":
        values = iso_strings(field, values, full).astype(field.binary)
    elif kind in ("str", "bytes"):
        values = _text_bytes(field, values, full)
    return values, nulls


def _with_sentinel(field: Field, values: np.ndarray, full: np.ndarray | None) -> np.ndarray:
    """Integers with null elements replaced by the field's sentinel, if it has one.

    The values are first cast to the field's type: the sentinel may not fit the
    source type (-32768 for a uint8 column widened to short).
    """
    if full is None or field.null is None:
        return values
    target = field.binary.base.newbyteorder("=")
    return np.where(full, np.array(field.null, target), values.astype(target))


def _boolean_bytes(values: np.ndarray, full: np.ndarray | None) -> np.ndarray:
    codes = np.where(values, _T, _F).astype(np.uint8)
    if full is not None:
        codes[full] = _UNKNOWN
    return codes


def _text_bytes(field: Field, values: np.ndarray, full: np.ndarray | None) -> np.ndarray:
    """Text as fixed-width ``char`` (ASCII) or ``unicodeChar`` (UTF-16BE) bytes."""
    if full is not None:
        values = np.where(full, values.dtype.type(), values)
    if field.datatype == "char":
        return values.astype(field.binary)  # ASCII was checked during the scan
    return utf16(values, field.width, field.bmp)


def utf16(values: np.ndarray, width: int, bmp: bool) -> np.ndarray:
    """UTF-16BE bytes of a ``U`` array, padded with zero bytes to ``width`` code units.

    When every character lies in the Basic Multilingual Plane a UTF-16 code
    unit equals the code point, so numpy's UCS-4 storage converts with one
    cast; otherwise (surrogate pairs needed) each string is encoded in Python.
    """
    if not len(values):
        return np.zeros(0, f"S{2 * width}")
    if bmp:
        codes = values.astype(f"U{width}").view(np.uint32).reshape(len(values), width)
        return codes.astype(">u2").view(f"S{2 * width}").reshape(len(values))
    encoded = [text.encode("utf-16-be") for text in values.tolist()]
    return np.array(encoded, dtype=f"S{2 * width}")


def iso_strings(field: Field, values: np.ndarray, full: np.ndarray | None) -> np.ndarray:
    """Datetimes as ISO-8601 text at the field's precision; nulls become ``""``."""
    text = iso_text(values, field.time_unit)
    if field.source.utc:
        text = np.char.add(text, "Z")
    if full is not None:
        text = np.where(full, "", text)
    return text


# ------------------------------------------------------------------ TABLEDATA


def tabledata_chunk(fields: Sequence[Field], start: int, stop: int) -> bytes:
    """Rows ``[start, stop)`` as ``<TR><TD>...</TD></TR>`` lines, UTF-8 encoded."""
    if stop <= start:
        return b""
    columns = [text_cells(field, start, stop) for field in fields]
    # Joining in C (str.join over zip) is far faster than formatting each row.
    rows = map("</TD><TD>".join, zip(*columns, strict=True))
    text = "<TR><TD>" + "</TD></TR>\n<TR><TD>".join(rows) + "</TD></TR>\n"
    # Escaped values never contain "<", so this only touches null cells.
    return text.replace("<TD></TD>", "<TD/>").encode("utf-8")


def text_cells(field: Field, start: int, stop: int) -> list[str]:
    """The XML-escaped text of each cell; null cells are ``""`` (written as ``<TD/>``).

    Array cells always list all their elements (a fixed-size array cannot be
    empty), with NaN, the integer sentinel or ``?`` for null elements.
    """
    values, mask = field.source.fetch(start, stop)
    full = _expand(mask, values)
    kind = field.source.kind
    flat: list[str]
    if kind == "float":
        flat = float_text(values if full is None else np.where(full, np.nan, values))
    elif kind == "int":
        flat = list(map(str, _with_sentinel(field, values, full).ravel().tolist()))
    elif kind == "bool":
        flat = _boolean_bytes(values, full).ravel().view("S1").astype("U").tolist()
    elif kind == "datetime":
        flat = escape_all(iso_strings(field, values, full).tolist())
    else:
        flat = escape_all(_as_str(values, full).tolist())
    if field.source.shape:
        return _group(flat, len(values), int(np.prod(field.source.shape)))
    cells = flat
    if mask is not None:
        for i in np.flatnonzero(cell_mask(mask)).tolist():
            cells[i] = ""
    return cells


def _as_str(values: np.ndarray, full: np.ndarray | None) -> np.ndarray:
    if full is not None:
        values = np.where(full, values.dtype.type(), values)
    return values.astype("U") if values.dtype.kind == "S" else values


def _group(flat: list[str], rows: int, per_row: int) -> list[str]:
    """Join the elements of array cells with spaces, one string per row."""
    if per_row == 1:
        return flat
    return [" ".join(flat[i * per_row : (i + 1) * per_row]) for i in range(rows)]


def float_text(values: np.ndarray) -> list[str]:
    """Shortest round-trip text of floats, with VOTable's ``NaN``/``+Inf``/``-Inf``."""
    flat = values.ravel()
    if flat.dtype.itemsize < 4:
        flat = flat.astype(np.float32)  # float16 is written as float
    if flat.dtype.itemsize >= 8:
        text = list(map(repr, flat.astype(np.float64).tolist()))  # Python's repr is shortest
    else:
        text = flat.astype("U").tolist()  # numpy's shortest float32 text
    special = ~np.isfinite(flat)
    for i in np.flatnonzero(special).tolist():
        value = flat[i]
        text[i] = "NaN" if np.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return text


def escape_all(texts: list[str]) -> list[str]:
    """XML-escape many strings at once (one join, three replaces, one split)."""
    if not texts:
        return texts
    # NUL cannot occur: it is not allowed in XML, and the scan refuses it for TABLEDATA.
    joined = "\0".join(texts)
    if not any(c in joined for c in "&<>\r"):
        return texts
    joined = joined.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return joined.replace("\r", "&#13;").split("\0")
