"""The hub service: runs the router on the event loop, for every profile.

Profiles hand it decoded calls (``declareMetadata`` with its arguments); it
checks the argument signature, runs the router, and carries out the effects
the router leaves: deliveries go to the profile that owns the recipient,
synchronous calls are resolved, timers are set for the next deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from jupyter_samp.core.model import ClientRecord, Deliver, Effect, Forget, Resolve
from jupyter_samp.core.router import Router
from jupyter_samp.errors import InvalidRequestError, InvalidValueError

log = logging.getLogger("jupyter_samp.hub")

# Methods every profile shares: name -> argument kinds after the private key
# ("s" string, "m" map). register, ping and the callback setters are the
# profiles' own.
COMMON_METHODS: dict[str, str] = {
    "unregister": "",
    "declareMetadata": "m",
    "getMetadata": "s",
    "declareSubscriptions": "m",
    "getSubscriptions": "s",
    "getRegisteredClients": "",
    "getSubscribedClients": "s",
    "notify": "sm",
    "notifyAll": "m",
    "call": "ssm",
    "callAll": "sm",
    "callAndWait": "sms",
    "reply": "sm",
}
_KIND_NAMES = {"s": "string", "m": "map", "l": "list"}


class Deliverer(Protocol):
    """What a profile offers the service for reaching its clients."""

    def deliver(self, effect: Deliver) -> None:
        """Start delivering one callback; report failures to the service."""

    def forget(self, client: ClientRecord, reason: str) -> None:
        """Drop transport state of a client that left."""


class HubService:
    """Runs a :class:`~jupyter_samp.core.router.Router` on the running event loop.

    Parameters
    ----------
    router : Router
        The state machine.
    clock : callable, optional
        Returns the current time in seconds; defaults to the loop's clock.
    """

    def __init__(self, router: Router, clock: Callable[[], float] | None = None) -> None:
        self.router = router
        self.deliverers: dict[str, Deliverer] = {}
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._waiters: dict[str, asyncio.Future[Any]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.on_change: list[Callable[[str, ClientRecord | None], None]] = []

    # ------------------------------------------------------------ dispatch

    async def dispatch(self, profile: str, method: str, params: list[Any]) -> Any:
        """Run a common hub method for a client of ``profile``.

        Returns
        -------
        object
            The method's SAMP result (``""`` for void methods).

        Raises
        ------
        HubFault
            For every refusal, with a message that says what was wrong.
        """
        result = self.begin_call(profile, method, params)
        if method == "callAndWait":
            return await result
        return result

    def begin_call(self, profile: str, method: str, params: list[Any]) -> Any:
        """Run a common hub method without waiting: like :meth:`dispatch`.

        Every method's result is returned at once, except ``callAndWait``'s:
        for it, an awaitable of the response is returned, because the answer
        comes only when the recipient replies (or the call times out).

        Raises
        ------
        HubFault
            For every refusal, with a message that says what was wrong.
        """
        kinds = COMMON_METHODS.get(method)
        if kinds is None:
            raise InvalidRequestError(f"Unknown method {method!r}")
        check_arguments(profile, method, "s" + kinds, params)
        try:
            result = self._run(method, params)
        except InvalidValueError as exc:
            raise InvalidRequestError(str(exc)) from None
        finally:
            self.flush()
        if method == "callAndWait":
            return self._wait(result)
        return "" if result is None else result

    def _run(self, method: str, params: list[Any]) -> Any:
        router = self.router
        if method in ("call", "callAll", "callAndWait"):
            return getattr(router, _SNAKE[method])(*params, now=self._clock())
        return getattr(router, _SNAKE[method])(*params)

    async def _wait(self, msg_id: str) -> Any:
        future = self._waiters.get(msg_id)
        if future is None:  # not resolved yet (the hub answers its own calls at once)
            future = self._waiters[msg_id] = asyncio.get_running_loop().create_future()
        try:
            return await future
        finally:
            self._waiters.pop(msg_id, None)

    def register(self, profile: str, *, restricted: bool = False) -> dict[str, str]:
        """Register a client of ``profile`` and return its registration info."""
        info = self.router.register(profile, restricted=restricted)
        self.flush()
        client = self.router.registry.by_key(info["samp.private-key"])
        log.info("register %s (%s profile)", client.public_id, profile)
        self._changed("register", client)
        return info

    def _changed(self, what: str, client: ClientRecord | None) -> None:
        for observer in self.on_change:
            observer(what, client)

    def abort_waiters(self, error: Exception) -> None:
        """Fail every synchronous call still waiting (the hub is stopping)."""
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(error)

    def run(self, action: Callable[[Router], Any]) -> Any:
        """Run ``action(router)`` and carry out the effects it leaves."""
        try:
            return action(self.router)
        finally:
            self.flush()

    # ------------------------------------------------------------ effects

    def flush(self) -> None:
        """Carry out every effect the router has queued, then re-arm the timer."""
        for effect in self.router.take_effects():
            self._perform(effect)
        self._arm_timer()

    def _perform(self, effect: Effect) -> None:
        if isinstance(effect, Deliver):
            self.deliverers[effect.profile].deliver(effect)
        elif isinstance(effect, Resolve):
            self._resolve(effect)
        elif isinstance(effect, Forget):
            log.info("unregister %s: %s", effect.client.label, effect.reason)
            deliverer = self.deliverers.get(effect.client.profile)
            if deliverer is not None:
                deliverer.forget(effect.client, effect.reason)
            self._changed("unregister", effect.client)

    def _resolve(self, effect: Resolve) -> None:
        future = self._waiters.get(effect.msg_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiters[effect.msg_id] = future
        if future.done():
            return
        if effect.error is not None:
            future.set_exception(effect.error)
        else:
            future.set_result(effect.response)

    def delivery_failed(
        self, effect: Deliver, reason: str, *, dead: bool, answered: bool = False
    ) -> None:
        """Tell the router a delivery failed, and carry out what follows.

        ``answered``: the recipient took the callback and answered it with a
        fault (see :meth:`~jupyter_samp.core.router.Router.delivery_failed`).
        """
        log.warning("delivery of %s to %s failed: %s", effect.method, effect.recipient_id, reason)
        self.run(lambda router: router.delivery_failed(effect, reason, dead=dead,
                                                       answered=answered))

    def _arm_timer(self) -> None:
        deadline = self.router.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.run(lambda router: router.expire(self._clock()))


_SNAKE = {
    "unregister": "unregister",
    "declareMetadata": "declare_metadata",
    "getMetadata": "get_metadata",
    "declareSubscriptions": "declare_subscriptions",
    "getSubscriptions": "get_subscriptions",
    "getRegisteredClients": "get_registered_clients",
    "getSubscribedClients": "get_subscribed_clients",
    "notify": "notify",
    "notifyAll": "notify_all",
    "call": "call",
    "callAll": "call_all",
    "callAndWait": "call_and_wait",
    "reply": "reply",
}


def check_arguments(profile: str, method: str, kinds: str, params: list[Any]) -> None:
    """Check the number and SAMP types of a method's arguments.

    Raises
    ------
    InvalidRequestError
        Naming the expected signature and what arrived.
    """
    if len(params) == len(kinds) and all(
        _is_kind(value, kind) for value, kind in zip(params, kinds, strict=True)
    ):
        return
    expected = ", ".join(_KIND_NAMES[kind] for kind in kinds)
    got = ", ".join(_kind_of(value) for value in params)
    prefix = "samp.webhub." if profile == "web" else "samp.hub."
    raise InvalidRequestError(f"Bad arguments: {prefix}{method}({expected}) got ({got})")


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "s":
        return isinstance(value, str)
    if kind == "m":
        return isinstance(value, dict)
    return isinstance(value, list)


def _kind_of(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return type(value).__name__
