"""The data bridge: send tables, images, spectra and positions; receive tables and images.

Typical use::

    import jupyter_samp
    from jupyter_samp.data import DataBridge

    async with jupyter_samp.connect("notebook") as client:
        bridge = DataBridge(client)
        sent = await bridge.send_table(df, to="topcat", name="bright stars")
        print(sent.summary())                 # who loaded it, who failed and why
        table = sent.table                    # selections made in TOPCAT arrive here
        table.on_select(lambda event: print(event.table.selection))
        await bridge.send_image(image, wcs=wcs)          # every image viewer
        await bridge.point_at(SkyCoord.from_name("M31")) # recentre them

Applications on this machine get the data as a private local file
(``file://``; TOPCAT maps a FITS file at once), the others from a
:class:`~jupyter_samp.data.resources.ResourceServer` on 127.0.0.1 at
unguessable URLs, streamed as it is fetched; ``transport=`` chooses (see
:mod:`jupyter_samp.data.routes`), and the receipt tells how each recipient
got it. Everything is
checked before any message is sent: a table with an object column, a 3-D
array for an image viewer, an unknown recipient raise at once.

``to`` is a client id, an application name (``"topcat"``, case-insensitive)
or a list of them; with no ``to`` the message goes to every application
subscribed to its MType. Each send returns a
:class:`~jupyter_samp.data.receipts.Receipt`.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from functools import partial
from typing import Any

from jupyter_samp.client import Client
from jupyter_samp.client.readiness import call_when_ready
from jupyter_samp.data.confirm import downloaded, load_table
from jupyter_samp.data.delivery import (
    Caller,
    Targets,
    check_subscribers,
    deliver,
    resolve_targets,
    table_targets,
)
from jupyter_samp.data.fetch import DEFAULT_MAX_BYTES
from jupyter_samp.data.handles import ImageHandle, TableHandle
from jupyter_samp.data.labels import ascii_label
from jupyter_samp.data.prepare import (
    Prepared,
    is_url,
    prepare_image,
    prepare_spectrum,
    prepare_table,
    slug,
)
from jupyter_samp.data.receipts import Receipt
from jupyter_samp.data.receive import ReceivingMixin
from jupyter_samp.data.resources import Resource, ResourceServer
from jupyter_samp.data.routes import (
    Outputs,
    Rendition,
    Route,
    check_transport,
    choose,
    send_routed,
)
from jupyter_samp.data.sending import from_prepared, routes_for, table_renditions
from jupyter_samp.data.sky import sky_position
from jupyter_samp.errors import InvalidValueError


class TableReceipt(Receipt):
    """A :class:`Receipt` for a table, with the :class:`TableHandle` that tracks selections."""

    table: TableHandle

    def __repr__(self) -> str:
        return f"<TableReceipt {self.table.table_id!r} {self.summary()}>"


class DataBridge(ReceivingMixin):
    """Send and receive data through a connected :class:`~jupyter_samp.client.Client`.

    Parameters
    ----------
    client : Client
        A started client; the bridge uses its event loop.
    server : ResourceServer, optional
        Where to publish data; by default one of its own, started on first
        use and closed by :meth:`close`.
    timeout : float
        Default seconds to wait for recipients to answer a load.
    max_bytes : int
        Largest table or image accepted from another application.
    fetch_timeout : float
        Seconds allowed to download one received table or image.
    local_dir : path, optional
        Parent of the private directory for local files (default the user's
        runtime directory, else the temporary directory).
    """

    def __init__(
        self,
        client: Client,
        *,
        server: ResourceServer | None = None,
        timeout: float = 120.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        fetch_timeout: float = 600.0,
        local_dir: Any = None,
    ) -> None:
        ReceivingMixin.__init__(self)
        self.client = client
        self.server = server if server is not None else ResourceServer()
        #: Said in the receipt of every delivery of data this bridge serves
        #: (set when something keeps recipients from downloading it).
        self.delivery_note = ""
        self._own_server = server is None
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.fetch_timeout = fetch_timeout
        self.resources: list[Resource] = []
        self.outputs = Outputs(self.server, base=local_dir)
        self._counter = itertools.count(1)
        self._used_ids: set[str] = set()

    async def close(self) -> None:
        """Stop serving what was published, remove local files, unsubscribe, stop an own server."""
        self.outputs.close()
        for resource in self.resources:
            resource.withdraw()
        self.resources.clear()
        self._remove_handlers()
        if self._own_server:
            await self.server.close()

    async def __aenter__(self) -> DataBridge:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    @property
    def tables(self) -> dict[str, TableHandle]:
        """Tables sent or received, by table-id."""
        return dict(self._by_id)

    # ------------------------------------------------------------ publishing

    def publish(self, prepared: Prepared) -> str:
        """The URL for prepared data: its own, or a new resource on the server."""
        if prepared.url is not None:
            return prepared.url
        assert prepared.payload is not None
        resource = self.server.publish(
            prepared.payload, content_type=prepared.content_type, filename=prepared.filename
        )
        self.resources.append(resource)
        return resource.url

    def forget(self, handle: TableHandle) -> None:
        """Stop serving a table's data (its local files removed) and tracking its selections."""
        self.untrack(handle)
        for url in self.outputs.urls(handle.table_id):
            if self._by_url.get(url) is handle:
                del self._by_url[url]
        self.outputs.release(handle.table_id)
        for resource in [r for r in self.resources if r.url == handle.url]:
            resource.withdraw()
            self.resources.remove(resource)

    def _label(self, name: str | None, data: Any, kind: str) -> str:
        meta = getattr(data, "attrs", None) or getattr(data, "meta", None) or {}
        found = name or (meta.get("name") if hasattr(meta, "get") else None)
        return str(found) if found else f"{kind}{next(self._counter)}"

    def _new_id(self, given: str | None, label: str) -> str:
        """A fresh identifier (TOPCAT refuses a table-id it has seen).

        Raises
        ------
        InvalidValueError
            ``given`` was already used by this bridge.
        """
        if given is not None and given in self._used_ids:
            raise InvalidValueError(f"id {given!r} was already used; each send needs a new one")
        ident = given or f"{slug(label, 'data')}-{secrets.token_hex(4)}"
        self._used_ids.add(ident)
        return ident

    def _check_transport(self, transport: str) -> None:
        """Refuse an unknown transport, or ``"file"`` without a usable private directory.

        Raises
        ------
        InvalidValueError
            Not ``"auto"``, ``"file"`` or ``"http"``.
        LocalFilesError
            ``"file"``, and the directory cannot be made safely.
        """
        if check_transport(transport) == "file":
            self.outputs.local()

    def _targets(self, mtype: str, to: Targets) -> list[str] | None:
        targets = resolve_targets(self.client, to)
        check_subscribers(self.client, mtype, targets)
        return targets

    # ------------------------------------------------------------ sending data

    async def send_table(
        self,
        data: Any,
        to: Targets = None,
        *,
        name: str | None = None,
        table_id: str | None = None,
        format: str | None = None,
        timeout: float | None = None,
        transport: str = "auto",
        **options: Any,
    ) -> TableReceipt:
        """Send a table (``table.load.votable``, or ``table.load.fits`` with ``format="fits"``).

        Parameters
        ----------
        data : DataFrame, Table, QTable, structured ndarray, path or URL
            The table. A DataFrame's non-default index is sent as leading
            column(s); units etc. come from ``df.attrs`` or ``units=``.
        to : str or list of str, optional
            Recipients (ids or names, matched as by :meth:`Client.resolve`).
            Default: the table viewers (TOPCAT and the like), or, when none
            is connected, whoever accepts tables; ``"all"``: every
            application that accepts tables, DS9 and Aladin (which show
            them as catalogs) included. The receipt's ``note`` says whom a
            default send left out.
        name : str, optional
            Label shown by the recipients (default ``attrs``/``meta`` name).
        table_id : str, optional
            Identifier for later messages; default a new unique one.
        format : {"votable", "fits"}, optional
            Default, per recipient: FITS-plus (a FITS table with its VOTable
            metadata; ``table.load.stil``) to TOPCAT or STILTS over a local
            file when every column fits FITS (ASCII text), else VOTable
            BINARY2 (``table.load.votable``); FITS (``table.load.fits``) to
            an application that takes only that. A file keeps what its
            name says.
        timeout : float, optional
            Seconds to wait for the recipients to load it.
        transport : {"auto", "file", "http"}
            ``"auto"``: a private ``file://`` URL for applications on this
            machine, falling back to HTTP at once for one that answers
            ``samp.error``; ``"file"``: local files only; ``"http"``: the
            resource server only. The receipt's ``transports`` says what each
            recipient got.
        **options
            Encoder options: ``serialization``, ``index``, ``units``, ``ucds``,
            ``descriptions``, ``description``, ``chunk_rows``.

        Returns
        -------
        TableReceipt
            Per-recipient outcome, and ``.table``, the :class:`TableHandle`.

        Raises
        ------
        InvalidValueError
            Data that cannot be written, a reused ``table_id``, bad options.
        NoSuchClientError, AmbiguousClientError
            ``to`` names no application, or several.
        NotSubscribedError
            No ``to`` and no application accepts tables.
        FileNotFoundError
            A path that does not exist.
        LocalFilesError
            ``transport="file"`` and the private directory cannot be used.
        """
        return await self.start_table(
            data, to, name=name, table_id=table_id, format=format, timeout=timeout,
            transport=transport, **options
        ).delivery  # type: ignore[misc]

    def start_table(
        self,
        data: Any,
        to: Targets = None,
        *,
        name: str | None = None,
        table_id: str | None = None,
        format: str | None = None,
        timeout: float | None = None,
        transport: str = "auto",
        **options: Any,
    ) -> TableHandle:
        """Check and publish a table, and start sending it in the background.

        Everything that can be wrong with the data or the recipients raises
        here, before anything is sent; the returned handle's ``delivery``
        task then gives the :class:`TableReceipt`. Takes the arguments of
        :meth:`send_table` and raises what it raises. Needs a running loop.
        """
        label = self._label(name, data, "table")
        self._check_transport(transport)
        if is_url(data):
            prepared = prepare_table(data, format=format, name=label, **options)
            mtype = "table.load.fits" if prepared.format == "fits" else "table.load.votable"
            targets, note = table_targets(self.client, mtype, to)
            ident = self._new_id(table_id, label)
            handle = TableHandle(data, table_id=ident, url=self.publish(prepared), name=label,
                                 nrows=_rows(data), bridge=self)
            self.track(handle)
            handle.delivery = asyncio.get_running_loop().create_task(
                self._send_table(handle, mtype, targets, timeout, note))
            return handle
        renditions, nrows = table_renditions(data, format, label, options)
        targets, note = table_targets(self.client, [r.mtype for r in renditions], to)
        routes, refused = routes_for(self.client, renditions, targets, transport)
        ident = self._new_id(table_id, label)
        handle = TableHandle(data, table_id=ident, url="", name=label,
                             nrows=nrows if nrows is not None else _rows(data), bridge=self)
        self.track(handle)
        handle.delivery = asyncio.get_running_loop().create_task(
            self._send_routed_table(handle, routes, refused, transport, timeout, renditions,
                                    note))
        return handle

    async def _send_routed_table(self, handle: TableHandle, routes: list[Route],
                                 refused: dict[str, str], transport: str,
                                 timeout: float | None,
                                 renditions: list[Rendition], note: str = "") -> TableReceipt:
        await self.client.flush()  # selections may come back at once
        params = {"table-id": handle.table_id, "name": ascii_label(handle.name or "")}
        def over_http(route: Route) -> Rendition:
            view = self.client.clients.get(route.client_id)
            return choose(renditions, view, False) or route.rendition

        receipt = await send_routed(self.outputs, handle.table_id, routes, params,
                                    self._load_table, timeout, transport == "auto", refused,
                                    over_http)
        receipt.note = "; ".join(filter(None, [note, receipt.note]))
        handle.url = receipt.url or ""
        for url in self.outputs.urls(handle.table_id):
            self._by_url.setdefault(url, handle)  # selections may name any copy it was sent as
        result = TableReceipt(**vars(receipt))
        result.table = handle
        handle.receipt = result
        return result

    async def _load_table(self, mtype: str, params: dict[str, Any], targets: list[str],
                          timeout: float | None) -> Receipt:
        """Send one copy of a table (one URL) to ``targets``, confirming unanswered loads."""
        url = params.get("url")
        resource = next((r for r in self.resources if r.url == url), None)
        if resource is None:  # a local file: readable at once, nothing to watch
            fetched = asyncio.Event()
            fetched.set()
        else:
            fetched = downloaded(resource)
        return await self._deliver(mtype, params, targets, timeout,
                                   partial(load_table, fetched=fetched))

    async def _send_table(
        self, handle: TableHandle, mtype: str, targets: list[str] | None, timeout: float | None,
        note: str = "",
    ) -> TableReceipt:
        await self.client.flush()  # selections may come back at once
        params = {"url": handle.url, "table-id": handle.table_id,
                  "name": ascii_label(handle.name or handle.table_id)}
        fetched = downloaded(next((r for r in self.resources if r.url == handle.url), None))
        receipt = await self._deliver(mtype, params, targets, timeout,
                                      partial(load_table, fetched=fetched))
        receipt.note = "; ".join(filter(None, [note, receipt.note]))
        result = TableReceipt(**vars(receipt))
        result.table = handle
        handle.receipt = result
        return result

    async def send_image(
        self,
        data: Any,
        to: Targets = None,
        *,
        name: str | None = None,
        image_id: str | None = None,
        header: Any = None,
        wcs: Any = None,
        allow_ndim: bool = False,
        timeout: float | None = None,
        transport: str = "auto",
    ) -> Receipt:
        """Send a FITS image (``image.load.fits``).

        Parameters
        ----------
        data : 2-D ndarray, PrimaryHDU, ImageHDU, HDUList, CCDData, path or URL
            The image.
        header, wcs : optional
            Extra header cards and world coordinates for arrays and HDUs.
        allow_ndim : bool
            Send a cube or a 1-D array anyway (viewers expect 2-D images).
        to, name, image_id, timeout, transport
            As for :meth:`send_table`. Aladin loads images from local files
            only, so ``transport="http"`` does not reach it.

        Raises
        ------
        InvalidValueError
            An image that is not 2-D (without ``allow_ndim``), a table, a
            type FITS cannot hold, an invalid header, a reused ``image_id``.
        NoSuchClientError, AmbiguousClientError, NotSubscribedError, LocalFilesError
            As for :meth:`send_table`.
        """
        return await self.start_image(
            data, to, name=name, image_id=image_id, header=header, wcs=wcs,
            allow_ndim=allow_ndim, timeout=timeout, transport=transport,
        )

    def start_image(
        self,
        data: Any,
        to: Targets = None,
        *,
        name: str | None = None,
        image_id: str | None = None,
        header: Any = None,
        wcs: Any = None,
        allow_ndim: bool = False,
        timeout: float | None = None,
        transport: str = "auto",
    ) -> ImageHandle:
        """Check and publish an image, and start sending it in the background.

        As :meth:`start_table`: everything that can be wrong raises here,
        before anything is sent, and the returned handle's ``delivery`` task
        (or ``await handle``) gives the :class:`Receipt`. Takes the arguments
        of :meth:`send_image` and raises what it raises. Needs a running loop.
        """
        label = self._label(name, data, "image")
        self._check_transport(transport)
        prepared = prepare_image(data, name=label, header=header, wcs=wcs, allow_ndim=allow_ndim)
        targets = self._targets("image.load.fits", to)
        ident = self._new_id(image_id, label)
        if prepared.url is not None:
            params = {"url": prepared.url, "image-id": ident, "name": ascii_label(label)}
            delivery = asyncio.get_running_loop().create_task(
                self._deliver("image.load.fits", params, targets, timeout))
            return ImageHandle(ident, prepared.url, label, delivery)
        rendition = from_prepared(prepared, "image.load.fits")
        routes, refused = routes_for(self.client, [rendition], targets, transport)
        params = {"image-id": ident, "name": ascii_label(label)}
        handle: ImageHandle

        async def send() -> Receipt:
            receipt = await send_routed(self.outputs, ident, routes, params, self._deliver,
                                        timeout, transport == "auto", refused)
            handle.url = receipt.url or ""
            return receipt

        handle = ImageHandle(ident, "", label, asyncio.get_running_loop().create_task(send()))
        return handle

    async def send_spectrum(
        self,
        data: Any,
        to: Targets = None,
        *,
        name: str | None = None,
        spectrum_id: str | None = None,
        meta: dict[str, Any] | None = None,
        format: str | None = None,
        timeout: float | None = None,
        **options: Any,
    ) -> Receipt:
        """Send a spectrum (``spectrum.load.ssa-generic``).

        ``data`` is a table (wavelength, flux... columns; sent as VOTable, or
        FITS with ``format="fits"``), a file or a URL. ``meta`` holds SSA
        metadata; ``Access.Reference`` and ``Access.Format`` (the media type)
        are filled in unless given. Other parameters as for :meth:`send_table`.

        Raises
        ------
        InvalidValueError, NoSuchClientError, AmbiguousClientError, NotSubscribedError
            As for :meth:`send_table`.
        """
        label = self._label(name, data, "spectrum")
        prepared = prepare_spectrum(data, format=format, name=label, **options)
        targets = self._targets("spectrum.load.ssa-generic", to)
        url = self.publish(prepared)
        described = {"Access.Reference": url, "Access.Format": prepared.content_type,
                     **(meta or {})}
        params = {"url": url, "meta": described, "name": ascii_label(label),
                  "spectrum-id": self._new_id(spectrum_id, label)}
        return await self._deliver("spectrum.load.ssa-generic", params, targets, timeout)

    # ------------------------------------------------------------ other messages

    async def point_at(
        self, coord_or_ra: Any, dec: Any = None, *, to: Targets = None,
        timeout: float | None = None,
    ) -> Receipt:
        """Ask applications to look at a sky position (``coord.pointAt.sky``).

        Parameters
        ----------
        coord_or_ra : SkyCoord or float or Quantity
            A scalar ``SkyCoord`` in any frame (converted to ICRS degrees), or
            the right ascension in degrees (or an angle Quantity).
        dec : float or Quantity, optional
            The declination, when ``coord_or_ra`` is a right ascension.

        Raises
        ------
        InvalidValueError
            Not a single position, or a declination outside [-90, 90].
        NoSuchClientError, AmbiguousClientError, NotSubscribedError
            As for :meth:`send_table`.
        """
        ra_deg, dec_deg = sky_position(coord_or_ra, dec)
        targets = self._targets("coord.pointAt.sky", to)
        params = {"ra": ra_deg, "dec": dec_deg}
        return await self._deliver("coord.pointAt.sky", params, targets, timeout)

    async def load_bibcode(
        self, bibcode: str, *, to: Targets = None, timeout: float | None = None
    ) -> Receipt:
        """Ask applications to show a paper (``bibcode.load``).

        Raises
        ------
        InvalidValueError
            ``bibcode`` is not a 19-character ADS bibcode.
        """
        if not isinstance(bibcode, str) or len(bibcode.strip()) != 19:
            raise InvalidValueError(f"{bibcode!r} is not a 19-character ADS bibcode")
        targets = self._targets("bibcode.load", to)
        return await self._deliver("bibcode.load", {"bibcode": bibcode.strip()}, targets, timeout)

    async def send_rows(
        self, table: TableHandle | str, rows: Any, *, to: Targets = None,
        timeout: float | None = None,
    ) -> Receipt:
        """Select rows of a table already sent (``table.select.rowList``).

        Parameters
        ----------
        table : TableHandle or str
            The table, or its table-id.
        rows : mask, positions, or a subset of the original DataFrame/Table
            What to select (see :meth:`TableHandle.positions`).
        to : optional
            Default: the applications that loaded the table.

        Raises
        ------
        InvalidValueError
            Bad rows; an unknown table-id.
        """
        handle = self._handle(table)
        positions = handle.positions(rows)
        handle.apply_selection(positions)
        params = {"table-id": handle.table_id, "url": handle.url,
                  "row-list": [int(p) for p in positions]}
        return await self._to_holders(handle, "table.select.rowList", params, to, timeout)

    async def highlight_row(
        self, table: TableHandle | str, row: int, *, to: Targets = None,
        timeout: float | None = None,
    ) -> Receipt:
        """Highlight one row (a position) of a table already sent (``table.highlight.row``).

        Raises
        ------
        InvalidValueError
            A row outside the table; an unknown table-id.
        """
        handle = self._handle(table)
        if not handle.apply_highlight(int(row)):
            raise InvalidValueError(f"row {row} is outside the table ({handle.nrows} rows)")
        params = {"table-id": handle.table_id, "url": handle.url, "row": int(row)}
        return await self._to_holders(handle, "table.highlight.row", params, to, timeout)

    def _handle(self, table: TableHandle | str) -> TableHandle:
        if isinstance(table, TableHandle):
            return table
        found = self.find_table(table, table)
        if found is None:
            raise InvalidValueError(f"no table with table-id or URL {table!r} was sent or received")
        return found

    async def _to_holders(
        self, handle: TableHandle, mtype: str, params: dict[str, Any], to: Targets,
        timeout: float | None,
    ) -> Receipt:
        """Send to ``to``, else to the still-connected applications that loaded the table."""
        if to is None:
            holders = [cid for cid in handle.loaded_by if cid in self.client.clients]
            targets = holders or None  # nobody known to hold it: every subscriber
        else:
            targets = resolve_targets(self.client, to)
        check_subscribers(self.client, mtype, targets)
        return await self._deliver(mtype, params, targets, timeout if timeout else 30.0)

    async def _deliver(
        self, mtype: str, params: dict[str, Any], targets: list[str] | None,
        timeout: float | None, caller: Caller = call_when_ready,
    ) -> Receipt:
        receipt = await deliver(self.client, mtype, params, targets,
                                self.timeout if timeout is None else timeout, caller)
        receipt.url = params.get("url")
        served = self.server.running and str(receipt.url or "").startswith(self.server.base_url)
        if self.delivery_note and served:
            receipt.note = self.delivery_note
        return receipt


def _rows(data: Any) -> int | None:
    try:
        return len(data) if not isinstance(data, (str, bytes)) else None
    except TypeError:
        return None
