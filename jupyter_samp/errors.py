"""The one exception tree of jupyter_samp.

Every error the package raises on purpose is a :class:`SampError`. The tree is
split by whose fault it is, so callers can catch exactly what they can handle::

    SampError
    ├── InvalidValueError (also ValueError)    a value SAMP cannot carry
    ├── HubFault                               the hub refused a request
    │   ├── NotRegisteredError                 unknown or expired private key
    │   ├── RegistrationRefusedError           bad secret, or the user said no
    │   ├── NoSuchClientError                  unknown or departed client id
    │   ├── NotCallableError                   recipient cannot receive messages
    │   ├── NotSubscribedError                 recipient not subscribed to the MType
    │   ├── MTypeBlockedError                  MType not allowed from this profile
    │   ├── BadReplyError                      reply to an unknown, late or repeated msg-id
    │   └── CallTimeoutError (also TimeoutError)   callAndWait expired in the hub
    ├── ClientTimeoutError (also TimeoutError) a wait on our side expired
    ├── ErrorResponse                          the recipient answered samp.error
    ├── HubUnavailableError (also ConnectionError)  no hub, or the hub went away
    │   ├── NotConnectedError                  the notebook is not connected yet
    │   └── BlockedByBrowserError              the browser kept the page from the hub
    ├── TransportError (also ConnectionError)  an HTTP exchange failed (refused, reset)
    ├── HubAlreadyRunningError                 a live hub owns the lockfile
    ├── AmbiguousClientError (also LookupError) a friendly name matched several apps
    ├── DeliveryError                          a table or image failed for some recipients
    ├── FetchError                             a received URL could not be fetched
    ├── LocalFilesError                        no safe private directory for file:// data
    └── ProtocolError                          malformed XML-RPC or HTTP on the wire

Faults travel between our hub and our client as XML-RPC faults whose
``faultCode`` names the class (see :data:`FAULT_CODES`; codes 3202-3210 are
chosen to stay clear of the small numbers other hubs use). Faults from other
hubs arrive with their own codes and become a plain :class:`HubFault`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FAULT_CODES",
    "AmbiguousClientError",
    "BadReplyError",
    "BlockedByBrowserError",
    "CallTimeoutError",
    "ClientTimeoutError",
    "DeliveryError",
    "ErrorResponse",
    "FetchError",
    "HubAlreadyRunningError",
    "HubFault",
    "HubUnavailableError",
    "InvalidRequestError",
    "InvalidValueError",
    "LocalFilesError",
    "MTypeBlockedError",
    "NoSuchClientError",
    "NotCallableError",
    "NotConnectedError",
    "NotRegisteredError",
    "NotSubscribedError",
    "ProtocolError",
    "RegistrationRefusedError",
    "SampError",
    "TransportError",
    "fault_from_code",
]


class SampError(Exception):
    """Base class of every error raised by jupyter_samp."""


class InvalidValueError(SampError, ValueError):
    """A value cannot be represented in SAMP (wrong type, bad character, bad MType)."""


class ProtocolError(SampError):
    """Malformed XML-RPC or HTTP: the peer does not speak the protocol we expect."""


class HubFault(SampError):
    """The hub answered a request with a fault.

    Parameters
    ----------
    message : str
        The hub's explanation, shown to the user as it is.
    """

    fault_code: int = 1


class NotRegisteredError(HubFault):
    """The private key is unknown: never registered, unregistered, or evicted."""

    fault_code = 3202


class RegistrationRefusedError(HubFault):
    """Registration was refused: wrong secret, or the user denied consent."""

    fault_code = 3203


class NoSuchClientError(HubFault, LookupError):
    """No registered client has the given public id."""

    fault_code = 3204


class NotCallableError(HubFault):
    """The recipient has no callback, so it cannot receive messages."""

    fault_code = 3205


class NotSubscribedError(HubFault):
    """The recipient is not subscribed to the MType of the message."""

    fault_code = 3206


class MTypeBlockedError(HubFault):
    """The sender's profile may not send this MType to that recipient."""

    fault_code = 3207


