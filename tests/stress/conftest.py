"""A hub running in a background thread, for tests that hit it from blocking code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyter_samp import Hub
from jupyter_samp.lockfile import read_lockfile
from jupyter_samp.testing import samp_environment


@dataclass
class ThreadedHub:
    """A hub on its own loop in a thread, and what blocking tests need to reach it."""

    hub: Hub
    loop: asyncio.AbstractEventLoop
    lockfile: Path

    @property
    def url(self) -> str:
        assert self.hub.url is not None
        return self.hub.url

    @property
    def web_url(self) -> str:
        assert self.hub.web_url is not None
        return self.hub.web_url

    @property
    def secret(self) -> str:
        return (read_lockfile(self.lockfile) or {})["samp.secret"]

    def run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the hub's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


@pytest.fixture(scope="module")
def threaded_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedHub]:
    """Our hub in a background thread (module-scoped: fuzzing needs many requests)."""
    root = tmp_path_factory.mktemp("stress")
    with samp_environment(root) as env:
        loop = asyncio.new_event_loop()
        hub = Hub(lockfile=env.lockfile, web_port=0, client_timeout=2.0)
        stop = asyncio.Event()
        ready = threading.Event()

        async def serve() -> None:
            async with hub:
                ready.set()
                await stop.wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
        thread.start()
        assert ready.wait(30), "the hub did not start"
        try:
            yield ThreadedHub(hub, loop, env.lockfile)
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(30)
            loop.close()
