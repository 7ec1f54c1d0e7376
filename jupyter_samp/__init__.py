"""jupyter_samp: a SAMP 1.3 hub, client and Jupyter integration on asyncio/tornado.

The everyday API::

    from jupyter_samp import Hub, connect, SyncClient

    async with Hub() as hub: ...                      # a hub in this loop
    client = await connect(name="myapp")              # an async client
    with SyncClient("myscript") as client: ...        # a blocking client

Importing the package is light: astropy, pandas and numpy are imported only
when data is sent or received.
"""

from __future__ import annotations

from typing import Any

from jupyter_samp._version import __version__
from jupyter_samp.client import (
    BroadcastCall,
    Client,
    ClientEvent,
    ClientView,
    Message,
    Response,
    connect,
)
from jupyter_samp.client.sync import SyncClient
from jupyter_samp.errors import (
    AmbiguousClientError,
    BadReplyError,
    BlockedByBrowserError,
    CallTimeoutError,
    ClientTimeoutError,
    DeliveryError,
    ErrorResponse,
    FetchError,
    HubAlreadyRunningError,
    HubFault,
    HubUnavailableError,
    InvalidRequestError,
    InvalidValueError,
    LocalFilesError,
    MTypeBlockedError,
    NoSuchClientError,
    NotCallableError,
    NotConnectedError,
    NotRegisteredError,
    NotSubscribedError,
    ProtocolError,
    RegistrationRefusedError,
    SampError,
    TransportError,
)
from jupyter_samp.hub import ClientInfo, Hub


def connection(name: str | None = None) -> Any:
    """Return this kernel's SAMP session (:class:`jupyter_samp.notebook.SampSession`).

    ``name`` is its ``samp.name``; by default the notebook's file name where
    the kernel can know it (``jupyter: analysis.ipynb``), else a label
    distinct per kernel.
    """
    from jupyter_samp.notebook import connection as notebook_connection

    return notebook_connection(name)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_samp``: register the ``%samp`` magic."""
    from jupyter_samp.notebook import load_ipython_extension as load

    load(ipython)


__all__ = [
    "AmbiguousClientError",
    "BadReplyError",
    "BlockedByBrowserError",
    "BroadcastCall",
    "CallTimeoutError",
    "Client",
    "ClientEvent",
    "ClientInfo",
    "ClientTimeoutError",
    "ClientView",
    "DeliveryError",
    "ErrorResponse",
    "FetchError",
    "Hub",
    "HubAlreadyRunningError",
    "HubFault",
    "HubUnavailableError",
    "InvalidRequestError",
    "InvalidValueError",
    "LocalFilesError",
    "MTypeBlockedError",
    "Message",
    "NoSuchClientError",
    "NotCallableError",
    "NotConnectedError",
    "NotRegisteredError",
    "NotSubscribedError",
    "ProtocolError",
    "RegistrationRefusedError",
    "Response",
    "SampError",
    "SyncClient",
    "TransportError",
    "__version__",
    "connect",
    "connection",
    "load_ipython_extension",
]
