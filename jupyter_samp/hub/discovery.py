"""Claiming the lockfile: refuse to start over a live hub, take over a stale record."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from jupyter_samp.errors import (
    ClientTimeoutError,
    HubAlreadyRunningError,
    ProtocolError,
    SampError,
    TransportError,
)
from jupyter_samp.lockfile import DirectoryLock, FileIdentity, read_lockfile, write_lockfile
from jupyter_samp.transport.http import HttpPool
from jupyter_samp.transport.xmlrpc import xmlrpc_call

log = logging.getLogger("jupyter_samp.hub")


async def hub_is_alive(url: str, timeout: float = 5.0) -> bool:
    """Return True if something answers ``samp.hub.ping`` at ``url``.

    Any HTTP answer, even a fault, means a server owns that address. A hub
    that accepts the connection but never answers counts as alive too: it
    is safer to refuse to start than to take a record from a hub that is
    only slow.
    """
    pool = HttpPool()
    try:
        await xmlrpc_call(pool, url, "samp.hub.ping", [], timeout=timeout)
    except TransportError:
        return False
    except (ClientTimeoutError, ProtocolError, SampError):
        return True
    finally:
        pool.close()
    return True


async def claim_lockfile(path: Path, record: dict[str, str]) -> FileIdentity:
    """Write ``record`` to ``path`` unless a live hub already owns it; return what was written.

    The check and the write happen under a lock on the lockfile's directory,
    so of two of our hubs starting at once exactly one wins. A symbolic link
    at ``path`` is not read (it is no hub's record) and is replaced, never
    written through.

    Raises
    ------
    HubAlreadyRunningError
        If the existing record belongs to a hub that answers.
    """
    lock = DirectoryLock(path.parent)
    await asyncio.get_running_loop().run_in_executor(None, lock.acquire)
    try:
        existing = read_lockfile(path, follow_symlinks=False)
        url = (existing or {}).get("samp.hub.xmlrpc.url")
        if url and await hub_is_alive(url):
            raise HubAlreadyRunningError(
                f"A hub is already running at {url} (lockfile {path}); "
                f"stop it first, or use --mode multiple or another --lockfile"
            )
        if existing is not None:
            log.warning("taking over the stale lockfile %s (its hub does not answer)", path)
        return write_lockfile(path, record)
    finally:
        lock.release()