class BadReplyError(HubFault):
    """A reply names a msg-id that is unknown, timed out, or already answered."""

    fault_code = 3208


class CallTimeoutError(HubFault, TimeoutError):
    """A synchronous call (callAndWait) got no reply within its timeout."""

    fault_code = 3209


class InvalidRequestError(HubFault, ValueError):
    """The request itself is malformed: bad arguments, bad value, unknown method."""

    fault_code = 3210


class ClientTimeoutError(SampError, TimeoutError):
    """A wait on the caller's side (a response, a connection) expired."""


class HubUnavailableError(SampError, ConnectionError):
    """No hub could be found, or the hub stopped answering."""


class TransportError(SampError, ConnectionError):
    """An HTTP exchange with a peer failed before an answer arrived.

    Attributes
    ----------
    refused : bool
        True when nothing listens at the address any more (connection
        refused), which means the peer is gone rather than slow.
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class HubAlreadyRunningError(SampError):
    """A live hub already owns the lockfile, so a second one must not start."""


class AmbiguousClientError(SampError, LookupError):
    """A friendly client name matched more than one registered application."""


class ErrorResponse(SampError):
    """The recipient of a call answered with ``samp.status = samp.error``.

    Parameters
    ----------
    response : dict
        The whole response map; ``samp.error`` holds ``samp.errortxt`` and
        possibly ``samp.usertxt``, ``samp.debugtxt`` and ``samp.code``.
    responder : str, optional
        Public id of the client that answered.
    """

    def __init__(self, response: dict[str, Any], responder: str | None = None) -> None:
        self.response = response
        self.responder = responder
        error = response.get("samp.error")
        error = error if isinstance(error, dict) else {}
        self.errortxt = str(error.get("samp.errortxt", "no samp.errortxt given"))
        who = f"{responder} answered" if responder else "answered"
        super().__init__(f"{who} samp.error: {self.errortxt}")


class NotConnectedError(HubUnavailableError):
    """The notebook has no SAMP connection yet."""


class BlockedByBrowserError(HubUnavailableError):
    """The browser did not let the notebook's page reach the hub on the user's computer.

    Raised by the browser route of a remote kernel; the message says what the
    page saw (a refused local-network request, no hub answering) and what to do.
    """


class DeliveryError(SampError):
    """A data message failed for some recipients (see :attr:`receipt`).

    Attributes
    ----------
    receipt : jupyter_samp.data.Receipt
        The whole story, per recipient.
    """

    def __init__(self, receipt: Any) -> None:
        self.receipt = receipt
        super().__init__(receipt.summary())


class FetchError(SampError):
    """A URL could not be fetched (unreachable, HTTP error, too large, unsupported)."""


class LocalFilesError(SampError):
    """Data could not be written to a private local file (``transport="file"``).

    The directory was a symlink, belonged to another user, could not be
    created, or the disk was full. With ``transport="auto"`` this is not
    raised: the data goes over HTTP and the receipt says why.
    """


FAULT_CODES: dict[int, type[HubFault]] = {
    cls.fault_code: cls
    for cls in (
        HubFault,
        NotRegisteredError,
        RegistrationRefusedError,
        NoSuchClientError,
        NotCallableError,
        NotSubscribedError,
        MTypeBlockedError,
        BadReplyError,
        CallTimeoutError,
        InvalidRequestError,
    )
}


def fault_from_code(code: int, message: str) -> HubFault:
    """Build the :class:`HubFault` subclass that a fault code stands for.

    Parameters
    ----------
    code : int
        ``faultCode`` from the wire; unknown codes give a plain :class:`HubFault`.
    message : str
        ``faultString`` from the wire.
    """
    return FAULT_CODES.get(code, HubFault)(message)
