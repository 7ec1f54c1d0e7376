"""Choose the VOTable type of each column, scanning its data where needed.

Integer, text and datetime columns are read once (in bounded chunks) before
any output is produced, so every problem (a uint64 too large for ``long``, a
lone surrogate in a string, no free null sentinel) is reported before a single
byte is sent. The scan also fixes everything the encoders need to know in
advance: string widths, null sentinels and the datetime precision, so that
every row of a binary stream has the same size. Float and boolean columns
need no scan at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from jupyter_samp.data.codecs._sources import Source
from jupyter_samp.errors import InvalidValueError

#: Rows read per step while scanning: bounded memory, few Python iterations.
SCAN_ROWS = 1 << 18

#: numpy integer dtype -> the VOTable type that holds all its values
#: (VOTable has no signed byte and no unsigned 16/32/64-bit types).
_INT_TARGETS = {
    "i1": "i2", "i2": "i2", "i4": "i4", "i8": "i8",
    "u1": "u1", "u2": "i4", "u4": "i8", "u8": "i8",
}  # fmt: skip
_WIDER = {"u1": "i2", "i2": "i4", "i4": "i8"}
_DATATYPES = {
    "u1": "unsignedByte", "i2": "short", "i4": "int", "i8": "long",
    "f4": "float", "f8": "double",
}  # fmt: skip
_DATETIME_UNITS = ("s", "ms", "us", "ns")


@dataclass(frozen=True)
class Field:
    """One column with its VOTable type fixed.

    Attributes
    ----------
    source : Source
        Where the values come from.
    datatype : str
        VOTable ``datatype`` attribute.
    arraysize : str or None
        VOTable ``arraysize`` attribute (``"12"``, ``"3x2"``) or None.
    binary : numpy.dtype
        Big-endian dtype of this field inside one binary row.
    null : int or None
        Integer sentinel declared with ``<VALUES null=...>``, if needed.
    width : int
        For text: characters (``char``) or UTF-16 code units (``unicodeChar``).
    bmp : bool
        For ``unicodeChar``: every character is in the Basic Multilingual
        Plane, which allows the fast vectorised UTF-16 conversion.
    time_unit : str or None
        For datetimes: the precision of the ISO strings (``s`` ... ``ns``).
    """

    source: Source
    datatype: str
    arraysize: str | None
    binary: np.dtype
    null: int | None = None
    width: int = 0
    bmp: bool = True
    time_unit: str | None = None


def chunks(source: Source, rows: int = SCAN_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(values, mask)`` chunks of a source; the mask is always an array."""
    for start in range(0, source.nrows, rows):
        values, mask = source.fetch(start, min(source.nrows, start + rows))
        yield values, (np.zeros(len(values), bool) if mask is None else mask)


def cell_mask(mask: np.ndarray) -> np.ndarray:
    """Per-row null flags: an array cell is null only when all its elements are."""
    return mask if mask.ndim <= 1 else np.asarray(mask.reshape(len(mask), -1).all(axis=1))


def _shaped(base: str, shape: tuple[int, ...]) -> np.dtype:
    return np.dtype((base, shape)) if shape else np.dtype(base)


def _arraysize(shape: tuple[int, ...]) -> str | None:
    # VOTable lists dimensions fastest-varying first, numpy (C order) last.
    return "x".join(str(n) for n in reversed(shape)) if shape else None


def plan_field(source: Source, serialization: str) -> Field:
    """Scan ``source`` and choose its VOTable representation.

    Raises
    ------
    InvalidValueError
        The data cannot be written: uint64 values above the ``long`` range,
        int64 data leaving no value free for a null sentinel, non-ASCII bytes,
        unpaired surrogates, or (TABLEDATA only) characters XML cannot hold.
    """
    kind = source.kind
    size, shape = _arraysize(source.shape), source.shape
    if kind == "float":
        # float16 widens to float, longdouble narrows to double.
        base = "f8" if _probe_dtype(source).itemsize > 4 else "f4"
        return Field(source, _DATATYPES[base], size, _shaped(">" + base, shape))
    if kind == "bool":
        # One byte per value: 'T', 'F' or '?' (null).
        return Field(source, "boolean", size, _shaped("u1", shape))
    if kind == "int":
        return _plan_int(source, serialization)
    if kind == "datetime":
        return _plan_datetime(source)
    return _plan_text(source, serialization)


