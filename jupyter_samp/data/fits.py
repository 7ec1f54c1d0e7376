"""FITS encoders: images for ``image.load.fits``, tables for ``table.load.fits``.

Typical use::

    from jupyter_samp.data.fits import fits_bytes, table_fits_bytes

    body = fits_bytes(image_array, wcs=wcs)     # 2-D image with its WCS
    body = table_fits_bytes(df)                 # a FITS binary table
"""

from __future__ import annotations

import io
import sys
import warnings
from typing import Any

import numpy as np

from jupyter_samp.errors import InvalidValueError

#: The media type for FITS files (RFC 4047).
FITS_MEDIA_TYPE = "application/fits"


def fits_bytes(
    obj: Any,
    *,
    header: Any = None,
    wcs: Any = None,
    allow_ndim: bool = False,
) -> bytes:
    """Encode an image (or anything astropy can write as FITS) as a FITS file.

    Parameters
    ----------
    obj : numpy.ndarray, PrimaryHDU, ImageHDU, BinTableHDU, HDUList, Table or DataFrame
        A 2-D array or image HDU becomes the primary image; an HDUList is
        written as it is; a table HDU goes in an extension after an empty
        primary HDU; tables and DataFrames go through :func:`table_fits_bytes`.
    header : astropy.io.fits.Header or dict, optional
        Extra cards merged into the image header (arrays and image HDUs only).
    wcs : astropy.wcs.WCS, optional
        World coordinates, written into the image header (after ``header``).
    allow_ndim : bool
        Accept images that are not 2-D. Image viewers (ds9, Aladin) expect a
        2-D image, so anything else is refused unless asked for.

    Returns
    -------
    bytes
        The FITS file.

    Raises
    ------
    InvalidValueError
        An image that is not 2-D (without ``allow_ndim``), a dtype FITS cannot
        hold (complex, object, strings), ``header``/``wcs`` given with an
        HDUList or table, a header astropy cannot verify, or an unsupported
        object.
    """
    from astropy.io import fits

    if isinstance(obj, fits.HDUList):
        _refuse_extras(header, wcs, "an HDUList")
        return _write(obj)
    if isinstance(obj, (fits.BinTableHDU, fits.TableHDU)):
        _refuse_extras(header, wcs, "a table HDU")
        return _write(fits.HDUList([fits.PrimaryHDU(), obj]))
    if isinstance(obj, (fits.PrimaryHDU, fits.ImageHDU)):
        data, base = obj.data, obj.header.copy()
    elif _is_table(obj):
        _refuse_extras(header, wcs, "a table")
        return table_fits_bytes(obj)
    elif hasattr(obj, "__array__"):
        data, base = obj, fits.Header()
    else:
        raise InvalidValueError(f"cannot write a {type(obj).__name__} as FITS")
    if data is not None:
        data = _image_array(data)
        _check_ndim(data.ndim, allow_ndim)
    if header is not None:
        base.update(header)
    if wcs is not None:
        base.update(wcs.to_header(relax=True))  # relax keeps SIP and other conventions
    # The constructor rewrites SIMPLE/BITPIX/NAXIS* from the data, and drops an
    # extension's XTENSION/PCOUNT/GCOUNT, whatever the merged header said.
    return _write(fits.HDUList([fits.PrimaryHDU(data=data, header=base)]))


def _refuse_extras(header: Any, wcs: Any, what: str) -> None:
    """``header``/``wcs`` only make sense for a single image.

    Raises
    ------
    InvalidValueError
        Either was given.
    """
    if header is not None or wcs is not None:
        raise InvalidValueError(f"header= and wcs= apply to images, not to {what}")


def _check_ndim(ndim: int, allow_ndim: bool) -> None:
    """Refuse non-2-D images unless allowed (see :func:`fits_bytes`)."""
    if ndim != 2 and not allow_ndim:
        raise InvalidValueError(
            f"image has {ndim} dimension(s); image viewers want a 2-D image "
            "(pass allow_ndim=True to send it anyway)"
        )


