"""The exceptions and the warning of the astropy.samp API, raised by the compat classes.

::

    Exception
    ├── SAMPHubError            no hub to talk to, or the hub cannot start or is misused
    ├── SAMPClientError         the client is misused (not registered, not callable, ...)
    └── xmlrpc.client.Fault
        └── SAMPProxyError      the hub refused a call (faultCode, faultString)
            └── SAMPProxyTimeoutError   a call_and_wait got no reply in time
    UserWarning
    └── SAMPWarning             something went wrong that does not stop the caller

These keep astropy's names and bases, so ``except xmlrpc.client.Fault`` in an
existing script still catches a refusal. Inside, the compat classes use
:mod:`jupyter_samp.errors`; :func:`proxy_error` is the one place where those
become these.
"""

from __future__ import annotations

import xmlrpc.client

from jupyter_samp.errors import CallTimeoutError, HubFault, InvalidValueError, SampError

__all__ = [
    "SAMPClientError",
    "SAMPHubError",
    "SAMPProxyError",
    "SAMPProxyTimeoutError",
    "SAMPWarning",
]


class SAMPWarning(UserWarning):
    """A SAMP problem worth telling, that does not stop the caller."""


class SAMPHubError(Exception):
    """The hub cannot be reached, started or used this way."""


class SAMPClientError(Exception):
    """The client cannot do this (not registered, not callable, not connected)."""


class SAMPProxyError(xmlrpc.client.Fault):
    """The hub answered a call with a fault.

    Parameters
    ----------
    faultCode : int
        The hub's fault code.
    faultString : str
        The hub's explanation.
    """


class SAMPProxyTimeoutError(SAMPProxyError):
    """A ``call_and_wait`` got no reply within its timeout."""


def proxy_error(exc: SampError) -> Exception:
    """The astropy-style exception for one of ours raised while talking to the hub.

    A fault from the hub becomes :class:`SAMPProxyError` (or
    :class:`SAMPProxyTimeoutError`) with its code and text. A value SAMP
    cannot carry, refused before it is sent, is a :class:`SAMPProxyError`
    too. Anything else (the hub is gone, a malformed answer, a timeout of the connection)
    becomes :class:`SAMPHubError`.
    """
    if isinstance(exc, CallTimeoutError):
        return SAMPProxyTimeoutError(exc.fault_code, str(exc))
    if isinstance(exc, HubFault):
        return SAMPProxyError(exc.fault_code, str(exc))
    if isinstance(exc, InvalidValueError):  # refused before sending, as a hub would
        return SAMPProxyError(HubFault.fault_code, str(exc))
    return SAMPHubError(str(exc))
