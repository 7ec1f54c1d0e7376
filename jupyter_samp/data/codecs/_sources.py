"""Column sources: one uniform, chunked view of a numpy-backed column.

A :class:`Source` hands out rows ``[start, stop)`` of one column as a plain
numpy array plus a null mask. Every writer (VOTable binary, BINARY2,
TABLEDATA) works from sources only, so the many pandas and astropy column
flavours are dealt with in one place (this module and :mod:`._frames`).

Chunks are converted on demand, never the whole column at once: a plain
numeric column costs nothing (slices are views), and a string column is only
ever converted one chunk at a time, which keeps the writer's memory small.

The arrays a source returns have one of these kinds:

============ ================================================================
``int``      any numpy signed or unsigned integer dtype
``float``    float16/32/64 (and longdouble, narrowed to float64 by the writer)
``bool``     numpy bool
``str``      numpy ``U`` (null entries are ``""``)
``bytes``    numpy ``S`` (null entries are ``b""``)
``datetime`` numpy ``datetime64`` of any unit (null entries are NaT)
============ ================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pandas import isna
from pandas.api.types import infer_dtype

from jupyter_samp.errors import InvalidValueError

Fetch = Callable[[int, int], "tuple[np.ndarray, np.ndarray | None]"]

#: numpy dtype kind -> source kind, for the kinds that need no conversion.
_DIRECT_KINDS = {"i": "int", "u": "int", "f": "float", "b": "bool", "U": "str", "S": "bytes"}


@dataclass(frozen=True)
class Source:
    """One column, ready to be read in chunks of rows.

    Attributes
    ----------
    name : str
        Column name as it will appear in the output.
    kind : str
        One of ``int``, ``float``, ``bool``, ``str``, ``bytes``, ``datetime``.
    fetch : callable
        ``fetch(start, stop) -> (values, mask)``. ``values`` has shape
        ``(stop - start,) + shape``; ``mask`` is None (no nulls) or a bool
        array, True for null, shaped like ``values`` or ``(stop - start,)``.
    nrows : int
        Number of rows.
    shape : tuple of int
        Shape of one cell, ``()`` for scalars.
    unit, ucd, description, xtype : str or None
        Metadata copied to the output unchanged (units are already strings).
    utc : bool
        For ``datetime`` sources: the values were converted from an aware
        time zone to UTC, so the writer marks them with a trailing ``Z``.
    """

    name: str
    kind: str
    fetch: Fetch
    nrows: int
    shape: tuple[int, ...] = ()
    unit: str | None = None
    ucd: str | None = None
    description: str | None = None
    xtype: str | None = None
    utc: bool = False


def nonempty(mask: np.ndarray | None) -> np.ndarray | None:
    """Return ``mask`` if it flags at least one null, else None (cheaper downstream)."""
    if mask is None or not mask.any():
        return None
    return mask


def object_kind(name: str, values: Any) -> str:
    """Decide whether an object column holds text, and which kind.

    Parameters
    ----------
    name : str
        Column name, used in the error message.
    values : array-like
        The object column (numpy array or pandas Series).

    Returns
    -------
    str
        ``"str"`` when every non-null value is a ``str`` (an all-null column
        counts as text), ``"bytes"`` when every non-null value is ``bytes``.

    Raises
    ------
    InvalidValueError
        Any other mixture (numbers, dicts, lists, mixed str and bytes...):
        such a column has no VOTable type, so it is refused up front.
    """

    # infer_dtype walks the objects in C and skips None/NaN/NA, so this check
    # costs little even on millions of rows.
    inferred = infer_dtype(values, skipna=True)
    if inferred in ("string", "empty"):
        return "str"
    if inferred == "bytes":
        return "bytes"
    raise InvalidValueError(
        f"column {name!r} holds Python objects of type {inferred!r}; only str (or bytes) "
        "object columns can be written, convert the column to a supported dtype first"
    )


def _object_chunk(kind: str, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert a chunk of a validated object column to ``U``/``S`` plus its null mask."""

    mask = np.asarray(isna(chunk), dtype=bool)
    if mask.any():
        chunk = chunk.copy()
        chunk[mask] = "" if kind == "str" else b""
    # Empty chunks would otherwise come out as float arrays.
    values = chunk.astype("U" if kind == "str" else "S") if len(chunk) else np.zeros(0, "U1")
    return values, nonempty(mask)


