"""What the hub answers when a message is addressed to its own client.

The hub subscribes to ``samp.app.ping`` and to ``x-samp.query.by-meta``
(and its promoted name ``samp.query.by-meta``), and answers them here.
"""

from __future__ import annotations

from typing import Any

from jupyter_samp.core.message import error_map, ok_map
from jupyter_samp.core.registry import Registry


def answer_as_hub(registry: Registry, message: dict[str, Any]) -> dict[str, Any]:
    """Return the hub's response to a call addressed to the hub itself."""
    mtype = message["samp.mtype"]
    params = message.get("samp.params") or {}
    if mtype == "samp.app.ping":
        return ok_map()
    if mtype in ("x-samp.query.by-meta", "samp.query.by-meta"):
        return _query_by_meta(registry, params)
    return error_map(f"The hub does not handle {mtype}")


def _query_by_meta(registry: Registry, params: dict[str, Any]) -> dict[str, Any]:
    key, value = params.get("key"), params.get("value")
    if not isinstance(key, str) or not isinstance(value, str):
        return error_map("query.by-meta needs string parameters key and value")
    records = [registry.hub, *registry.clients()]
    ids = [record.public_id for record in records if record.metadata.get(key) == value]
    return ok_map({"ids": ids})
