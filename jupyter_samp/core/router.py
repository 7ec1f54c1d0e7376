"""The hub's router: every rule of SAMP messaging, as a sans-IO state machine.

Everything that decides "what does the hub do when..." lives in this module,
as h11 keeps its protocol in one state machine. The router keeps the
registry of clients (:mod:`.registry`), answers queries at once, and queues
*effects* (callbacks to deliver, synchronous calls to resolve) that the
profile adapters drain with :meth:`Router.take_effects` and carry out. It
never touches a socket, a clock, a thread or a random source: time comes in
as ``now`` and private keys come from an injected factory.

The messaging rules, in one place:

* a targeted send to a client that is unknown, not callable, not subscribed,
  or blocked for the sender's profile is a fault; a broadcast skips them;
* broadcasts never go back to their sender; targeted sends to oneself work;
* every call is answered exactly once: by the recipient's reply, or by the
  hub with an error when delivery fails, the recipient leaves, or the call
  times out;
* the hub answers the messages it subscribes to itself (:mod:`.hubself`).

Errors are raised as :class:`~jupyter_samp.errors.HubFault` subclasses, which
the profiles turn into XML-RPC faults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_samp.core.calls import PendingCalls
from jupyter_samp.core.hubself import answer_as_hub
from jupyter_samp.core.message import RECIPIENT_FAULT, check_message, check_response, error_map
from jupyter_samp.core.model import (
    RECEIVE_CALL,
    RECEIVE_NOTIFICATION,
    RECEIVE_RESPONSE,
    ClientRecord,
    Deliver,
    Effect,
    Forget,
    PendingCall,
    Resolve,
)
from jupyter_samp.core.mtypes import Subscriptions, check_mtype
from jupyter_samp.core.registry import Registry
from jupyter_samp.core.restrictions import MTypeRestriction
from jupyter_samp.core.values import decode_float, validate
from jupyter_samp.errors import (
    BadReplyError,
    CallTimeoutError,
    InvalidRequestError,
    InvalidValueError,
    MTypeBlockedError,
    NoSuchClientError,
    NotCallableError,
    NotSubscribedError,
)

_URL_KEYS = ("samp.icon.url", "samp.documentation.url")


class Router:
    """The hub's state machine (see the module docstring).

    Parameters
    ----------
    new_key : callable
        Returns a fresh unguessable private key each time it is called.
    hub_metadata : dict
        Metadata of the hub's own client.
    restriction : MTypeRestriction, optional
        What restricted (web) clients may send.
    max_sync_timeout : float
        Longest wait honoured for ``callAndWait``, in seconds.
    """

    def __init__(
        self,
        new_key: Callable[[], str],
        hub_metadata: dict[str, Any] | None = None,
        *,
        hub_id: str = "hub",
        restriction: MTypeRestriction | None = None,
        max_sync_timeout: float = 43200.0,
        call_timeout: float | None = None,
    ) -> None:
        self.registry = Registry(hub_id, hub_metadata or {"samp.name": "Hub"}, new_key)
        self.restriction = restriction or MTypeRestriction()
        self.calls = PendingCalls()
        self.max_sync_timeout = max_sync_timeout
        self.call_timeout = call_timeout
        self._effects: list[Effect] = []

    @property
    def hub_id(self) -> str:
        """Public id of the hub's own client."""
        return self.registry.hub.public_id

    def take_effects(self) -> list[Effect]:
        """Return and clear the effects queued since the last call."""
        effects, self._effects = self._effects, []
        return effects

    # ------------------------------------------------------------ registration

    def register(self, profile: str, *, restricted: bool = False) -> dict[str, str]:
        """Register a new client and return its registration info map."""
        record = self.registry.add(profile, restricted)
        self._event("samp.hub.event.register", {"id": record.public_id})
        return {
            "samp.private-key": record.private_key,
            "samp.hub-id": self.hub_id,
            "samp.self-id": record.public_id,
        }

    def unregister(self, private_key: str) -> None:
        """Unregister the caller: fail calls waiting on it, tell the others."""
        self._remove(self.registry.by_key(private_key), "unregistered")

    def evict(self, public_id: str, reason: str) -> None:
        """Forcibly unregister a client (dead or misbehaving), telling it first if it listens.

        Raises
        ------
        NoSuchClientError
            If no such client is registered.
        """
        record = self.registry.by_id(public_id)
        if record is self.registry.hub:
            raise InvalidRequestError("The hub cannot evict itself")
        if record.callback is not None and "samp.hub.disconnect" in record.subscriptions:
            self._deliver_notification(record, "samp.hub.disconnect", {"reason": reason})
        self._remove(record, f"disconnected by the hub: {reason}")

    def _remove(self, record: ClientRecord, reason: str) -> None:
        self.registry.remove(record)
        self.fail_calls_of(record, reason)
        self._effects.append(Forget(record, reason))
        self._event("samp.hub.event.unregister", {"id": record.public_id})

    def set_callback(self, private_key: str, callback: Any) -> None:
        """Make the caller callable at ``callback`` (None makes it uncallable)."""
        self.registry.by_key(private_key).callback = callback

    def shutdown(self) -> None:
        """Queue ``samp.hub.event.shutdown`` to every subscribed client."""
        self._event("samp.hub.event.shutdown", {})

    # ------------------------------------------------------------ metadata

    def declare_metadata(self, private_key: str, metadata: Any) -> None:
        """Replace the caller's metadata and broadcast the change.

        Raises
        ------
        InvalidValueError
            If it is not a map of SAMP values or an icon/doc URL is not a URL.
        """
        record = self.registry.by_key(private_key)
        _check_map(metadata, "metadata")
        for key in _URL_KEYS:
            if key in metadata and not _looks_like_url(metadata[key]):
                raise InvalidValueError(f"Bad URL in metadata {key}: {metadata[key]!r}")
        record.metadata = dict(metadata)
        self._event("samp.hub.event.metadata", {"id": record.public_id, "metadata": metadata})

    def get_metadata(self, private_key: str, client_id: str) -> dict[str, Any]:
        """Return a client's metadata (``{}`` if it declared none)."""
        self.registry.by_key(private_key)
        return self.registry.by_id(client_id).metadata

    # ------------------------------------------------------------ subscriptions

    def declare_subscriptions(self, private_key: str, subscriptions: Any) -> None:
        """Replace the caller's subscriptions and broadcast the change.

        Raises
        ------
        InvalidValueError
            If a key is not a valid pattern or a value is not a map.
        """
        record = self.registry.by_key(private_key)
        _check_map(subscriptions, "subscriptions")
        record.subscriptions = Subscriptions(subscriptions)
        self._event(
            "samp.hub.event.subscriptions",
            {"id": record.public_id, "subscriptions": subscriptions},
        )

    def get_subscriptions(self, private_key: str, client_id: str) -> dict[str, Any]:
        """Return a client's subscriptions, as a restricted caller may see them."""
        caller = self.registry.by_key(private_key)
        declared = self.registry.by_id(client_id).subscriptions.as_map()
        return self._visible_subscriptions(caller, declared)

    def _visible_subscriptions(
        self, viewer: ClientRecord, declared: dict[str, Any]
    ) -> dict[str, Any]:
        if not viewer.restricted:
            return declared
        permits = self.restriction.permits_pattern
        return {key: value for key, value in declared.items() if permits(key, value)}

    def get_registered_clients(self, private_key: str) -> list[str]:
        """Return the public ids of every other client, hub included."""
        caller = self.registry.by_key(private_key)
        return [record.public_id for record in self.registry.others(caller)]

    def get_subscribed_clients(self, private_key: str, mtype: str) -> dict[str, Any]:
        """Map each other client subscribed to ``mtype`` to its best annotation."""
        caller = self.registry.by_key(private_key)
        check_mtype(mtype)
        found = {}
        for record in self.registry.others(caller):
            if record.callback is None:  # it could not receive the message anyway
                continue
            annotation = record.subscriptions.annotation(mtype)
            if annotation is not None and self._permitted(caller, mtype, annotation):
                found[record.public_id] = annotation
        return found

    def _permitted(self, sender: ClientRecord, mtype: str, annotation: Any) -> bool:
        return not sender.restricted or self.restriction.permits(mtype, annotation)

    # ------------------------------------------------------------ events

    def _event(self, mtype: str, params: dict[str, Any]) -> None:
        """Notify every callable client subscribed to a hub event."""
        for record in self.registry.clients():
            if record.callback is None or mtype not in record.subscriptions:
                continue
            shown = params
            if record.restricted and "subscriptions" in params:
                visible = self._visible_subscriptions(record, params["subscriptions"])
                shown = {**params, "subscriptions": visible}
            self._deliver_notification(record, mtype, shown)

    def _deliver_notification(self, record: ClientRecord, mtype: str, params: Any) -> None:
        message = {"samp.mtype": mtype, "samp.params": params}
        self._effects.append(
            Deliver(
                record.public_id,
                record.profile,
                record.callback,
                record.private_key,
                RECEIVE_NOTIFICATION,
                (self.hub_id, message),
                mtype=mtype,
            )
        )

    def queue(self, effect: Effect) -> None:
        """Queue an effect for the adapters."""
        self._effects.append(effect)

    # ------------------------------------------------------------ sending

    def notify(self, private_key: str, recipient_id: str, message: Any) -> None:
        """Send a notification to one client."""
        sender = self.registry.by_key(private_key)
        mtype = check_message(message)
        recipient = self._target(sender, recipient_id, mtype)
        self._send_notification(sender, recipient, message)

    def notify_all(self, private_key: str, message: Any) -> list[str]:
        """Notify every subscribed client but the sender; return their ids."""
        sender = self.registry.by_key(private_key)
        mtype = check_message(message)
        recipients = self._audience(sender, mtype)
        for recipient in recipients:
            self._send_notification(sender, recipient, message)
        return [recipient.public_id for recipient in recipients]

    def call(
        self, private_key: str, recipient_id: str, msg_tag: Any, message: Any, now: float
    ) -> str:
        """Send an asynchronous call to one client; return its msg-id."""
        sender = self.registry.by_key(private_key)
        _check_tag(msg_tag)
        mtype = check_message(message)
        recipient = self._target(sender, recipient_id, mtype)
        return self._send_call(sender, recipient, message, mtype, msg_tag, None, now)

    def call_all(self, private_key: str, msg_tag: Any, message: Any, now: float) -> dict[str, str]:
        """Call every subscribed client but the sender; map each to its msg-id."""
        sender = self.registry.by_key(private_key)
        _check_tag(msg_tag)
        mtype = check_message(message)
        return {
            recipient.public_id: self._send_call(
                sender, recipient, message, mtype, msg_tag, None, now
            )
            for recipient in self._audience(sender, mtype)
        }

    def call_and_wait(
        self, private_key: str, recipient_id: str, message: Any, timeout: Any, now: float
    ) -> str:
        """Start a synchronous call; its outcome comes later as a :class:`Resolve`.

        ``timeout`` is a SAMP number of seconds; zero or negative waits for
        as long as the hub allows (``max_sync_timeout``).
        """
        sender = self.registry.by_key(private_key)
        seconds = _parse_timeout(timeout)
        mtype = check_message(message)
        recipient = self._target(sender, recipient_id, mtype)
        limit = self.max_sync_timeout if seconds <= 0 else min(seconds, self.max_sync_timeout)
        return self._send_call(sender, recipient, message, mtype, None, now + limit, now)

    # ------------------------------------------------------------ replies

    def reply(self, private_key: str, msg_id: Any, response: Any) -> None:
        """Take a recipient's response and route it back to the caller.

        Raises
        ------
        BadReplyError
            For a msg-id that is unknown, already answered, timed out, or
            was not sent to this client.
        InvalidValueError
            For a response map that breaks the SAMP rules (the caller then
            gets a ``samp.error`` response from the recipient saying why).
        """
        responder = self.registry.by_key(private_key)
        call = self.calls.get(msg_id) if isinstance(msg_id, str) else None
        if call is not None and call.recipient_id != responder.public_id:
            call = None
        try:
            check_response(response)
        except InvalidValueError as exc:
            if call is not None:
                # The recipient did answer: its caller learns why the answer cannot
                # be passed on, now, instead of waiting for its timeout.
                self.calls.finish(call.msg_id, "answered")
                self._answer(call, responder.public_id, error_map(
                    f"{responder.public_id} answered, but its response breaks SAMP's rules, "
                    f"so the hub cannot pass it on: {exc}"))
            raise
        if call is None:
            if isinstance(msg_id, str) and self.calls.get(msg_id) is not None:
                raise BadReplyError(f"Message {msg_id} was not sent to {responder.public_id}")
            raise BadReplyError(self._why_no_call(msg_id))
        self.calls.finish(call.msg_id, "answered")
        self._answer(call, responder.public_id, response)

    def _why_no_call(self, msg_id: Any) -> str:
        ending = self.calls.ending(msg_id) if isinstance(msg_id, str) else None
        if ending == "answered":
            return f"Response ignored - message {msg_id} has already been answered"
        if ending is not None:
            return f"Response ignored - message {msg_id} {ending}"
        return f"Unknown message ID {msg_id!r}"

    def _answer(self, call: PendingCall, responder_id: str, response: dict[str, Any]) -> None:
        if call.sync:
            self.queue(Resolve(call.msg_id, response=response))
            return
        if call.sender_gone:
            return
        try:
            sender = self.registry.by_id(call.sender_id)
        except NoSuchClientError:
            return
        if sender.callback is not None:
            self.queue(_deliver(sender, RECEIVE_RESPONSE, (responder_id, call.tag, response)))

    # ------------------------------------------------------------ failures and time

    def delivery_failed(
        self, delivery: Deliver, reason: str, *, dead: bool = False, answered: bool = False
    ) -> None:
        """Record that a callback could not be delivered.

        A call gets an error response (or its synchronous caller a fault) at
        once, so no caller waits in vain; a recipient found ``dead`` is evicted.
        A recipient that ``answered`` the call with an XML-RPC fault (an
        exception in its code) is alive and has spoken: both kinds of caller
        get a ``samp.error`` response from it, saying so, not a fault that
        would call it uncallable.
        """
        if delivery.method == RECEIVE_CALL and delivery.msg_id is not None:
            call = self.calls.finish(delivery.msg_id, "failed")
            if call is not None and answered:
                text = f"{delivery.recipient_id} failed to take the {call.mtype} call: {reason}"
                self._answer(call, call.recipient_id,
                             error_map(text, **{"samp.code": RECIPIENT_FAULT}))
            elif call is not None:
                text = f"Delivery of {call.mtype} to {delivery.recipient_id} failed: {reason}"
                self._fail(call, text, NoSuchClientError if dead else NotCallableError)
        if dead and delivery.recipient_id in self._registered_ids():
            self.evict(delivery.recipient_id, f"its callback failed: {reason}")

    def _registered_ids(self) -> set[str]:
        return {record.public_id for record in self.registry.clients()}

    def next_deadline(self) -> float | None:
        """Return when :meth:`expire` should next be called, or None."""
        return self.calls.next_deadline()

    def expire(self, now: float) -> None:
        """Time out every call whose deadline has passed."""
        for call in self.calls.pop_expired(now):
            text = f"No reply from {call.recipient_id} to {call.mtype} in time"
            if call.sync:
                text = f"Synchronous call timeout: {text}"
            self._fail(call, text, CallTimeoutError)

    def _fail(self, call: PendingCall, text: str, fault: type[Exception]) -> None:
        if call.sync:
            self.queue(Resolve(call.msg_id, error=fault(text)))
        else:
            self._answer(call, call.recipient_id, error_map(text))

    def fail_calls_of(self, record: ClientRecord, reason: str) -> None:
        """Settle every pending call a departing client was part of."""
        for call in self.calls.involving(record.public_id):
            if call.recipient_id == record.public_id:
                self.calls.finish(call.msg_id, f"failed: {record.public_id} {reason}")
                text = f"{record.label} {reason} before replying to {call.mtype}"
                self._fail(call, text, NoSuchClientError)
            else:
                call.sender_gone = True

    # ------------------------------------------------------------ helpers

    def _target(self, sender: ClientRecord, recipient_id: Any, mtype: str) -> ClientRecord:
        recipient = self.registry.by_id(recipient_id)
        if recipient.callback is None:
            raise NotCallableError(f"Client {recipient.label} is not callable")
        annotation = recipient.subscriptions.annotation(mtype)
        if annotation is None:
            raise NotSubscribedError(f"Client {recipient.label} is not subscribed to {mtype}")
        if sender.restricted and not self.restriction.permits(mtype, annotation):
            raise MTypeBlockedError(f"MType {mtype} blocked from {sender.profile} profile")
        return recipient

    def _audience(self, sender: ClientRecord, mtype: str) -> list[ClientRecord]:
        audience = []
        for recipient in self.registry.others(sender):
            if recipient.callback is None:
                continue
            annotation = recipient.subscriptions.annotation(mtype)
            if annotation is None:
                continue
            if sender.restricted and not self.restriction.permits(mtype, annotation):
                continue
            audience.append(recipient)
        return audience

    def _send_notification(
        self, sender: ClientRecord, recipient: ClientRecord, message: Any
    ) -> None:
        if recipient is self.registry.hub:
            return
        params = (sender.public_id, message)
        self.queue(_deliver(recipient, RECEIVE_NOTIFICATION, params, mtype=message["samp.mtype"]))

    def _send_call(
        self,
        sender: ClientRecord,
        recipient: ClientRecord,
        message: dict[str, Any],
        mtype: str,
        tag: str | None,
        sync_deadline: float | None,
        now: float,
    ) -> str:
        sync = sync_deadline is not None
        msg_id = self.calls.new_id(sender.public_id, sync)
        deadline = sync_deadline
        if deadline is None and self.call_timeout is not None:
            deadline = now + self.call_timeout
        call = PendingCall(
            msg_id, sender.public_id, recipient.public_id, mtype, tag, sync, deadline
        )
        if recipient is self.registry.hub:
            self.calls.add(call)
            self.calls.finish(msg_id, "answered")
            self._answer(call, recipient.public_id, answer_as_hub(self.registry, message))
            return msg_id
        self.calls.add(call)
        params = (sender.public_id, msg_id, message)
        self.queue(_deliver(recipient, RECEIVE_CALL, params, msg_id=msg_id, mtype=mtype))
        return msg_id


