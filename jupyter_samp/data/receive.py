"""Data and selections that other applications send us.

* ``table.load.votable`` / ``table.load.fits``: the URL is fetched
  asynchronously (size-limited), parsed in a worker thread, and the table is
  handed to the callbacks given to ``on_table``.
* ``image.load.fits``: the same, giving an ``HDUList`` to ``on_image`` callbacks.
* ``table.select.rowList`` / ``table.highlight.row``: the table named (by
  ``table-id`` or URL) is found among those sent or received, its handle is
  updated and its callbacks run.

A call is answered only when the work is done: ``samp.ok`` once the data is
loaded and every callback has run, ``samp.error`` with the reason otherwise
(unreachable URL, unreadable data, unknown table, a callback that raised).
"""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from jupyter_samp.client import Client, Message
from jupyter_samp.core.values import decode_int
from jupyter_samp.data.codecs.decode import (
    read_fits_image,
    read_fits_table,
    read_votable,
    to_pandas,
)
from jupyter_samp.data.fetch import fetch, names_this_host
from jupyter_samp.data.handles import TableEvent, TableHandle
from jupyter_samp.errors import InvalidValueError

TABLE_MTYPES = {"table.load.votable": "votable", "table.load.fits": "fits"}
IMAGE_MTYPE = "image.load.fits"
SELECT_MTYPE = "table.select.rowList"
HIGHLIGHT_MTYPE = "table.highlight.row"
#: The result key of a selection answered but ignored (the table is not ours).
IGNORED_KEY = "jupyter_samp.ignored"

#: The bridges receiving through each client (see ReceivingMixin).
log = logging.getLogger("jupyter_samp.data")

