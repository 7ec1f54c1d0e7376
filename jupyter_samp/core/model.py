"""The records and effects the hub's router works with.

The router (:mod:`jupyter_samp.core.router`) never performs I/O. It answers
each request at once and leaves *effects* for the adapters to carry out:
:class:`Deliver` a callback to a client, :class:`Resolve` a waiting
synchronous call, or :class:`Forget` a client's transport state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jupyter_samp.core.mtypes import Subscriptions

RECEIVE_NOTIFICATION = "receiveNotification"
RECEIVE_CALL = "receiveCall"
RECEIVE_RESPONSE = "receiveResponse"


@dataclass(eq=False)
class ClientRecord:
    """One registered client as the hub sees it.

    Attributes
    ----------
    public_id : str
        The id other clients see.
    private_key : str
        The secret credential it passes with every call (never logged).
    profile : str
        ``"standard"``, ``"web"`` or ``"hub"``.
    restricted : bool
        Whether what it sends is filtered by the MType restriction.
    callback : object or None
        Profile-specific address of its callback endpoint; None while it is
        not callable.
    """

    public_id: str
    private_key: str = field(repr=False)
    profile: str
    restricted: bool = False
    callback: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    subscriptions: Subscriptions = field(default_factory=Subscriptions)

    @property
    def name(self) -> str:
        """The declared ``samp.name``, or the public id when none was declared."""
        name = self.metadata.get("samp.name")
        return name if isinstance(name, str) and name else self.public_id

    @property
    def label(self) -> str:
        """A short label for logs and error texts: ``c3 (topcat)``."""
        name = self.metadata.get("samp.name")
        return f"{self.public_id} ({name})" if isinstance(name, str) and name else self.public_id


@dataclass(eq=False)
class PendingCall:
    """A call delivered to a recipient and not answered yet."""

    msg_id: str
    sender_id: str
    recipient_id: str
    mtype: str
    tag: str | None
    sync: bool
    deadline: float | None
    sender_gone: bool = False


@dataclass(frozen=True, eq=False)
class Deliver:
    """Send one callback to a client.

    ``params`` are the callback's arguments without the private key, in the
    order of ``samp.client.<method>``. ``msg_id`` is set for calls, so a
    failed delivery can be answered with an error response.
    """

    recipient_id: str
    profile: str
    callback: Any
    private_key: str = field(repr=False)
    method: str
    params: tuple[Any, ...]
    msg_id: str | None = None
    mtype: str = ""


@dataclass(frozen=True, eq=False)
class Resolve:
    """Finish a synchronous call with a response or a fault."""

    msg_id: str
    response: dict[str, Any] | None = None
    error: Exception | None = None


@dataclass(frozen=True, eq=False)
class Forget:
    """A client has left: the profile may drop its transport state."""

    client: ClientRecord
    reason: str


Effect = Deliver | Resolve | Forget