def numpy_source(
    name: str,
    values: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    nan_is_null: bool = False,
    **meta: Any,
) -> Source:
    """Wrap a numpy array (a view of the column, not a copy) as a :class:`Source`.

    Parameters
    ----------
    name : str
        Column name.
    values : numpy.ndarray
        Column data, shape ``(nrows,)`` or ``(nrows, ...)`` for array cells.
    mask : numpy.ndarray, optional
        True marks a null; shaped like ``values`` or ``(nrows,)``.
    nan_is_null : bool
        Treat NaN in float columns as null too (pandas' convention).
    **meta
        ``unit``, ``ucd``, ``description``, ``xtype`` for the :class:`Source`.

    Raises
    ------
    InvalidValueError
        Complex, void, structured or other dtypes that VOTable cannot carry,
        object columns that are not all text, and multidimensional cells of
        anything but numbers and booleans.
    """
    dtype = values.dtype
    shape = tuple(values.shape[1:])
    kind = _DIRECT_KINDS.get(dtype.kind)
    if dtype.kind == "O":
        kind = object_kind(name, values)
    elif dtype.kind == "M":
        kind = "datetime"
    elif dtype.kind == "m":
        # Durations become float seconds: VOTable has no duration type.
        meta.setdefault("unit", "s")
        return _timedelta_source(name, values, mask, shape, meta)
    if kind is None:
        raise InvalidValueError(f"column {name!r} has dtype {dtype}, which VOTable cannot carry")
    if shape and kind not in ("int", "float", "bool"):
        raise InvalidValueError(
            f"column {name!r} has multidimensional {kind} cells; only numeric and boolean "
            "columns may have array cells"
        )

    def fetch(start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        chunk = values[start:stop]
        extra = None if mask is None else np.asarray(mask[start:stop], dtype=bool)
        if kind in ("str", "bytes") and dtype.kind == "O":
            chunk, extra_obj = _object_chunk(kind, chunk)
            extra = extra_obj if extra is None else _either(extra, extra_obj)
        elif kind == "float" and nan_is_null:
            extra = _either(extra, np.isnan(chunk))
        elif kind == "datetime":
            extra = _either(extra, np.isnat(chunk))
        return chunk, nonempty(extra)

    return Source(name, kind, fetch, len(values), shape, **meta)


def _either(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Combine two optional masks with logical or."""
    if a is None:
        return b
    if b is None:
        return a
    return a | b


def _timedelta_source(
    name: str, values: np.ndarray, mask: np.ndarray | None, shape: tuple[int, ...], meta: Any
) -> Source:
    """A ``timedelta64`` column as float seconds; NaT becomes a null NaN."""

    def fetch(start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        chunk = values[start:stop]
        seconds = chunk / np.timedelta64(1, "s")  # NaT divides to NaN
        extra = np.isnat(chunk)
        if mask is not None:
            extra = extra | np.asarray(mask[start:stop], dtype=bool)
        return seconds, nonempty(extra)

    return Source(name, "float", fetch, len(values), shape, **meta)


def derived_source(base: Source, fetch: Fetch, **changes: Any) -> Source:
    """A copy of ``base`` with another ``fetch`` (and possibly other fields)."""
    fields: dict[str, Any] = {
        "name": base.name,
        "kind": base.kind,
        "nrows": base.nrows,
        "shape": base.shape,
        "unit": base.unit,
        "ucd": base.ucd,
        "description": base.description,
        "xtype": base.xtype,
        "utc": base.utc,
    }
    fields.update(changes)
    return Source(fetch=fetch, **fields)