def _probe_dtype(source: Source) -> np.dtype:
    """The dtype a source produces (read from an empty slice, which costs nothing)."""
    return source.fetch(0, 0)[0].dtype


def _plan_int(source: Source, serialization: str) -> Field:
    dtype = _probe_dtype(source)
    target = _INT_TARGETS[f"{dtype.kind}{dtype.itemsize}"]
    lo, hi, has_null, partial = None, None, False, False
    for values, mask in chunks(source):
        cells = cell_mask(mask)
        has_null = has_null or bool(cells.any())
        partial = partial or _partly_null(mask, cells)
        valid = values[~mask] if mask.any() else values
        if valid.size:
            lo = valid.min() if lo is None else min(lo, valid.min())
            hi = valid.max() if hi is None else max(hi, valid.max())
    if dtype.kind == "u" and hi is not None and int(hi) > np.iinfo(np.int64).max:
        raise InvalidValueError(
            f"column {source.name!r} holds unsigned values up to {int(hi)}, "
            "beyond the range of VOTable long (2**63 - 1)"
        )
    null = None
    # Only BINARY2 flags null cells. BINARY needs a sentinel for any null, and
    # so do array cells in TABLEDATA (they must list every element) and null
    # elements inside otherwise valid array cells, in every serialization.
    array_nulls = has_null and bool(source.shape) and serialization == "tabledata"
    if partial or array_nulls or (has_null and serialization == "binary"):
        target, null = _choose_sentinel(source, target, lo, hi)
    shape = source.shape
    return Field(source, _DATATYPES[target], _arraysize(shape), _shaped(">" + target, shape), null)


def _partly_null(mask: np.ndarray, cells: np.ndarray) -> bool:
    """True when some array cell has null elements but is not null as a whole."""
    if mask.ndim <= 1:
        return False
    return bool((mask.reshape(len(mask), -1).any(axis=1) & ~cells).any())


def _candidates(target: str) -> list[int]:
    """Sentinel candidates, most conventional first: the type's extreme values."""
    info = np.iinfo(np.dtype(target))
    first, step = (info.max, -1) if info.min == 0 else (info.min, 1)
    other = info.min if info.min == 0 else info.max
    return [v for i in range(32) for v in (first + step * i, other - step * i)]


def _choose_sentinel(source: Source, target: str, lo: object, hi: object) -> tuple[str, int]:
    """Find an integer no valid value uses, widening the type when all candidates are taken.

    Raises
    ------
    InvalidValueError
        Even ``long`` has no free candidate (the data uses all 64 extreme values).
    """
    while True:
        candidates = _candidates(target)
        # Usually the type's extreme value lies outside the data range: no second pass.
        if lo is None or hi is None:
            return target, candidates[0]
        outside = [c for c in candidates if c < int(lo) or c > int(hi)]  # type: ignore[call-overload]
        if outside:
            return target, outside[0]
        used: set[int] = set()
        for values, mask in chunks(source):
            valid = values[~mask] if mask.any() else values
            used.update(int(v) for v in np.unique(valid[np.isin(valid, candidates)]))
        free = [c for c in candidates if c not in used]
        if free:
            return target, free[0]
        if target not in _WIDER:
            raise InvalidValueError(
                f"column {source.name!r} has nulls but uses every candidate null value; "
                "write it with serialization='binary2' instead"
            )
        target = _WIDER[target]


