"""Turn what a user wants to send into something to serve, checked before anything is sent.

Each ``prepare_*`` function validates the data completely (column types,
image dimensions, headers) and returns a :class:`Prepared`: a payload to
publish, or a URL to pass on unchanged. Errors are raised here, so a
message is never sent for data that cannot be served.

Accepted data:

* tables: astropy ``Table``/``QTable``, pandas ``DataFrame``/``Series``, numpy
  structured arrays; written as VOTable (BINARY2 by default) or, on request,
  as FITS;
* images: 2-D numpy arrays (optionally with a ``header`` and ``wcs``),
  ``PrimaryHDU``/``ImageHDU``/``HDUList``, objects with ``to_hdu()``
  (``CCDData``); written as FITS;
* a file path (``str`` or ``pathlib.Path``): served as it is;
* a URL (``http:``, ``https:``, ``ftp:``, ``file:``): passed on as it is.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_samp.data.codecs.fits import image_payload, table_fits_bytes
from jupyter_samp.data.codecs.votable import plan_votable
from jupyter_samp.data.labels import ascii_label
from jupyter_samp.data.payload import BytesPayload, FilePayload, Payload
from jupyter_samp.errors import InvalidValueError

VOTABLE_TYPE = "application/x-votable+xml"
FITS_TYPE = "application/fits"
_URL = re.compile(r"^(https?|ftp|file):", re.IGNORECASE)
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fz")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Prepared:
    """Data ready to be offered to other applications.

    Attributes
    ----------
    payload : Payload or None
        What to publish; None when ``url`` is already given.
    url : str or None
        A URL given by the user, sent as it is.
    format : str
        ``"votable"`` or ``"fits"``.
    content_type : str
        The media type to announce.
    filename : str
        The last part of the URL to publish under.
    nrows : int or None
        Rows of a table (None for images and files).
    """

    payload: Payload | None
    url: str | None
    format: str
    content_type: str
    filename: str
    nrows: int | None = None


def slug(name: str | None, default: str) -> str:
    """A name made safe for a URL path and an identifier (letters, digits, ``._-``).

    Non-ASCII text is rendered first (``"θ¹ Ori C"`` -> ``theta1_Ori_C``).
    """
    text = _SAFE.sub("_", ascii_label(name or "")).strip("._")
    return text[:60] or default


def is_url(data: Any) -> bool:
    """True for a string that is a URL other applications can fetch themselves."""
    return isinstance(data, str) and bool(_URL.match(data))


def format_of_path(path: str | os.PathLike[str]) -> str:
    """``"fits"`` for FITS file names (``.fits``, ``.fit``, ``.fts``, gzipped), else VOTable."""
    return "fits" if str(path).lower().endswith(_FITS_SUFFIXES) else "votable"


def _media_type(fmt: str) -> str:
    return FITS_TYPE if fmt == "fits" else VOTABLE_TYPE


def _by_reference(data: Any, fmt: str | None) -> Prepared | None:
    """A URL or a file path, sent or served as it is; None for in-memory data.

    Raises
    ------
    FileNotFoundError
        A path (str or Path) that is not an existing file.
    """
    if is_url(data):
        fmt = fmt or format_of_path(data)
        return Prepared(None, data, fmt, _media_type(fmt), Path(data).name)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data).expanduser()
        fmt = fmt or format_of_path(path)
        return Prepared(FilePayload(path), None, fmt, _media_type(fmt), slug(path.name, "data"))
    return None


def prepare_table(
    data: Any, *, format: str | None = None, name: str | None = None, **options: Any
) -> Prepared:
    """Check a table and get it ready to serve.

    Parameters
    ----------
    data : Table, QTable, DataFrame, Series, structured ndarray, path or URL
        The table (see the module docstring).
    format : {"votable", "fits"}, optional
        How to write it; default VOTable, or what a file name says.
    name : str, optional
        Table name, written into the document and used for the file name.
    **options
        For VOTable: ``serialization`` (``"binary2"``, ``"binary"``,
        ``"tabledata"``), ``index``, ``units``, ``ucds``, ``descriptions``,
        ``description``, ``chunk_rows``; for FITS: ``index``.

    Raises
    ------
    InvalidValueError
        An unknown format, a column that cannot be written (object columns,
        complex numbers...; the message names it), or options that do not
        apply.
    FileNotFoundError
        A path that does not exist.
    """
    if format not in (None, "votable", "fits"):
        raise InvalidValueError(f"format must be 'votable' or 'fits', not {format!r}")
    reference = _by_reference(data, format)
    if reference is not None:
        return reference
    if format == "fits":
        return _fits_table(data, name, options)

    chunk_rows = options.pop("chunk_rows", None)
    plan = plan_votable(data, name=name, **options)
    plan.chunk_rows(chunk_rows)  # validates it now
    filename = slug(name, "table") + ".vot"
    return Prepared(plan.payload(chunk_rows), None, "votable", VOTABLE_TYPE, filename, plan.nrows)


def _fits_table(data: Any, name: str | None, options: dict[str, Any]) -> Prepared:
    """A FITS binary table, written by astropy into memory (FITS tables are not streamed).

    Raises
    ------
    InvalidValueError
        Options other than ``index``, or data that cannot be written.
    """

    unknown = set(options) - {"index"}
    if unknown:
        raise InvalidValueError(f"options {sorted(unknown)} apply to VOTable, not FITS")
    body = table_fits_bytes(data, **options)
    return Prepared(
        BytesPayload(body), None, "fits", FITS_TYPE, slug(name, "table") + ".fits", len(data)
    )


def prepare_image(
    data: Any,
    *,
    name: str | None = None,
    header: Any = None,
    wcs: Any = None,
    allow_ndim: bool = False,
) -> Prepared:
    """Check an image and get it ready to serve as FITS.

    Parameters
    ----------
    data : ndarray, PrimaryHDU, ImageHDU, HDUList, CCDData, path or URL
        The image (see the module docstring).
    name : str, optional
        Used for the file name.
    header, wcs : optional
        Extra header cards and world coordinates (arrays and image HDUs).
    allow_ndim : bool
        Send images that are not 2-D (most viewers want 2-D images).

    Raises
    ------
    InvalidValueError
        An image that is not 2-D (without ``allow_ndim``), a type FITS cannot
        hold, a table where an image is expected, or an invalid header.
    FileNotFoundError
        A path that does not exist.
    """
    reference = _by_reference(data, "fits")
    if reference is not None:
        return reference

    if hasattr(data, "to_hdu") and not hasattr(data, "__array_interface__"):
        data = data.to_hdu()  # CCDData and friends know how to become FITS
    payload = image_payload(data, header=header, wcs=wcs, allow_ndim=allow_ndim)
    return Prepared(payload, None, "fits", FITS_TYPE, slug(name, "image") + ".fits")


def prepare_spectrum(
    data: Any, *, format: str | None = None, name: str | None = None, **options: Any
) -> Prepared:
    """Check a spectrum (a table of wavelengths and fluxes, a file or a URL).

    Tables are written as for :func:`prepare_table` (VOTable by default).

    Raises
    ------
    InvalidValueError, FileNotFoundError
        As :func:`prepare_table`.
    """
    return prepare_table(data, format=format, name=name or "spectrum", **options)
