"""Plan a send before anything goes out: renditions of the data, and a route per recipient.

The data bridge calls :func:`table_routes` and :func:`image_routes` from its
``start_*`` methods, so everything that can be wrong (the data, the names of
the recipients, a transport that cannot be used) raises there; the routes are
then carried out by :func:`jupyter_samp.data.routes.send_routed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_samp.client import Client
from jupyter_samp.data.codecs.fits_fast import plan_fits_table
from jupyter_samp.data.payload import FilePayload
from jupyter_samp.data.prepare import FITS_TYPE, Prepared, prepare_table, slug
from jupyter_samp.data.routes import (
    TABLE_MTYPES,
    Rendition,
    Route,
    choose,
    hub_is_local,
    route_for,
)
from jupyter_samp.errors import InvalidValueError, NotSubscribedError

#: Options that only VOTable output understands: a table sent with them is VOTable.
VOTABLE_ONLY = {"serialization", "chunk_rows"}
_FITS_OPTIONS = {"index", "units", "ucds", "descriptions", "description"}


def by_file(client: Client, transport: str) -> bool:
    """Whether recipients get local files: with ``"file"``, or ``"auto"`` and a local hub."""
    return transport == "file" or (transport == "auto" and hub_is_local(client))


def from_prepared(prepared: Prepared, mtype: str) -> Rendition:
    """A rendition of prepared data (a user's own file is sent by its path, not copied)."""
    assert prepared.payload is not None
    path_url = None
    if isinstance(prepared.payload, FilePayload):
        path_url = Path(prepared.payload.path).resolve().as_uri()
    return Rendition(prepared.format, mtype, prepared.payload, prepared.filename,
                     prepared.content_type, path_url)


def table_renditions(data: Any, format: str | None, name: str,
                     options: dict[str, Any]) -> tuple[list[Rendition], int | None]:
    """Every form a table can be sent in, FITS-plus first where it fits, and its rows.

    Raises
    ------
    InvalidValueError
        Data that cannot be written in any wanted form, bad options.
    FileNotFoundError
        A path that does not exist.
    """
    if format not in (None, "votable", "fits"):
        raise InvalidValueError(f"format must be 'votable' or 'fits', not {format!r}")
    if isinstance(data, (str, Path)):
        prepared = prepare_table(data, format=format, name=name, **options)
        return [from_prepared(prepared, TABLE_MTYPES[prepared.format])], prepared.nrows
    renditions: list[Rendition] = []
    if format in (None, "fits") and not VOTABLE_ONLY & set(options):
        fits = _fits_rendition(data, name, options, required=format == "fits")
        if fits is not None:
            renditions.append(fits)
    if format in (None, "votable") or not renditions:
        prepared = prepare_table(data, format=format or "votable", name=name, **options)
        renditions.append(from_prepared(prepared, TABLE_MTYPES[prepared.format]))
        return renditions, prepared.nrows
    return renditions, len(data)


def _fits_rendition(data: Any, name: str, options: dict[str, Any],
                    required: bool) -> Rendition | None:
    """FITS-plus by the vectorised writer, or None when the table does not fit FITS.

    Raises
    ------
    InvalidValueError
        Options FITS cannot use (when FITS was asked for).
    """
    unknown = set(options) - _FITS_OPTIONS
    if unknown and required:
        raise InvalidValueError(f"options {sorted(unknown)} apply to VOTable, not FITS")
    try:
        plan = plan_fits_table(data, name=name, **options)
    except InvalidValueError:
        if required:
            raise
        return None  # the VOTable plan says what is wrong, or writes it after all
    if not plan.fits_ok:
        return None
    return Rendition("fits", TABLE_MTYPES["fits"], plan.payload(),
                     slug(name, "table") + ".fits", FITS_TYPE,
                     plain_fits_loss=_non_ascii_headers(plan))


def _non_ascii_headers(plan: Any) -> str | None:
    """Which columns' names or descriptions plain FITS headers cannot hold, in words."""
    for source in (field.source for field in plan.votable.fields):
        for what, text in (("name", source.name), ("description", source.description)):
            if isinstance(text, str) and not text.isascii():
                return (f"column {source.name!r} has a non-ASCII {what}, which plain FITS "
                        "headers cannot hold")
    return None


def routes_for(client: Client, renditions: list[Rendition], targets: list[str] | None,
               transport: str) -> tuple[list[Route], dict[str, str]]:
    """One route per recipient, and the recipients none of the renditions suit (with why).

    ``targets`` None means every application that accepts one of the renditions.

    Raises
    ------
    NotSubscribedError
        ``targets`` is None and no application accepts any of them.
    """
    files = by_file(client, transport)
    if targets is None:
        mtypes = list(dict.fromkeys(r.mtype for r in renditions))
        targets = list(dict.fromkeys(v.id for m in mtypes for v in client.subscribers(m)))
        if not targets:
            raise NotSubscribedError(
                f"No connected application accepts {' or '.join(mtypes)}; start one (e.g. "
                "TOPCAT for tables, DS9 or Aladin for images) or check client.clients")
    routes, refused = [], {}
    for cid in targets:
        view = client.clients.get(cid)
        rendition = choose(renditions, view, files)
        if rendition is None:
            refused[cid] = f"is not subscribed to {' or '.join(r.mtype for r in renditions)}"
            continue
        route = route_for(cid, rendition, view, "file" if files else "http")
        if route.mtype == TABLE_MTYPES["fits"] and rendition.plain_fits_loss:
            # Its table.load.fits reads plain FITS: the names would be mangled.
            rendition = choose([r for r in renditions if r.format != "fits"], view, files)
            if rendition is None:
                refused[cid] = (f"takes plain FITS only, and {route.rendition.plain_fits_loss}"
                                ": send the table as a VOTable (the default format)")
                continue
            route = route_for(cid, rendition, view, "file" if files else "http")
        routes.append(route)
    return routes, refused
