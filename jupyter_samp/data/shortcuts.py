"""Module-level shortcuts: send through a client's default :class:`DataBridge`.

``await send_table(client, df)`` is ``await bridge_for(client).send_table(df)``;
every shortcut takes the arguments of the :class:`DataBridge` method of the
same name. Tables sent through the shortcuts share one resource server and
one set of table handles per client.
"""

from __future__ import annotations

import weakref
from typing import Any

from jupyter_samp.client import Client
from jupyter_samp.data.bridge import DataBridge, TableReceipt
from jupyter_samp.data.delivery import Targets
from jupyter_samp.data.receipts import Receipt

_bridges: weakref.WeakKeyDictionary[Client, DataBridge] = weakref.WeakKeyDictionary()


def bridge_for(client: Client) -> DataBridge:
    """The client's default :class:`DataBridge`, created on first use.

    Used by the module-level functions (:func:`send_table` etc.), so that
    tables sent through them share one server and one set of handles.
    """
    bridge = _bridges.get(client)
    if bridge is None:
        bridge = _bridges[client] = DataBridge(client)
    return bridge


async def send_table(client: Client, data: Any, to: Targets = None, **options: Any
                     ) -> TableReceipt:
    """:meth:`DataBridge.send_table` through ``client``'s default bridge."""
    return await bridge_for(client).send_table(data, to, **options)


async def send_image(client: Client, data: Any, to: Targets = None, **options: Any) -> Receipt:
    """:meth:`DataBridge.send_image` through ``client``'s default bridge."""
    return await bridge_for(client).send_image(data, to, **options)


async def send_spectrum(client: Client, data: Any, to: Targets = None, **options: Any
                        ) -> Receipt:
    """:meth:`DataBridge.send_spectrum` through ``client``'s default bridge."""
    return await bridge_for(client).send_spectrum(data, to, **options)


async def point_at(client: Client, coord_or_ra: Any, dec: Any = None, **options: Any
                   ) -> Receipt:
    """:meth:`DataBridge.point_at` through ``client``'s default bridge."""
    return await bridge_for(client).point_at(coord_or_ra, dec, **options)


async def load_bibcode(client: Client, bibcode: str, **options: Any) -> Receipt:
    """:meth:`DataBridge.load_bibcode` through ``client``'s default bridge."""
    return await bridge_for(client).load_bibcode(bibcode, **options)
