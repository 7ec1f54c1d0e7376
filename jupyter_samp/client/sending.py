"""Sending messages: targets by id or friendly name, typed params, awaitable responses.

Mixed into :class:`jupyter_samp.client.Client`. Asynchronous calls are
matched to their responses by a tag unique to each call, so any number may
be outstanding at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from jupyter_samp.client.naming import matching
from jupyter_samp.client.tracker import ClientTracker, ClientView
from jupyter_samp.core.message import Response, build_message
from jupyter_samp.errors import (
    AmbiguousClientError,
    CallTimeoutError,
    ClientTimeoutError,
    HubFault,
    NoSuchClientError,
)
from jupyter_samp.transport.timeouts import within

_tags = itertools.count(1)
TrafficObserver = Callable[[str, str, str, str], None]


class BroadcastCall:
    """The responses to a ``call_all``, as they arrive.

    Attributes
    ----------
    recipients : dict
        Recipient id -> msg-id, as the hub reported them.

    Iterate with ``async for response in broadcast`` to get each
    :class:`Response` as it arrives, or ``await broadcast.gather(timeout)``
    for a dict of them all.
    """

    def __init__(self, recipients: dict[str, str], queue: asyncio.Queue[Response]) -> None:
        self.recipients = recipients
        self._queue = queue
        self.responses: dict[str, Response] = {}

    def __aiter__(self) -> AsyncIterator[Response]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Response]:
        while len(self.responses) < len(self.recipients):
            response = await self._queue.get()
            if response.responder_id in self.responses:
                continue
            self.responses[response.responder_id] = response
            yield response

    async def gather(self, timeout: float | None = None) -> dict[str, Response]:
        """Wait for every recipient's response (or the timeout) and return them by id.

        Recipients that did not answer in time are simply missing from the
        result; compare with :attr:`recipients`.
        """
        with contextlib.suppress(asyncio.TimeoutError):
            await within(self._drain(), timeout)
        return dict(self.responses)

    async def _drain(self) -> None:
        async for _ in self:
            pass


class SendingMixin:
    """Sending for :class:`~jupyter_samp.client.Client`."""

    tracker: ClientTracker
    hub_id: str | None
    self_id: str | None

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[Response] | asyncio.Queue[Response]] = {}
        self._traffic_observers: list[TrafficObserver] = []

    def observe_traffic(self, observer: TrafficObserver) -> Callable[[], None]:
        """Call ``observer(direction, peer, mtype, how)`` for every message sent or received.

        ``direction`` is ``"in"`` or ``"out"``; ``peer`` the other client's id
        (comma-separated for broadcasts); ``how`` the delivery pattern.
        """
        self._traffic_observers.append(observer)
        return lambda: self._traffic_observers.remove(observer)

    def _note_traffic(self, direction: str, peer: str, mtype: str, how: str) -> None:
        for observer in list(self._traffic_observers):
            try:
                observer(direction, peer, mtype, how)
            except Exception:
                logging.getLogger("jupyter_samp.client").exception("traffic observer failed")

    async def _hub(self, name: str, *args: Any, timeout: float | None = None) -> Any:
        raise NotImplementedError  # provided by Client

    # ------------------------------------------------------------ targets

    def resolve(self, target: str) -> str:
        """Turn a client id or a friendly name (``"topcat"``, ``"ds9"``) into a client id.

        Names match ``samp.name`` exactly, then ignoring case, then by a
        known alias, then as an unambiguous part of the name
        (:mod:`jupyter_samp.client.naming`).

        Raises
        ------
        NoSuchClientError
            If no connected application has that id or name.
        AmbiguousClientError
            If several applications have that name.
        """
        clients = self.tracker.clients
        if target in clients or target in (self.hub_id, self.self_id):
            return target
        others = [view for view in clients.values() if not view.is_hub]
        found = matching(target, others, lambda view: view.name)
        if len(found) == 1:
            return found[0].id
        if found:
            names = ", ".join(f"{view.name} ({view.id})" for view in found)
            raise AmbiguousClientError(f"{len(found)} applications match {target!r} "
                                       f"({names}); give the id or the whole name instead")
        raise NoSuchClientError(f"No application called {target!r} is connected"
                                f"{_connected_list(clients)}")

    async def _target(self, target: str) -> str:
        """Like :meth:`resolve`, but asks the hub once more before giving up.

        The tracker learns of new clients from hub events, which may still be
        on their way when a just-registered client is addressed by its id.
        """
        try:
            return self.resolve(target)
        except NoSuchClientError:
            await self._refresh_clients()
            return self.resolve(target)

    async def _refresh_clients(self) -> None:
        raise NotImplementedError  # provided by Client

    # ------------------------------------------------------------ notifications

    async def notify(
        self, target: str, mtype: str, params: Mapping[str, Any] | None = None, **extra: Any
    ) -> None:
        """Send a notification to one application (by id or name).

        Raises
        ------
        NoSuchClientError, AmbiguousClientError
            If ``target`` names no application or several.
        NotSubscribedError
            If the application does not accept ``mtype``.
        InvalidValueError
            If a parameter cannot be sent over SAMP.
        HubUnavailableError
            If not connected.
        """
        message = build_message(mtype, params, extra)
        recipient = await self._target(target)
        await self._hub("notify", recipient, message)
        self._note_traffic("out", recipient, mtype, "notify")

    async def notify_all(
        self, mtype: str, params: Mapping[str, Any] | None = None, **extra: Any
    ) -> list[str]:
        """Notify every application subscribed to ``mtype``; return their ids."""
        message = build_message(mtype, params, extra)
        recipients = list(await self._hub("notifyAll", message))
        self._note_traffic("out", ",".join(recipients), mtype, "notifyAll")
        return recipients

    # ------------------------------------------------------------ calls

    async def call(
        self,
        target: str,
        mtype: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = 60.0,
        check: bool = True,
        **extra: Any,
    ) -> Response:
        """Call one application and wait for its response.

        Parameters
        ----------
        timeout : float or None
            Seconds to wait for the response; None waits as long as it takes.
        check : bool
            Raise :class:`ErrorResponse` for a ``samp.error`` response.

        Raises
        ------
        ClientTimeoutError
            If no response arrives in time.
        ErrorResponse
            If the recipient answers ``samp.error`` (and ``check``).
        HubUnavailableError
            If the hub goes away before the response arrives.
        """
        message = build_message(mtype, params, extra)
        recipient = await self._target(target)
        tag = f"jsamp-{next(_tags)}"
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[tag] = future
        try:
            await self._hub("call", recipient, tag, message)
            self._note_traffic("out", recipient, mtype, "call")
            response = await within(future, timeout)
        except asyncio.TimeoutError:
            raise ClientTimeoutError(
                f"No response from {self._label(recipient)} to {mtype} within {timeout:g} s"
            ) from None
        finally:
            self._pending.pop(tag, None)
        return response.raise_for_error() if check else response

    async def call_all(
        self, mtype: str, params: Mapping[str, Any] | None = None, **extra: Any
    ) -> BroadcastCall:
        """Call every application subscribed to ``mtype``.

        Returns
        -------
        BroadcastCall
            Its ``recipients``, and the responses as they arrive.
        """
        message = build_message(mtype, params, extra)
        tag = f"jsamp-{next(_tags)}"
        queue: asyncio.Queue[Response] = asyncio.Queue()
        self._pending[tag] = queue
        try:
            recipients = await self._hub("callAll", tag, message)
        except BaseException:
            self._pending.pop(tag, None)
            raise
        self._note_traffic("out", ",".join(recipients), mtype, "callAll")
        return BroadcastCall(dict(recipients), queue)

    async def call_and_wait(
        self,
        target: str,
        mtype: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float = 60.0,
        check: bool = True,
        **extra: Any,
    ) -> Response:
        """Call one application through the hub's synchronous ``callAndWait``.

        Raises
        ------
        CallTimeoutError
            If the hub reports that no response came within ``timeout`` seconds.
        ErrorResponse
            If the recipient answers ``samp.error`` (and ``check``).
        """
        message = build_message(mtype, params, extra)
        recipient = await self._target(target)
        seconds = str(max(1, math.ceil(timeout)))
        started = time.monotonic()
        try:
            answer = await self._hub(
                "callAndWait", recipient, message, seconds, timeout=timeout + 10.0
            )
        except (HubFault, ClientTimeoutError) as exc:
            if isinstance(exc, CallTimeoutError) or time.monotonic() - started >= timeout:
                raise CallTimeoutError(
                    f"No response from {self._label(recipient)} to {mtype} within {timeout:g} s"
                ) from exc
            raise
        self._note_traffic("out", recipient, mtype, "callAndWait")
        response = Response.from_map(answer, recipient)
        if response.status == "samp.error" and time.monotonic() - started >= timeout:
            # Some hubs report their own timeout as an error response, not a fault.
            raise CallTimeoutError(
                f"No response from {self._label(recipient)} to {mtype} within {timeout:g} s "
                f"({response.errortxt})"
            )
        return response.raise_for_error() if check else response

    async def get_subscribed_clients(self, mtype: str) -> dict[str, dict[str, Any]]:
        """Ask the hub which applications accept ``mtype`` (id -> annotation)."""
        return dict(await self._hub("getSubscribedClients", mtype))

    # ------------------------------------------------------------ responses

    def _take_response(self, responder_id: str, tag: str, response: Any) -> None:
        waiter = self._pending.get(tag)
        if waiter is None:
            return
        answer = Response.from_map(response, responder_id)
        if isinstance(waiter, asyncio.Queue):
            waiter.put_nowait(answer)
        elif not waiter.done():
            waiter.set_result(answer)

    def _fail_pending(self, error: Exception) -> None:
        for waiter in self._pending.values():
            if isinstance(waiter, asyncio.Future) and not waiter.done():
                waiter.set_exception(error)

    def _label(self, client_id: str) -> str:
        view = self.tracker.clients.get(client_id)
        return f"{view.name} ({client_id})" if view is not None else client_id


def _connected_list(clients: dict[str, ClientView]) -> str:
    apps = [f"{view.name} ({view.id})" for view in clients.values() if not view.is_hub]
    return "; connected: " + ", ".join(apps) if apps else "; no other application is connected"
