"""How each recipient gets the data: which format, over a ``file://`` URL or HTTP.

``transport`` (an argument of every ``send_table``/``send_image``):

* ``"auto"`` (the default): applications on this machine get a private local
  file (``file://``; see :mod:`jupyter_samp.data.localfiles`), which TOPCAT
  maps instead of parsing a download; if one answers ``samp.error`` to the
  file it is sent the same data over HTTP at once, and the receipt says so.
  "On this machine" means the hub is reached at a local address: a hub
  elsewhere (a remote kernel) gets HTTP.
* ``"file"``: local files only, no fallback (a recipient that cannot read
  the file fails).
* ``"http"``: the resource server only, as before.

Per recipient, a table goes in the form it takes: FITS-plus
(``table.load.fits``; a BINTABLE with its full VOTable metadata in the
primary HDU) over ``file://`` when every column fits FITS, else VOTable
BINARY2 (``table.load.votable``); a recipient subscribed to only one of the
two gets that one. Over HTTP VOTable stays the first choice.

Each :class:`Rendition` (one encoding of the data) is written or published
once, however many recipients get it, and removed with its :class:`Outputs`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_samp.client import Client
from jupyter_samp.data.localfiles import LocalFile, LocalFiles, LocalFilesError
from jupyter_samp.data.payload import Payload
from jupyter_samp.data.receipts import Receipt
from jupyter_samp.data.resources import Resource, ResourceServer
from jupyter_samp.errors import InvalidValueError

TRANSPORTS = ("auto", "file", "http")
#: What ``table.load.*`` MType carries each format.
TABLE_MTYPES = {"fits": "table.load.fits", "votable": "table.load.votable"}
STIL_MTYPE = "table.load.stil"
#: ``samp.name`` (lower case) of applications that map a local FITS(-plus) table
#: instead of parsing it: TOPCAT and STILTS (both STIL).
FITS_MAPPERS = frozenset({"topcat", "stilts"})

Deliver = Callable[[str, dict[str, Any], list[str], "float | None"], Awaitable[Receipt]]


def check_transport(transport: str) -> str:
    """Return ``transport`` if valid.

    Raises
    ------
    InvalidValueError
        Not one of ``"auto"``, ``"file"``, ``"http"``.
    """
    if transport not in TRANSPORTS:
        raise InvalidValueError(f"transport must be one of {', '.join(TRANSPORTS)}, "
                                f"not {transport!r}")
    return transport


def hub_is_local(client: Client) -> bool:
    """True when the hub's applications can read this machine's files (see
    :attr:`Client.hub_shares_files`)."""
    return client.hub_shares_files


@dataclass
class Rendition:
    """One encoding of the data, written to a file and/or published, each at most once.

    Attributes
    ----------
    format : str
        ``"fits"`` or ``"votable"``.
    mtype : str
        The MType that loads it.
    payload : Payload
        Its bytes.
    filename : str
        Last part of its URL.
    content_type : str
        Its media type (for HTTP).
    path_url : str or None
        A ``file://`` URL of the user's own file, sent as it is (no copy).
    plain_fits_loss : str or None
        For FITS-plus: what a reader of plain FITS would lose (non-ASCII
        column names or descriptions, kept only in the VOTable metadata),
        or None when nothing.
    """

    format: str
    mtype: str
    payload: Payload
    filename: str
    content_type: str
    path_url: str | None = None
    plain_fits_loss: str | None = None
    file: LocalFile | None = None
    resource: Resource | None = None


@dataclass
class Outputs:
    """Files and resources made for sends, by the id of what was sent; removed together."""

    server: ResourceServer
    base: Any = None
    _local: LocalFiles | None = None
    _local_error: str | None = None
    _made: dict[str, list[Rendition]] = field(default_factory=dict)
    _watchers: dict[str, list[Callable[[Resource], None]]] = field(default_factory=dict)

    def watch(self, key: str, callback: Callable[[Resource], None]) -> None:
        """Call ``callback(resource)`` for each HTTP resource published for ``key``."""
        self._watchers.setdefault(key, []).append(callback)
        for rendition in self._made.get(key, []):
            if rendition.resource is not None:
                callback(rendition.resource)

    def local(self) -> LocalFiles:
        """The private directory, made on first use.

        Raises
        ------
        LocalFilesError
            It cannot be made safely (the error is remembered: not retried).
        """
        if self._local_error is not None:
            raise LocalFilesError(self._local_error)
        if self._local is None:
            try:
                self._local = LocalFiles(self.base)
            except LocalFilesError as exc:
                self._local_error = str(exc)
                raise
        return self._local

    async def file_url(self, key: str, rendition: Rendition) -> str:
        """The ``file://`` URL of a rendition, writing it (in a worker thread) the first time.

        Raises
        ------
        LocalFilesError
            The file cannot be written.
        """
        if rendition.path_url is not None:
            return rendition.path_url
        if rendition.file is None:
            local = self.local()
            rendition.file = await asyncio.to_thread(local.write, rendition.payload,
                                                     rendition.filename)
            self._made.setdefault(key, []).append(rendition)
        return rendition.file.url

    def http_url(self, key: str, rendition: Rendition) -> str:
        """The HTTP URL of a rendition, publishing it the first time."""
        if rendition.resource is None:
            rendition.resource = self.server.publish(
                rendition.payload, content_type=rendition.content_type,
                filename=rendition.filename)
            self._made.setdefault(key, []).append(rendition)
            for callback in self._watchers.get(key, []):
                callback(rendition.resource)
        return rendition.resource.url

    def urls(self, key: str) -> list[str]:
        """Every URL made for ``key``: local files and HTTP resources."""
        found = []
        for rendition in self._made.get(key, []):
            found += [rendition.file.url] if rendition.file is not None else []
            found += [rendition.resource.url] if rendition.resource is not None else []
        return found

    def release(self, key: str) -> None:
        """Remove the files and withdraw the resources made for ``key``."""
        self._watchers.pop(key, None)
        for rendition in self._made.pop(key, []):
            if rendition.file is not None:
                rendition.file.remove()
                rendition.file = None
            if rendition.resource is not None:
                rendition.resource.withdraw()
                rendition.resource = None

    def close(self) -> None:
        """Release everything and remove the private directory."""
        for key in list(self._made):
            self.release(key)
        if self._local is not None:
            self._local.close()
            self._local = None


def maps_fits(view: Any) -> bool:
    """True for applications known to map a local FITS-plus file (STIL-based ones)."""
    name = str(getattr(view, "name", "")).strip().lower()
    return name in FITS_MAPPERS


def choose(renditions: list[Rendition], view: Any, by_file: bool) -> Rendition | None:
    """The rendition a recipient gets: the first of its preferred forms that it accepts.

    FITS-plus comes first only over a local file to an application that maps
    it (:data:`FITS_MAPPERS`): there it loads in a fraction of the time.
    Everywhere else VOTable comes first: a FITS download is parsed, not
    mapped, so it gains nothing, and VOTable keeps what FITS cannot (a null
    string apart from an empty one).
    """
    fits_first = by_file and maps_fits(view)
    order = sorted(renditions, key=lambda r: (r.format == "fits") != fits_first)
    for rendition in order:
        if view is None or view.accepts(rendition.mtype):
            return rendition
    return None


@dataclass
class Route:
    """What one recipient is sent: a rendition, how, and with which MType.

    ``mtype`` is the rendition's own, or ``table.load.stil`` with
    ``format=fits-plus`` for FITS-plus to an application that maps it: its
    ``table.load.fits`` reads plain FITS and drops the VOTable metadata
    (descriptions, ``xtype``, non-ASCII names).
    """

    client_id: str
    rendition: Rendition
    transport: str
    mtype: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mtype = self.mtype or self.rendition.mtype


def route_for(client_id: str, rendition: Rendition, view: Any, transport: str) -> Route:
    """The route of one recipient, using ``table.load.stil`` where it keeps more metadata."""
    if rendition.format == "fits" and rendition.mtype == TABLE_MTYPES["fits"] and (
            maps_fits(view) and view.accepts(STIL_MTYPE)):
        return Route(client_id, rendition, transport, STIL_MTYPE, {"format": "fits-plus"})
    return Route(client_id, rendition, transport)


async def send_routed(
    outputs: Outputs,
    key: str,
    routes: list[Route],
    params: dict[str, Any],
    deliver: Deliver,
    timeout: float | None,
    fallback: bool,
    refused: dict[str, str] | None = None,
    over_http: Callable[[Route], Rendition] | None = None,
) -> Receipt:
    """Deliver each route's message, grouped by URL; fall back to HTTP for file failures.

    Recipients whose file cannot be written get HTTP at once (with
    ``fallback``) or fail; ``over_http`` picks what a recipient gets over
    HTTP instead (default the same rendition). The receipt's ``transports`` tells, per recipient,
    how it was sent and why a fallback happened.

    Raises
    ------
    HubUnavailableError
        Not connected to a hub.
    """
    urls: dict[str, str] = {}
    notes: dict[str, str] = {}
    failed: dict[str, str] = {}
    for route in routes:
        url, note, error = await _url_for(outputs, key, route, fallback)
        if url is None:
            failed[route.client_id] = error or "no URL"
        else:
            urls[route.client_id] = url
        notes[route.client_id] = note
    receipt = await _deliver_groups(routes, urls, params, deliver, timeout)
    if fallback:
        await _retry_over_http(outputs, key, routes, urls, notes, receipt, params, deliver,
                               timeout, over_http or (lambda route: route.rendition))
    for cid, reason in {**failed, **(refused or {})}.items():
        receipt.recipients.setdefault(cid, cid)
        receipt.failures[cid] = reason
    receipt.transports = notes
    receipt.url = next(iter(urls.values()), None)
    return receipt


async def _url_for(outputs: Outputs, key: str, route: Route, fallback: bool
                   ) -> tuple[str | None, str, str | None]:
    """``(url, how, error)`` for one route."""
    rendition = route.rendition
    if route.transport == "http":
        return outputs.http_url(key, rendition), f"http, {rendition.format}", None
    try:
        return await outputs.file_url(key, rendition), f"file, {rendition.format}", None
    except LocalFilesError as exc:
        if not fallback:
            return None, f"file, {rendition.format}", f"cannot write the local file: {exc}"
        route.transport = "http"
        how = f"http, {rendition.format} (no local file: {exc})"
        return outputs.http_url(key, rendition), how, None


async def _deliver_groups(routes: list[Route], urls: dict[str, str], params: dict[str, Any],
                          deliver: Deliver, timeout: float | None) -> Receipt:
    groups: dict[tuple[str, str, tuple[tuple[str, Any], ...]], list[str]] = {}
    for route in routes:
        if route.client_id in urls:
            extra = tuple(sorted(route.extra.items()))
            groups.setdefault((route.mtype, urls[route.client_id], extra), []).append(
                route.client_id)
    receipts = await asyncio.gather(*(
        deliver(mtype, dict(params, url=url, **dict(extra)), cids, timeout)
        for (mtype, url, extra), cids in groups.items()))
    mtypes = list(dict.fromkeys(mtype for mtype, _, _ in groups)) or [
        route.mtype for route in routes[:1]]
    merged = Receipt(" + ".join(mtypes), dict(params, url=next(iter(urls.values()), None)))
    for part in receipts:
        merge(merged, part)
    return merged


def merge(into: Receipt, part: Receipt) -> None:
    """Add one group's outcome to a receipt (later outcomes replace earlier ones)."""
    into.recipients.update(part.recipients)
    for cid, response in part.responses.items():
        into.failures.pop(cid, None)
        into.responses[cid] = response
    for cid, reason in part.failures.items():
        into.responses.pop(cid, None)
        into.failures[cid] = reason
    into.timed_out = [c for c in into.timed_out if c not in part.recipients] + part.timed_out


async def _retry_over_http(outputs: Outputs, key: str, routes: list[Route],
                           urls: dict[str, str], notes: dict[str, str], receipt: Receipt,
                           params: dict[str, Any], deliver: Deliver,
                           timeout: float | None,
                           over_http: Callable[[Route], Rendition]) -> None:
    """Send over HTTP to every recipient that answered ``samp.error`` to a file URL."""
    errors = receipt.failed
    retry = [r for r in routes if r.transport == "file" and r.client_id in receipt.responses
             and r.client_id in errors and r.rendition.path_url is None]
    for route in retry:
        route.rendition = over_http(route)
        route.transport, route.mtype, route.extra = "http", route.rendition.mtype, {}
        urls[route.client_id] = outputs.http_url(key, route.rendition)
        notes[route.client_id] = (f"http, {route.rendition.format} (the file:// URL failed: "
                                  f"{errors[route.client_id]})")
    if retry:
        merge(receipt, await _deliver_groups(retry, urls, params, deliver, timeout))
