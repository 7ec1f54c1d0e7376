"""``SAMPClient``: a registered SAMP client whose handlers are bound per MType.

Hub operations go through the :class:`~jupyter_samp.compat.SAMPHubProxy` in
``self.hub``; callbacks arrive at a
:class:`~jupyter_samp.compat.receiver.CallbackReceiver` (our XML-RPC server,
on a loop in ``self._thread``) and each runs in a worker thread. The attribute
names follow astropy's, because subclasses written for it (such as
astropy's own Web Profile test client, which replaces ``__init__`` and
``_serve_forever``) read and set them.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections.abc import Callable
from typing import Any

from jupyter_samp.compat.constants import SAMP_STATUS_ERROR, SAMP_STATUS_OK, SAMP_STATUS_WARNING
from jupyter_samp.compat.errors import SAMPClientError, SAMPProxyError
from jupyter_samp.compat.handlers import (
    Binding,
    bound_functions,
    call_notification_handler,
    split_message,
)
from jupyter_samp.compat.hub_proxy import SAMPHubProxy
from jupyter_samp.compat.receiver import CallbackReceiver
from jupyter_samp.core.message import ascii_safe

__all__ = ["SAMPClient"]

Handler = Callable[..., Any]


class SAMPClient:
    """A SAMP client application on a hub reached through ``hub``.

    Parameters
    ----------
    hub : SAMPHubProxy
        The connected hub proxy used for every hub operation.
    name, description : str, optional
        ``samp.name`` and ``samp.description.text``.
    metadata : dict, optional
        Further metadata (declared at registration).
    addr : str, optional
        Address the callback server listens on (default 127.0.0.1).
    port : int
        Its port (0: any free port).
    callable : bool
        Whether the client receives messages; if False it can only send.
    """

    def __init__(self, hub: SAMPHubProxy, name: str | None = None,
                 description: str | None = None, metadata: dict[str, Any] | None = None,
                 addr: str | None = None, port: int = 0, callable: bool = True) -> None:
        self._is_running = False
        self._is_registered = False
        metadata = {} if metadata is None else metadata
        if name is not None:
            metadata["samp.name"] = name
        if description is not None:
            metadata["samp.description.text"] = description
        self._metadata = metadata
        self._addr, self._port = addr, port
        self._xmlrpcAddr: str | None = None
        self._callable = callable
        self.client: Any = None
        self._public_id: str | None = None
        self._private_key: str | None = None
        self._hub_id: str | None = None
        self._notification_bindings: dict[str, Binding] = {}
        self._call_bindings: dict[str, Binding] = {
            "samp.app.ping": [self._ping, {}],
            "client.env.get": [self._client_env_get, {}],
        }
        self._response_bindings: dict[str, Handler] = {}
        self.hub = hub
        if callable:
            self._receiver = CallbackReceiver(self.get_private_key, self._deliver,
                                              addr or "127.0.0.1", port)
            self._thread = threading.Thread(target=self._serve_forever, daemon=True,
                                            name="samp-client")

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start receiving callbacks, in a background thread (only if callable).

        Raises
        ------
        SAMPClientError
            If the callback server cannot listen.
        """
        if self._callable:
            self._is_running = True
            self._run_client()

    def _run_client(self) -> None:
        if self._thread.ident is None:
            self._thread.start()
        # A subclass that replaced __init__ (and _serve_forever) has no receiver.
        receiver: CallbackReceiver | None = getattr(self, "_receiver", None)
        if receiver is not None:
            try:
                self._xmlrpcAddr = receiver.wait_serving()
            except (OSError, TimeoutError) as exc:
                self._is_running = False
                raise SAMPClientError(f"Cannot receive SAMP callbacks: {exc}") from exc
            self.client = receiver.server
            self._port = receiver.port

    def _serve_forever(self) -> None:
        self._receiver.serve()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop receiving callbacks.

        Raises
        ------
        SAMPClientError
            If the server thread has not ended after ``timeout`` seconds.
        """
        self._is_running = False
        receiver: CallbackReceiver | None = getattr(self, "_receiver", None)
        if receiver is not None:
            receiver.stop()
        thread: threading.Thread | None = getattr(self, "_thread", None)
        if thread is None or thread.ident is None:
            return
        if thread is not threading.current_thread():
            thread.join(timeout)
        if thread.is_alive() and thread is not threading.current_thread():
            raise SAMPClientError(f"Client was not shut down successfully (timeout={timeout}s)")

    @property
    def is_running(self) -> bool:
        """Whether the client is receiving callbacks."""
        return self._is_running

    @property
    def is_registered(self) -> bool:
        """Whether the client is registered with the hub."""
        return self._is_registered

    # ------------------------------------------------------------ receiving

    def _deliver(self, method: str, args: list[Any]) -> None:
        """One callback from the receiver (in a worker thread), to the receive_* methods."""
        key = self.get_private_key()
        if key is None:
            return
        if method == "receiveNotification":
            self.receive_notification(key, *args)
        elif method == "receiveCall":
            self._guarded_call(key, *args)
        else:
            self.receive_response(key, *args)

    def _guarded_call(self, key: str, sender_id: str, msg_id: str, message: Any) -> None:
        """A call whose handler raises is answered with ``samp.error`` (not left hanging)."""
        try:
            self.receive_call(key, sender_id, msg_id, message)
        except Exception as exc:
            text = ascii_safe(f"{type(exc).__name__}: {exc}")
            # (a SAMPProxyError here means the handler had replied before it failed)
            with contextlib.suppress(SAMPProxyError):
                self.hub.reply(key, msg_id, {"samp.status": SAMP_STATUS_ERROR,
                                             "samp.error": {"samp.errortxt": text}})
            raise

    def receive_notification(self, private_key: str, sender_id: str,
                             message: dict[str, Any]) -> str:
        """Run the handlers bound to a notification's MType; override to take them all."""
        if private_key == self.get_private_key() and "samp.mtype" in message:
            mtype, params, extra = split_message(message)
            for function in bound_functions(self._notification_bindings, mtype):
                call_notification_handler(function, private_key, sender_id, mtype, params, extra)
        return ""

    def receive_call(self, private_key: str, sender_id: str, msg_id: str,
                     message: dict[str, Any]) -> str:
        """Run the handlers bound to a call's MType; they reply with :meth:`reply`."""
        if private_key == self.get_private_key() and "samp.mtype" in message:
            mtype, params, extra = split_message(message)
            for function in bound_functions(self._call_bindings, mtype):
                function(private_key, sender_id, msg_id, mtype, params, extra)
        return ""

    def receive_response(self, private_key: str, responder_id: str, msg_tag: str,
                         response: dict[str, Any]) -> str:
        """Run the handler bound to the response's message tag."""
        if private_key == self.get_private_key() and msg_tag in self._response_bindings:
            self._response_bindings[msg_tag](private_key, responder_id, msg_tag, response)
        return ""

    def _ping(self, private_key: str, sender_id: str, msg_id: str, mtype: str,
              params: dict[str, Any], extra: dict[str, Any]) -> None:
        self.hub.reply(private_key, msg_id, {"samp.status": SAMP_STATUS_OK, "samp.result": {}})

    def _client_env_get(self, private_key: str, sender_id: str, msg_id: str, mtype: str,
                        params: dict[str, Any], extra: dict[str, Any]) -> None:
        value = os.environ.get(params.get("name", ""))
        if value is None:
            reply = {"samp.status": SAMP_STATUS_WARNING, "samp.result": {"value": ""},
                     "samp.error": {"samp.errortxt": "Environment variable not defined."}}
        else:
            reply = {"samp.status": SAMP_STATUS_OK, "samp.result": {"value": value}}
        self.hub.reply(private_key, msg_id, reply)

    # ------------------------------------------------------------ binding

    def _require_callable(self) -> None:
        if not self._callable:
            raise SAMPClientError("Client not callable.")

    def bind_receive_message(self, mtype: str, function: Handler, declare: bool = True,
                             metadata: dict[str, Any] | None = None) -> None:
        """Bind ``function`` to both calls and notifications of ``mtype`` (``msg_id`` None
        for notifications).

        Raises
        ------
        SAMPClientError
            If the client is not callable, or (with ``declare``) not registered.
        """
        self.bind_receive_call(mtype, function, declare=declare, metadata=metadata)
        self.bind_receive_notification(mtype, function, declare=declare, metadata=metadata)

    def bind_receive_notification(self, mtype: str, function: Handler, declare: bool = True,
                                  metadata: dict[str, Any] | None = None) -> None:
        """Bind ``function(private_key, sender_id, mtype, params, extra)`` to notifications
        of ``mtype`` (a pattern such as ``table.*`` works) and subscribe, if ``declare``.

        Raises
        ------
        SAMPClientError
            If the client is not callable, or (with ``declare``) not registered.
        """
        self._require_callable()
        self._notification_bindings[mtype] = [function, metadata or {}]
        if declare:
            self._declare_subscriptions()

    def bind_receive_call(self, mtype: str, function: Handler, declare: bool = True,
                          metadata: dict[str, Any] | None = None) -> None:
        """Bind ``function(private_key, sender_id, msg_id, mtype, params, extra)`` to calls
        of ``mtype``; it answers with :meth:`reply`. Subscribes, if ``declare``.

        Raises
        ------
        SAMPClientError
            If the client is not callable, or (with ``declare``) not registered.
        """
        self._require_callable()
        self._call_bindings[mtype] = [function, metadata or {}]
        if declare:
            self._declare_subscriptions()

    def bind_receive_response(self, msg_tag: str, function: Handler) -> None:
        """Bind ``function(private_key, responder_id, msg_tag, response)`` to ``msg_tag``.

        Raises
        ------
        SAMPClientError
            If the client is not callable.
        """
        self._require_callable()
        self._response_bindings[msg_tag] = function

    def unbind_receive_notification(self, mtype: str, declare: bool = True) -> None:
        """Forget the notification handler of ``mtype`` (and unsubscribe, if ``declare``).

        Raises
        ------
        KeyError
            If nothing is bound to ``mtype``.
        SAMPClientError
            If the client is not callable.
        """
        self._require_callable()
        del self._notification_bindings[mtype]
        if declare:
            self._declare_subscriptions()

    def unbind_receive_call(self, mtype: str, declare: bool = True) -> None:
        """Forget the call handler of ``mtype`` (and unsubscribe, if ``declare``).

        Raises
        ------
        KeyError
            If nothing is bound to ``mtype``.
        SAMPClientError
            If the client is not callable.
        """
        self._require_callable()
        del self._call_bindings[mtype]
        if declare:
            self._declare_subscriptions()

    def unbind_receive_response(self, msg_tag: str) -> None:
        """Forget the response handler of ``msg_tag``.

        Raises
        ------
        KeyError
            If nothing is bound to ``msg_tag``.
        SAMPClientError
            If the client is not callable.
        """
        self._require_callable()
        del self._response_bindings[msg_tag]

    def declare_subscriptions(self, subscriptions: dict[str, Any] | None = None) -> None:
        """Subscribe to the bound MTypes, plus ``subscriptions`` (MType: annotation).

        Raises
        ------
        SAMPClientError
            If the client is not callable or not registered.
        """
        self._require_callable()
        self._declare_subscriptions(subscriptions)

    # ------------------------------------------------------------ registration

    def register(self) -> None:
        """Register with the hub, then declare the callback, subscriptions and metadata.

        Raises
        ------
        SAMPClientError
            If already registered, the proxy is not connected, or the hub's
            answer lacks an id or a key.
        SAMPProxyError
            If the hub refuses.
        """
        if not self.hub.is_connected:
            raise SAMPClientError("Unable to register to the SAMP Hub. Hub proxy not connected.")
        if self._private_key is not None:
            raise SAMPClientError("Client already registered")
        result = self.hub.register(self.hub.lockfile["samp.secret"])
        for key in ("samp.self-id", "samp.private-key"):
            if not result.get(key):
                raise SAMPClientError(f"Registration failed - {key} was not set by the hub.")
        self._public_id = result["samp.self-id"]
        self._private_key = result["samp.private-key"]
        self._hub_id = result.get("samp.hub-id")
        if self._callable:
            self._set_xmlrpc_callback()
            self._declare_subscriptions()
        if self._metadata:
            self.declare_metadata()
        self._is_registered = True

    def unregister(self) -> None:
        """Unregister from the hub.

        Raises
        ------
        SAMPClientError
            If the proxy is not connected.
        SAMPProxyError
            If the hub refuses (for instance, the client was not registered).
        """
        if not self.hub.is_connected:
            raise SAMPClientError(
                "Unable to unregister from the SAMP Hub. Hub proxy not connected."
            )
        self._is_registered = False
        self.hub.unregister(self._private_key or "")
        self._hub_id = self._public_id = self._private_key = None

    def _set_xmlrpc_callback(self) -> None:
        if self._xmlrpcAddr is None:  # registered before start(): serve now
            self._run_client()
        if self.hub.is_connected and self._private_key is not None:
            self.hub.set_xmlrpc_callback(self._private_key, self._xmlrpcAddr or "")

    def _declare_subscriptions(self, subscriptions: dict[str, Any] | None = None) -> None:
        if not (self.hub.is_connected and self._private_key is not None):
            raise SAMPClientError("Unable to declare subscriptions. Hub unreachable or not "
                                  "connected or client not registered.")
        declared = {mtype: copy.deepcopy(binding[1])
                    for bindings in (self._notification_bindings, self._call_bindings)
                    for mtype, binding in bindings.items()}
        declared.update(copy.deepcopy(subscriptions or {}))
        self.hub.declare_subscriptions(self._private_key, declared)

    def declare_metadata(self, metadata: dict[str, Any] | None = None) -> None:
        """Declare the metadata given so far, updated with ``metadata``.

        Raises
        ------
        SAMPClientError
            If the client is not registered.
        """
        if not (self.hub.is_connected and self._private_key is not None):
            raise SAMPClientError("Unable to declare metadata. Hub unreachable or not "
                                  "connected or client not registered.")
        if metadata is not None:
            self._metadata.update(metadata)
        self.hub.declare_metadata(self._private_key, self._metadata)

    def get_private_key(self) -> str | None:
        """The private key from the registration (None when not registered)."""
        return self._private_key

    def get_public_id(self) -> str | None:
        """The public id (``samp.self-id``) from the registration (None when not registered)."""
        return self._public_id
