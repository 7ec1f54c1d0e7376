"""The async SAMP client and its blocking facade."""

from __future__ import annotations

from typing import Any

from jupyter_samp.client.client import Client
from jupyter_samp.client.sending import BroadcastCall
from jupyter_samp.client.tracker import ClientEvent, ClientView
from jupyter_samp.core.message import Message, Response


class _Connecting:
    """What :func:`connect` returns: await it, or use it with ``async with``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __await__(self) -> Any:
        return self._client.start().__await__()

    async def __aenter__(self) -> Client:
        return await self._client.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._client.close()


def connect(name: str | None = None, **options: Any) -> _Connecting:
    """Connect a new :class:`Client` to the hub.

    ``client = await connect(name="myapp")`` or
    ``async with connect(name="myapp") as client: ...``. The options are
    those of :class:`Client`.

    Raises
    ------
    HubUnavailableError
        (when awaited) if no hub answers.
    """
    return _Connecting(Client(name, **options))


__all__ = [
    "BroadcastCall",
    "Client",
    "ClientEvent",
    "ClientView",
    "Message",
    "Response",
    "connect",
]
