"""Expat parsers that refuse document type declarations and entities.

XML from other processes (XML-RPC calls and answers, VOTables) must never
define entities: internal ones let a few kilobytes expand into gigabytes
("billion laughs"), external ones name files or URLs to read. Expat
expands internal entities by default, so every parser of outside XML in
this package is set up by :func:`harden`, which makes expat itself refuse
the declarations the moment it meets them, wherever they are in the
document and whatever its encoding. Nothing here searches the text: a
search is fooled by processing instructions, comments, byte-order marks
and UTF-16.

:func:`check_prolog` runs such a parser over the start of a document, up
to its root element. A DTD can only appear before the root element, so a
document that passes it may be handed to a parser that cannot be hardened
(ElementTree's C builder, astropy's VOTable reader).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from xml.parsers import expat

from jupyter_samp.errors import ProtocolError


class _RootReached(Exception):
    """Raised by :func:`check_prolog`'s start-tag handler: the prolog is over."""


def _refuse_doctype(name: str, system_id: str | None, public_id: str | None,
                    has_internal_subset: int) -> None:
    raise ProtocolError(f"a DTD (<!DOCTYPE {_short(name)}>) is not allowed")


def _refuse_internal_subset(name: str, system_id: str | None, public_id: str | None,
                            has_internal_subset: int) -> None:
    # A bare reference to an external DTD (VOTable 1.0 documents carry one) is
    # harmless: with external entities refused, expat never reads it.
    if has_internal_subset:
        raise ProtocolError(
            f"a DTD with declarations (<!DOCTYPE {_short(name)} [...]>) is not allowed"
        )


def _refuse_entity(name: str, *_args: Any) -> None:
    raise ProtocolError(f"an entity declaration (<!ENTITY {_short(name)} ...>) is not allowed")


def _refuse_external(context: str | None, base: str | None, system_id: str | None,
                     public_id: str | None) -> int:
    name = _short(system_id or public_id or "")
    raise ProtocolError(f"an external entity ({name}) is not allowed")


def _short(name: str) -> str:
    # Names come from the peer and go back in a fault: keep them readable.
    return name if len(name) <= 60 else name[:60] + "..."


def harden(parser: Any, *, external_doctype: bool = False) -> Any:
    """Make an expat parser refuse DTDs, entity declarations and external entities.

    Parameters
    ----------
    parser : xml.parsers.expat.XMLParserType
        A fresh parser; its DTD handlers are replaced.
    external_doctype : bool
        Tolerate a ``<!DOCTYPE>`` that only names an external DTD (which is
        never read). Any internal subset is still refused.

    Returns
    -------
    xml.parsers.expat.XMLParserType
        The same parser.

    Notes
    -----
    The handlers raise :class:`~jupyter_samp.errors.ProtocolError`, which
    stops expat at once and comes out of ``Parse``. Parameter entities are
    never parsed, so an external DTD subset is never fetched either.
    """
    parser.StartDoctypeDeclHandler = (
        _refuse_internal_subset if external_doctype else _refuse_doctype
    )
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def parse_error(exc: Exception) -> ProtocolError:
    """The :class:`ProtocolError` for an exception that came out of expat's ``Parse``.

    Expat reports bad XML as ``ExpatError``; an encoding declaration it does
    not know comes out as ``LookupError`` (no such codec) or ``ValueError``
    (a codec that is not single-byte, such as UTF-32), or as the warning a
    codec issues where warnings are errors. Anything else is reported with
    its type, so that the caller still gets a ProtocolError.
    """
    if isinstance(exc, ProtocolError):
        return exc
    if isinstance(exc, expat.ExpatError):
        return ProtocolError(f"malformed XML: {exc}")
    if isinstance(exc, (LookupError, ValueError, Warning)):
        return ProtocolError(f"unsupported character encoding in the XML declaration: {exc}")
    return ProtocolError(f"undecodable XML: {type(exc).__name__}: {exc}")


def check_prolog(chunks: Iterable[bytes], *, external_doctype: bool = False) -> None:
    """Parse a document up to its root element's start tag with a hardened parser.

    Parameters
    ----------
    chunks : iterable of bytes
        The document, in order (reading stops at the root element).
    external_doctype : bool
        See :func:`harden`.

    Raises
    ------
    ProtocolError
        The prolog holds a DTD or entity declaration, is not well-formed,
        declares an encoding expat cannot read, or the document ends before
        any element.
    """
    parser = harden(expat.ParserCreate(), external_doctype=external_doctype)
    parser.StartElementHandler = _stop_at_root
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _RootReached:
        return
    except Exception as exc:
        raise parse_error(exc) from exc
    raise ProtocolError("no root element")  # pragma: no cover - expat reports this itself


def _stop_at_root(tag: str, attrs: Any) -> None:
    raise _RootReached()
