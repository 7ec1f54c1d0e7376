"""Turn a pandas DataFrame or an astropy Table into a list of column sources.

Everything specific to pandas (nullable dtypes, categoricals, time zones, the
index) and to astropy (masked columns, Quantity, Time, other mixins) is
handled here; the writers downstream only see :class:`._sources.Source`.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.table import Column
from astropy.time import Time
from astropy.units import Quantity

from jupyter_samp.data.codecs._sources import (
    Source,
    derived_source,
    nonempty,
    numpy_source,
)
from jupyter_samp.errors import InvalidValueError


def column_name(label: Any) -> str:
    """Column label as a string: tuples (MultiIndex columns) are joined by ``_``."""
    if isinstance(label, str):
        return label
    if isinstance(label, tuple):
        return "_".join(str(part) for part in label)
    return str(label)


def unit_string(unit: Any) -> str | None:
    """A unit (astropy unit or string) as a VOUnit string, which VOTable 1.4 expects.

    Strings that already parse as VOUnit are kept as written (``km/s`` stays
    ``km/s``); other parseable units are rewritten in VOUnit syntax; strings
    astropy cannot parse at all are passed through unchanged, as VOTable
    allows any unit string.
    """
    if unit is None or unit == "":
        return None


    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed parse warns before it raises
        if isinstance(unit, str):
            try:
                u.Unit(unit, format="vounit")
                return unit
            except ValueError:
                pass
            try:
                unit = u.Unit(unit)
            except ValueError:
                return unit
        try:
            return str(unit.to_string("vounit"))
        except (ValueError, TypeError, AttributeError):
            return str(unit)


# --------------------------------------------------------------------- pandas


def is_dataframe(data: Any) -> bool:
    """True for a pandas DataFrame, without importing pandas if it is not loaded."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(data, pd.DataFrame)


def dataframe_sources(df: Any, *, index: bool = True) -> list[Source]:
    """One source per index level (when written) and per column of ``df``.

    The index is written as leading column(s) when ``index`` is true and it is
    not a default ``RangeIndex`` (start 0, step 1, unnamed), because a default
    index carries no information. A MultiIndex gives one column per level.
    Column metadata comes from the ``units``, ``ucds`` and ``descriptions``
    dicts in ``df.attrs``.

    Raises
    ------
    InvalidValueError
        A column whose dtype or content VOTable cannot carry (named in the message).
    """

    sources = []
    if index and not _default_index(df.index):
        levels = df.index.nlevels
        for i in range(levels):
            level = df.index.get_level_values(i)
            default = "index" if levels == 1 else f"level_{i}"
            name = default if level.name is None else column_name(level.name)
            sources.append(series_source(name, pd.Series(level, copy=False)))
    for position, label in enumerate(df.columns):
        sources.append(series_source(column_name(label), df.iloc[:, position]))
    attrs = df.attrs or {}
    found = {"unit": attrs.get("units"), "ucd": attrs.get("ucds")}
    found["description"] = attrs.get("descriptions")
    # attrs survive column drops and renames, so stale entries are ignored.
    return apply_overrides(sources, {k: v for k, v in found.items() if v}, strict=False)


def _default_index(idx: Any) -> bool:
    """True for the ``RangeIndex(0, n)`` pandas creates when no index is given."""

    return isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1 and idx.name is None


def series_source(name: str, s: Any) -> Source:
    """A pandas Series as a :class:`Source` (NaN, NA and NaT are nulls).

    Raises
    ------
    InvalidValueError
        Unsupported extension dtypes (period, interval, sparse...) and object
        columns that are not all text.
    """

    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical_source(name, s)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _aware_datetime_source(name, s)
    if isinstance(dtype, pd.StringDtype):
        return _masked_extension_source(name, s.array, "str", object, "")
    if isinstance(dtype, np.dtype):
        return numpy_source(name, s.to_numpy(), nan_is_null=True)
    # Nullable Int*/UInt*/Float*/boolean, and other extension arrays with a
    # numeric or boolean numpy equivalent (pyarrow-backed ArrowDtype...):
    # the generic ExtensionArray API (to_numpy with na_value, isna) suffices.
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if isinstance(numpy_dtype, np.dtype) and numpy_dtype.kind in "iufb":
        kind = {"i": "int", "u": "int", "f": "float", "b": "bool"}[numpy_dtype.kind]
        fill = {"int": 0, "float": np.nan, "bool": False}[kind]
        return _masked_extension_source(name, s.array, kind, numpy_dtype, fill)
    raise InvalidValueError(
        f"column {name!r} has pandas dtype {dtype}, which cannot be written; "
        "convert it with .astype() first"
    )


