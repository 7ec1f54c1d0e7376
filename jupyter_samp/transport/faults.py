"""Where exceptions become XML-RPC faults: one mapping for every server.

The Standard Profile and client callbacks (:mod:`.rpcserver`) and the Web
Profile (:mod:`.tornado_handler`) answer every failure with a fault whose
text says what was wrong, so an XML-RPC client shows the reason instead of
a dropped connection. The codes:

* a :class:`~jupyter_samp.errors.HubFault` carries its own code (SAMP's
  refusals: unknown key, no such client, ...);
* a request that cannot be read, or holds values SAMP cannot carry, is
  :data:`BAD_REQUEST` (10);
* a large request that arrives while the server already holds as many
  large bodies as it allows is :data:`BUSY` (11): retry it later;
* anything else is a bug of ours, logged with its traceback and answered
  with :data:`INTERNAL` (1) rather than silence.
"""

from __future__ import annotations

import logging

from jupyter_samp.errors import HubFault, InvalidValueError, ProtocolError

log = logging.getLogger("jupyter_samp.xmlrpc")

#: A bug of the server (the standard leaves codes to implementations).
INTERNAL = 1
#: A request the server cannot read, or with values SAMP cannot carry.
BAD_REQUEST = 10
#: A large request refused for now: the server holds its fill of them.
BUSY = 11


def fault_for(exc: Exception, call: str) -> tuple[int, str]:
    """The fault code and text that answer ``exc`` raised while serving ``call``.

    Never raises; an exception that is none of the expected kinds is logged
    with its traceback as an internal error.
    """
    if isinstance(exc, HubFault):
        return exc.fault_code, str(exc)
    if isinstance(exc, InvalidValueError):
        return BAD_REQUEST, str(exc)
    log.error("internal error in %s", call, exc_info=exc)
    return INTERNAL, f"Internal error in {call}: {type(exc).__name__}: {exc}"


def undecodable(exc: Exception) -> tuple[int, str]:
    """The fault for a request body that is not a readable XML-RPC call.

    A :class:`~jupyter_samp.errors.ProtocolError` is the decoder's refusal;
    any other exception is a bug of the decoder, logged, and still answered.
    """
    if not isinstance(exc, ProtocolError):
        log.error("XML-RPC decoding failed", exc_info=exc)
        return BAD_REQUEST, f"Malformed XML-RPC request: {type(exc).__name__}: {exc}"
    return BAD_REQUEST, f"Malformed XML-RPC request: {exc}"


def too_large(limit: int) -> tuple[int, str]:
    """The fault for a request body over ``limit`` bytes."""
    return BAD_REQUEST, f"Request body too large: the limit is {limit} bytes"


def busy_with_large_bodies(budget: int) -> tuple[int, str]:
    """The fault for a large body refused because ``budget`` bytes of them are held."""
    return BUSY, (
        f"Server busy: it already holds {budget} bytes of large requests from other "
        "connections; retry this request later"
    )
