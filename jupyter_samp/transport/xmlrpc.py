"""XML-RPC calls over the pooled HTTP client."""

from __future__ import annotations

from typing import Any

from jupyter_samp.core.xmlrpc import Fault, decode_response, encode_call
from jupyter_samp.errors import ProtocolError, fault_from_code
from jupyter_samp.transport.http import HttpPool


async def xmlrpc_call(
    pool: HttpPool, url: str, method: str, params: list[Any] | tuple[Any, ...], *,
    timeout: float | None = None,
) -> Any:
    """Call ``method`` at ``url`` and return its result.

    Raises
    ------
    HubFault
        (or a subclass chosen by the fault code) if the peer answered a fault.
    TransportError, ClientTimeoutError
        If the peer could not be reached or did not answer in time.
    ProtocolError
        If the answer is not XML-RPC, or the HTTP status is not 200.
    InvalidValueError
        If a parameter is not a SAMP value (nothing is sent then).
    """
    body = encode_call(method, params)
    response = await pool.post(url, body, timeout=timeout)
    if response.status != 200:
        raise ProtocolError(f"{method} at {url}: HTTP {response.status}")
    result = decode_response(response.body)
    if isinstance(result, Fault):
        raise fault_from_code(result.code, result.string)
    return result
