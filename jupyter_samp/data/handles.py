"""A table other applications hold: its id and URL, and the rows they select.

A :class:`TableHandle` stands for one table that was sent (or received).
When another application sends ``table.select.rowList`` or
``table.highlight.row`` naming it (by ``table-id`` or by URL), the handle's
:attr:`~TableHandle.selection`, :attr:`~TableHandle.selection_mask` and
:attr:`~TableHandle.highlighted` change and its callbacks run. Row numbers in
SAMP are positions (0-based) in the table as sent, so they are applied with
``iloc``: a DataFrame's own index is kept in the selection, whatever it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from jupyter_samp.data.receipts import Receipt
from jupyter_samp.errors import InvalidValueError

log = logging.getLogger("jupyter_samp.data")


class TableOwner(Protocol):
    """What a handle needs of the bridge that sent or received its table."""

    async def send_rows(self, table: TableHandle, rows: Any, *, to: Any = None,
                        timeout: float | None = None) -> Receipt:
        """Send ``table.select.rowList`` for ``rows`` of ``table``."""

    async def highlight_row(self, table: TableHandle, row: int, *, to: Any = None,
                            timeout: float | None = None) -> Receipt:
        """Send ``table.highlight.row`` for one row of ``table``."""

    def forget(self, handle: TableHandle) -> None:
        """Stop serving the table and tracking its selections."""


@dataclass(frozen=True)
class TableEvent:
    """A selection or highlight that arrived for a table.

    Attributes
    ----------
    kind : str
        ``"select"`` or ``"highlight"``.
    table : TableHandle
        The table concerned (already updated).
    rows : numpy.ndarray
        Positions selected (for a highlight, the one row).
    sender_id, sender_name : str
        Who sent it.
    """

    kind: str
    table: TableHandle
    rows: np.ndarray
    sender_id: str
    sender_name: str


TableCallback = Callable[[TableEvent], "Awaitable[Any] | Any"]


class TableHandle:
    """One table known to other applications by its ``table-id`` and URL.

    Attributes
    ----------
    table_id : str
        The identifier SAMP messages use for it.
    url : str
        Where it was offered.
    name : str or None
        Its label in other applications.
    data : object
        The original table (DataFrame, Table...) or, for a file or URL, the
        path or URL given.
    nrows : int or None
        Rows, when known.
    receipt : Receipt or None
        The outcome of sending it.
    """

    def __init__(
        self,
        data: Any,
        *,
        table_id: str,
        url: str,
        name: str | None = None,
        nrows: int | None = None,
        bridge: TableOwner | None = None,
    ) -> None:
        self.data = data
        self.table_id = table_id
        self.url = url
        self.name = name
        self.nrows = nrows
        self.receipt: Receipt | None = None
        #: The background task sending the table (see DataBridge.start_table).
        self.delivery: asyncio.Task[Any] | None = None
        self.highlighted: int | None = None
        self._rows = np.zeros(0, np.int64)
        self._bridge = bridge
        self._callbacks: dict[str, list[TableCallback]] = {"select": [], "highlight": []}

    def __repr__(self) -> str:
        return (f"<TableHandle {self.table_id!r} ({self.nrows} rows), "
                f"{len(self._rows)} selected, highlighted={self.highlighted}>")

    def __await__(self) -> Generator[Any, None, Any]:
        """``await handle``: the receipt, once the sending has ended (as ``await handle.delivery``).

        Raises
        ------
        RuntimeError
            If the table is not being sent (a handle of a received table).
        """
        if self.delivery is None:
            raise RuntimeError("this table is not being sent: it has no delivery to wait for")
        return self.delivery.__await__()

    # ------------------------------------------------------------ state

    @property
    def loaded_by(self) -> list[str]:
        """Ids of the applications that loaded the table (answered ok or warning)."""
        return [] if self.receipt is None else self.receipt.ok

    @property
    def selected_rows(self) -> np.ndarray:
        """Positions (0-based) of the selected rows, in the order received."""
        return self._rows.copy()

    @property
    def selection(self) -> Any:
        """The selected rows of the original table (index kept), or their positions.

        A DataFrame gives ``df.iloc[rows]``, an astropy Table ``table[rows]``;
        for data that is not in memory (a file, a URL) the positions.
        """
        return take_rows(self.data, self._rows)

    @property
    def selection_mask(self) -> np.ndarray:
        """A boolean array, True for each selected row (needs a known row count)."""
        if self.nrows is None:
            raise InvalidValueError("the row count of this table is unknown: use selected_rows")
        mask = np.zeros(self.nrows, bool)
        mask[self._rows] = True
        return mask

    @property
    def highlighted_row(self) -> Any:
        """The highlighted row of the original table, or None."""
        if self.highlighted is None:
            return None
        rows = take_rows(self.data, np.array([self.highlighted]))
        if hasattr(rows, "colnames"):  # an astropy Table (whose iloc needs an index)
            return rows[0]
        iloc = getattr(rows, "iloc", None)
        return iloc[0] if iloc is not None else rows[0]

    # ------------------------------------------------------------ callbacks

    def on_select(self, callback: TableCallback) -> Callable[[], None]:
        """Call ``callback(event)`` when another application selects rows.

        ``event`` is a :class:`TableEvent`; the handle is already updated.
        The callback may be a coroutine function. Returns a function that
        removes it. Exceptions are logged (and turned into an error response
        for the sender).
        """
        return self._add("select", callback)

    def on_highlight(self, callback: TableCallback) -> Callable[[], None]:
        """Call ``callback(event)`` when another application highlights a row."""
        return self._add("highlight", callback)

    def _add(self, kind: str, callback: TableCallback) -> Callable[[], None]:
        callbacks = self._callbacks[kind]
        callbacks.append(callback)
        return lambda: callbacks.remove(callback) if callback in callbacks else None

    def callbacks(self, kind: str) -> list[TableCallback]:
        """The callbacks registered for ``"select"`` or ``"highlight"``."""
        return list(self._callbacks[kind])

    # ------------------------------------------------------------ updates

    def apply_selection(self, rows: np.ndarray) -> list[int]:
        """Set the selection from positions; return those out of range (not applied)."""
        rows = np.asarray(rows, np.int64).ravel()
        bad = (rows < 0) | ((rows >= self.nrows) if self.nrows is not None else False)
        # SAMP row lists are sets: keep them sorted and without repeats.
        self._rows = np.unique(rows[~bad])
        return rows[bad].tolist()

    def apply_highlight(self, row: int) -> bool:
        """Set the highlighted row; False (and no change) if it is out of range."""
        if row < 0 or (self.nrows is not None and row >= self.nrows):
            return False
        self.highlighted = int(row)
        return True

    # ------------------------------------------------------------ sending

    def positions(self, rows: Any) -> np.ndarray:
        """Row positions from a boolean mask, a list of positions, or a subset of the data.

        Raises
        ------
        InvalidValueError
            A mask of the wrong length, rows out of range, or a subset with
            index labels the original does not have.
        """
        return row_positions(self.data, rows, self.nrows)

    async def select(self, rows: Any, *, to: Any = None, timeout: float = 30.0) -> Receipt:
        """Send ``table.select.rowList`` for these rows to the applications holding the table.

        ``rows`` is a boolean mask, positions, or a subset of the original
        DataFrame/Table (matched by index). The local selection is set too
        (without calling this handle's callbacks, which are for selections
        made elsewhere).

        Raises
        ------
        InvalidValueError
            Bad rows (see :meth:`positions`).
        RuntimeError
            The handle belongs to no bridge.
        """
        return await self._require_bridge().send_rows(self, rows, to=to, timeout=timeout)

    async def highlight(self, row: int, *, to: Any = None, timeout: float = 30.0) -> Receipt:
        """Send ``table.highlight.row`` for one row position (see :meth:`select`)."""
        return await self._require_bridge().highlight_row(self, row, to=to, timeout=timeout)

    def _require_bridge(self) -> TableOwner:
        if self._bridge is None:
            raise RuntimeError("this table handle is not attached to a data bridge")
        return self._bridge

    def withdraw(self) -> None:
        """Stop serving the table and forget it (later selections are refused)."""
        if self._bridge is not None:
            self._bridge.forget(self)


@dataclass
class ImageHandle:
    """One image being sent, as :meth:`DataBridge.start_image` returns it.

    ``await handle`` (or ``await handle.delivery``) gives the receipt, as for
    a :class:`TableHandle`.

    Attributes
    ----------
    image_id : str
        The identifier SAMP messages use for it.
    url : str
        Where it was offered (for a send by ``file://`` or HTTP chosen per
        recipient: the first URL, set once the sending has ended).
    name : str
        Its label in other applications.
    delivery : asyncio.Task
        The background task sending it; its result is the :class:`Receipt`.
    """

    image_id: str
    url: str
    name: str
    delivery: asyncio.Task[Receipt]

    def __await__(self) -> Generator[Any, None, Receipt]:
        """The receipt, once the sending has ended."""
        return self.delivery.__await__()

    @property
    def receipt(self) -> Receipt | None:
        """The outcome of the sending, once it has ended without error; else None."""
        done = self.delivery.done() and not self.delivery.cancelled()
        return self.delivery.result() if done and self.delivery.exception() is None else None


def take_rows(data: Any, rows: np.ndarray) -> Any:
    """``data.iloc[rows]`` for pandas, ``data[rows]`` for astropy/numpy, else ``rows``."""
    # astropy Tables have an ``iloc`` too, which works only on indexed tables.
    if hasattr(data, "colnames") or (isinstance(data, np.ndarray) and data.dtype.names):
        return data[rows]
    iloc = getattr(data, "iloc", None)
    if iloc is not None:
        return iloc[rows]
    return rows


def row_positions(data: Any, rows: Any, nrows: int | None) -> np.ndarray:
    """See :meth:`TableHandle.positions`.

    Raises
    ------
    InvalidValueError
        As described there.
    """
    if hasattr(rows, "index") and hasattr(data, "index") and hasattr(rows, "columns"):
        found = data.index.get_indexer(rows.index)
        if (found < 0).any():
            raise InvalidValueError("some selected rows are not in the table that was sent")
        return np.asarray(found, np.int64)
    values = np.asarray(getattr(rows, "to_numpy", lambda: rows)())
    if values.dtype == bool:
        if nrows is not None and len(values) != nrows:
            raise InvalidValueError(f"mask has {len(values)} entries, the table {nrows} rows")
        return np.flatnonzero(values)
    if values.size and values.dtype.kind not in "iu":
        raise InvalidValueError("rows must be a boolean mask or integer positions")
    positions = values.astype(np.int64).ravel()
    if positions.size and (positions.min() < 0 or (nrows is not None and positions.max() >= nrows)):
        raise InvalidValueError(f"row positions must be between 0 and {nrows} - 1")
    return positions
