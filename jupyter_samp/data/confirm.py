"""Confirming a table load that the recipient carried out but never answered.

Aladin 12 never answers the first table it loads into an empty view. The
table is there (Aladin draws it and answers about it), but its reply waits
for a "plane loaded" event that its loader thread, which stops in
``PlanCatalog.setFirstLocation`` when the view has no projection yet, never
sends. A user who sends a table to a fresh Aladin would wait for the whole
timeout and then read "no response".

SAMP has a question that changes nothing and that an application can only
answer yes to if it holds the table: ``table.select.rowList`` with an empty
row list, by ``table-id`` and ``url``. TOPCAT and Aladin answer ``samp.ok``
for a table they hold and ``samp.error`` for one they do not. So once the
recipient has downloaded the whole table and :data:`GRACE` seconds have
passed without an answer, it is asked, every :data:`PROBE_PAUSE` seconds,
until the load is answered, it says it holds the table, or the time is up.
A yes is recorded as a ``samp.warning`` that says how it was known: the
table counts as loaded, and the receipt does not pretend the load was
answered. Recipients that do not subscribe to ``table.select.rowList`` are
only waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from jupyter_samp.client import Client, Response
from jupyter_samp.client.readiness import call_when_ready
from jupyter_samp.data.resources import Resource
from jupyter_samp.errors import ClientTimeoutError

SELECT = "table.select.rowList"
#: Seconds after a complete download before the recipient is asked.
GRACE = 2.0
#: Seconds between questions, and the longest wait for one answer.
PROBE_PAUSE, PROBE_TIMEOUT = 1.0, 5.0


def downloaded(resource: Resource | None) -> asyncio.Event:
    """An event set once ``resource`` has been served completely (again) from now on."""
    done = asyncio.Event()
    if resource is None:
        return done
    before = resource.completed

    def progress(served: Resource, sent: int, total: int | None) -> None:
        if served.completed > before:
            done.set()
            stop()

    stop = resource.observe(progress)
    return done


async def load_table(client: Client, client_id: str, mtype: str, params: Mapping[str, Any],
                     timeout: float, fetched: asyncio.Event) -> Response:
    """Send a table load to ``client_id``; confirm it by asking if the answer does not come.

    Parameters
    ----------
    fetched : asyncio.Event
        Set once the table has been downloaded completely (see :func:`downloaded`).

    Returns
    -------
    Response
        The recipient's answer to the load, or a ``samp.warning`` made here
        when it did not answer but said it holds the table.

    Raises
    ------
    ClientTimeoutError, SampError
        As :func:`~jupyter_samp.client.readiness.call_when_ready`.
    """
    loading = asyncio.ensure_future(call_when_ready(client, client_id, mtype, params, timeout))
    view = client.clients.get(client_id)
    if view is None or not view.accepts(SELECT):
        return await loading
    asking = asyncio.ensure_future(_until_held(client, client_id, mtype, params, timeout,
                                               fetched))
    try:
        done, _ = await asyncio.wait({loading, asking}, return_when=asyncio.FIRST_COMPLETED)
        if loading in done:
            return loading.result()
        confirmed = asking.result()
        return confirmed if confirmed is not None else await loading
    finally:
        for task in (loading, asking):
            task.cancel()


async def _until_held(client: Client, client_id: str, mtype: str, params: Mapping[str, Any],
                      timeout: float, fetched: asyncio.Event) -> Response | None:
    """Ask until the recipient says it holds the table; None when the time is up."""
    deadline = time.monotonic() + timeout
    try:
        await asyncio.wait_for(fetched.wait(), timeout)
    except asyncio.TimeoutError:
        return None
    await asyncio.sleep(GRACE)  # paces the questions: the load's own answer is awaited elsewhere
    question: dict[str, Any] = {"table-id": params.get("table-id"), "url": params.get("url"),
                                "row-list": []}
    while time.monotonic() + PROBE_PAUSE < deadline:
        try:
            answer = await client.call(client_id, SELECT, question, timeout=PROBE_TIMEOUT,
                                       check=False)
        except ClientTimeoutError:
            answer = None
        if answer is not None and answer.status != "samp.error":
            return held(client_id, mtype)
        await asyncio.sleep(PROBE_PAUSE)
    return None


def held(client_id: str, mtype: str) -> Response:
    """The ``samp.warning`` recorded for a recipient that holds the table but did not answer."""
    text = (f"it did not answer {mtype}, but it holds the table (it answered {SELECT} "
            "about it)")
    error = {"samp.errortxt": text}
    return Response("samp.warning", {}, error, client_id,
                    {"samp.status": "samp.warning", "samp.result": {}, "samp.error": error})
