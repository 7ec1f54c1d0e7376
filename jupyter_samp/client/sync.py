"""A blocking facade over the async client, for scripts.

The client runs on an event loop of its own, in a background thread; each
method submits a coroutine there and waits for it. Because that loop is not
the caller's, the facade works even when called from inside a running loop
(a notebook cell): the cell blocks while it waits, but nothing deadlocks.
Handlers registered with :meth:`SyncClient.on` run on the background thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from jupyter_samp.client.client import Client
from jupyter_samp.client.handlers import Handler
from jupyter_samp.client.tracker import ClientView
from jupyter_samp.core.message import Response
from jupyter_samp.errors import SampError

T = TypeVar("T")


class SyncClient:
    """A :class:`~jupyter_samp.client.Client` you can call without ``await``.

    Takes the same arguments as :class:`Client`. Use it as a context manager
    or call :meth:`close` when done.

    Examples
    --------
    >>> with SyncClient("myscript") as client:   # doctest: +SKIP
    ...     client.notify("topcat", "coord.pointAt.sky", {"ra": 10.0, "dec": 20.0})
    """

    def __init__(self, name: str | None = None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jupyter_samp-client", daemon=True
        )
        self._thread.start()
        self._client: Client = self._run(_make_client(name, options))
        try:
            self._run(self._client.start())
        except BaseException:
            self._shutdown_loop()
            raise

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise SampError(
                "SyncClient was called from one of its own handlers, which would deadlock; "
                "inside handlers use the async Client (await client.notify(...))"
            )
        if not self._thread.is_alive():
            coroutine.close()
            raise SampError("this SyncClient is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # ------------------------------------------------------------ life cycle

    def close(self) -> None:
        """Unregister, stop the background loop and its thread."""
        if self._thread.is_alive():
            try:
                self._run(self._client.close())
            finally:
                self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ------------------------------------------------------------ state

    @property
    def client(self) -> Client:
        """The underlying async client (use it only on its own loop)."""
        return self._client

    @property
    def connected(self) -> bool:
        """True while registered with a live hub."""
        return self._client.connected

    @property
    def clients(self) -> dict[str, ClientView]:
        """The other registered clients, by id."""
        return self._client.clients

    # ------------------------------------------------------------ messaging

    def on(self, pattern: str, annotation: Mapping[str, Any] | None = None) -> Callable:
        """Decorator: handle ``pattern`` (on the background thread) and subscribe to it."""

        def register(handler: Handler) -> Handler:
            self._run(_add_handler(self._client, pattern, handler, annotation))
            return handler

        return register

    def notify(self, target: str, mtype: str, params: Mapping[str, Any] | None = None,
               **extra: Any) -> None:
        """Blocking :meth:`Client.notify`."""
        self._run(self._client.notify(target, mtype, params, **extra))

    def notify_all(self, mtype: str, params: Mapping[str, Any] | None = None,
                   **extra: Any) -> list[str]:
        """Blocking :meth:`Client.notify_all`."""
        return self._run(self._client.notify_all(mtype, params, **extra))

    def call(self, target: str, mtype: str, params: Mapping[str, Any] | None = None,
             **options: Any) -> Response:
        """Blocking :meth:`Client.call`."""
        return self._run(self._client.call(target, mtype, params, **options))

    def call_and_wait(self, target: str, mtype: str, params: Mapping[str, Any] | None = None,
                      **options: Any) -> Response:
        """Blocking :meth:`Client.call_and_wait`."""
        return self._run(self._client.call_and_wait(target, mtype, params, **options))

    def call_all(self, mtype: str, params: Mapping[str, Any] | None = None, *,
                 timeout: float | None = 60.0, **extra: Any) -> dict[str, Response]:
        """Call every subscriber and return the responses that came within ``timeout``."""
        return self._run(_call_all(self._client, mtype, params, timeout, extra))


async def _make_client(name: str | None, options: dict[str, Any]) -> Client:
    return Client(name, **options)


async def _add_handler(client: Client, pattern: str, handler: Handler,
                       annotation: Mapping[str, Any] | None) -> None:
    client.add_handler(pattern, handler, annotation)


async def _call_all(client: Client, mtype: str, params: Mapping[str, Any] | None,
                    timeout: float | None, extra: dict[str, Any]) -> dict[str, Response]:
    broadcast = await client.call_all(mtype, params, **extra)
    return await broadcast.gather(timeout)
