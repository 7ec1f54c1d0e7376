"""Typed messages and responses, and conversion of Python values to SAMP.

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
from jupyter_samp.core.values import check_string, encode_bool, encode_float
from jupyter_samp.errors import ErrorResponse, InvalidValueError

OK, WARNING, ERROR = "samp.ok", "samp.warning", "samp.error"


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
        if not isinstance(message, dict):
            raise InvalidValueError("message is not a map")
        mtype = check_mtype(message.get("samp.mtype"))
        params = message.get("samp.params", {})
        if not isinstance(params, dict):
            raise InvalidValueError("samp.params is not a map")
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
