"""Refuse VOTables that declare entities, before astropy or our reader parse them.

astropy's VOTable parser expands internal entities (a "billion laughs"
document exhausts memory), and VOTables come from other applications. So
the prolog of every document is first read by a hardened expat parser
(:func:`jupyter_samp.core.xmlsafe.check_prolog`), up to the root element:
a DTD can appear nowhere else. A bare ``<!DOCTYPE VOTABLE SYSTEM ...>``,
which VOTable 1.0 documents carry, is tolerated: the external DTD is never
read. Gzip-compressed documents (which astropy reads) are checked
decompressed.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from typing import Any

from jupyter_samp.core.xmlsafe import check_prolog
from jupyter_samp.errors import InvalidValueError, ProtocolError

_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"


def checked_source(opened: Any) -> Any:
    """Check the prolog of an opened source and return a source astropy can still read.

    Parameters
    ----------
    opened : io.BytesIO, str, os.PathLike or binary file
        What ``_open_source`` returned. Seekable files are read from where
        they stand and put back there; other files are read into memory.

    Returns
    -------
    object
        ``opened`` itself, or an :class:`io.BytesIO` holding a non-seekable
        file's content.

    Raises
    ------
    InvalidValueError
        The document holds a DTD with declarations, an entity declaration or
        an external entity, or its prolog is not well-formed XML.
    FileNotFoundError
        A path that does not exist.
    """
    if isinstance(opened, (str, os.PathLike)):
        with open(opened, "rb") as handle:
            _check(handle)
        return opened
    if not _seekable(opened):
        opened = io.BytesIO(opened.read())
    start = opened.tell()
    try:
        _check(opened)
    finally:
        opened.seek(start)
    return opened


def _seekable(handle: Any) -> bool:
    try:
        return bool(handle.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _check(handle: Any) -> None:
    start = handle.tell()
    compressed = handle.read(2) == _GZIP_MAGIC
    handle.seek(start)
    stream = gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle
    try:
        check_prolog(_chunks(stream), external_doctype=True)
    except (ProtocolError, OSError, EOFError) as exc:  # OSError, EOFError: bad gzip data
        raise InvalidValueError(f"not a readable VOTable: {exc}") from exc


def _chunks(stream: Any) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk
