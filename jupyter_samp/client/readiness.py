"""Calling an application that has registered but cannot take messages yet.

Some applications register with the hub before they can handle what they
subscribe to. Aladin 12 registers and subscribes to ``table.load.votable``
a second or two before its dialogs exist; a table sent then makes its
``receiveCall`` throw (``NullPointerException: ... "this.aladin.dialog" is
null``). Our hub answers such a call with a ``samp.error`` whose ``samp.code``
is :data:`~jupyter_samp.core.message.RECIPIENT_FAULT`: the recipient did not
take the call at all, so trying again cannot load anything twice.

The rule is generic rather than a quirk named after Aladin: any application
can be slower to build its handlers than to register (Java GUIs commonly
are), and the hub marks the one answer that means "not taken". A recipient
is retried only while it is young (:data:`WARMUP` seconds after this client
first saw it): an application that has run for a while and still throws has
a bug to report at once, not to wait out. A ``samp.error`` the application
replied itself ("Could not load image !") is its verdict and is never retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from jupyter_samp.client.client import Client
from jupyter_samp.core.message import RECIPIENT_FAULT, Response
from jupyter_samp.errors import ClientTimeoutError

#: Seconds after registration during which a recipient's fault counts as "still starting".
WARMUP = 60.0
#: First and longest pause between attempts, in seconds (doubling in between).
FIRST_PAUSE, LONGEST_PAUSE = 0.25, 2.0


def not_taken(response: Response) -> bool:
    """Whether ``response`` says the recipient failed to take the call (a fault), not replied."""
    return response.status == "samp.error" and (response.error or {}).get(
        "samp.code") == RECIPIENT_FAULT


def starting(client: Client, client_id: str, warmup: float = WARMUP) -> bool:
    """Whether ``client_id`` is registered and was first seen less than ``warmup`` s ago."""
    view = client.clients.get(client_id)
    return view is not None and time.monotonic() - view.first_seen < warmup


async def call_when_ready(
    client: Client,
    client_id: str,
    mtype: str,
    params: Mapping[str, Any],
    timeout: float,
    *,
    warmup: float = WARMUP,
) -> Response:
    """Call ``client_id``; while it is starting and fails to take the call, try again.

    Attempts are paced (0.25 s, doubling to 2 s between them) until one is
    taken, the recipient is no longer young, or ``timeout`` seconds have
    passed in all. The pause only spaces the attempts out; nothing waits
    for a state it could observe instead.

    Returns
    -------
    Response
        The recipient's own answer, or the last "not taken" error when the
        time ran out (it says why, with the recipient's exception).

    Raises
    ------
    ClientTimeoutError
        No answer at all within what is left of ``timeout``.
    SampError
        What :meth:`Client.call` raises: the hub refused the call, or is gone.
    """
    deadline = time.monotonic() + timeout
    pause = FIRST_PAUSE
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClientTimeoutError(f"no response within {timeout:g} s")
        response = await client.call(client_id, mtype, params, timeout=left, check=False)
        if not not_taken(response) or not starting(client, client_id, warmup):
            return response
        if deadline - time.monotonic() <= pause:
            return response
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE)
