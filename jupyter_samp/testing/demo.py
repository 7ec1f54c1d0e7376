"""A small SAMP application for demonstrations and tests: a stand-in for TOPCAT.

:class:`DemoViewer` registers as ``demo-viewer``, loads the tables and
images it is sent (from their URLs, like a real application), remembers
them, and can select rows in a table, which sends ``table.select.rowList``
back to whoever sent it. The quickstart notebook uses it so that SAMP can be
tried without any desktop application.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from jupyter_samp.client import Client, connect


class DemoViewer:
    """A SAMP client that accepts tables and images and can select rows.

    Use :meth:`start` to create one: ``viewer = await DemoViewer.start()``.

    Attributes
    ----------
    tables : list
        :class:`~jupyter_samp.data.receive.Received` tables, oldest first.
    images : list
        Received images (``HDUList`` in ``.data``), oldest first.
    """

    def __init__(self, client: Client, bridge: Any) -> None:
        self.client = client
        self.bridge = bridge
        self.tables: list[Any] = []
        self.images: list[Any] = []
        self.arrived = asyncio.Event()

    @classmethod
    async def start(cls, name: str = "demo-viewer", hub: str | Path | None = None) -> DemoViewer:
        """Connect a viewer to the hub (``SAMP_HUB`` or ``~/.samp`` by default).

        Raises
        ------
        HubUnavailableError
            If no hub answers.
        """
        from jupyter_samp.data.bridge import DataBridge

        client = await connect(name, hub=hub, description="A demonstration table/image viewer",
                               reconnect=False)
        viewer = cls(client, DataBridge(client))
        viewer.bridge.on_table(viewer._got_table, as_pandas=True)
        viewer.bridge.on_image(viewer._got_image)
        await client.flush()
        return viewer

    def _got_table(self, received: Any) -> None:
        self.tables.append(received)
        self.arrived.set()

    def _got_image(self, received: Any) -> None:
        self.images.append(received)
        self.arrived.set()

    async def wait_for_data(self, timeout: float = 30.0) -> None:
        """Wait until the next table or image arrives."""
        self.arrived.clear()
        await asyncio.wait_for(self.arrived.wait(), timeout)

    async def select_rows(self, rows: list[int], table: Any = None) -> None:
        """Select ``rows`` (positions) of a received table and tell its sender.

        Parameters
        ----------
        rows : list of int
            Zero-based row positions.
        table : Received, optional
            Which table; by default the last one received.

        Raises
        ------
        LookupError
            If no table has been received.
        """
        if table is None:
            if not self.tables:
                raise LookupError("the demo viewer has not received a table yet")
            table = self.tables[-1]
        params = {"table-id": table.id, "url": table.url, "row-list": [int(r) for r in rows]}
        await self.client.call(table.sender_id, "table.select.rowList",
                               {k: v for k, v in params.items() if v is not None}, timeout=30)

    async def close(self) -> None:
        """Stop serving and unregister."""
        await self.bridge.close()
        await self.client.close()