def _deliver(
    recipient: ClientRecord,
    method: str,
    params: tuple[Any, ...],
    *,
    msg_id: str | None = None,
    mtype: str = "",
) -> Deliver:
    return Deliver(
        recipient.public_id,
        recipient.profile,
        recipient.callback,
        recipient.private_key,
        method,
        params,
        msg_id=msg_id,
        mtype=mtype,
    )


def _check_tag(tag: Any) -> None:
    if not isinstance(tag, str):
        raise InvalidValueError(f"msg-tag must be a string, got {type(tag).__name__}")
    validate(tag, "msg-tag")


def _parse_timeout(timeout: Any) -> float:
    try:
        return decode_float(timeout)
    except InvalidValueError:
        raise InvalidRequestError(
            f"Bad timeout {timeout!r}: give a number of seconds as a SAMP int"
        ) from None


def _check_map(value: Any, what: str) -> None:
    if not isinstance(value, dict):
        raise InvalidValueError(f"{what} must be a map, got {type(value).__name__}")
    validate(value, what)


def _looks_like_url(value: Any) -> bool:
    if not isinstance(value, str) or ":" not in value:
        return False
    scheme = value.split(":", 1)[0]
    return scheme.isascii() and scheme[:1].isalpha() and all(
        c.isalnum() or c in "+-." for c in scheme
    )
