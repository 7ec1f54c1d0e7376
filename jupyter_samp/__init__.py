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

__version__ = "0.1.0"

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
    CallTimeoutError,
    ClientTimeoutError,
    ErrorResponse,
    HubAlreadyRunningError,
    HubFault,
    HubUnavailableError,
    InvalidValueError,
    NoSuchClientError,
    NotSubscribedError,
    SampError,
)
from jupyter_samp.hub import ClientInfo, Hub

__all__ = [
    "AmbiguousClientError",
    "BroadcastCall",
    "CallTimeoutError",
    "Client",
    "ClientEvent",
    "ClientInfo",
    "ClientTimeoutError",
    "ClientView",
    "ErrorResponse",
    "Hub",
    "HubAlreadyRunningError",
    "HubFault",
    "HubUnavailableError",
    "InvalidValueError",
    "Message",
    "NoSuchClientError",
    "NotSubscribedError",
    "Response",
    "SampError",
    "SyncClient",
    "__version__",
    "connect",
]
