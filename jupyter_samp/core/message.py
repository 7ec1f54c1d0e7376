"""SAMP messages and responses on the wire: one definition for hub and client.

A message is a map with ``samp.mtype`` and ``samp.params``; a response a
map with ``samp.status`` and ``samp.result`` or ``samp.error``. The hub
checks what clients send strictly (:func:`check_message`,
:func:`check_response`); a client reads what arrives into :class:`Message`
and :class:`Response` and builds what it sends with :func:`build_message`,
:func:`ok_map` and :func:`error_map`.

Users write ``{"ra": 150.0, "dec": 2.5, "select": True}``; SAMP carries only
strings, lists and maps. :func:`to_samp` converts numbers and booleans with
the standard's conventions and drops ``None`` map entries (absence is how
SAMP says "no value"), so nothing reaches the wire that a peer would reject.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_samp.core.mtypes import check_mtype
from jupyter_samp.core.values import check_string, encode_bool, encode_float, validate
from jupyter_samp.errors import ErrorResponse, InvalidValueError

OK, WARNING, ERROR = "samp.ok", "samp.warning", "samp.error"

#: ``samp.code`` of the error the hub answers for a recipient whose
#: ``receiveCall`` raised an XML-RPC fault: it failed to take the call (an
#: exception in its code, often because it is still starting), which is not
#: an answer it chose. Callers may retry such a call; a ``samp.error`` the
#: recipient replied itself is its verdict.
RECIPIENT_FAULT = "x-jupyter-samp.recipient-fault"


def to_samp(value: Any, where: str = "value") -> Any:
    """Convert a Python value to a SAMP value.

    str stays str; bool becomes ``"1"``/``"0"``; integers and finite floats
    (numpy scalars included) become SAMP int/float strings; mappings become
    maps with ``None`` entries dropped; sequences become lists.

    Raises
    ------
    InvalidValueError
        For None inside a list, NaN or infinite floats, non-ASCII or control
        characters, and objects SAMP cannot carry; the message says where.
    """
    if isinstance(value, str):
        check_string(value, where)
        return value
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return encode_bool(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidValueError(f"{where} is {number}: SAMP floats must be finite")
        return encode_float(number)
    if isinstance(value, Mapping):
        return {
            _key(key, where): to_samp(item, f"{where}.{key}")
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, (list, tuple)):
        return [_item(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise InvalidValueError(f"{where}: cannot send {type(value).__name__} {value!r} over SAMP")


def _key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise InvalidValueError(f"{where}: map keys must be strings, got {key!r}")
    check_string(key, f"a key of {where}")
    return key


def _item(item: Any, where: str) -> Any:
    if item is None:
        raise InvalidValueError(f"{where} is None: SAMP lists cannot hold a missing value")
    return to_samp(item, where)


@dataclass(frozen=True)
class Message:
    """A message received from another client.

    Attributes
    ----------
    mtype : str
        What the message means, e.g. ``table.load.votable``.
    params : dict
        Its parameters, as SAMP values (strings, lists, maps).
    sender_id : str
        Public id of the sender.
    msg_id : str or None
        Set for calls (which must be answered); None for notifications.
    extra : dict
        Any other top-level keys of the message map, passed through untouched.
    """

    mtype: str
    params: dict[str, Any]
    sender_id: str
    msg_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_call(self) -> bool:
        """True if the sender waits for a response."""
        return self.msg_id is not None

    @classmethod
    def from_map(cls, message: Any, sender_id: str, msg_id: str | None = None) -> Message:
        """Build a :class:`Message` from a wire map.

        Raises
        ------
        InvalidValueError
            If the map has no valid ``samp.mtype`` or its params are not a map.
        """
        mtype = _check_shape(message)
        params = message.get("samp.params", {})
        extra = {k: v for k, v in message.items() if k not in ("samp.mtype", "samp.params")}
        return cls(mtype, params, sender_id, msg_id, extra)


def build_message(mtype: str, params: Mapping[str, Any] | None, extra: Mapping[str, Any]) -> dict:
    """Build a wire message map from an MType, typed params and extra top-level keys.

    Raises
    ------
    InvalidValueError
        If the MType is malformed or a value cannot be carried by SAMP.
    """
    message: dict[str, Any] = {"samp.mtype": check_mtype(mtype)}
    message["samp.params"] = to_samp(dict(params or {}), "params")
    for key, value in extra.items():
        message[_key(key, "message")] = to_samp(value, key)
    return message


@dataclass(frozen=True)
class Response:
    """The answer to a call.

    Attributes
    ----------
    status : str
        ``samp.ok``, ``samp.warning`` or ``samp.error``.
    result : dict
        ``samp.result`` (empty if absent).
    error : dict or None
        ``samp.error``: ``samp.errortxt`` and maybe ``samp.usertxt``,
        ``samp.debugtxt``, ``samp.code``.
    responder_id : str
        Public id of the client that answered.
    raw : dict
        The whole response map, unknown keys included.
    """

    status: str
    result: dict[str, Any]
    error: dict[str, Any] | None
    responder_id: str
    raw: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True for ``samp.ok`` (and False for warnings and errors)."""
        return self.status == OK

    @property
    def errortxt(self) -> str | None:
        """The one-line error text, if the response carries one."""
        return None if self.error is None else str(self.error.get("samp.errortxt", ""))

    @classmethod
    def from_map(cls, response: Any, responder_id: str) -> Response:
        """Build a :class:`Response` from a wire map, leniently (unknown status = error)."""
        response = response if isinstance(response, dict) else {}
        status = response.get("samp.status")
        if status not in (OK, WARNING, ERROR):
            status = ERROR
        result = response.get("samp.result")
        error = response.get("samp.error")
        return cls(
            status,
            result if isinstance(result, dict) else {},
            error if isinstance(error, dict) else None,
            responder_id,
            response,
        )

    def raise_for_error(self) -> Response:
        """Return self, or raise :class:`~jupyter_samp.errors.ErrorResponse` for ``samp.error``."""
        if self.status == ERROR:
            raise ErrorResponse(self.raw, self.responder_id)
        return self