def _image_array(obj: Any) -> np.ndarray:
    """The image as a numpy array FITS can hold.

    Masked arrays become float with NaN for masked pixels (FITS images have
    no mask), booleans become uint8 and float16 becomes float32.

    Raises
    ------
    InvalidValueError
        Complex, string, object or other non-numeric data.
    """
    if isinstance(obj, np.ma.MaskedArray):
        floats = obj.dtype if obj.dtype.kind == "f" and obj.dtype.itemsize >= 4 else np.float64
        obj = np.ma.filled(obj.astype(floats), np.nan)
    data = np.asarray(obj)
    if data.dtype.kind == "b":
        return data.astype(np.uint8)
    if data.dtype.kind == "f" and data.dtype.itemsize < 4:
        return data.astype(np.float32)
    if data.dtype.kind not in "iuf":
        raise InvalidValueError(f"a FITS image cannot hold {data.dtype} data")
    return data


def _write(hdul: Any) -> bytes:
    """Serialise an HDUList, turning astropy's verification errors into ours.

    Raises
    ------
    InvalidValueError
        The headers do not verify (``output_verify="exception"``).
    """
    from astropy.io.fits.verify import VerifyError

    buffer = io.BytesIO()
    try:
        hdul.writeto(buffer, output_verify="exception")
    except VerifyError as exc:
        raise InvalidValueError(f"invalid FITS header: {exc}") from exc
    return buffer.getvalue()


def _is_table(obj: Any) -> bool:
    pandas = sys.modules.get("pandas")
    tables = sys.modules.get("astropy.table")
    return (pandas is not None and isinstance(obj, pandas.DataFrame)) or (
        tables is not None and isinstance(obj, tables.Table)
    )


def table_fits_bytes(table: Any, *, index: bool = True) -> bytes:
    """Encode a table as a FITS file: an empty primary HDU plus one BINTABLE.

    Parameters
    ----------
    table : astropy.table.Table, pandas.DataFrame or numpy structured array
        Astropy tables are written by astropy as they are (mixins included).
        DataFrames are converted the same way as for VOTable: the index is
        kept as leading column(s) unless it is the default ``RangeIndex``,
        datetimes become ISO-8601 strings, categoricals their values,
        nullable integers masked columns (``TNULL`` chosen outside the data),
        and nullable booleans ``uint8`` 0/1 with null 255 (FITS logical
        columns have no null that astropy writes).
    index : bool
        Write a DataFrame's non-default index.

    Raises
    ------
    InvalidValueError
        Non-ASCII text (FITS tables hold ASCII only; send a VOTable instead),
        or a column that cannot be written (named in the message).
    """
    from jupyter_samp.data._frames import is_dataframe

    if is_dataframe(table):
        table = _dataframe_table(table, index)
    elif isinstance(table, np.ndarray) and table.dtype.names:
        from astropy.table import Table

        table = Table(table, copy=False)
    buffer = io.BytesIO()
    try:
        table.write(buffer, format="fits")
    except UnicodeEncodeError as exc:
        raise InvalidValueError(
            "FITS tables hold ASCII text only; send non-ASCII text as a VOTable"
        ) from exc
    return buffer.getvalue()


def _dataframe_table(df: Any, index: bool) -> Any:
    """A DataFrame as an astropy Table, column by column through our sources."""
    import astropy.units as u
    from astropy.table import Column, MaskedColumn, Table

    from jupyter_samp.data._encode import iso_strings
    from jupyter_samp.data._fields import plan_field
    from jupyter_samp.data._frames import dataframe_sources

    columns = []
    for source in dataframe_sources(df, index=index):
        values, mask = source.fetch(0, source.nrows)
        fill = None
        if source.kind == "datetime":
            field = plan_field(source, "binary")
            values, mask = iso_strings(field, values, mask), None
        elif source.kind == "int" and mask is not None:
            # Planning for BINARY picks a null value the data does not use.
            field = plan_field(source, "binary")
            values, fill = values.astype(field.binary.base.newbyteorder("=")), field.null
        elif source.kind == "bool" and mask is not None:
            values, fill = values.astype(np.uint8), 255
        common = {"name": source.name, "description": source.description, "unit": None}
        if source.unit:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", u.UnitsWarning)
                common["unit"] = u.Unit(source.unit, format="vounit", parse_strict="silent")
        if mask is None:
            columns.append(Column(values, **common))
        else:
            columns.append(MaskedColumn(values, mask=mask, fill_value=fill, **common))
    return Table(columns, copy=False)
