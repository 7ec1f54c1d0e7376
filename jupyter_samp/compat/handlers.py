"""Calling astropy-style handlers: positional signatures, MType wildcards, the ``extra`` map.

A notification handler takes ``(private_key, sender_id, mtype, params, extra)``
or, bound with :meth:`bind_receive_message`, the call form with ``msg_id``
``None``; a call handler takes ``(private_key, sender_id, msg_id, mtype,
params, extra)``; a response handler ``(private_key, responder_id, msg_tag,
response)``. ``extra`` is the message without ``samp.mtype`` and ``samp.params``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from jupyter_samp.core.mtypes import candidate_patterns

#: A bound MType: the function and the subscription annotation to declare.
Binding = list[Any]


def split_message(message: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(mtype, params, extra)`` of a received message (params ``{}`` if absent)."""
    extra = dict(message)
    mtype = extra.pop("samp.mtype")
    params = extra.pop("samp.params", {})
    return mtype, params, extra


def bound_functions(bindings: Mapping[str, Binding], mtype: str) -> list[Callable[..., Any]]:
    """The functions bound to ``mtype`` or to a wildcard matching it, most specific first."""
    return [bindings[pattern][0] for pattern in candidate_patterns(mtype) if pattern in bindings]


def positional_count(function: Callable[..., Any]) -> int | None:
    """How many positional arguments ``function`` takes (None: any number, or unknown)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY,
                              inspect.Parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def call_notification_handler(function: Callable[..., Any], private_key: str, sender_id: str,
                              mtype: str, params: dict[str, Any], extra: dict[str, Any]) -> None:
    """Call a notification handler in whichever of the two forms it takes."""
    if positional_count(function) == 5:
        function(private_key, sender_id, mtype, params, extra)
    else:
        function(private_key, sender_id, None, mtype, params, extra)