def ok_map(result: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build a ``samp.ok`` response map from a typed result."""
    return {"samp.status": OK, "samp.result": to_samp(dict(result or {}), "result")}


def error_map(text: str, **details: Any) -> dict[str, Any]:
    """Build a ``samp.error`` response map; ``text`` is made SAMP-safe."""
    error = {"samp.errortxt": ascii_safe(text)}
    error.update({key: ascii_safe(str(value)) for key, value in details.items()})
    return {"samp.status": ERROR, "samp.error": error}


def ascii_safe(text: str) -> str:
    """Escape characters SAMP strings cannot carry (non-ASCII, control characters)."""
    return "".join(
        ch if ch in "\t\n\r" or 0x20 <= ord(ch) <= 0x7F else ch.encode("unicode_escape").decode()
        for ch in text
    )


def check_message(message: Any) -> str:
    """Validate a message map and return its MType.

    Raises
    ------
    InvalidValueError
        If it is not a map of SAMP values with a valid ``samp.mtype`` and,
        when present, a map as ``samp.params``.
    """
    mtype = _check_shape(message)
    validate(message, "message")
    return mtype


def _check_shape(message: Any) -> str:
    """The MType of a map with a valid ``samp.mtype`` and a map (if any) as ``samp.params``."""
    if not isinstance(message, dict):
        raise InvalidValueError(f"message must be a map, got {type(message).__name__}")
    if "samp.mtype" not in message:
        raise InvalidValueError("Required key samp.mtype not present in message")
    mtype = check_mtype(message["samp.mtype"])
    if not isinstance(message.get("samp.params", {}), dict):
        raise InvalidValueError("samp.params must be a map")
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
