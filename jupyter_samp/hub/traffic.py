"""Readable one-line log records of the messages a hub routes.

They go to the ``jupyter_samp.hub.traffic`` logger at INFO level, so a hub
command run with ``--log-level info`` shows who sends what to whom, and an
embedding application can silence them separately from everything else.
"""

from __future__ import annotations

import logging
from typing import Any

from jupyter_samp.core.router import Router
from jupyter_samp.errors import HubFault

traffic = logging.getLogger("jupyter_samp.hub.traffic")

# method -> (index of the recipient argument or None, index of the message argument)
_SENDS = {
    "notify": (1, 2),
    "notifyAll": (None, 1),
    "call": (1, 3),
    "callAll": (None, 2),
    "callAndWait": (1, 2),
}


def log_traffic(router: Router, method: str, params: list[Any], result: Any) -> None:
    """Log one routed message, naming sender, recipients and MType."""
    where = _SENDS.get(method)
    if where is None or not traffic.isEnabledFor(logging.INFO):
        return
    recipient_at, message_at = where
    sender = _label(router, params[0], by_key=True)
    if recipient_at is None:
        recipients = result if isinstance(result, list) else list(result)
        target = ", ".join(_label(router, r) for r in recipients) or "nobody"
    else:
        target = _label(router, params[recipient_at])
    mtype = params[message_at].get("samp.mtype", "?")
    traffic.info("%s -> %s: %s %s", sender, target, method, mtype)


def _label(router: Router, ident: str, by_key: bool = False) -> str:
    try:
        record = router.registry.by_key(ident) if by_key else router.registry.by_id(ident)
    except HubFault:
        return "(departed)" if by_key else ident
    return record.label