def _plan_datetime(source: Source) -> Field:
    """Datetimes become ISO-8601 ``char`` strings at the coarsest exact precision."""
    own = np.datetime_data(_probe_dtype(source))[0]
    # Candidate precisions strictly coarser than the data's own unit, each
    # with how many data ticks it spans; seconds is the coarsest we write.
    steps = {u: round(1 / _unit_ratio(own, u)) for u in _DATETIME_UNITS if _unit_ratio(own, u) < 1}
    exact = dict.fromkeys(steps, True)
    lo, hi = None, None
    for values, mask in chunks(source):
        valid = values[~mask] if mask.any() else values
        if not valid.size:
            continue
        ticks = valid.view(np.int64)
        for unit, step in steps.items():
            exact[unit] = exact[unit] and not (ticks % step).any()
        lo = valid.min() if lo is None else min(lo, valid.min())
        hi = valid.max() if hi is None else max(hi, valid.max())
    # Data in seconds or coarser (days, hours...) is always exact at seconds.
    unit = next((u for u in exact if exact[u]), own) if "s" in steps else "s"
    probes = [v for v in (lo, hi) if v is not None] or [np.datetime64(0, "s")]
    width = max(len(str(iso_text(np.asarray([v]), unit)[0])) for v in probes)
    width += 1 if source.utc else 0
    return Field(source, "char", str(width), np.dtype(f"S{width}"), width=width, time_unit=unit)


def _unit_ratio(own: str, unit: str) -> float:
    """How many ``unit`` ticks one ``own`` tick is (<1 when ``own`` is finer)."""
    tick: Any = np.timedelta64  # numpy's stubs only accept literal unit names
    return float(tick(1, own) / tick(1, unit))


def iso_text(values: np.ndarray, unit: str | None) -> np.ndarray:
    """ISO-8601 text of datetimes at precision ``unit`` (truncating finer digits)."""
    convert: Any = np.datetime_as_string  # numpy's stubs only accept literal unit names
    return np.asarray(convert(values, unit=unit, casting="unsafe"))


def _plan_text(source: Source, serialization: str) -> Field:
    """Fixed-width ``char`` for ASCII, ``unicodeChar`` (UTF-16BE) otherwise."""
    width, top = 0, 0
    for values, mask in chunks(source):
        if not values.size:
            continue
        if mask.any():  # whatever hides under a mask is never written
            values = np.where(mask, values.dtype.type(), values)
        values = np.ascontiguousarray(values)  # the code views below need it
        lengths = np.char.str_len(values)
        codes: np.ndarray
        if values.dtype.kind == "S":
            codes = np.frombuffer(values.tobytes(), np.uint8).reshape(len(values), -1)
            if codes.max() > 127:
                raise InvalidValueError(
                    f"column {source.name!r} holds non-ASCII bytes; decode it to str first"
                )
            width = max(width, int(lengths.max()))
        else:
            codes = values.view(np.uint32).reshape(len(values), -1)
            # Characters beyond U+FFFF take two UTF-16 code units.
            width = max(width, int((lengths + (codes > 0xFFFF).sum(axis=1)).max()))
        top = max(top, int(codes.max()))
        _check_codes(source.name, codes, lengths, serialization)
    # At least 2: arraysize="1" is deprecated and a lone char cannot be empty (null).
    width = max(width, 2)
    if top < 128:
        return Field(source, "char", str(width), np.dtype(f"S{width}"), width=width)
    binary = np.dtype(f"S{2 * width}")
    return Field(source, "unicodeChar", str(width), binary, width=width, bmp=top <= 0xFFFF)


def _check_codes(name: str, codes: np.ndarray, lengths: np.ndarray, serialization: str) -> None:
    """Refuse characters that cannot be encoded (surrogates) or put in XML text.

    ``codes`` is one row of character codes per string, zero-padded;
    ``lengths`` the string lengths (zeros before them are real NUL characters).

    Raises
    ------
    InvalidValueError
        Unpaired surrogates anywhere; in TABLEDATA, control characters other
        than tab, newline and carriage return (NUL included), or U+FFFE/U+FFFF.
    """
    if ((codes >= 0xD800) & (codes <= 0xDFFF)).any():
        raise InvalidValueError(f"column {name!r} holds unpaired surrogate characters")
    if serialization != "tabledata":
        return
    inside = np.arange(codes.shape[1]) < lengths[:, None]
    control = (codes < 0x20) & (codes != 9) & (codes != 10) & (codes != 13) & inside
    if control.any() or ((codes >= 0xFFFE) & (codes <= 0xFFFF)).any():
        raise InvalidValueError(
            f"column {name!r} holds control characters that XML cannot carry; "
            "use serialization='binary2'"
        )
