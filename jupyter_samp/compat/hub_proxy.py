"""``SAMPHubProxy``: the hub's Standard Profile operations, one blocking method each."""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Any

from jupyter_samp.compat.errors import SAMPHubError, SAMPWarning
from jupyter_samp.compat.lockfiles import running_hub_params
from jupyter_samp.compat.wire import HubWire

if TYPE_CHECKING:
    from jupyter_samp.compat.hub import SAMPHubServer

__all__ = ["SAMPHubProxy"]


class SAMPHubProxy:
    """A connection to a SAMP hub through the Standard Profile.

    Each method sends one ``samp.hub.*`` call and returns the hub's answer.
    Python numbers and booleans in messages are sent as SAMP strings.

    Every hub method raises :class:`SAMPProxyError` if the hub refuses the
    call (with its ``faultCode`` and ``faultString``) and
    :class:`SAMPHubError` if the hub cannot be reached or does not answer
    in 30 s.
    """

    def __init__(self) -> None:
        self.proxy: Any = None
        self._connected = False
        self.lockfile: dict[str, str] = {}

    @property
    def is_connected(self) -> bool:
        """Whether the proxy is connected to a hub."""
        return self._connected

    def connect(self, hub: SAMPHubServer | None = None, hub_params: dict[str, str] | None = None,
                pool_size: int = 20) -> None:
        """Connect to a hub: ``hub``, the one ``hub_params`` describes, or the running one.

        Parameters
        ----------
        hub : SAMPHubServer, optional
            A hub started in this process.
        hub_params : dict, optional
            A hub's lockfile entries (``samp.secret``, ``samp.hub.xmlrpc.url``, ...).
        pool_size : int
            Idle connections to the hub kept for reuse.

        Raises
        ------
        ValueError
            If both ``hub`` and ``hub_params`` are given.
        SAMPHubError
            If ``hub`` is not running, no hub is found (``SAMP_HUB``, else
            ``~/.samp``), or the hub does not answer a ping.
        """
        self._connected = False
        self.lockfile = {}
        if hub is not None and hub_params is not None:
            raise ValueError("Cannot specify both hub and hub_params")
        if hub_params is None:
            if hub is not None and not hub.is_running:
                raise SAMPHubError("Hub is not running")
            hub_params = hub.params if hub is not None else running_hub_params()
        url = hub_params["samp.hub.xmlrpc.url"].replace("\\", "")
        self.proxy = HubWire(url, pool_size)
        try:
            self.ping()
        except BaseException:
            self.disconnect()
            raise
        self.lockfile = copy.deepcopy(dict(hub_params))
        self._connected = True

    def disconnect(self) -> None:
        """Close the connections to the hub (the client stays registered, if it was)."""
        if self.proxy is not None:
            self.proxy.shutdown()
            self.proxy = None
        self._connected = False
        self.lockfile = {}

    @property
    def _samp_hub(self) -> Any:
        """Where the hub's methods are (``samp.hub``; a Web Profile proxy overrides it)."""
        if self.proxy is None:
            raise SAMPHubError("Not connected to a hub: call connect() first")
        return self.proxy.samp.hub

    def ping(self) -> Any:
        """``samp.hub.ping``."""
        return self._samp_hub.ping()

    def set_xmlrpc_callback(self, private_key: str, xmlrpc_addr: str) -> Any:
        """``samp.hub.setXmlrpcCallback``."""
        return self._samp_hub.setXmlrpcCallback(private_key, xmlrpc_addr)

    def register(self, secret: str) -> dict[str, str]:
        """``samp.hub.register``: the registration map (private key, self id, hub id)."""
        return self._samp_hub.register(secret)

    def unregister(self, private_key: str) -> Any:
        """``samp.hub.unregister``."""
        return self._samp_hub.unregister(private_key)

    def declare_metadata(self, private_key: str, metadata: dict[str, Any]) -> Any:
        """``samp.hub.declareMetadata``."""
        return self._samp_hub.declareMetadata(private_key, metadata)

    def get_metadata(self, private_key: str, client_id: str) -> dict[str, Any]:
        """``samp.hub.getMetadata``."""
        return self._samp_hub.getMetadata(private_key, client_id)

    def declare_subscriptions(self, private_key: str, subscriptions: dict[str, Any]) -> Any:
        """``samp.hub.declareSubscriptions``."""
        return self._samp_hub.declareSubscriptions(private_key, subscriptions)

    def get_subscriptions(self, private_key: str, client_id: str) -> dict[str, Any]:
        """``samp.hub.getSubscriptions``."""
        return self._samp_hub.getSubscriptions(private_key, client_id)

    def get_registered_clients(self, private_key: str) -> list[str]:
        """``samp.hub.getRegisteredClients``: every client but the caller."""
        return self._samp_hub.getRegisteredClients(private_key)

    def get_subscribed_clients(self, private_key: str, mtype: str) -> dict[str, Any]:
        """``samp.hub.getSubscribedClients``."""
        return self._samp_hub.getSubscribedClients(private_key, mtype)

    def notify(self, private_key: str, recipient_id: str, message: dict[str, Any]) -> Any:
        """``samp.hub.notify``."""
        return self._samp_hub.notify(private_key, recipient_id, message)

    def notify_all(self, private_key: str, message: dict[str, Any]) -> list[str]:
        """``samp.hub.notifyAll``: the ids it went to (a :class:`SAMPWarning` if none)."""
        recipients = self._samp_hub.notifyAll(private_key, message)
        _warn_if_nobody(recipients)
        return recipients

    def call(self, private_key: str, recipient_id: str, msg_tag: str,
             message: dict[str, Any]) -> str:
        """``samp.hub.call``: the message id."""
        return self._samp_hub.call(private_key, recipient_id, msg_tag, message)

    def call_all(self, private_key: str, msg_tag: str, message: dict[str, Any]) -> dict[str, str]:
        """``samp.hub.callAll``: message ids by recipient."""
        return self._samp_hub.callAll(private_key, msg_tag, message)

    def call_and_wait(self, private_key: str, recipient_id: str, message: dict[str, Any],
                      timeout: str | int | float) -> dict[str, Any]:
        """``samp.hub.callAndWait``: the response.

        Raises
        ------
        SAMPProxyTimeoutError
            If no reply came within ``timeout`` seconds.
        """
        return self._samp_hub.callAndWait(private_key, recipient_id, message, timeout)

    def reply(self, private_key: str, msg_id: str, response: dict[str, Any]) -> Any:
        """``samp.hub.reply``."""
        return self._samp_hub.reply(private_key, msg_id, response)


def _warn_if_nobody(recipients: Any) -> None:
    if not recipients:
        warnings.warn("No client was able to receive this message", SAMPWarning, stacklevel=3)
