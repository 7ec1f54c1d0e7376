"""The callback server of a compat client: our XML-RPC server on a loop of its own.

The hub's ``samp.client.receive*`` calls are checked and acknowledged on the
loop (:class:`~jupyter_samp.client.callbacks.CallbackEndpoint`), then each is
handed to a worker thread, where the user's handler may block as long as it
likes without holding up the hub or the other callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jupyter_samp.client.callbacks import CallbackEndpoint
from jupyter_samp.transport.rpcserver import RpcServer

log = logging.getLogger("jupyter_samp.compat")

#: Handlers that may run at once for one client; more callbacks wait their turn.
HANDLER_THREADS = 16
#: Seconds to wait for the server to start listening.
START_TIMEOUT = 30.0

Deliver = Callable[[str, list[Any]], None]


class CallbackReceiver:
    """Serves one client's callbacks until :meth:`stop`.

    Parameters
    ----------
    key : callable
        Returns the private key callbacks must carry (None while unregistered).
    deliver : callable
        ``deliver(method, args)`` runs in a worker thread for each callback
        (``method`` is ``receiveNotification``, ``receiveCall`` or
        ``receiveResponse``; ``args`` follow the private key).
    addr : str
        Address to listen on.
    port : int
        Port to listen on (0: any free port).
    """

    def __init__(self, key: Callable[[], str | None], deliver: Deliver,
                 addr: str = "127.0.0.1", port: int = 0) -> None:
        self._key, self._deliver = key, deliver
        self.addr, self.port = addr, port
        self.url: str | None = None
        self.server: RpcServer | None = None
        self.serving = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._workers = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="samp-handler")

    # The two members CallbackEndpoint asks of its receiver.
    @property
    def private_key(self) -> str | None:
        """The key every callback must carry."""
        return self._key()

    def receive(self, method: str, args: list[Any]) -> None:
        """Hand one callback to a worker thread (called on the loop)."""
        self._workers.submit(self._run, method, args)

    def _run(self, method: str, args: list[Any]) -> None:
        try:
            self._deliver(method, args)
        except Exception:
            log.exception("SAMP %s handler failed", method)

    def serve(self) -> None:
        """Run the server in the calling thread until :meth:`stop` (a thread's target)."""
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(loop))
        except BaseException as exc:  # reported to start(), which waits on `serving`
            self.error = exc
        finally:
            self.serving.set()
            loop.close()
            self._workers.shutdown(wait=False)

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._stop = loop, asyncio.Event()
        self.server = RpcServer(CallbackEndpoint(self), self.addr)
        self.port = await self.server.start(self.port)
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        self.url = f"http://{host}:{self.port}/xmlrpc"
        self.serving.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.stop()

    def wait_serving(self) -> str:
        """Wait until the server listens and return its URL.

        Raises
        ------
        OSError
            If it could not listen (the address or port is unusable).
        TimeoutError
            If it did not start within :data:`START_TIMEOUT` seconds.
        """
        if not self.serving.wait(START_TIMEOUT):
            raise TimeoutError(f"the callback server did not start in {START_TIMEOUT:g} s")
        if self.error is not None:
            raise self.error
        assert self.url is not None
        return self.url

    def stop(self) -> None:
        """Ask the server to stop (it closes its connections, then its thread ends)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            # RuntimeError: the loop closed meanwhile, so it has stopped already
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
