"""``SAMPIntegratedClient``: a hub proxy and a client in one object, with the ``e*`` forms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jupyter_samp.compat.client import Handler, SAMPClient
from jupyter_samp.compat.errors import SAMPClientError
from jupyter_samp.compat.hub_proxy import SAMPHubProxy

if TYPE_CHECKING:
    from jupyter_samp.compat.hub import SAMPHubServer

__all__ = ["SAMPIntegratedClient"]


def easy_message(mtype: str, params: dict[str, Any]) -> dict[str, Any]:
    """A message from keyword parameters; ``extra_kws`` adds keys beside the params."""
    params = dict(params)
    extra = params.pop("extra_kws", None) or {}
    return {"samp.mtype": mtype, "samp.params": params, **extra}


class SAMPIntegratedClient:
    """A SAMP client that connects, registers and sends in one object.

    Every sending method raises :class:`SAMPProxyError` if the hub refuses
    (for instance, the recipient is not subscribed) and
    :class:`SAMPHubError` if the hub cannot be reached.

    Parameters
    ----------
    name, description : str, optional
        ``samp.name`` and ``samp.description.text``.
    metadata : dict, optional
        Further metadata.
    addr : str, optional
        Address of the callback server (default 127.0.0.1).
    port : int
        Its port (0: any free port).
    callable : bool
        Whether the client receives messages.
    """

    def __init__(self, name: str | None = None, description: str | None = None,
                 metadata: dict[str, Any] | None = None, addr: str | None = None,
                 port: int = 0, callable: bool = True) -> None:
        self.hub = SAMPHubProxy()
        self.client_arguments: dict[str, Any] = {
            "name": name, "description": description, "metadata": metadata,
            "addr": addr, "port": port, "callable": callable,
        }
        #: Made by :meth:`connect`, so a client can disconnect and connect again.
        self.client: SAMPClient | None = None

    def _client(self) -> SAMPClient:
        if self.client is None:
            raise SAMPClientError("Not connected: call connect() first")
        return self.client

    # ------------------------------------------------------------ connection

    @property
    def is_connected(self) -> bool:
        """Whether the client is connected to a hub and running."""
        return self.hub.is_connected and self.client is not None and self.client.is_running

    def connect(self, hub: SAMPHubServer | None = None, hub_params: dict[str, str] | None = None,
                pool_size: int = 20) -> None:
        """Connect to a hub (``hub``, ``hub_params``, or the running one), start and register.

        Raises
        ------
        SAMPHubError
            If no hub is found or it does not answer.
        SAMPClientError
            If the client cannot listen for callbacks or register.
        """
        self.hub.connect(hub, hub_params, pool_size)
        self.client = SAMPClient(self.hub, **self.client_arguments)
        try:
            self.client.start()
            self.client.register()
        except BaseException:
            if self.client.is_running:
                self.client.stop()
            self.hub.disconnect()
            raise

    def disconnect(self) -> None:
        """Unregister, stop receiving, and close the connection to the hub."""
        if self.is_connected:
            client = self._client()
            try:
                client.unregister()
            finally:
                if client.is_running:
                    client.stop()
                self.hub.disconnect()

    # ------------------------------------------------------------ hub queries

    def ping(self) -> Any:
        """``samp.hub.ping``."""
        return self.hub.ping()

    def declare_metadata(self, metadata: dict[str, Any]) -> None:
        """Declare metadata (added to what was declared before)."""
        self._client().declare_metadata(metadata)

    def get_metadata(self, client_id: str) -> dict[str, Any]:
        """The metadata of ``client_id``."""
        return self.hub.get_metadata(self._key(), client_id)

    def get_subscriptions(self, client_id: str) -> dict[str, Any]:
        """The subscriptions of ``client_id``."""
        return self.hub.get_subscriptions(self._key(), client_id)

    def get_registered_clients(self) -> list[str]:
        """The ids of every registered client but this one (the hub included)."""
        return self.hub.get_registered_clients(self._key())

    def get_subscribed_clients(self, mtype: str) -> dict[str, Any]:
        """The clients subscribed to ``mtype``, with their annotations."""
        return self.hub.get_subscribed_clients(self._key(), mtype)

    def _key(self) -> str:
        return self._client().get_private_key() or ""

    # ------------------------------------------------------------ sending

    def notify(self, recipient_id: str, message: dict[str, Any]) -> Any:
        """Send a notification to one client."""
        return self.hub.notify(self._key(), recipient_id, message)

    def enotify(self, recipient_id: str, mtype: str, **params: Any) -> Any:
        """:meth:`notify` with the params as keywords (``extra_kws``: more message keys)."""
        return self.notify(recipient_id, easy_message(mtype, params))

    def notify_all(self, message: dict[str, Any]) -> list[str]:
        """Notify every subscriber; warns (:class:`SAMPWarning`) if there is none."""
        return self.hub.notify_all(self._key(), message)

    def enotify_all(self, mtype: str, **params: Any) -> list[str]:
        """:meth:`notify_all` with the params as keywords."""
        return self.notify_all(easy_message(mtype, params))

    def call(self, recipient_id: str, msg_tag: str, message: dict[str, Any]) -> str:
        """Call one client; the response goes to the handler bound to ``msg_tag``."""
        return self.hub.call(self._key(), recipient_id, msg_tag, message)

    def ecall(self, recipient_id: str, msg_tag: str, mtype: str, **params: Any) -> str:
        """:meth:`call` with the params as keywords."""
        return self.call(recipient_id, msg_tag, easy_message(mtype, params))

    def call_all(self, msg_tag: str, message: dict[str, Any]) -> dict[str, str]:
        """Call every subscriber; the message ids by recipient."""
        return self.hub.call_all(self._key(), msg_tag, message)

    def ecall_all(self, msg_tag: str, mtype: str, **params: Any) -> dict[str, str]:
        """:meth:`call_all` with the params as keywords."""
        return self.call_all(msg_tag, easy_message(mtype, params))

    def call_and_wait(self, recipient_id: str, message: dict[str, Any],
                      timeout: str | int | float) -> dict[str, Any]:
        """Call one client and wait up to ``timeout`` seconds (0: no limit) for the response.

        Raises
        ------
        SAMPProxyTimeoutError
            If no response came in time.
        """
        return self.hub.call_and_wait(self._key(), recipient_id, message, timeout)

    def ecall_and_wait(self, recipient_id: str, mtype: str, timeout: str | int | float,
                       **params: Any) -> dict[str, Any]:
        """:meth:`call_and_wait` with the params as keywords."""
        return self.call_and_wait(recipient_id, easy_message(mtype, params), timeout)

    def reply(self, msg_id: str, response: dict[str, Any]) -> Any:
        """Answer the call ``msg_id`` with ``response``."""
        return self.hub.reply(self._key(), msg_id, response)

    def ereply(self, msg_id: str, status: str, result: dict[str, Any] | None = None,
               error: dict[str, Any] | None = None) -> Any:
        """:meth:`reply` from a status and optional result and error maps."""
        response: dict[str, Any] = {"samp.status": status}
        if result is not None:
            response["samp.result"] = result
        if error is not None:
            response["samp.error"] = error
        return self.reply(msg_id, response)

    # ------------------------------------------------------------ receiving

    def receive_notification(self, private_key: str, sender_id: str,
                             message: dict[str, Any]) -> str:
        """See :meth:`SAMPClient.receive_notification`."""
        return self._client().receive_notification(private_key, sender_id, message)

    def receive_call(self, private_key: str, sender_id: str, msg_id: str,
                     message: dict[str, Any]) -> str:
        """See :meth:`SAMPClient.receive_call`."""
        return self._client().receive_call(private_key, sender_id, msg_id, message)

    def receive_response(self, private_key: str, responder_id: str, msg_tag: str,
                         response: dict[str, Any]) -> str:
        """See :meth:`SAMPClient.receive_response`."""
        return self._client().receive_response(private_key, responder_id, msg_tag, response)

    def bind_receive_message(self, mtype: str, function: Handler, declare: bool = True,
                             metadata: dict[str, Any] | None = None) -> None:
        """See :meth:`SAMPClient.bind_receive_message`."""
        self._client().bind_receive_message(mtype, function, declare, metadata)

    def bind_receive_notification(self, mtype: str, function: Handler, declare: bool = True,
                                  metadata: dict[str, Any] | None = None) -> None:
        """See :meth:`SAMPClient.bind_receive_notification`."""
        self._client().bind_receive_notification(mtype, function, declare, metadata)

    def bind_receive_call(self, mtype: str, function: Handler, declare: bool = True,
                          metadata: dict[str, Any] | None = None) -> None:
        """See :meth:`SAMPClient.bind_receive_call`."""
        self._client().bind_receive_call(mtype, function, declare, metadata)

    def bind_receive_response(self, msg_tag: str, function: Handler) -> None:
        """See :meth:`SAMPClient.bind_receive_response`."""
        self._client().bind_receive_response(msg_tag, function)

    def unbind_receive_notification(self, mtype: str, declare: bool = True) -> None:
        """See :meth:`SAMPClient.unbind_receive_notification`."""
        self._client().unbind_receive_notification(mtype, declare)

    def unbind_receive_call(self, mtype: str, declare: bool = True) -> None:
        """See :meth:`SAMPClient.unbind_receive_call`."""
        self._client().unbind_receive_call(mtype, declare)

    def unbind_receive_response(self, msg_tag: str) -> None:
        """See :meth:`SAMPClient.unbind_receive_response`."""
        self._client().unbind_receive_response(msg_tag)

    def declare_subscriptions(self, subscriptions: dict[str, Any] | None = None) -> None:
        """See :meth:`SAMPClient.declare_subscriptions`."""
        self._client().declare_subscriptions(subscriptions)

    def get_private_key(self) -> str | None:
        """See :meth:`SAMPClient.get_private_key`."""
        return self._client().get_private_key()

    def get_public_id(self) -> str | None:
        """See :meth:`SAMPClient.get_public_id`."""
        return self._client().get_public_id()