def _aware_datetime_source(name: str, s: Any) -> Source:
    """Time-zone aware timestamps, written in UTC with a ``Z`` (converted per chunk)."""

    def fetch(start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        naive = s.iloc[start:stop].dt.tz_convert(None).to_numpy()
        return naive, nonempty(np.isnat(naive))

    return Source(name, "datetime", fetch, len(s), utc=True)


def _masked_extension_source(name: str, array: Any, kind: str, np_dtype: Any, fill: Any) -> Source:
    """A pandas extension array with its own NA mask (Int64, Float64, boolean, string)."""

    def fetch(start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        part = array[start:stop]
        values = part.to_numpy(dtype=np_dtype, na_value=fill)
        if kind == "str":
            values = values.astype("U") if len(values) else np.zeros(0, "U1")
        return values, nonempty(np.asarray(part.isna(), dtype=bool))

    return Source(name, kind, fetch, len(array))


def _categorical_source(name: str, s: Any) -> Source:
    """A categorical column written as its categories' values (code -1 is null)."""

    categories = s.cat.categories
    codes = s.cat.codes.to_numpy()
    if len(categories) == 0:
        # Nothing but nulls: write an all-null text column.
        empty = np.zeros(len(codes), "U1")
        return Source(name, "str", lambda a, b: (empty[a:b], nonempty(codes[a:b] < 0)), len(codes))
    inner = series_source(name, pd.Series(categories, copy=False))
    # Categories are few, so convert them once and index into them per chunk.
    cat_values, cat_mask = inner.fetch(0, len(categories))

    def fetch(start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        part = codes[start:stop]
        safe = np.maximum(part, 0)
        mask = part < 0
        if cat_mask is not None:
            mask |= cat_mask[safe]
        return cat_values[safe], nonempty(mask)

    return derived_source(inner, fetch, nrows=len(codes))


# -------------------------------------------------------------------- astropy


def table_sources(table: Any) -> list[Source]:
    """One source per column of an astropy Table or QTable.

    Quantity columns give their unit, ``Time`` columns are written as ISO
    strings (``xtype="timestamp"``, in the column's own time scale), and other
    mixins (SkyCoord...) are split into plain columns the way astropy itself
    serialises them (``c.ra``, ``c.dec``...).

    Raises
    ------
    InvalidValueError
        A column whose dtype or content VOTable cannot carry.
    """

    plain = (Column, Quantity, Time)
    if not all(isinstance(col, plain) for col in table.itercols()):
        from astropy.table.serialize import represent_mixins_as_columns

        table = represent_mixins_as_columns(table, exclude_classes=plain)
    return [_astropy_column_source(col) for col in table.itercols()]


def _astropy_column_source(col: Any) -> Source:
    """One astropy column (Column, MaskedColumn, Quantity, Time) as a :class:`Source`."""

    name = column_name(col.info.name)
    meta = {
        "unit": unit_string(getattr(col, "unit", None)),
        "ucd": (col.info.meta or {}).get("ucd"),
        "description": col.info.description,
    }
    if isinstance(col, Time):
        return _time_source(name, col, meta)
    mask = getattr(col, "mask", None)
    if isinstance(col, Quantity):
        values = np.asarray(getattr(col, "unmasked", col).value)
    else:
        values = np.asarray(col.data.data if mask is not None else col.data)
    if mask is not None:
        # nomask (a scalar False) or an all-False mask both mean "no nulls".
        mask = np.asarray(mask, dtype=bool)
        mask = np.broadcast_to(mask, values.shape) if mask.any() else None
    return numpy_source(name, values, mask, **meta)


def _time_source(name: str, col: Any, meta: dict[str, Any]) -> Source:
    """An astropy ``Time`` column as ISO-8601 strings, converted chunk by chunk."""
    if col.ndim != 1:
        raise InvalidValueError(f"column {name!r}: multidimensional Time columns are not supported")

    def fetch(start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        part = col[start:stop]
        iso = part.isot
        values = np.asarray(getattr(iso, "unmasked", iso))
        mask = np.asarray(part.mask, dtype=bool) if part.masked else None
        if mask is not None and mask.any():
            values = np.where(mask, "", values)
        return (values if len(values) else np.zeros(0, "U1")), nonempty(mask)

    meta = dict(meta, xtype="timestamp", unit=None)
    return Source(name, "str", fetch, len(col), **meta)


def apply_overrides(
    sources: list[Source], overrides: Mapping[str, Any], *, strict: bool = True
) -> list[Source]:
    """Apply per-column ``unit``/``ucd``/``description`` overrides by column name.

    ``overrides`` maps a metadata field to a ``{column: value}`` dict; a column
    may be named by its output name or by its original (non-string) label.

    Raises
    ------
    InvalidValueError
        With ``strict``, an override names a column that does not exist (a
        typo would otherwise silently drop the metadata). Without ``strict``
        (metadata found in ``DataFrame.attrs``, which may be stale) such
        entries are ignored.
    """
    names = {src.name for src in sources}
    result = list(sources)
    for field, mapping in overrides.items():
        for key, value in (mapping or {}).items():
            name = column_name(key)
            if name not in names:
                if strict:
                    raise InvalidValueError(f"{field} given for unknown column {key!r}")
                continue
            if field == "unit":
                value = unit_string(value)
            elif value is not None:
                value = str(value)
            result = [
                derived_source(s, s.fetch, **{field: value}) if s.name == name else s
                for s in result
            ]
    return result
