"""Send one message to chosen applications, or to all that accept it, and record a receipt.

This is the part of the data bridge that talks to the client: resolving
``to`` (ids or names), calling each recipient or broadcasting, collecting
answers with a timeout, and filling in a :class:`~jupyter_samp.data.receipts.Receipt`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from jupyter_samp.client import Client, Response
from jupyter_samp.client.readiness import call_when_ready
from jupyter_samp.data.receipts import Receipt
from jupyter_samp.errors import ClientTimeoutError, NotSubscribedError, SampError

#: ``to``: one client id or name, several, None for the default recipients,
#: or :data:`ALL` for every subscriber.
Targets = str | Iterable[str] | None

#: ``caller(client, client_id, mtype, params, timeout)``: how one chosen recipient is called.
Caller = Callable[[Client, str, str, Mapping[str, Any], float], Awaitable[Response]]

#: ``to`` that asks for every application that accepts the message.
ALL = "all"

#: What an image viewer accepts; its table support shows catalogs over images.
IMAGE_MTYPE = "image.load.fits"


def resolve_targets(client: Client, to: Targets) -> list[str] | None:
    """Client ids for ``to`` (None stays None: broadcast), without repeats.

    Raises
    ------
    NoSuchClientError, AmbiguousClientError
        A name matches no application, or several.
    """
    if to is None or to == ALL:
        return None
    names = [to] if isinstance(to, str) else list(to)
    return list(dict.fromkeys(client.resolve(name) for name in names))


def table_targets(client: Client, mtypes: str | Sequence[str], to: Targets
                  ) -> tuple[list[str] | None, str]:
    """Recipients of a table, and a note saying whom a default send left out.

    ``mtypes`` are the loads the table can be sent as (``table.load.votable``,
    ``table.load.stil``, ...); an application accepting any of them counts.
    With ``to`` None a table goes to the table viewers (TOPCAT and the
    like): DS9 and Aladin subscribe to tables too, but show them as
    catalogs over an image, and a table sent "to everyone" opening a DS9
    catalog window surprises. When no table viewer is connected the image
    viewers get it after all. ``to=ALL`` sends to every subscriber; other
    values are resolved as by :func:`resolve_targets`.

    Raises
    ------
    NoSuchClientError, AmbiguousClientError
        A name in ``to`` matches no application, or several.
    NotSubscribedError
        The default or ``ALL`` and no connected application accepts any of ``mtypes``.
    """
    wanted = [mtypes] if isinstance(mtypes, str) else list(mtypes)
    if to is not None and to != ALL:
        return resolve_targets(client, to), ""
    accepting = list({view.id: view for mtype in wanted
                      for view in client.subscribers(mtype)}.values())
    if not accepting:
        raise NotSubscribedError(
            f"No connected application accepts {' or '.join(wanted)}; start one (e.g. "
            "TOPCAT for tables, DS9 or Aladin for images) or check client.clients")
    if to == ALL:
        return None, ""
    viewers = [view for view in accepting if not view.accepts(IMAGE_MTYPE)]
    others = [view.name for view in accepting if view.accepts(IMAGE_MTYPE)]
    if not viewers:
        return None, f"no table viewer is connected: sent to {', '.join(others)}"
    if not others:
        return [view.id for view in viewers], ""
    return [view.id for view in viewers], (
        f"sent to the table viewers only; not to {', '.join(others)} (image viewers that "
        f"show tables as catalogs): send with to='all' (--to all) for them too"
    )


def check_subscribers(client: Client, mtype: str, targets: list[str] | None) -> None:
    """Refuse a broadcast nobody would receive, before anything is published.

    Raises
    ------
    NotSubscribedError
        ``targets`` is None and no connected application accepts ``mtype``.
    """
    if targets is None and not client.subscribers(mtype):
        raise NotSubscribedError(
            f"No connected application accepts {mtype}; start one (e.g. TOPCAT for tables, "
            "DS9 or Aladin for images) or check client.clients"
        )


def client_name(client: Client, client_id: str) -> str:
    """The name another application declared (its id if unknown)."""
    view = client.clients.get(client_id)
    return view.name if view is not None else client_id


async def deliver(
    client: Client,
    mtype: str,
    params: Mapping[str, Any],
    targets: list[str] | None,
    timeout: float,
    caller: Caller = call_when_ready,
) -> Receipt:
    """Call each target (or broadcast when ``targets`` is None) and wait for the answers.

    Recipients that the hub refuses (not subscribed, gone) or that do not
    answer within ``timeout`` seconds are recorded as failures, not raised.
    A chosen recipient that is still starting is called again until it
    takes the message (:func:`~jupyter_samp.client.readiness.call_when_ready`,
    the default ``caller``).

    Raises
    ------
    NotSubscribedError
        A broadcast reached nobody.
    HubUnavailableError
        Not connected to a hub.
    """
    if targets is None:
        return await _broadcast(client, mtype, params, timeout)
    receipt = Receipt(mtype, dict(params), {cid: client_name(client, cid) for cid in targets})
    outcomes = await asyncio.gather(
        *(caller(client, cid, mtype, params, timeout) for cid in targets),
        return_exceptions=True,
    )
    for cid, outcome in zip(targets, outcomes, strict=True):
        _record(receipt, cid, outcome, timeout)
    return receipt


def _record(receipt: Receipt, client_id: str, outcome: Any, timeout: float) -> None:
    if isinstance(outcome, Response):
        receipt.responses[client_id] = outcome
    elif isinstance(outcome, ClientTimeoutError):
        receipt.failures[client_id] = f"no response within {timeout:g} s"
        receipt.timed_out.append(client_id)
    elif isinstance(outcome, SampError):
        receipt.failures[client_id] = str(outcome)
    elif isinstance(outcome, BaseException):
        raise outcome  # cancellation and programming errors are not delivery failures


async def _broadcast(
    client: Client, mtype: str, params: Mapping[str, Any], timeout: float
) -> Receipt:
    call = await client.call_all(mtype, params)
    names = {cid: client_name(client, cid) for cid in call.recipients}
    receipt = Receipt(mtype, dict(params), names)
    if not call.recipients:
        raise NotSubscribedError(f"No connected application accepts {mtype}")
    responses = await call.gather(timeout)
    for cid in call.recipients:
        _record(receipt, cid, responses.get(cid, ClientTimeoutError()), timeout)
    return receipt
