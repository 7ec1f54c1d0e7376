"""The messaging rules of the router: notify, call, reply, timeouts, failures.

Mixed into :class:`jupyter_samp.core.router.Router`; kept apart only so each
module stays readable. Rules in one place:

* a targeted send to a client that is unknown, not callable, not subscribed,
  or blocked for the sender's profile is a fault; a broadcast skips them;
* broadcasts never go back to their sender; targeted sends to oneself work;
* every call is answered exactly once: by the recipient's reply, or by the
  hub with an error when delivery fails, the recipient leaves, or the call
  times out;
* the hub answers the messages it subscribes to itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jupyter_samp.core.calls import PendingCalls
from jupyter_samp.core.hubself import answer_as_hub
from jupyter_samp.core.model import (
    RECEIVE_CALL,
    RECEIVE_NOTIFICATION,
    RECEIVE_RESPONSE,
    ClientRecord,
    Deliver,
    PendingCall,
    Resolve,
    error_response,
)
from jupyter_samp.core.mtypes import check_mtype
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

if TYPE_CHECKING:
    from jupyter_samp.core.restrictions import MTypeRestriction
    from jupyter_samp.core.router import Registry


class MessagingRules:
    """Message routing for :class:`~jupyter_samp.core.router.Router`."""

    registry: Registry
    calls: PendingCalls
    restriction: MTypeRestriction
    max_sync_timeout: float
    call_timeout: float | None

    def queue(self, effect: Any) -> None:  # provided by Router
        raise NotImplementedError

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
            For a response map that breaks the SAMP rules.
        """
        responder = self.registry.by_key(private_key)
        check_response(response)
        call = self.calls.get(msg_id) if isinstance(msg_id, str) else None
        if call is None:
            raise BadReplyError(self._why_no_call(msg_id))
        if call.recipient_id != responder.public_id:
            raise BadReplyError(f"Message {msg_id} was not sent to {responder.public_id}")
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

    def delivery_failed(self, delivery: Deliver, reason: str, *, dead: bool = False) -> None:
        """Record that a callback could not be delivered.

        A call gets an error response (or its synchronous caller a fault) at
        once, so no caller waits in vain; a recipient found ``dead`` is evicted.
        """
        if delivery.method == RECEIVE_CALL and delivery.msg_id is not None:
            call = self.calls.finish(delivery.msg_id, "failed")
            if call is not None:
                text = f"Delivery of {call.mtype} to {delivery.recipient_id} failed: {reason}"
                self._fail(call, text, NoSuchClientError if dead else NotCallableError)
        if dead and delivery.recipient_id in self._registered_ids():
            self.evict(delivery.recipient_id, f"its callback failed: {reason}")

    def _registered_ids(self) -> set[str]:
        return {record.public_id for record in self.registry.clients()}

    def evict(self, public_id: str, reason: str) -> None:  # provided by Router
        raise NotImplementedError

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
            self._answer(call, call.recipient_id, error_response(text))

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


def check_message(message: Any) -> str:
    """Validate a message map and return its MType.

    Raises
    ------
    InvalidValueError
        If it is not a map of SAMP values with a valid ``samp.mtype`` and,
        when present, a map as ``samp.params``.
    """
    if not isinstance(message, dict):
        raise InvalidValueError(f"message must be a map, got {type(message).__name__}")
    if "samp.mtype" not in message:
        raise InvalidValueError("Required key samp.mtype not present in message")
    mtype = check_mtype(message["samp.mtype"])
    if not isinstance(message.get("samp.params", {}), dict):
        raise InvalidValueError("samp.params must be a map")
    validate(message, "message")
    return mtype


def check_response(response: Any) -> None:
    """Validate a response map as the standard requires.

    Raises
    ------
    InvalidValueError
        If the status is missing, or result/error do not match it.
    """
    if not isinstance(response, dict):
        raise InvalidValueError(f"response must be a map, got {type(response).__name__}")
    validate(response, "response")
    status = response.get("samp.status")
    if not isinstance(status, str):
        raise InvalidValueError("Required key samp.status not present in response")
    has_result = "samp.result" in response
    has_error = "samp.error" in response
    if status in ("samp.ok", "samp.warning") and not has_result:
        raise InvalidValueError(f"samp.status={status} but no samp.result")
    if not (has_result or has_error):
        raise InvalidValueError("Neither samp.result nor samp.error keys present in response")
    if status in ("samp.error", "samp.warning"):
        error = response.get("samp.error")
        if not isinstance(error, dict) or "samp.errortxt" not in error:
            raise InvalidValueError("Required key samp.errortxt not present in samp.error")


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
