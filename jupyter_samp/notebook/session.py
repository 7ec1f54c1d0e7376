"""The notebook's SAMP connection: one client per kernel, on the kernel's own loop.

The client runs on the event loop ipykernel already runs, so messages from
TOPCAT or DS9 are handled between cells, on the main thread, and handler
output needs no locks. Cell code is synchronous and blocks that loop while it
runs, so nothing here waits for the network in the calling cell: operations
are scheduled as tasks and return at once with something to await or display
(top-level ``await`` in a cell waits for them properly).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from jupyter_samp.client import Client
from jupyter_samp.errors import NotConnectedError, SampError
from jupyter_samp.notebook.identity import icon_png, notebook_name
from jupyter_samp.notebook.model import SampState
from jupyter_samp.notebook.routes import LOGIN_WARNING, choose_route
from jupyter_samp.remote.route import BrowserRoute

#: The MType a hub started with ``--web-consent samp`` asks consent with.
CONSENT_MTYPE = "x-jupyter-samp.web.consent"

log = logging.getLogger("jupyter_samp.notebook")
T = TypeVar("T")

HUB_MODES = ("auto", "start", "connect", "browser")
NOTEBOOK_METADATA = {
    "samp.description.text": "A Jupyter notebook (jupyter_samp)",
}


class SampSession:
    """The SAMP connection of one notebook kernel.

    Parameters
    ----------
    name : str, optional
        ``samp.name`` other applications see; by default the notebook's file
        name where the kernel can know it, else a label distinct per kernel
        (see :func:`~jupyter_samp.notebook.identity.notebook_name`).
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or notebook_name()
        self.state = SampState()
        self.client: Client | None = None
        self._connecting: asyncio.Task[Client] | None = None
        self.bridge: Any = None
        #: The browser route, while the notebook reaches its hub through the page.
        self.browser_route: BrowserRoute | None = None
        #: Consent dialogs shown for web pages, newest last.
        self.consent_dialogs: list[Any] = []
        self._consent_box: Any = None

    # ------------------------------------------------------------ connection

    def connect(self, hub: str = "auto", web: bool = False, **options: Any) -> asyncio.Task[Client]:
        """Connect in the background; return the task (``await`` it in a cell to wait).

        Parameters
        ----------
        hub : {"auto", "start", "connect", "browser"}
            ``connect`` uses a running hub only; ``start`` starts an embedded
            hub (a child process) when none answers; ``browser`` reaches the
            hub on the computer that runs the browser, through the notebook's
            page (for kernels on a server); ``auto`` tries a hub on this
            machine, then the browser, then starts one (see
            :mod:`jupyter_samp.notebook.routes`).
        web : bool
            Let a hub started here serve web pages too (port 21012); each page
            that asks to register shows an Allow/Deny dialog in the notebook.

        Raises
        ------
        ValueError
            For an unknown ``hub`` mode.
        SampError
            If no event loop is running (outside a Jupyter kernel).
        """
        if hub not in HUB_MODES:
            raise ValueError(f"hub must be one of {', '.join(HUB_MODES)}, not {hub!r}")
        if self._connecting is not None and not self._connecting.done():
            return self._connecting
        if self.client is not None and self.client.connected:
            return _finished(self.client)
        options.setdefault("hub_web_profile", web)
        self._connecting = spawn(self._connect(hub, options))
        return self._connecting

    async def _connect(self, hub: str, options: dict[str, Any]) -> Client:
        if self.client is not None:
            await self.client.close(stop_hub=False)
        await self._close_route()
        self.state.status = "connecting"
        try:
            choice = await choose_route(hub, self.name, options.get("hub"))
        except SampError as exc:
            self.state.status = f"not connected: {exc}"
            raise
        self.browser_route = choice.browser
        if choice.browser is not None:
            options["connection"] = choice.browser.connection
        client = Client(self.name, metadata=NOTEBOOK_METADATA,
                        start_hub=hub != "connect" and choice.browser is None, **options)
        self.client = client
        client.add_handler(CONSENT_MTYPE, self._ask_consent)
        if choice.browser is not None:
            _join(choice.browser, client)
        self.state.bind(client)
        self.state.route, self.state.route_reason = choice.kind, choice.reason
        client.observe_traffic(self._log_traffic)
        try:
            await client.start()
        except SampError as exc:
            self.state.status = f"not connected: {exc}"
            raise
        self.bridge = _make_bridge(client)
        if choice.browser is not None:
            _serve_through(choice.browser, self.bridge)
        await _declare_icon(client, self.bridge)
        self.state.add_log("state", f"connected to {client.hub_url} ({choice.reason})")
        return client

    @property
    def route(self) -> str:
        """How the notebook reaches its hub: ``"local"``, ``"browser"``, or ``""`` before."""
        return str(self.state.route)

    async def _close_route(self) -> None:
        if self.browser_route is not None:
            await self.browser_route.close()
            self.browser_route = None

    def disconnect(self, stop_hub: bool | None = None) -> asyncio.Task[None]:
        """Unregister in the background (a hub this kernel started stops if idle)."""
        return spawn(self._disconnect(stop_hub))

    async def _disconnect(self, stop_hub: bool | None) -> None:
        if self.client is not None:
            await self.client.close(stop_hub=stop_hub)
        await self._close_route()

    @property
    def connected(self) -> bool:
        """Whether the notebook is registered with a hub."""
        return self.client is not None and self.client.connected

    def require(self) -> Client:
        """Return the connected client.

        Raises
        ------
        NotConnectedError
            Saying how to connect, if the notebook is not connected.
        """
        if self.client is not None and self.client.connected:
            return self.client
        if self._connecting is not None and not self._connecting.done():
            raise NotConnectedError("SAMP is still connecting: wait for %samp connect "
                                    "(or await jupyter_samp.connection().connect()) to finish")
        if self.client is not None and self.client.state == "disconnected":
            # Say what happened (the hub stopped, it dropped us, we disconnected).
            reason = self.state.status.removeprefix("disconnected").lstrip(": ") or "disconnected"
            raise NotConnectedError(
                f"SAMP is not connected: {reason}. Run %samp connect again "
                f"(a hub of this notebook's own starts if none answers)"
            )
        raise NotConnectedError(
            "SAMP is not connected yet: run %samp connect (or await "
            "jupyter_samp.connection().connect()) and wait for it to finish"
        )

    # ------------------------------------------------------------ data

    def send_table(
        self, data: Any, to: str | None = None, name: str | None = None,
        progress: Callable[[int, int | None], None] | None = None, **options: Any,
    ) -> Any:
        """Send a DataFrame, Table or FITS table; return its handle at once.

        The handle (:class:`~jupyter_samp.data.handles.TableHandle`) follows
        the selections made on the table; ``await handle.delivery`` gives the
        receipt: who loaded it and who failed. ``send`` is the same method.

        Raises
        ------
        NotConnectedError
            If the notebook is not connected.
        InvalidValueError
            If the data cannot be sent (an object column, ...), before anything is sent.
        NoSuchClientError, AmbiguousClientError, NotSubscribedError
            If ``to`` names no application, several, or none accepts tables.
        """
        bridge = self._bridge()
        handle = bridge.start_table(data, to, name=name, **options)
        if progress is not None:
            self.follow_progress(handle, progress)
        self.state.add_log("out", f"sent table {handle.name} ({handle.table_id})")
        self._log_outcome(f"table {handle.name}", handle.delivery)
        return handle

    send = send_table

    def send_image(self, data: Any, to: str | None = None, name: str | None = None,
                   **options: Any) -> Any:
        """Send an HDU, HDUList or 2-D array as a FITS image; return its handle at once.

        Like :meth:`send_table`: ``await`` the handle
        (:class:`~jupyter_samp.data.handles.ImageHandle`), or its
        ``delivery``, for the receipt.

        Raises
        ------
        NotConnectedError, InvalidValueError, NoSuchClientError, NotSubscribedError
            As for :meth:`send_table`, before anything is sent.
        """
        handle = self._bridge().start_image(data, to, name=name, **options)
        self.state.add_log("out", f"sent image {handle.name} ({handle.image_id})")
        self._log_outcome(f"image {handle.name}", handle.delivery)
        return handle

    def selection_of(self, data: Any) -> Any:
        """The rows of ``data`` selected in other applications (for the last time it was sent).

        Raises
        ------
        LookupError
            If ``data`` was never sent from this notebook.
        """
        return self.handle_of(data).selection

    def handle_of(self, data: Any) -> Any:
        """The handle of the last send of the object ``data``.

        Raises
        ------
        LookupError
            If ``data`` was never sent from this notebook.
        """
        handles = [h for h in self._bridge().tables.values() if h.data is data]
        if not handles:
            raise LookupError("that table was never sent from this notebook: %samp send it first")
        return handles[-1]

    def _bridge(self) -> Any:
        self.require()
        if self.bridge is None:
            raise NotConnectedError("SAMP is still connecting; try again in a moment")
        return self.bridge

    def _log_outcome(self, what: str, delivery: asyncio.Task[Any]) -> None:
        """Log, when ``delivery`` ends, whether it was delivered or failed, and where."""

        def done(task: asyncio.Task[Any]) -> None:
            if task.cancelled():
                self.state.add_log("state", f"{what}: delivery cancelled")
            elif task.exception() is not None:
                self.state.add_log("state", f"{what}: not delivered: {task.exception()}")
            else:
                self.state.add_log("state", f"{what}: {task.result().outcome()}")

        delivery.add_done_callback(done)

    def follow_progress(self, handle: Any, progress: Callable[[int, int | None], None]) -> None:
        """Call ``progress(bytes_sent, total)`` as recipients download ``handle``'s data.

        ``total`` is None when the size is not known in advance. Nothing is
        called for data sent by reference (a URL given by the caller) or as
        local files (they are read, not downloaded); HTTP copies published
        later (a recipient falling back from its file) are followed too.
        """
        bridge = self._bridge()

        def follow(resource: Any) -> None:
            resource.observe(lambda _resource, sent, total: progress(sent, total))

        key = getattr(handle, "table_id", None) or getattr(handle, "image_id", "")
        bridge.outputs.watch(key, follow)
        for resource in bridge.resources:
            if handle.url and resource.url == handle.url:
                follow(resource)

    # ------------------------------------------------------------ messages

    def point_at(self, ra: float, dec: float, to: str | None = None) -> asyncio.Task[Any]:
        """Ask applications to look at a sky position (``coord.pointAt.sky``), in degrees."""
        client = self.require()
        params = {"ra": float(ra), "dec": float(dec)}
        if to is not None:
            client.resolve(to)  # an unknown name fails here, in the cell, not later
            return spawn(client.notify(to, "coord.pointAt.sky", params))
        return spawn(client.notify_all("coord.pointAt.sky", params))

    @property
    def consent_box(self) -> Any:
        """The box (an ipywidgets VBox) holding the unanswered consent dialogs.

        :func:`~jupyter_samp.notebook.widgets.panel` shows it. A dialog is
        also displayed as an output, but that output goes to the cell whose
        run started the connection (ipykernel routes output by the task's
        context): once that cell has been run again, or the page reloaded,
        nobody sees it there. Widgets update every live view, so the box
        shows each dialog wherever the panel is displayed.
        """
        if self._consent_box is None:
            import ipywidgets

            self._consent_box = ipywidgets.VBox()
        return self._consent_box

    async def _ask_consent(self, message: Any) -> dict[str, str]:
        """Show the consent dialog for a web page and wait for the user's answer."""
        from jupyter_samp.notebook.consent import ConsentDialog

        dialog = ConsentDialog(message.params)
        self.consent_dialogs.append(dialog)
        self.state.add_log("in", f"web page {message.params.get('name')!r} asks to register")
        try:
            from IPython.display import display

            display(dialog)
        except ImportError:
            return {"allow": "0"}
        box = self.consent_box
        box.children = (*box.children, dialog)
        try:
            await asyncio.wait({dialog.answer}, timeout=_seconds(message.params.get("timeout")))
            dialog.expire()  # no-op if answered; else the hub has refused the page already
            allowed = dialog.answer.result()
        finally:
            box.children = tuple(child for child in box.children if child is not dialog)
        self.state.add_log("out", f"web page {message.params.get('name')!r} "
                                  f"{'allowed' if allowed else 'refused'}")
        return {"allow": "1" if allowed else "0"}

    def _log_traffic(self, direction: str, peer: str, mtype: str, how: str) -> None:
        names = {entry["id"]: entry["name"] for entry in self.state.clients}
        who = ", ".join(names.get(ident, ident) for ident in peer.split(",") if ident) or "nobody"
        arrow = "->" if direction == "out" else "<-"
        self.state.add_log(direction, f"{arrow} {who}: {mtype} ({how})", mtype=mtype)


