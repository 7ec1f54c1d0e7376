"""Starting a hub in a child process when none is running.

Why a child process and not a thread or the notebook's own loop: a hub must
keep routing between TOPCAT, DS9 and the rest while a notebook cell computes
for minutes. On the kernel's loop it would stop dead; on a thread it would
compete for the interpreter lock with the cell and die with a crashed or
restarted kernel, stranding applications (DS9 never reconnects). A child
process routes at full speed whatever the kernel does and outlives a kernel
restart; it stops by itself once no client has been registered for
``idle_timeout`` seconds, so it never lingers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from jupyter_samp.errors import HubAlreadyRunningError, HubUnavailableError
from jupyter_samp.transport.timeouts import within

log = logging.getLogger("jupyter_samp.client")


class EmbeddedHub:
    """A ``jupyter-samp hub`` child process.

    Parameters
    ----------
    lockfile : Path
        Where the hub writes its record.
    idle_timeout : float
        The hub stops after this many seconds without registered clients.
    web_profile : bool
        Also serve the Web Profile (port 21012), for web pages; each page's
        registration is put to a client subscribed to
        ``x-jupyter-samp.web.consent`` (the notebook shows a dialog).
    start_timeout : float
        Seconds to wait for the hub to report that it is serving.
    """

    def __init__(self, lockfile: Path, idle_timeout: float = 60.0, start_timeout: float = 30.0,
                 web_profile: bool = False):
        self.lockfile = Path(lockfile)
        self.web_profile = web_profile
        self.idle_timeout = idle_timeout
        self.start_timeout = start_timeout
        self.process: asyncio.subprocess.Process | None = None
        self.url: str | None = None
        self.log_path: Path | None = None

    async def start(self) -> None:
        """Start the hub and wait until it serves.

        Raises
        ------
        HubAlreadyRunningError
            If another hub claimed the lockfile first (then use that one).
        HubUnavailableError
            If the hub could not start; the message includes its log.
        """
        handle, name = tempfile.mkstemp(prefix="jupyter-samp-hub-", suffix=".log")
        self.log_path = Path(name)
        command = [sys.executable, "-m", "jupyter_samp", "hub", "--lockfile", str(self.lockfile),
                   "--timeout", str(self.idle_timeout), "--log-level", "info",
                   *(["--web-profile", "--web-consent", "samp"] if self.web_profile
                     else ["--no-web-profile"])]
        with os.fdopen(handle, "wb") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.PIPE, stderr=log_file,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
            )
        try:
            await within(self._wait_serving(), self.start_timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise HubUnavailableError(
                f"the hub did not start in {self.start_timeout:g} s"
            ) from None
        log.info("started a hub (pid %s) at %s", self.process.pid, self.url)

    async def _wait_serving(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while True:
            line = (await self.process.stdout.readline()).decode("ascii", "replace")
            if not line:
                await self.process.wait()
                text = self.log_path.read_text(errors="replace") if self.log_path else ""
                if "already running" in text:
                    raise HubAlreadyRunningError(text.strip())
                raise HubUnavailableError(f"the hub exited at start: {text.strip()}")
            if line.startswith("SAMP hub listening at "):
                self.url = line.split(" at ", 1)[1].strip()
            if line.startswith("SAMP_HUB="):
                return

    @property
    def running(self) -> bool:
        """Whether the child process is still alive."""
        return self.process is not None and self.process.returncode is None

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the hub cleanly (SIGTERM), killing it if it does not exit in time."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await within(process.wait(), timeout)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
