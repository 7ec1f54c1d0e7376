"""Decoders for data other applications send: VOTable and FITS.

Every reader takes the same kinds of ``source``: the raw ``bytes`` (what an
HTTP fetch returns), a path, a ``file:`` URL, or a binary file object.
Remote URLs are not fetched here; download them first.

Typical use::

    from jupyter_samp.data.codecs.decode import read_votable, to_pandas

    table = read_votable(body)        # astropy Table, units and UCDs kept
    df = to_pandas(table)             # DataFrame with nullable dtypes
"""

from __future__ import annotations

import io
import os
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname
from xml.parsers.expat import ExpatError

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.io.votable import parse
from astropy.table import Column, Table

from jupyter_samp.data.codecs._binary_read import read_binary_votable
from jupyter_samp.data.codecs._frames import unit_string
from jupyter_samp.data.codecs._prolog import checked_source
from jupyter_samp.errors import InvalidValueError


def _open_source(source: Any) -> Any:
    """Something astropy can read: a file object or a path.

    Raises
    ------
    InvalidValueError
        A non-``file:`` URL, or an object that is neither bytes, a path nor
        a readable file.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, str) and "://" in source[:16]:
        url = urlparse(source)
        if url.scheme != "file" or url.netloc not in ("", "localhost"):
            raise InvalidValueError(f"cannot read {source!r} directly: only file: URLs are local")
        return url2pathname(unquote(url.path))
    if isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
        return source
    raise InvalidValueError(f"cannot read data from a {type(source).__name__}")


def read_votable(source: Any, *, table: int | str = 0) -> Any:
    """Parse a VOTable document into an astropy Table.

    Column names come from the FIELD ``name`` (not ``ID``), and small
    departures from the standard are tolerated (``verify="ignore"``): other
    applications' VOTables are not always perfect. Single-table BINARY and
    BINARY2 documents with fixed-size fields (what this package and TOPCAT
    write) are read by a vectorised reader, about 30 times faster than
    astropy's; every other document is parsed by astropy.

    Parameters
    ----------
    source : bytes, str, os.PathLike or file
        The document (see the module docstring).
    table : int or str
        Which table: position among all tables of the document, or ID/name.

    Returns
    -------
    astropy.table.Table
        With units, descriptions and ``meta["ucd"]``/``meta["xtype"]``.

    Raises
    ------
    InvalidValueError
        The document is not a VOTable astropy can parse, or holds no such
        table, or it declares a DTD or entities (refused before any parsing).
    FileNotFoundError
        A path that does not exist.
    """


    # Before any parsing: astropy would expand entities a DTD declares.
    opened = checked_source(_open_source(source))
    if table == 0:
        fast = _read_fast(opened)
        if fast is not None:
            return fast
    try:
        document = parse(opened, verify="ignore")
    except (ValueError, ExpatError, IndexError) as exc:
        raise InvalidValueError(f"not a readable VOTable: {exc}") from exc
    tables = list(document.iter_tables())
    chosen = _pick(tables, table)
    return chosen.to_table(use_names_over_ids=True)


def _read_fast(opened: Any) -> Any:
    """The vectorised binary reader's result, or None when it does not apply.

    In-memory files are read through their buffer and paths through a memory
    map, so nothing is copied before the base64 decode.
    """

    if isinstance(opened, io.BytesIO):
        with opened.getbuffer() as buffer:
            return read_binary_votable(buffer)
    if isinstance(opened, (str, os.PathLike)):
        import mmap

        with open(opened, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return None
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                # The table's columns are copies, so the map may close afterwards.
                return read_binary_votable(mapped)
    return None


def _pick(tables: list[Any], which: int | str) -> Any:
    """Select a table by position or by ID/name.

    Raises
    ------
    InvalidValueError
        No table matches.
    """
    if isinstance(which, int):
        if -len(tables) <= which < len(tables):
            return tables[which]
    else:
        for candidate in tables:
            if which in (candidate.ID, candidate.name):
                return candidate
    raise InvalidValueError(f"VOTable has {len(tables)} table(s), none is {which!r}")


def read_fits_table(source: Any, *, hdu: int | str | None = None) -> Any:
    """Read a FITS table (binary or ASCII) into an astropy Table.

    Parameters
    ----------
    source : bytes, str, os.PathLike or file
        The FITS file.
    hdu : int or str, optional
        Index or EXTNAME of the table HDU; by default the first table.

    Raises
    ------
    InvalidValueError
        Not a FITS file, or no table in it (or not at ``hdu``).
    FileNotFoundError
        A path that does not exist.
    """

    with _open_fits(source) as hdul:
        if hdu is None:
            kinds = (fits.BinTableHDU, fits.TableHDU)
            tables = [i for i, h in enumerate(hdul) if isinstance(h, kinds)]
            if not tables:
                raise InvalidValueError("the FITS file holds no table")
            hdu = tables[0]
        try:
            return Table.read(hdul, hdu=hdu)
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidValueError(f"cannot read a FITS table from HDU {hdu!r}: {exc}") from exc


def read_fits_image(source: Any) -> Any:
    """Read a FITS file fully into memory and return its HDUList.

    The returned HDUList is closed and detached from the source: all data has
    been read, so it stays usable after the source file goes away.

    Raises
    ------
    InvalidValueError
        Not a FITS file, or no HDU holds image data.
    FileNotFoundError
        A path that does not exist.
    """

    with _open_fits(source) as hdul:
        images = [h for h in hdul if isinstance(h, (fits.PrimaryHDU, fits.ImageHDU))]
        if not any(h.data is not None for h in images):
            raise InvalidValueError("the FITS file holds no image data")
        for h in hdul:
            _ = h.data  # load now: the file closes when we return
        return fits.HDUList([h.copy() for h in hdul])


def _open_fits(source: Any) -> Any:
    """``fits.open`` without memory mapping (the source may be a temporary buffer).

    Raises
    ------
    InvalidValueError
        The data is not FITS.
    """

    try:
        return fits.open(_open_source(source), memmap=False, lazy_load_hdus=False)
    except (OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise InvalidValueError(f"not a readable FITS file: {exc}") from exc


def to_pandas(table: Any, *, index: str | None = None) -> Any:
    """Convert an astropy Table (e.g. from :func:`read_votable`) to a DataFrame.

    Unlike ``Table.to_pandas`` this never refuses a table: masked integers and
    booleans become nullable ``Int*``/``boolean``, ``xtype="timestamp"``
    strings become ``datetime64`` (bad or empty values NaT), and array-valued
    columns become object columns holding one numpy array per row. Units,
    UCDs and descriptions are kept in ``df.attrs`` (``"units"``, ``"ucds"``,
    ``"descriptions"``), the table name in ``df.attrs["name"]``.

    Parameters
    ----------
    table : astropy.table.Table
        The table to convert.
    index : str, optional
        Column to use as the index.

    Raises
    ------
    InvalidValueError
        ``index`` names no column.
    """


    if index is not None and index not in table.colnames:
        raise InvalidValueError(f"no column {index!r} to use as index")
    data = {name: _series(table[name], len(table)) for name in table.colnames}
    df = pd.DataFrame(data, index=pd.RangeIndex(len(table)))
    columns = [table[name] for name in table.colnames]
    units = {c.info.name: unit_string(c.unit) for c in columns if getattr(c, "unit", None)}
    ucds = {c.info.name: c.info.meta["ucd"] for c in columns if (c.info.meta or {}).get("ucd")}
    descriptions = {c.info.name: c.info.description for c in columns if c.info.description}
    df.attrs.update(units=units, ucds=ucds, descriptions=descriptions)
    for key in ("name", "description"):
        if table.meta.get(key):
            df.attrs[key] = table.meta[key]
    return df.set_index(index) if index is not None else df


def _series(col: Any, nrows: int) -> Any:
    """One astropy column as a pandas Series (see :func:`to_pandas`)."""

    if not isinstance(col, Column):  # Time, Quantity...: astropy knows best
        return Table([col], copy=False).to_pandas().iloc[:, 0].reset_index(drop=True)
    if col.ndim > 1:
        values = np.asarray(col)
        rows = np.empty(nrows, dtype=object)
        rows[:] = list(np.ma.getdata(values)) if nrows else []
        return pd.Series(rows, dtype=object)
    if (col.meta or {}).get("xtype") == "timestamp" and col.dtype.kind in "US":
        text = pd.Series(np.ma.filled(col.astype(str), ""), dtype=object)
        return pd.to_datetime(text.replace("", None), format="ISO8601", errors="coerce")
    mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else None
    if col.dtype.kind == "b" and mask is not None and mask.any():
        return pd.Series(pd.arrays.BooleanArray(np.asarray(col.data, bool), mask.copy()))
    return Table([col], copy=False).to_pandas().iloc[:, 0].reset_index(drop=True)
