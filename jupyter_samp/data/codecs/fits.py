"""FITS encoders: images for ``image.load.fits``, tables for ``table.load.fits``.

Typical use::

    from jupyter_samp.data.codecs.fits import fits_bytes, table_fits_bytes

    body = fits_bytes(image_array, wcs=wcs)     # 2-D image with its WCS
    body = table_fits_bytes(df)                 # a FITS binary table
"""

from __future__ import annotations

import io
import sys
import warnings
from typing import TYPE_CHECKING, Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyError
from astropy.table import Column, MaskedColumn, Table

from jupyter_samp.data.codecs._encode import iso_strings
from jupyter_samp.data.codecs._fields import plan_field
from jupyter_samp.data.codecs._frames import dataframe_sources, is_dataframe
from jupyter_samp.data.payload import BytesPayload, Segment, SegmentPayload
from jupyter_samp.errors import InvalidValueError

if TYPE_CHECKING:
    from jupyter_samp.data.payload import Payload, Segment

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
    if _is_table(obj):
        _refuse_extras(header, wcs, "a table")
        return table_fits_bytes(obj)
    return _write(image_hdulist(obj, header=header, wcs=wcs, allow_ndim=allow_ndim))


def image_hdulist(
    obj: Any, *, header: Any = None, wcs: Any = None, allow_ndim: bool = False
) -> Any:
    """The HDUList :func:`fits_bytes` writes for anything but a table.

    Parameters and errors are those of :func:`fits_bytes`. An HDUList is
    returned as it is (checked, not copied); an image becomes the primary HDU.
    """

    if isinstance(obj, fits.HDUList):
        _refuse_extras(header, wcs, "an HDUList")
        return obj
    if isinstance(obj, (fits.BinTableHDU, fits.TableHDU)):
        _refuse_extras(header, wcs, "a table HDU")
        return fits.HDUList([fits.PrimaryHDU(), obj])
    if isinstance(obj, (fits.PrimaryHDU, fits.ImageHDU)):
        data, base = obj.data, obj.header.copy()
    elif hasattr(obj, "__array__") and not _is_table(obj):
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
    return fits.HDUList([fits.PrimaryHDU(data=data, header=base)])


def check_viewable(hdul: Any, allow_ndim: bool = False) -> None:
    """Check that an image viewer can show ``hdul``: its first data is a 2-D image.

    Raises
    ------
    InvalidValueError
        No HDU holds data, the first data is a table, or (without
        ``allow_ndim``) the image is not 2-D.
    """

    for hdu in hdul:
        if hdu.data is None:
            continue
        if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
            raise InvalidValueError(
                "the first data in this FITS file is a table, not an image; "
                "send it as a table instead"
            )
        _check_ndim(hdu.data.ndim, allow_ndim)
        return
    raise InvalidValueError("this FITS data holds no image")


def image_payload(
    obj: Any, *, header: Any = None, wcs: Any = None, allow_ndim: bool = False
) -> Payload:
    """A FITS image ready to serve, checked before any byte is produced.

    A single image of a type FITS stores natively (uint8, int16/32/64,
    float32/64, unscaled) is streamed: header, then the pixels converted to
    big-endian a block of rows at a time, then the padding, so the file is
    never built in memory. Anything else (HDULists, other types, which need
    astropy's scaling) is written by astropy into memory first.

    Raises
    ------
    InvalidValueError
        As :func:`fits_bytes`, and data an image viewer cannot show
        (see :func:`check_viewable`).
    """

    hdul = image_hdulist(obj, header=header, wcs=wcs, allow_ndim=allow_ndim)
    check_viewable(hdul, allow_ndim)
    if len(hdul) == 1 and _streamable(hdul[0]):
        return SegmentPayload(_image_segments(hdul[0]))
    return BytesPayload(_write(hdul))


#: dtypes FITS images store as they are (BITPIX 8, 16, 32, 64, -32, -64).
_NATIVE = {"u1", "i2", "i4", "i8", "f4", "f8"}
_BLOCK = 2880


def _streamable(hdu: Any) -> bool:
    data = hdu.data
    scaled = any(key in hdu.header for key in ("BZERO", "BSCALE", "BLANK"))
    return data is not None and f"{data.dtype.kind}{data.dtype.itemsize}" in _NATIVE and not scaled


def _image_segments(hdu: Any) -> list[Segment]:
    """Header, pixel blocks and padding of one primary image, sizes known in advance.

    Raises
    ------
    InvalidValueError
        The header does not verify.
    """


    try:
        hdu.verify("exception")
    except VerifyError as exc:
        raise InvalidValueError(f"invalid FITS header: {exc}") from exc
    head = hdu.header.tostring().encode("ascii")
    data = hdu.data
    big = data.dtype.newbyteorder(">")
    rows = max(1, (4 << 20) // max(1, data[0].nbytes if data.ndim > 1 else data.nbytes))
    segments = [Segment(len(head), lambda: head)]
    for start in range(0, len(data), rows):
        block = data[start : start + rows]

        def produce(block: np.ndarray = block) -> bytes:
            return np.ascontiguousarray(block, dtype=big).tobytes()

        segments.append(Segment(block.nbytes, produce))
    pad = -data.nbytes % _BLOCK
    segments.append(Segment(pad, lambda: bytes(pad)))
    return segments


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
        Non-ASCII text, in values or in a column's name or description
        (FITS tables hold ASCII only; send a VOTable instead), or a column
        that cannot be written (named in the message).
    """

    if is_dataframe(table):
        table = _dataframe_table(table, index)
    elif isinstance(table, np.ndarray) and table.dtype.names:
        from astropy.table import Table

        table = Table(table, copy=False)
    _refuse_non_ascii_headers(table)
    buffer = io.BytesIO()
    try:
        table.write(buffer, format="fits")
    except UnicodeEncodeError as exc:
        raise InvalidValueError(
            "FITS tables hold ASCII text only; send non-ASCII text as a VOTable"
        ) from exc
    return buffer.getvalue()


def _refuse_non_ascii_headers(table: Any) -> None:
    """Refuse, naming it, a column whose name or description FITS cannot hold.

    FITS headers are ASCII; astropy's own error would not say which column,
    nor what to do instead.
    """
    for column in table.columns.values():
        for what, text in (("name", column.name), ("description", column.description)):
            if isinstance(text, str) and not text.isascii():
                raise InvalidValueError(
                    f"FITS headers hold ASCII text only, and column {column.name!r} has a "
                    f"non-ASCII {what}: send the table as a VOTable (the default format), "
                    f"which keeps it"
                )


def _dataframe_table(df: Any, index: bool) -> Any:
    """A DataFrame as an astropy Table, column by column through our sources."""


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