def spawn(coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run ``coroutine`` as a task on the running loop (the kernel's).

    Raises
    ------
    SampError
        If no loop is running in this thread (plain Python or a terminal
        IPython without a loop): use the async API or SyncClient there.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        coroutine.close()
        raise SampError(
            "jupyter_samp's notebook API needs the running event loop of a Jupyter kernel; "
            "in scripts use jupyter_samp.SyncClient or the async Client"
        ) from None
    task = loop.create_task(coroutine)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("background SAMP task failed: %s", task.exception())


def _finished(value: T) -> asyncio.Task[T]:
    async def done() -> T:
        return value

    return spawn(done())


def _make_bridge(client: Client) -> Any:
    """The client's one data bridge, shared with the module-level shortcuts.

    Imported here so pandas and astropy load only now.
    """
    from jupyter_samp.data.shortcuts import bridge_for

    return bridge_for(client)


def _join(route: BrowserRoute, client: Client) -> None:
    """Route the relay's callbacks and events to ``client``."""
    route.relay.receiver = client.receive
    route.relay.on_lost = client.route_lost
    route.relay.on_page = client.route_ready


def _serve_through(route: BrowserRoute, bridge: Any) -> None:
    """Serve the bridge's data at the Jupyter server's public address (the page's view).

    Desktop applications cannot reach the kernel: they download from the
    server extension, which forwards to the bridge's resource server.
    """
    server = bridge.server.start()
    route.serve_resources(server.local_url)
    server.public_base = route.data_base
    if route.data_needs_login:
        bridge.delivery_note = LOGIN_WARNING


async def _declare_icon(client: Client, bridge: Any) -> None:
    """Serve the notebook's icon from the bridge's resource server and declare it.

    Best effort: an icon that cannot be declared is logged, never an error
    of the connection.
    """
    try:
        resource = bridge.server.publish(icon_png(), content_type="image/png",
                                         filename="icon.png")
        bridge.resources.append(resource)
        await client.declare_metadata(**{"samp.icon.url": resource.url})
    except (OSError, SampError) as exc:
        log.warning("could not declare the notebook's icon: %s", exc)


_session: SampSession | None = None


def _seconds(text: Any) -> float | None:
    """A timeout parameter in seconds, or None when absent or not a positive number."""
    try:
        seconds = float(text)
    except (TypeError, ValueError):
        return None
    return seconds if 0 < seconds < float("inf") else None  # NaN fails both


def connection(name: str | None = None) -> SampSession:
    """Return this kernel's SAMP session, creating it on first use (not yet connected).

    ``name`` is the ``samp.name`` of a session created now (see
    :class:`SampSession`); an existing session keeps its own.
    """
    global _session
    if _session is None:
        _session = SampSession(name)
    return _session
