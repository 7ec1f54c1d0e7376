"""Message handlers: which function answers which MType, and how answers are built.

A handler takes a :class:`~jupyter_samp.core.message.Message` and may be a
plain function or a coroutine function. For a call, its return value becomes
``samp.result`` (a dict, or None for an empty result; a ready-made response
map or :class:`Response` is sent as it is); an exception becomes a
``samp.error`` response carrying its message. Calls are always answered.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_samp.core.message import Message, Response, error_map, ok_map
from jupyter_samp.core.mtypes import Subscriptions, candidate_patterns, is_pattern
from jupyter_samp.errors import InvalidValueError

log = logging.getLogger("jupyter_samp.client")

Handler = Callable[[Message], Any | Awaitable[Any]]


class HandlerRegistry:
    """Handlers by subscription pattern, with their annotations."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._annotations: dict[str, dict[str, Any]] = {}

    def add(
        self, pattern: str, handler: Handler, annotation: dict[str, Any] | None = None
    ) -> None:
        """Register ``handler`` for ``pattern`` (an MType, ``x.*`` or ``*``).

        Raises
        ------
        InvalidValueError
            If ``pattern`` is not a valid subscription pattern.
        """
        if not is_pattern(pattern):
            raise InvalidValueError(f"Bad subscription pattern {pattern!r}")
        self._handlers[pattern] = handler
        self._annotations[pattern] = dict(annotation or {})

    def remove(self, pattern: str) -> None:
        """Forget the handler of ``pattern`` (no error if there is none)."""
        self._handlers.pop(pattern, None)
        self._annotations.pop(pattern, None)

    def subscriptions(self) -> dict[str, dict[str, Any]]:
        """The subscriptions map to declare to the hub."""
        return {pattern: dict(value) for pattern, value in self._annotations.items()}

    def find(self, mtype: str) -> Handler | None:
        """Return the handler of the most specific pattern matching ``mtype``."""
        for pattern in candidate_patterns(mtype):
            handler = self._handlers.get(pattern)
            if handler is not None:
                return handler
        return None

    def accepts(self, mtype: str) -> bool:
        """True if some registered pattern matches ``mtype``."""
        return mtype in Subscriptions(self._annotations)


async def run_handler(handler: Handler | None, message: Message) -> dict[str, Any] | None:
    """Run ``handler`` on ``message`` and return the response map for a call.

    Notifications return None; their handler's failures are logged.
    """
    if handler is None:
        if message.is_call:
            return error_map(f"No handler for {message.mtype}")
        return None
    try:
        outcome = handler(message)
        if inspect.isawaitable(outcome):
            outcome = await outcome
    except Exception as exc:
        if not message.is_call:
            log.exception("handler for %s failed", message.mtype)
            return None
        return _error_from(exc)
    if not message.is_call:
        return None
    return _response_from(outcome, message.mtype)


def _response_from(outcome: Any, mtype: str) -> dict[str, Any]:
    if isinstance(outcome, Response):
        return outcome.raw
    if isinstance(outcome, dict) and "samp.status" in outcome:
        return outcome
    if outcome is None or isinstance(outcome, dict):
        try:
            return ok_map(outcome)
        except InvalidValueError as exc:
            return error_map(f"The {mtype} handler returned a bad result: {exc}")
    return error_map(f"The {mtype} handler returned {type(outcome).__name__}, not a dict")


def _error_from(exc: Exception) -> dict[str, Any]:
    text = str(exc) or type(exc).__name__
    return error_map(
        text,
        **{
            "samp.usertxt": f"{type(exc).__name__}: {text}",
            "samp.debugtxt": "".join(traceback.format_exception(exc)),
            "samp.code": type(exc).__name__,
        },
    )
