"""The async SAMP client: connect, register, send, receive, track, reconnect.

Everything runs on the event loop the client was started on: callbacks from
the hub arrive through a tornado server on that loop, and handlers run on
its thread, so user code needs no locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from jupyter_samp.client.callbacks import CallbackServer
from jupyter_samp.client.embedded import EmbeddedHub
from jupyter_samp.client.handlers import Handler, HandlerRegistry, run_handler
from jupyter_samp.client.hubproxy import HubConnection, StandardHubProxy
from jupyter_samp.client.sending import SendingMixin
from jupyter_samp.client.tracker import ClientEvent, ClientTracker, ClientView
from jupyter_samp.client.watcher import HubWatcher
from jupyter_samp.core.message import Message, Response, build_message, error_map, to_samp
from jupyter_samp.errors import (
    ClientTimeoutError,
    HubAlreadyRunningError,
    HubUnavailableError,
    InvalidValueError,
    SampError,
)
from jupyter_samp.lockfile import lockfile_url, url_to_path

log = logging.getLogger("jupyter_samp.client")

#: Clients described at once when learning who is connected: each description
#: is two calls, and a hub with many clients must not see one connection per
#: client from every client that joins.
_DESCRIBE_AT_ONCE = 4

_EVENTS = (
    "samp.hub.event.register",
    "samp.hub.event.unregister",
    "samp.hub.event.metadata",
    "samp.hub.event.subscriptions",
)
StateObserver = Callable[[str, str], None]


class Client(SendingMixin):
    """A SAMP client living on the running asyncio loop.

    Parameters
    ----------
    name : str, optional
        ``samp.name`` shown to other applications.
    description : str, optional
        ``samp.description.text``.
    icon_url, doc_url : str, optional
        ``samp.icon.url`` and ``samp.documentation.url``.
    metadata : Mapping, optional
        Further metadata keys (e.g. ``author.name``).
    hub : str or Path, optional
        Lockfile path or URL. Default: ``SAMP_HUB``, else ``~/.samp``.
    reconnect : bool
        Reconnect when a hub comes back after a shutdown or a crash.
    request_timeout : float
        Seconds to wait for the hub to answer an ordinary request.
    watch_interval : float
        Seconds between checks of the hub's health and the lockfile.
    start_hub : bool
        If no hub answers, start one in a child process
        (:class:`~jupyter_samp.client.embedded.EmbeddedHub`) and use it.
    hub_idle_timeout : float
        Seconds a hub started this way waits with no client before stopping.
    hub_web_profile : bool
        Whether a hub started this way also serves web pages (with consent
        asked of this client, see :mod:`jupyter_samp.hub.samp_consent`).
    connection : callable, optional
        Makes the route to the hub for each registration (a
        :class:`~jupyter_samp.client.hubproxy.HubConnection`); default the
        Standard Profile through the lockfile named by ``hub``. The browser
        relay of :mod:`jupyter_samp.remote` is another.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        icon_url: str | None = None,
        doc_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        hub: str | Path | None = None,
        reconnect: bool = True,
        request_timeout: float = 30.0,
        watch_interval: float = 1.0,
        start_hub: bool = False,
        hub_idle_timeout: float = 60.0,
        hub_web_profile: bool = False,
        connection: Callable[[], HubConnection] | None = None,
    ) -> None:
        self.hub_web_profile = hub_web_profile
        self.start_hub = start_hub
        self.hub_idle_timeout = hub_idle_timeout
        self.embedded_hub: EmbeddedHub | None = None
        self.metadata = _metadata(name, description, icon_url, doc_url, metadata)
        self.hub_location = _lockfile_url(hub)
        self.request_timeout = request_timeout
        self.tracker = ClientTracker()
        self.handlers = HandlerRegistry()
        self.state = "disconnected"
        self.self_id: str | None = None
        self.hub_id: str | None = None
        self._proxy: HubConnection | None = None
        self._registering = False
        # Set while connected: messages that come while registering wait for it.
        self._ready = asyncio.Event()
        self.connection_factory = connection
        self._lock_info: dict[str, str] | None = None
        # The secret of a hub that announced its shutdown: its lockfile may
        # stay a moment longer, but it will not be connected to again.
        self._departed_secret: str | None = None
        self._server = CallbackServer(self)
        self._state_observers: list[StateObserver] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connect_lock = asyncio.Lock()
        self._closed = False
        self._subscriptions_dirty = False
        self._declaring: asyncio.Task[None] | None = None
        self._watcher = HubWatcher(self._check_hub, self._reconnect, lambda: self.connected,
                                   interval=watch_interval)
        self._watcher.auto_reconnect = reconnect
        self._install_builtin_handlers()
        SendingMixin.__init__(self)

    # ------------------------------------------------------------ life cycle

    async def start(self) -> Client:
        """Connect to the hub and register; keep watching it afterwards.

        Raises
        ------
        HubUnavailableError
            If no hub answers at the lockfile's address.
        """
        self._closed = False
        try:
            try:
                await self._connect()
            except HubUnavailableError:
                if not self.start_hub:
                    raise
                await self._start_embedded_hub()
                await self._connect()
        except BaseException:
            # Registration may have got as far as starting the callback server.
            await self._server.stop()
            raise
        self._watcher.start()
        return self

    async def _start_embedded_hub(self) -> None:
        path = url_to_path(self.hub_location)
        if path is None:
            raise HubUnavailableError(
                f"cannot start a hub for the lockfile URL {self.hub_location}: not a file"
            )
        hub = EmbeddedHub(path, idle_timeout=self.hub_idle_timeout,
                          web_profile=self.hub_web_profile)
        try:
            await hub.start()
        except HubAlreadyRunningError:
            return  # another hub won the race to start: use that one
        self.embedded_hub = hub

    async def close(self, stop_hub: bool | None = None) -> None:
        """Unregister (if connected), stop watching and stop the callback server.

        Parameters
        ----------
        stop_hub : bool, optional
            Whether to stop a hub this client started. By default it is
            stopped only when no other application is connected to it.
        """
        others = await self._other_apps() if self.embedded_hub is not None else []
        self._closed = True
        await self._watcher.stop()
        if self.connected and self._proxy is not None:
            try:
                await self._proxy.call("unregister", timeout=5.0)
            except SampError as exc:
                log.debug("unregister failed: %s", exc)
        self._set_disconnected("closed")
        await self._server.stop()
        for task in list(self._tasks):
            task.cancel()
        if self.embedded_hub is not None and (stop_hub or (stop_hub is None and not others)):
            await self.embedded_hub.stop()
            self.embedded_hub = None

    async def _other_apps(self) -> list[str]:
        """Ask the hub (not the tracker, which may lag) who else is registered."""
        try:
            ids = await self._hub("getRegisteredClients", timeout=5.0)
        except SampError:
            return []
        return [client_id for client_id in ids if client_id != self.hub_id]

    async def __aenter__(self) -> Client:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        name = self.metadata.get("samp.name", "unnamed")
        where = f" as {self.self_id} at {self.hub_url}" if self.connected else ""
        return f"<jupyter_samp Client {name!r}: {self.state}{where}>"

    @property
    def hub_url(self) -> str | None:
        """The XML-RPC URL of the hub, while connected."""
        return self._proxy.url if self._proxy is not None else None

    @property
    def hub_shares_files(self) -> bool:
        """True while connected to a hub whose applications can read this machine's files.

        False for a hub reached through the notebook's browser page (its
        applications run on the user's computer) or on another host.
        """
        return self._proxy is not None and self._proxy.shares_files()

    async def fetch_remote(self, url: str, max_bytes: int, timeout: float) -> bytes:
        """Download ``url``, which names the computer of the hub's applications, via the hub.

        Only a notebook's browser route can (through the Web Profile's URL
        translator); see :attr:`hub_shares_files`.

        Raises
        ------
        FetchError
            The route cannot reach that computer's files, or the download failed.
        HubUnavailableError
            Not connected.
        """
        if self._proxy is None:
            raise HubUnavailableError("not connected to a hub")
        return await self._proxy.fetch_remote(url, max_bytes, timeout)

    @property
    def private_key(self) -> str | None:
        """This registration's private key (checked on every incoming callback)."""
        return self._proxy.private_key if self._proxy is not None else None

    @property
    def connected(self) -> bool:
        """True while registered with a live hub."""
        return self.state == "connected"

    async def _connect(self) -> None:
        async with self._connect_lock:
            if self.connected:
                return
            proxy = self._new_connection()
            try:
                self._lock_info = proxy.read_lockfile()
                await proxy.ping()
                info = await proxy.register()
                self._proxy = proxy
                # Callbacks may come as soon as the hub has our callback
                # address: their replies must not wait for the declarations.
                self._registering = True
                await self._declare_all(info)
            except BaseException:
                self._proxy = None
                proxy.close()
                raise
            finally:
                self._registering = False
            self._set_state("connected", f"registered as {self.self_id} with {proxy.url}")

    async def _declare_all(self, info: dict[str, str]) -> None:
        assert self._proxy is not None
        self.self_id, self.hub_id = info["samp.self-id"], info["samp.hub-id"]
        self.tracker.reset(self.hub_id, self.self_id)
        await self._proxy.call("declareMetadata", self.metadata)
        await self._proxy.attach_callbacks(self._server)
        await self._proxy.call("declareSubscriptions", self.handlers.subscriptions())
        await self._load_clients()

    def _new_connection(self) -> HubConnection:
        if self.connection_factory is not None:
            return self.connection_factory()
        return StandardHubProxy(self.hub_location, self.request_timeout)

    async def _load_clients(self, only_new: bool = False) -> None:
        assert self._proxy is not None
        ids = await self._proxy.call("getRegisteredClients")
        if only_new:
            ids = [client_id for client_id in ids if client_id not in self.tracker.clients]
        slots = asyncio.Semaphore(_DESCRIBE_AT_ONCE)

        async def describe(client_id: str) -> tuple[Any, Any]:
            async with slots:
                return await self._describe(client_id)

        answers = await asyncio.gather(
            *(describe(client_id) for client_id in ids), return_exceptions=True
        )
        for client_id, answer in zip(ids, answers, strict=True):
            if not isinstance(answer, BaseException):
                self.tracker.add(client_id, *answer)

    async def _refresh_clients(self) -> None:
        """Learn about clients the hub's events have not announced yet."""
        if self.connected and self._proxy is not None:
            await self._load_clients(only_new=True)

    async def _describe(self, client_id: str) -> tuple[Any, Any]:
        assert self._proxy is not None
        return (
            await self._proxy.call("getMetadata", client_id),
            await self._proxy.call("getSubscriptions", client_id),
        )

    async def _reconnect(self) -> None:
        if not self._closed and not self._hub_is_departing():
            await self._connect()

    def _hub_is_departing(self) -> bool:
        """Whether the lockfile still names the hub that announced its shutdown."""
        if self._departed_secret is None or self.connection_factory is not None:
            return False
        try:
            current = StandardHubProxy(self.hub_location).read_lockfile()
        except HubUnavailableError:
            return False
        return current.get("samp.secret") == self._departed_secret

    async def reconnect(self) -> None:
        """Connect again now (also after the hub disconnected this client).

        Raises
        ------
        HubUnavailableError
            If no hub answers.
        """
        self._watcher.auto_reconnect = True
        await self._connect()

    async def _check_hub(self) -> None:
        assert self._proxy is not None
        try:
            current = (StandardHubProxy(self.hub_location).read_lockfile()
                       if self._proxy.follows_lockfile() else None)
        except HubUnavailableError:
            current = None
        if current is not None and self._lock_info is not None and (
            current.get("samp.secret") != self._lock_info.get("samp.secret")
        ):
            self._set_disconnected("another hub replaced ours")
            return
        try:
            await self._proxy.ping(timeout=30.0)
        except ClientTimeoutError:
            log.warning("the hub is slow to answer pings; still connected")
        except SampError as exc:
            # Refused or reset: nothing serves at the hub's address any more.
            self._set_disconnected(f"the hub stopped answering ({exc})")

    def route_lost(self, reason: str) -> None:
        """The route to the hub reports it lost: disconnect now (and reconnect when it can)."""
        self._set_disconnected(reason)

    def route_ready(self) -> None:
        """The route can carry a registration again: try to reconnect now."""
        self._watcher.wake()

    def _set_disconnected(self, reason: str) -> None:
        if self.state == "disconnected":
            return
        self._fail_pending(HubUnavailableError(f"lost the hub: {reason}"))
        if self._proxy is not None:
            self._proxy.close()
        self._set_state("disconnected", reason)
        self.tracker.reset(None, None)
        self._watcher.wake()

    def _set_state(self, state: str, reason: str) -> None:
        self.state = state
        if state == "connected":
            self._ready.set()
        else:
            self._ready.clear()
        log.info("%s: %s", state, reason)
        for observer in list(self._state_observers):
            try:
                observer(state, reason)
            except Exception:
                log.exception("state observer %r failed", observer)

    def on_state(self, observer: StateObserver) -> Callable[[], None]:
        """Call ``observer(state, reason)`` on every connection change.

        ``state`` is ``"connected"`` or ``"disconnected"``. Returns a
        function that stops the observation.
        """
        self._state_observers.append(observer)
        return lambda: self._state_observers.remove(observer)

    # ------------------------------------------------------------ other clients

    @property
    def clients(self) -> dict[str, ClientView]:
        """The other registered clients (the hub's own included), by id."""
        return self.tracker.clients

    def observe(self, observer: Callable[[ClientEvent], None]) -> Callable[[], None]:
        """Call ``observer(event)`` whenever another client comes, goes or changes."""
        return self.tracker.observe(observer)

    def subscribers(self, mtype: str) -> list[ClientView]:
        """The other applications that can receive ``mtype`` (from their subscriptions)."""
        return self.tracker.subscribers(mtype)

    # ------------------------------------------------------------ metadata

    async def declare_metadata(self, **changes: Any) -> None:
        """Change metadata: ``name=``, ``description=`` or any ``samp.*`` key.

        Raises
        ------
        InvalidValueError
            If a value cannot be carried by SAMP.
        """
        renamed = {_METADATA_ALIASES.get(key, key): value for key, value in changes.items()}
        self.metadata = to_samp({**self.metadata, **renamed}, "metadata")
        if self.connected:
            await self._hub("declareMetadata", self.metadata)

    # ------------------------------------------------------------ receiving

    def on(
        self, pattern: str, annotation: Mapping[str, Any] | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator: handle messages matching ``pattern`` and subscribe to it.

        Examples
        --------
        >>> @client.on("table.load.votable")   # doctest: +SKIP
        ... async def load(message):
        ...     return {}
        """

        def register(handler: Handler) -> Handler:
            self.add_handler(pattern, handler, annotation)
            return handler

        return register

    def add_handler(
        self, pattern: str, handler: Handler, annotation: Mapping[str, Any] | None = None
    ) -> None:
        """Handle ``pattern`` with ``handler`` and update the subscriptions on the hub."""
        self.handlers.add(pattern, handler, dict(annotation or {}))
        self._redeclare_subscriptions()

    def remove_handler(self, pattern: str) -> None:
        """Stop handling ``pattern`` and unsubscribe from it."""
        self.handlers.remove(pattern)
        self._redeclare_subscriptions()

    def _redeclare_subscriptions(self) -> None:
        # Declarations are sent one at a time by a single task, always with the
        # latest map: concurrent requests could reach the hub out of order and
        # leave it with a stale subscription list.
        self._subscriptions_dirty = True
        if self.connected and (self._declaring is None or self._declaring.done()):
            self._declaring = asyncio.get_running_loop().create_task(self._declare_latest())

    async def _declare_latest(self) -> None:
        while self._subscriptions_dirty and self.connected:
            self._subscriptions_dirty = False
            try:
                await self._hub("declareSubscriptions", self.handlers.subscriptions())
            except SampError as exc:
                log.warning("could not declare subscriptions: %s", exc)

    async def flush(self) -> None:
        """Wait until the hub has the latest subscriptions (after :meth:`on` or similar)."""
        while self._declaring is not None and not self._declaring.done():
            await asyncio.shield(self._declaring)

    def receive(self, method: str, args: list[Any]) -> None:
        """Take one callback from the hub (called by the callback server)."""
        if method == "receiveResponse":
            self._take_response(args[0], args[1], args[2])
            return
        sender_id, message_map = args[0], args[-1]
        msg_id = args[1] if method == "receiveCall" else None
        try:
            message = Message.from_map(message_map, sender_id, msg_id)
        except InvalidValueError as exc:
            if msg_id is not None:
                self._spawn(self._reply(msg_id, error_map(f"Bad message: {exc}")))
            return
        if message.mtype.startswith("samp.hub.") and sender_id == self.hub_id:
            self._hub_message(message)
        if not message.mtype.startswith("samp.hub."):
            how = "call" if message.is_call else "notify"
            self._note_traffic("in", sender_id, message.mtype, how)
        self._spawn(self._handle(message))

    def _hub_message(self, message: Message) -> None:
        if message.mtype in _EVENTS:
            self.tracker.handle_event(message.mtype, message.params)
        elif message.mtype == "samp.hub.event.shutdown":
            self._departed_secret = (self._lock_info or {}).get("samp.secret")
            self._set_disconnected("the hub shut down")
        elif message.mtype == "samp.hub.disconnect":
            self._watcher.auto_reconnect = False
            reason = message.params.get("reason", "no reason given")
            self._set_disconnected(f"the hub disconnected this client: {reason}")

    async def _handle(self, message: Message) -> None:
        if self._registering and not message.mtype.startswith("samp.hub."):
            # A handler may send or name other clients (a reply with a table):
            # it runs once the client is connected and knows them.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ready.wait(), _READY_WAIT)
        response = await run_handler(self.handlers.find(message.mtype), message)
        if message.msg_id is not None and response is not None:
            await self._reply(message.msg_id, response)

    async def _reply(self, msg_id: str, response: dict[str, Any]) -> None:
        try:
            await self._hub("reply", msg_id, response)
        except SampError as exc:
            log.warning("could not reply to %s: %s", msg_id, exc)

    def _install_builtin_handlers(self) -> None:
        self.handlers.add("samp.app.ping", lambda message: {})
        for mtype in (*_EVENTS, "samp.hub.event.shutdown", "samp.hub.disconnect"):
            self.handlers.add(mtype, lambda message: None)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ hub calls

    async def _hub(self, name: str, *args: Any, timeout: float | None = None) -> Any:
        """Call a hub method; a hub that cannot be reached marks us disconnected.

        Raises
        ------
        HubUnavailableError
            If not connected, or the hub does not answer.
        HubFault
            If the hub refuses.
        """
        if not (self.connected or self._registering) or self._proxy is None:
            raise HubUnavailableError(
                "Not connected to a SAMP hub: start one (jupyter-samp hub) or wait for "
                "the client to reconnect"
            )
        try:
            return await self._proxy.call(name, *args, timeout=timeout)
        except HubUnavailableError as exc:
            self._set_disconnected(str(exc))
            raise


#: Seconds a message that came while registering waits for the registration to end.
_READY_WAIT = 60.0

_METADATA_ALIASES = {
    "name": "samp.name",
    "description": "samp.description.text",
    "icon_url": "samp.icon.url",
    "doc_url": "samp.documentation.url",
}


def _metadata(
    name: str | None,
    description: str | None,
    icon_url: str | None,
    doc_url: str | None,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    given = {
        "samp.name": name,
        "samp.description.text": description,
        "samp.icon.url": icon_url,
        "samp.documentation.url": doc_url,
        **dict(extra or {}),
    }
    converted: dict[str, Any] = to_samp(given, "metadata")
    return converted


def _lockfile_url(hub: str | Path | None) -> str:
    if hub is None:
        return lockfile_url()
    text = str(hub)
    if "://" in text or text.startswith("file:"):
        return text
    return Path(text).resolve().as_uri()


__all__ = ["Client", "Message", "Response", "build_message"]
