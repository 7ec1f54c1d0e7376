"""The Web Profile: ``samp.webhub.*`` calls from browser pages.

It differs from the Standard Profile in four ways (SAMP 1.3 section 5):
registration needs the user's consent instead of a secret; callbacks are
collected by long polls (``allowReverseCallbacks``, ``pullCallbacks``)
instead of being pushed; web clients are *restricted* (the router limits the
MTypes they may send); and URLs flowing to and from them are tracked so the
URL translator serves only what others showed them (a client's own content
coming back to it, such as its metadata, is never counted as shown). Web clients that stop
contacting the hub are evicted after ``idle_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from tornado.web import RequestHandler

from jupyter_samp.core.model import ClientRecord, Deliver
from jupyter_samp.core.values import check_string, decode_bool, decode_float
from jupyter_samp.errors import (
    HubFault,
    InvalidRequestError,
    InvalidValueError,
    NotCallableError,
    NotRegisteredError,
    RegistrationRefusedError,
)
from jupyter_samp.hub.service import COMMON_METHODS, HubService, check_arguments
from jupyter_samp.hub.traffic import log_traffic
from jupyter_samp.hub.web.callback_queues import DEFAULT_QUEUE_LIMIT, CallbackQueue
from jupyter_samp.hub.web.clients import WebClient, WebClients
from jupyter_samp.hub.web.consent import Consent, WebRegistration, ask, deny_all
from jupyter_samp.hub.web.urltracker import UrlTracker
from jupyter_samp.transport.rpcserver import DEFAULT_MAX_BODY

log = logging.getLogger("jupyter_samp.hub.web")

PREFIX = "samp.webhub."
PROFILE = "web"
#: Longest a single pullCallbacks may park (a negative timeout asks for "forever").
MAX_POLL_TIMEOUT = 3600.0


class WebProfile:
    """Serves ``samp.webhub.*`` calls and queues callbacks for web clients.

    Parameters
    ----------
    service : HubService
        The hub's router on the event loop.
    consent : callable, optional
        ``async def consent(request: WebRegistration) -> bool``; default
        :func:`~jupyter_samp.hub.web.consent.deny_all`.
    consent_timeout : float or None
        Seconds to wait for consent before refusing.
    idle_timeout : float or None
        Evict a web client after this many seconds without a request
        (a parked poll counts as activity); None never evicts.
    queue_limit : int
        Most callbacks queued per client; further deliveries fail.
    max_pending_consents : int
        Registrations waiting for the user at once; more are refused at
        once, so a page cannot pile up questions.
    max_body : int
        Largest request body accepted, in bytes.
    """

    def __init__(
        self,
        service: HubService,
        consent: Consent | None = None,
        *,
        consent_timeout: float | None = 120.0,
        idle_timeout: float | None = 600.0,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
        max_pending_consents: int = 8,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.service = service
        self.consent = consent or deny_all
        self.consent_timeout = consent_timeout
        self.idle_timeout = idle_timeout
        self.queue_limit = queue_limit
        self.max_pending_consents = max_pending_consents
        self.max_body = max_body
        self.clients = WebClients()
        self.tracker = UrlTracker()
        #: ``http://127.0.0.1:<port>``, set once the server listens.
        self.base_url = "http://127.0.0.1:21012"
        self._asking: set[asyncio.Task[bool]] = set()
        self._lingering: set[CallbackQueue] = set()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._closed = False
        service.deliverers[PROFILE] = self

    # ------------------------------------------------------------ calls

    async def handle_call(self, method: str, params: list[Any], handler: RequestHandler) -> Any:
        """Run one ``samp.webhub.*`` call.

        Raises
        ------
        HubFault
            For unknown methods, bad arguments, unknown keys, refused
            registrations and every refusal of the router.
        """
        if not method.startswith(PREFIX):
            raise InvalidRequestError(
                f"Unknown method {method!r}: Web Profile methods start with samp.webhub."
            )
        name = method[len(PREFIX) :]
        if name == "ping":
            return ""
        if name == "register":
            return await self._register(params, handler)
        if name not in COMMON_METHODS and name not in _OWN_METHODS:
            raise InvalidRequestError(f"Unknown method {method!r}")
        client = self.clients.by_key(params[0]) if params else None
        if client is None:
            return await self._unknown_caller(name, params, handler)
        client.busy += 1
        try:
            return await self._run(client, name, params, handler)
        finally:
            client.busy -= 1
            client.last_active = self._now()

    async def _unknown_caller(
        self, name: str, params: list[Any], handler: RequestHandler
    ) -> Any:
        if name in _OWN_METHODS:
            check_arguments(PROFILE, name, _OWN_METHODS[name], params)
            if name == "pullCallbacks" and self.clients.departed(params[0], self._now()):
                return await self._linger(params[1], getattr(handler, "gone", None))
            raise NotRegisteredError("Unknown client key: this page is not registered")
        return await self.service.dispatch(PROFILE, name, params)  # faults with the reason

    async def _linger(self, timeout: str, gone: asyncio.Future[None] | None) -> list[Any]:
        # A poll from a client that has just unregistered: its poll thread may
        # not know yet. Faulting would look like a crash to it, and answering
        # [] at once could make it spin, so it waits like any poll, then gets [].
        queue = CallbackQueue(0)
        self._lingering.add(queue)
        try:
            return await queue.pull(_poll_timeout(timeout), gone)
        finally:
            self._lingering.discard(queue)

    async def _run(
        self, client: WebClient, name: str, params: list[Any], handler: RequestHandler
    ) -> Any:
        if name == "allowReverseCallbacks":
            check_arguments(PROFILE, name, "ss", params)
            return self._allow_callbacks(client, params[1])
        if name == "pullCallbacks":
            check_arguments(PROFILE, name, "ss", params)
            return await self._pull(client, params[1], getattr(handler, "gone", None))
        self.tracker.outgoing(client.public_id, params[1:])
        result = await self.service.dispatch(PROFILE, name, params)
        # only what other applications wrote may become translatable for this client
        shown = foreign_part(client.public_id, name, params, result)
        self.tracker.incoming(client.public_id, shown)
        log_traffic(self.service.router, name, params, result)
        return result

    # ------------------------------------------------------------ registration

    async def _register(self, params: list[Any], handler: RequestHandler) -> dict[str, str]:
        if self._closed:
            raise HubFault("The hub is shutting down")
        name = identity_name(params)
        if len(self._asking) >= self.max_pending_consents:
            raise RegistrationRefusedError(
                "Too many registration requests are waiting for the user; try again later"
            )
        headers = handler.request.headers
        request = WebRegistration.from_headers(
            name, headers.get("Origin"), headers.get("Referer"), handler.request.remote_ip
        )
        allowed = await self._ask(request)
        if self._closed:
            raise HubFault("The hub is shutting down")
        if not allowed:
            raise RegistrationRefusedError("User denied authorization")
        return self._add_client()

    async def _ask(self, request: WebRegistration) -> bool:
        task = asyncio.ensure_future(ask(self.consent, request, self.consent_timeout))
        self._asking.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            if self._closed:  # the hub stopped while the user was being asked
                return False
            raise
        finally:
            self._asking.discard(task)

    def _add_client(self) -> dict[str, str]:
        info = self.service.register(PROFILE, restricted=True)
        client = self.clients.add(info["samp.self-id"], info["samp.private-key"], self._now())
        info = {**info, "samp.url-translator": f"{self.base_url}/proxied/{client.token}?"}
        self.tracker.incoming(client.public_id, info)
        self._arm_idle_timer()
        return info

    # ------------------------------------------------------------ callbacks

    def _allow_callbacks(self, client: WebClient, allow: str) -> str:
        # a SAMP boolean is a non-zero int; "true" is read as Java-based clients mean it
        wanted = decode_bool(allow) or allow.strip().lower() == "true"
        if wanted and client.queue is None:
            client.queue = CallbackQueue(self.queue_limit)
            self.service.run(lambda router: router.set_callback(client.private_key, PROFILE))
        elif not wanted and client.queue is not None:
            self.service.run(lambda router: router.set_callback(client.private_key, None))
            self._close_queue(client, "it stopped accepting callbacks")
        return ""

    async def _pull(
        self, client: WebClient, timeout: str, gone: asyncio.Future[None] | None
    ) -> list[dict[str, Any]]:
        seconds = _poll_timeout(timeout)
        if client.queue is None:
            raise NotCallableError("Client is not callable (first invoke allowReverseCallbacks)")
        return await client.queue.pull(seconds, gone)

    def deliver(self, effect: Deliver) -> None:
        """Queue one callback for a web client (the service calls this)."""
        client = self.clients.by_id(effect.recipient_id)
        queue = client.queue if client is not None else None
        if client is None or queue is None:
            self._failed(effect, "it does not accept callbacks")
            return
        if not written_by(client.public_id, effect):
            self.tracker.incoming(client.public_id, effect.params)
        if not queue.put(effect):
            self._failed(effect, f"Callback queue is full ({queue.limit} objects)")

    def _failed(self, effect: Deliver, reason: str) -> None:
        # reported on the next loop turn: the service is still performing effects now
        report = functools.partial(self.service.delivery_failed, effect, reason, dead=False)
        asyncio.get_running_loop().call_soon(report)

    def _close_queue(self, client: WebClient, reason: str) -> None:
        queue, client.queue = client.queue, None
        if queue is not None:
            for effect in queue.close():
                self._failed(effect, reason)

    def forget(self, client: ClientRecord, reason: str) -> None:
        """Drop a departed web client's queue (waking its poll) and translator."""
        web = self.clients.remove(client.public_id, self._now())
        if web is not None and web.queue is not None:
            web.queue.close()  # its calls were settled by the router already
        self.tracker.forget(client.public_id)

    # ------------------------------------------------------------ idle clients

    def _arm_idle_timer(self) -> None:
        if self._idle_timer is not None or self.idle_timeout is None or self._closed:
            return
        interval = min(60.0, max(0.05, self.idle_timeout / 4))
        self._idle_timer = asyncio.get_running_loop().call_later(interval, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_timer = None
        assert self.idle_timeout is not None
        now = self._now()
        for client in self.clients.all():
            if client.idle_for(now) >= self.idle_timeout:
                self._evict(client, f"no request for {self.idle_timeout:g} s")
        if len(self.clients):
            self._arm_idle_timer()

    def _evict(self, client: WebClient, reason: str) -> None:
        log.info("evicting web client %s: %s", client.public_id, reason)
        try:
            self.service.run(lambda router: router.evict(client.public_id, reason))
        except HubFault:
            self.clients.remove(client.public_id, self._now())

    # ------------------------------------------------------------ shutdown

    def close(self) -> None:
        """Refuse new registrations, refuse pending ones, release every parked poll."""
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        for task in list(self._asking):
            task.cancel()
        for client in self.clients.all():
            if client.queue is not None:
                client.queue.end()
        for queue in list(self._lingering):
            queue.end()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()


_OWN_METHODS = {"allowReverseCallbacks": "ss", "pullCallbacks": "ss"}
#: Calls whose result is the metadata or subscriptions of the client named by params[1].
_ABOUT_CLIENT = ("getMetadata", "getSubscriptions")


def foreign_part(own_id: str, name: str, params: list[Any], result: Any) -> Any:
    """The part of a call's result that other applications wrote (None if none).

    A web client's own metadata and subscriptions, and its own answer to a
    message it sent itself, come back to it unchanged: the URLs in them are
    its own, and must not become translatable for it.
    """
    target = params[1] if len(params) > 1 else None
    if name in _ABOUT_CLIENT and target == own_id:
        return None
    if name == "callAndWait" and target == own_id:
        return None
    if name == "getSubscribedClients" and isinstance(result, dict):
        return {key: value for key, value in result.items() if key != own_id}
    return result


def written_by(own_id: str, effect: Deliver) -> bool:
    """True if a callback to web client ``own_id`` carries that client's own content.

    That is a message or response it sent to itself, or a hub event about
    its own metadata or subscriptions (the hub repeats what the client
    declared).
    """
    params = effect.params
    if params and params[0] == own_id:  # sender-id or responder-id
        return True
    if effect.mtype.startswith("samp.hub.event.") and len(params) >= 2:
        message = params[-1]
        inner = message.get("samp.params") if isinstance(message, dict) else None
        return isinstance(inner, dict) and inner.get("id") == own_id
    return False


def identity_name(params: list[Any]) -> str:
    """The ``samp.name`` of a ``register`` call: from a map, or a plain string (old form).

    Raises
    ------
    InvalidRequestError
        If the argument is missing or ``samp.name`` is absent or not a string.
    """
    if len(params) != 1 or not isinstance(params[0], (dict, str)):
        check_arguments(PROFILE, "register", "m", params)
    info = params[0]
    name = info if isinstance(info, str) else info.get("samp.name")
    if name is None:
        raise InvalidRequestError("No samp.name entry in identity-info map")
    if not isinstance(name, str):
        raise InvalidRequestError("Wrong data type (not string) for samp.name in identity-info")
    try:
        check_string(name, "samp.name")
    except InvalidValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    return name


def _poll_timeout(text: str) -> float:
    try:
        seconds = decode_float(text)  # a SAMP int; a float is taken too
    except InvalidValueError:
        raise InvalidRequestError(f"Bad timeout format {text!r} (should be SAMP int)") from None
    if seconds < 0:
        return MAX_POLL_TIMEOUT
    return min(seconds, MAX_POLL_TIMEOUT)