_receivers: weakref.WeakKeyDictionary[Client, weakref.WeakSet[ReceivingMixin]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Received:
    """A table or image another application sent.

    Attributes
    ----------
    data : object
        An astropy ``Table``, a pandas ``DataFrame`` (``on_table(...,
        as_pandas=True)``) or an astropy ``HDUList``.
    mtype : str
        The MType it came with.
    url : str
        Where it was fetched from.
    id : str or None
        The ``table-id`` or ``image-id`` the sender gave.
    name : str or None
        The label the sender gave.
    sender_id, sender_name : str
        Who sent it.
    table : TableHandle or None
        For tables: the handle that tracks selections made on it.
    """

    data: Any
    mtype: str
    url: str
    id: str | None
    name: str | None
    sender_id: str
    sender_name: str
    table: TableHandle | None = None


ReceiveCallback = Callable[[Received], Any]


async def call_back(callback: Callable[[Any], Any], argument: Any) -> None:
    """Run a plain or coroutine callback."""
    outcome = callback(argument)
    if inspect.isawaitable(outcome):
        await outcome


def _string(params: dict[str, Any], key: str, required: bool = False) -> str | None:
    """A string parameter.

    Raises
    ------
    InvalidValueError
        Missing when required, or not a string.
    """
    value = params.get(key)
    if value is None:
        if required:
            raise InvalidValueError(f"the message has no {key!r} parameter")
        return None
    if not isinstance(value, str):
        raise InvalidValueError(f"parameter {key!r} must be a string")
    return value


class ReceivingMixin:
    """Receiving for :class:`~jupyter_samp.data.bridge.DataBridge`.

    A client has one handler per mtype, but a program may make several
    bridges on one client. The bridges of a client know of each other, so a
    selection reaches the table whichever bridge sent it, and the handlers
    of a bridge that closes pass to one that stays.
    """

    client: Client
    max_bytes: int
    fetch_timeout: float

    def __init__(self) -> None:
        self._table_callbacks: list[tuple[ReceiveCallback, bool]] = []
        self._image_callbacks: list[ReceiveCallback] = []
        self._by_id: dict[str, TableHandle] = {}
        self._by_url: dict[str, TableHandle] = {}
        self._patterns: set[str] = set()

    # ------------------------------------------------------------ registration

    def _siblings(self) -> weakref.WeakSet[ReceivingMixin]:
        """The live bridges of this bridge's client, this one included."""
        siblings = _receivers.get(self.client)
        if siblings is None:
            siblings = _receivers[self.client] = weakref.WeakSet()
        siblings.add(self)
        return siblings

    def _handle_mtype(self, mtype: str, handler: Callable[[Message], Any]) -> None:
        self._siblings()
        if mtype not in self._patterns:
            self._patterns.add(mtype)
            self.client.add_handler(mtype, handler)

    def _remove_handlers(self) -> None:
        siblings = self._siblings()
        siblings.discard(self)
        patterns, self._patterns = self._patterns, set()
        for mtype in patterns:
            self.client.remove_handler(mtype)
        for sibling in list(siblings):
            # A sibling that subscribed too must keep receiving: give it the mtype back.
            for mtype in patterns & sibling._patterns:
                sibling._patterns.discard(mtype)
                sibling._handle_mtype(mtype, sibling._handler_for(mtype))

    def _handler_for(self, mtype: str) -> Callable[[Message], Any]:
        if mtype in TABLE_MTYPES:
            return self._on_table_load
        handlers: dict[str, Callable[[Message], Any]] = {
            IMAGE_MTYPE: self._on_image_load, SELECT_MTYPE: self._on_select,
            HIGHLIGHT_MTYPE: self._on_highlight,
        }
        return handlers[mtype]

    def _listen_for_selections(self) -> None:
        self._handle_mtype(SELECT_MTYPE, self._on_select)
        self._handle_mtype(HIGHLIGHT_MTYPE, self._on_highlight)

    def on_table(self, callback: ReceiveCallback, *, as_pandas: bool = False) -> Callable[[], None]:
        """Receive tables: call ``callback(received)`` for each one loaded.

        Subscribes to ``table.load.votable`` and ``table.load.fits``.
        ``received`` is a :class:`Received` whose ``data`` is an astropy
        ``Table`` (or a ``DataFrame`` with ``as_pandas``). The callback may be
        a coroutine function; if it raises, the sender gets ``samp.error``.
        Returns a function that removes the callback.
        """
        entry = (callback, as_pandas)
        self._table_callbacks.append(entry)
        for mtype in TABLE_MTYPES:
            self._handle_mtype(mtype, self._on_table_load)
        self._listen_for_selections()  # others may select rows of what they sent
        return _remover(self._table_callbacks, entry)

    def on_image(self, callback: ReceiveCallback) -> Callable[[], None]:
        """Receive images: call ``callback(received)`` with an astropy ``HDUList``.

        Subscribes to ``image.load.fits``; otherwise as :meth:`on_table`.
        """
        self._image_callbacks.append(callback)
        self._handle_mtype(IMAGE_MTYPE, self._on_image_load)
        return _remover(self._image_callbacks, callback)

    def track(self, handle: TableHandle) -> None:
        """Track selections for ``handle`` (by its id and its URL; earlier ones win)."""
        self._by_id.setdefault(handle.table_id, handle)
        self._by_url.setdefault(handle.url, handle)
        self._listen_for_selections()

    def untrack(self, handle: TableHandle) -> None:
        """Stop tracking ``handle``."""
        if self._by_id.get(handle.table_id) is handle:
            del self._by_id[handle.table_id]
        if self._by_url.get(handle.url) is handle:
            del self._by_url[handle.url]

    def find_table(self, table_id: str | None = None, url: str | None = None) -> TableHandle | None:
        """The handle known by this ``table_id`` or, failing that, this ``url``."""
        found = self._by_id.get(table_id) if table_id else None
        return found or (self._by_url.get(url) if url else None)

    # ------------------------------------------------------------ loading

    async def _load(self, message: Message, reader: Callable[[Any], Any]) -> tuple[Any, str]:
        """Fetch the message's URL and parse it in a worker thread.

        Raises
        ------
        InvalidValueError
            No ``url`` parameter, or data the reader cannot parse.
        FetchError
            The URL cannot be fetched (one that names the sender's computer,
            while this notebook runs on another, through the browser only).
        """
        url = _string(message.params, "url", required=True)
        assert url is not None
        if not self.client.hub_shares_files and names_this_host(url):
            # It names the sender's computer: only the route to it can read it.
            body = await self.client.fetch_remote(url, self.max_bytes, self.fetch_timeout)
            return await asyncio.to_thread(reader, io.BytesIO(body)), url
        source = await fetch(url, max_bytes=self.max_bytes, timeout=self.fetch_timeout)
        return await asyncio.to_thread(reader, source), url

    async def _on_table_load(self, message: Message) -> dict[str, Any]:

        reader = read_votable if TABLE_MTYPES[message.mtype] == "votable" else read_fits_table
        table, url = await self._load(message, reader)
        table_id = _string(message.params, "table-id") or url
        name = _string(message.params, "name")
        frame = None
        if any(as_pandas for _, as_pandas in self._table_callbacks):
            frame = await asyncio.to_thread(to_pandas, table)
        # Selections then come back as rows of what the callbacks were given.
        handle = TableHandle(frame if frame is not None else table, table_id=table_id, url=url,
                             name=name, nrows=len(table), bridge=self)  # type: ignore[arg-type]
        self.track(handle)
        for callback, as_pandas in list(self._table_callbacks):
            data = frame if as_pandas else table
            await call_back(callback, self._received(message, data, url, table_id, name, handle))
        return {}

    async def _on_image_load(self, message: Message) -> dict[str, Any]:

        hdul, url = await self._load(message, read_fits_image)
        image_id, name = _string(message.params, "image-id"), _string(message.params, "name")
        for callback in list(self._image_callbacks):
            await call_back(callback, self._received(message, hdul, url, image_id, name, None))
        return {}

    def _received(self, message: Message, data: Any, url: str, ident: str | None,
                  name: str | None, handle: TableHandle | None) -> Received:
        view = self.client.clients.get(message.sender_id)
        sender_name = view.name if view is not None else message.sender_id
        return Received(data, message.mtype, url, ident, name, message.sender_id, sender_name,
                        handle)

    # ------------------------------------------------------------ selections

    def _table_for(self, message: Message) -> TableHandle | None:
        """The table a select/highlight message names, or None if it is not one of ours.

        Raises
        ------
        InvalidValueError
            The message names no table at all.
        """
        table_id = _string(message.params, "table-id")
        url = _string(message.params, "url")
        if table_id is None and url is None:
            raise InvalidValueError("the message names no table (give table-id or url)")
        handle = self.find_table(table_id, url)
        for sibling in list(self._siblings()):
            if handle is None and sibling is not self:
                handle = sibling.find_table(table_id, url)
        return handle

    @staticmethod
    def _not_ours(message: Message) -> dict[str, Any]:
        """The answer to a selection for a table another application sent.

        TOPCAT sends a selection to every subscriber, and shows the errors it
        gets back: a notebook that does not hold the table answers ``samp.ok``
        and says, in the result, that it ignored the message.
        """
        table_id = _string(message.params, "table-id")
        url = _string(message.params, "url")
        note = f"no table with table-id={table_id} or url={url} is known here; ignored"
        log.debug("%s from %s: %s", message.mtype, message.sender_id, note)
        return {IGNORED_KEY: note}

    async def _on_select(self, message: Message) -> dict[str, Any]:
        handle = self._table_for(message)
        if handle is None:
            return self._not_ours(message)
        listed = message.params.get("row-list")
        if not isinstance(listed, list):
            raise InvalidValueError("row-list must be a list of SAMP ints")
        rows = np.array([decode_int(v, "each row-list entry") for v in listed], np.int64)
        ignored = handle.apply_selection(rows)
        event = self._event("select", handle, handle.selected_rows, message)
        for callback in handle.callbacks("select"):
            await call_back(callback, event)
        if ignored:
            return _warning(f"ignored {len(ignored)} row(s) outside the table: {ignored[:10]}")
        return {}

    async def _on_highlight(self, message: Message) -> dict[str, Any]:
        handle = self._table_for(message)
        if handle is None:
            return self._not_ours(message)
        row = decode_int(message.params.get("row"), "row")
        if not handle.apply_highlight(row):
            raise InvalidValueError(f"row {row} is outside the table ({handle.nrows} rows)")
        event = self._event("highlight", handle, np.array([row]), message)
        for callback in handle.callbacks("highlight"):
            await call_back(callback, event)
        return {}

    def _event(self, kind: str, handle: TableHandle, rows: np.ndarray, message: Message
               ) -> TableEvent:
        view = self.client.clients.get(message.sender_id)
        name = view.name if view is not None else message.sender_id
        return TableEvent(kind, handle, rows, message.sender_id, name)


def _remover(entries: list[Any], entry: Any) -> Callable[[], None]:
    """A function that removes ``entry`` from ``entries`` (once; later calls do nothing)."""
    return lambda: entries.remove(entry) if entry in entries else None


def _warning(text: str) -> dict[str, Any]:
    """A ``samp.warning`` response: done, with something the sender should know."""
    return {"samp.status": "samp.warning", "samp.result": {},
            "samp.error": {"samp.errortxt": text}}
