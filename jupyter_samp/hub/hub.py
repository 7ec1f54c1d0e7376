"""The hub as a Python object, embeddable in any running asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from jupyter_samp._version import __version__
from jupyter_samp.core.model import ClientRecord
from jupyter_samp.core.restrictions import DEFAULT_SAFE_MTYPES, MTypeRestriction
from jupyter_samp.core.router import Router
from jupyter_samp.errors import HubFault, SampError
from jupyter_samp.hub.discovery import claim_lockfile
from jupyter_samp.hub.guard import LockfileGuard
from jupyter_samp.hub.liveness import LivenessProbe
from jupyter_samp.hub.samp_consent import SampConsent
from jupyter_samp.hub.service import HubService
from jupyter_samp.hub.standard import StandardProfile
from jupyter_samp.hub.web import DEFAULT_WEB_PORT, Consent, WebProfileServer
from jupyter_samp.hub.web.translator import DEFAULT_MAX_SIZE as TRANSLATOR_MAX_SIZE
from jupyter_samp.hub.web.translator import DEFAULT_TIME_LIMIT as TRANSLATOR_TIME_LIMIT
from jupyter_samp.lockfile import (
    FileIdentity,
    default_lockfile_path,
    hub_env_value,
    lockfile_url,
    make_multiple_hub_path,
    remove_if_ours,
    url_to_path,
)
from jupyter_samp.transport.limits import ServerLimits
from jupyter_samp.transport.rpcserver import DEFAULT_MAX_BODY, RpcServer

log = logging.getLogger("jupyter_samp.hub")

HUB_METADATA = {
    "samp.name": "jupyter_samp hub",
    "samp.description.text": "SAMP hub of jupyter_samp (asyncio/tornado)",
    "hub.version": __version__,
}


@dataclass(frozen=True)
class ClientInfo:
    """A read-only view of one registered client."""

    public_id: str
    profile: str
    callable: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    subscriptions: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        """The declared ``samp.name``, if any."""
        return self.metadata.get("samp.name")


class Hub:
    """A SAMP hub with the Standard Profile and the Web Profile.

    Parameters
    ----------
    lockfile : str or Path, optional
        Where to write the hub record. Default: the file ``SAMP_HUB`` names,
        else ``~/.samp`` (single mode) or a new ``~/.samp-1/samp-hub-<id>``
        (multiple mode).
    addr : str
        Address to listen on; loopback by default.
    port : int
        Port of the XML-RPC endpoint; 0 picks a free one.
    mode : {"single", "multiple"}
        Lockfile convention, see above.
    idle_timeout : float, optional
        Stop after this many seconds with no client registered.
    client_timeout : float
        Seconds a client may take to accept a callback before the delivery
        counts as failed (its sender then gets an error response).
    call_timeout : float, optional
        Answer asynchronous calls with an error if no reply comes in this
        many seconds (default: wait as long as both clients stay registered).
    max_body : int
        Largest request body accepted, in bytes.
    web_profile : bool
        Also serve the Web Profile for browser pages. If its port is busy
        the hub runs without it and logs that it is unavailable.
    web_port : int
        Port of the Web Profile (the standard's 21012; 0 picks a free one).
    web_consent : callable, optional
        ``async def consent(request: WebRegistration) -> bool``, asked before
        each web page registers, or ``"samp"`` to ask a connected client that
        subscribes to ``x-jupyter-samp.web.consent`` (see
        :mod:`jupyter_samp.hub.samp_consent`). Default: refuse every web registration.
    web_consent_timeout : float or None
        Seconds to wait for consent; no answer counts as a refusal.
    liveness_interval : float
        Seconds between checks that Standard Profile clients still listen;
        a client with no listening socket at its callback address any more is evicted.
    guard_interval : float
        Seconds between checks that the lockfile is still in place (it is
        written again if deleted or corrupted).
    web_idle_timeout : float or None
        Unregister a web client that makes no request for this many seconds.
    web_mtypes : iterable of str, optional
        MType patterns web clients may send (default: the usual safe list).
    web_translator_max_size : int
        Largest resource, in bytes, the Web Profile's URL translator passes
        to a web page (default 1 GiB); a larger one is refused with a 404.
    web_translator_time_limit : float
        Longest time, in seconds, one translation may take (default 600);
        a slower one is cut off.
    web_max_connections : int, optional
        Most connections the Web Profile holds open at once (default: a
        quarter of the Standard Profile's cap, itself set from the file
        descriptor limit). At the cap the connection that has waited longest
        without a request being answered is closed; when every one has a
        request being answered (parked long polls), a new one is refused.
        A value below 1 raises :class:`ValueError`.
    secret : str, optional
        The ``samp.secret`` clients register with (default: a fresh random one).

    Examples
    --------
    >>> async with Hub(lockfile=tmp / "lock") as hub:   # doctest: +SKIP
    ...     print(hub.url, [c.name for c in hub.clients])
    """

    def __init__(
        self,
        *,
        lockfile: str | Path | None = None,
        addr: str = "127.0.0.1",
        port: int = 0,
        mode: str = "single",
        idle_timeout: float | None = None,
        client_timeout: float = 30.0,
        call_timeout: float | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        label: str | None = None,
        web_profile: bool = True,
        web_port: int = DEFAULT_WEB_PORT,
        web_consent: Consent | str | None = None,
        web_consent_timeout: float | None = 120.0,
        liveness_interval: float = 5.0,
        guard_interval: float = 2.0,
        web_idle_timeout: float | None = 600.0,
        web_mtypes: Iterable[str] = DEFAULT_SAFE_MTYPES,
        web_translator_max_size: int = TRANSLATOR_MAX_SIZE,
        web_translator_time_limit: float = TRANSLATOR_TIME_LIMIT,
        web_max_connections: int | None = None,
        secret: str | None = None,
    ) -> None:
        if mode not in ("single", "multiple"):
            raise ValueError(f"mode must be 'single' or 'multiple', not {mode!r}")
        if web_max_connections is not None and web_max_connections < 1:
            raise ValueError(f"web_max_connections must be at least 1, not {web_max_connections}")
        self.addr, self.port, self.mode = addr, port, mode
        self.idle_timeout = idle_timeout
        self.client_timeout = client_timeout
        self.call_timeout = call_timeout
        self.max_body = max_body
        self.label = label
        self.web_profile, self.web_port, self.web_consent = web_profile, web_port, web_consent
        self.web_consent_timeout = web_consent_timeout
        self.liveness_interval = liveness_interval
        self.guard_interval = guard_interval
        self.web_idle_timeout = web_idle_timeout
        self.web_mtypes = tuple(web_mtypes)
        self.web_translator_max_size = web_translator_max_size
        self.web_translator_time_limit = web_translator_time_limit
        self.web_max_connections = web_max_connections
        self._web: WebProfileServer | None = None
        self._requested_lockfile = Path(lockfile) if lockfile is not None else None
        self.lockfile: Path | None = None
        self.url: str | None = None
        self._secret = secret or secrets.token_hex(16)
        self._server: RpcServer | None = None
        self._service: HubService | None = None
        self._standard: StandardProfile | None = None
        self._stopped = asyncio.Event()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._running = False
        self._lockfile_identity: FileIdentity | None = None

    # ------------------------------------------------------------ life cycle

    async def start(self) -> Hub:
        """Listen, claim the lockfile and begin serving.

        Raises
        ------
        HubAlreadyRunningError
            If a live hub owns the lockfile; nothing is left running then.
        OSError
            If the address cannot be bound.
        """
        if self._running:
            return self
        router = Router(
            lambda: "k-" + secrets.token_urlsafe(24),
            dict(HUB_METADATA),
            call_timeout=self.call_timeout,
            restriction=MTypeRestriction(self.web_mtypes),
        )
        self._service = HubService(router)
        self._service.on_change.append(self._client_change)
        self._standard = StandardProfile(
            self._service, self._secret, client_timeout=self.client_timeout, max_body=self.max_body
        )
        await self._listen()
        self._start_web()  # before the lockfile: once it exists, everything answers
        try:
            path = self._choose_lockfile()  # first: multiple mode puts its id in the record
            self._record_written = self._record()
            self._lockfile_identity = await claim_lockfile(path, self._record_written)
        except BaseException:
            await self._stop_web()
            await self._close_server()
            raise
        self._running = True
        self._start_watchers()
        self._client_change("start", None)
        log.info("hub listening at %s", self.url)
        log.info("lockfile %s (clients may use SAMP_HUB=%s)", self.lockfile, self.env_value)
        return self

    def _start_watchers(self) -> None:
        """Start the liveness probe and the lockfile guard (see their modules for why)."""
        assert self._service is not None and self.lockfile is not None
        service = self._service
        self._probe = LivenessProbe(
            lambda: service.router.registry.clients(),
            lambda public_id, reason: service.run(lambda r: r.evict(public_id, reason)),
            interval=self.liveness_interval,
        )
        self._guard = LockfileGuard(
            self.lockfile, self._record_written, self.guard_interval, self._lockfile_identity
        )
        self._probe.start()
        self._guard.start()

    async def _stop_watchers(self) -> None:
        for watcher in (getattr(self, "_probe", None), getattr(self, "_guard", None)):
            if watcher is not None:
                await watcher.stop()

    async def _listen(self) -> None:
        assert self._standard is not None
        self._server = RpcServer(self._standard, self.addr)
        self.port = await self._server.start(self.port)
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        self.url = f"http://{host}:{self.port}/xmlrpc"

    def _start_web(self) -> None:
        if not self.web_profile:
            return
        assert self._service is not None
        consent: Consent | None
        if self.web_consent == "samp":
            consent = SampConsent(self._service, self.web_consent_timeout)
        elif isinstance(self.web_consent, str):
            raise ValueError(f"web_consent must be a callable or 'samp', not {self.web_consent!r}")
        else:
            consent = self.web_consent
        web = WebProfileServer(
            self._service,
            consent,
            consent_timeout=self.web_consent_timeout,
            idle_timeout=self.web_idle_timeout,
            max_body=self.max_body,
            translator_max_size=self.web_translator_max_size,
            translator_time_limit=self.web_translator_time_limit,
            limits=self._web_limits(),
        )
        try:
            self.web_port = web.listen(self.web_port)
        except OSError as exc:
            self._service.deliverers.pop("web", None)
            log.warning("Web Profile unavailable (cannot listen on port %d: %s); "
                        "the Standard Profile runs without it", self.web_port, exc.strerror)
            return
        self._web = web

    def _web_limits(self) -> ServerLimits | None:
        """The Web Profile's caps, when a connection cap was asked for (None: defaults)."""
        if self.web_max_connections is None:
            return None
        return ServerLimits(max_connections=self.web_max_connections)

    async def _stop_web(self) -> None:
        if self._web is not None:
            web, self._web = self._web, None
            await web.stop()

    @property
    def web_url(self) -> str | None:
        """The Web Profile's endpoint, or None when it is not running."""
        return self._web.url if self._web is not None else None

    def _choose_lockfile(self) -> Path:
        path = self._requested_lockfile
        if path is None and self.mode == "multiple":
            path, self._multiple_id = make_multiple_hub_path()
        elif path is None:
            path = url_to_path(lockfile_url()) or default_lockfile_path()
        # the directory may be a link (a home elsewhere), the lockfile's own name
        # never is followed: a link planted there would have its target replaced
        self.lockfile = path.parent.resolve() / path.name
        return self.lockfile

    def _record(self) -> dict[str, str]:
        assert self.url is not None
        record = {
            "samp.secret": self._secret,
            "samp.hub.xmlrpc.url": self.url,
            "samp.profile.version": "1.3",
            "hub.impl": f"jupyter_samp {__version__}",
            "hub.start.date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if getattr(self, "_multiple_id", None):
            record["hub.id"] = self._multiple_id
        if self.label:
            record["hub.label"] = self.label
        return record

    async def stop(self) -> None:
        """Tell every client the hub is shutting down, stop serving, remove the lockfile.

        The lockfile is removed only if the path still names, itself (no link
        followed), the file this hub (or its guard) last wrote.
        Safe to call more than once.
        """
        if not self._running:
            return
        self._running = False
        self._cancel_idle_timer()
        await self._stop_watchers()
        assert self._service is not None and self._standard is not None
        self._standard.closing = True  # a client that hears the shutdown must not register again
        self._service.run(lambda router: router.shutdown())
        if self._web is not None:
            self._web.close_clients()  # parked polls return the shutdown event now
        await self._standard.deliverer.drain(timeout=min(self.client_timeout, 3.0))
        self._service.abort_waiters(HubFault("The hub is shutting down"))
        await self._stop_web()
        await self._close_server()
        self._standard.deliverer.close()
        guard = getattr(self, "_guard", None)
        identity = guard.identity if guard is not None else self._lockfile_identity
        if self.lockfile is not None and remove_if_ours(self.lockfile, self._secret, identity):
            log.info("removed lockfile %s", self.lockfile)
        log.info("hub stopped")
        self._stopped.set()

    async def _close_server(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()

    async def wait_stopped(self) -> None:
        """Wait until the hub has stopped (by :meth:`stop` or the idle timeout)."""
        await self._stopped.wait()

    async def __aenter__(self) -> Hub:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------ introspection

    @property
    def running(self) -> bool:
        """Whether the hub is serving."""
        return self._running

    @property
    def record(self) -> dict[str, str]:
        """The entries this hub wrote to its lockfile (empty before :meth:`start`)."""
        return dict(getattr(self, "_record_written", {}))

    @property
    def env_value(self) -> str:
        """The ``SAMP_HUB`` value that points clients at this hub."""
        if self.lockfile is None:
            raise SampError("the hub has not started")
        return hub_env_value(self.lockfile)

    @property
    def hub_id(self) -> str:
        """Public id of the hub's own client."""
        return self._router().hub_id

    @property
    def clients(self) -> tuple[ClientInfo, ...]:
        """The registered clients (the hub's own client excluded), as read-only records."""
        return tuple(_info(record) for record in self._router().registry.clients())

    def _router(self) -> Router:
        if self._service is None:
            raise SampError("the hub has not started")
        return self._service.router

    # ------------------------------------------------------------ idle shutdown

    def _client_change(self, what: str, record: ClientRecord | None) -> None:
        if self.idle_timeout is None or not self._running:
            return
        if self._router().registry.clients():
            self._cancel_idle_timer()
        elif self._idle_timer is None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(self.idle_timeout, self._idle_stop)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_stop(self) -> None:
        self._idle_timer = None
        log.info("no clients for %g s: stopping", self.idle_timeout)
        task = asyncio.get_running_loop().create_task(self.stop())
        self._idle_task = task


def _info(record: ClientRecord) -> ClientInfo:
    return ClientInfo(
        record.public_id,
        record.profile,
        record.callback is not None,
        dict(record.metadata),
        record.subscriptions.as_map(),
    )
