"""``SAMPHubServer``: our :class:`~jupyter_samp.hub.Hub` with astropy's constructor and methods.

The hub runs on an event loop of its own in a background thread, so it keeps
routing whatever the calling thread does. ``start(wait=True)`` blocks until
the hub stops (Ctrl-C stops it cleanly).
"""

from __future__ import annotations

import uuid
from typing import Any

from jupyter_samp.compat.dialog import dialog_consent
from jupyter_samp.compat.errors import SAMPHubError
from jupyter_samp.compat.loop import LoopThread
from jupyter_samp.errors import HubAlreadyRunningError
from jupyter_samp.hub import Hub
from jupyter_samp.hub.web import DEFAULT_WEB_PORT, Consent
from jupyter_samp.hub.web.prompt import choose_consent

__all__ = ["SAMPHubServer"]

#: Seconds the web consent dialog has to answer before the page is refused.
CONSENT_TIMEOUT = 120.0


class SAMPHubServer:
    """A SAMP hub (Standard and Web Profile), started and stopped from Python.

    Parameters
    ----------
    secret : str, optional
        The ``samp.secret`` of the lockfile (default: a fresh random one).
    addr : str, optional
        Address to listen on (default 127.0.0.1).
    port : int
        Standard Profile port (0: any free port).
    lockfile : str, optional
        Where to write the lockfile (default: ``SAMP_HUB``, else ``~/.samp``,
        or a new file in ``~/.samp-1`` in multiple mode).
    timeout : float
        Stop after this many seconds with no client registered (0: never).
    client_timeout : float
        If above 0, the seconds a client may take to accept a message
        before the delivery counts as failed (default 30). Clients that no
        longer listen are unregistered whatever this is.
    mode : {"single", "multiple"}
        Lockfile convention (see ``lockfile``).
    label : str
        A name for the hub, written to the lockfile as ``hub.label``.
    web_profile : bool
        Also serve the Web Profile for browser pages (it is left out, with
        a log message, if its port is taken).
    web_profile_dialog : WebProfileDialog, optional
        Asks the user about each web page; without one, the terminal is
        asked if standard input is one, else every page is refused.
    web_port : int
        Web Profile port (the standard's 21012; 0: any free port).
    pool_size : int
        Accepted for compatibility; our hub keeps its own connection pool.
    """

    def __init__(self, secret: str | None = None, addr: str | None = None, port: int = 0,
                 lockfile: str | None = None, timeout: float = 0, client_timeout: float = 0,
                 mode: str = "single", label: str = "", web_profile: bool = True,
                 web_profile_dialog: Any = None, web_port: int = DEFAULT_WEB_PORT,
                 pool_size: int = 20) -> None:
        if mode not in ("single", "multiple"):
            raise SAMPHubError(f"Invalid mode {mode!r}: use 'single' or 'multiple'")
        self._id = str(uuid.uuid1())
        self._secret = secret
        self._addr, self._port = addr, port or 0  # samp_hub passes None for "any"
        self._customlockfilename = lockfile
        self._timeout, self._client_timeout = timeout, client_timeout
        self._mode, self._label = mode, label
        self._web_profile, self._web_profile_dialog = web_profile, web_profile_dialog
        self._requested_web_port = self._web_port = web_port
        self._pool_size = pool_size
        self._hub: Hub | None = None
        self._loop: LoopThread | None = None
        self._lockfile: str | None = None
        self._url: str | None = None

    @property
    def id(self) -> str:
        """The hub's unique id (``hub.id`` in :attr:`params`)."""
        return self._id

    @property
    def is_running(self) -> bool:
        """Whether the hub is serving (False after :meth:`stop` or its idle timeout)."""
        return self._hub is not None and self._hub.running

    @property
    def params(self) -> dict[str, str]:
        """The lockfile entries: ``samp.secret``, ``samp.hub.xmlrpc.url``, ``hub.id``, ...

        Raises
        ------
        SAMPHubError
            If the hub has not been started.
        """
        if self._hub is None:
            raise SAMPHubError("Hub is not running")
        params = self._hub.record
        params["hub.id"] = self.id
        params["hub.label"] = self._label or f"Hub {self.id}"
        return params

    def start(self, wait: bool = False) -> None:
        """Start serving and write the lockfile; with ``wait``, block until the hub stops.

        Raises
        ------
        SAMPHubError
            If this hub is already running, another live hub owns the
            lockfile, or the address cannot be bound.
        """
        if self.is_running:
            raise SAMPHubError("Hub is already running")
        self._close_loop()
        self._loop = LoopThread("samp-hub")
        try:
            self._hub = self._loop.run(self._start())
        except (HubAlreadyRunningError, OSError) as exc:
            self._close_loop()
            raise SAMPHubError(f"Cannot start the SAMP hub: {exc}") from exc
        self._port, self._url = self._hub.port, self._hub.url
        self._web_port = self._hub.web_port if self._hub.web_url else self._requested_web_port
        self._lockfile = str(self._hub.lockfile)
        if wait:
            self._wait()

    async def _start(self) -> Hub:
        hub = Hub(**self._hub_options())
        await hub.start()
        return hub

    def _hub_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "lockfile": self._customlockfilename, "addr": self._addr or "127.0.0.1",
            "port": self._port, "mode": self._mode, "label": self._label or f"Hub {self.id}",
            "idle_timeout": self._timeout if self._timeout and self._timeout > 0 else None,
            "web_profile": self._web_profile, "web_port": self._requested_web_port,
            "web_consent": self._consent(), "web_consent_timeout": CONSENT_TIMEOUT,
            "secret": self._secret,
        }
        if self._client_timeout and self._client_timeout > 0:
            options["client_timeout"] = float(self._client_timeout)
        return options

    def _consent(self) -> Consent | None:
        if not self._web_profile:
            return None
        if self._web_profile_dialog is not None:
            return dialog_consent(self._web_profile_dialog, CONSENT_TIMEOUT)
        return choose_consent(None)

    def _wait(self) -> None:
        assert self._loop is not None and self._hub is not None
        try:
            self._loop.run(self._hub.wait_stopped())
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Tell the clients the hub is shutting down, stop serving and remove the lockfile.

        Does nothing if the hub is not running.
        """
        hub, loop = self._hub, self._loop
        if hub is not None and loop is not None and loop.alive:
            loop.run(hub.stop())
        self._close_loop()
        self._lockfile = None

    def _close_loop(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None
