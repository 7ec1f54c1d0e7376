"""The lockfile guard and the liveness probe, driven one round at a time."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from jupyter_samp.core.model import ClientRecord
from jupyter_samp.hub.guard import LockfileGuard
from jupyter_samp.hub.liveness import LivenessProbe, accepts_connections
from jupyter_samp.lockfile import read_lockfile, write_lockfile

RECORD = {"samp.secret": "ours", "samp.hub.xmlrpc.url": "http://127.0.0.1:1/xmlrpc",
          "samp.profile.version": "1.3"}


def test_guard_leaves_a_good_record_alone(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    write_lockfile(path, RECORD)
    assert LockfileGuard(path, RECORD).check_once() == "ok"


def test_guard_rewrites_a_deleted_lockfile_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    guard = LockfileGuard(path, RECORD)
    assert guard.check_once() == "rewritten"
    assert read_lockfile(path) == RECORD
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_guard_rewrites_a_corrupted_lockfile(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_bytes(b"\x00\xffgarbage=\n")
    assert LockfileGuard(path, RECORD).check_once() == "rewritten"
    assert read_lockfile(path) == RECORD


def test_guard_leaves_another_hubs_record_alone(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    other = {**RECORD, "samp.secret": "theirs"}
    write_lockfile(path, other)
    assert LockfileGuard(path, RECORD).check_once() == "replaced"
    assert read_lockfile(path) == other


async def test_accepts_connections_tells_refused_from_listening() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    assert await accepts_connections(f"http://127.0.0.1:{port}/xmlrpc", 2.0)
    server.close()
    await server.wait_closed()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    free_port = probe.getsockname()[1]
    probe.close()
    assert not await accepts_connections(f"http://127.0.0.1:{free_port}/xmlrpc", 2.0)


async def test_probe_evicts_only_dead_standard_clients() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    live_port = server.sockets[0].getsockname()[1]
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    records = [
        ClientRecord("c1", "k1", "standard", callback=f"http://127.0.0.1:{live_port}/"),
        ClientRecord("c2", "k2", "standard", callback=f"http://127.0.0.1:{dead_port}/"),
        ClientRecord("c3", "k3", "web", callback=object()),
        ClientRecord("c4", "k4", "standard", callback=None),
    ]
    evicted: list[tuple[str, str]] = []

    def evict(public_id: str, reason: str) -> None:
        evicted.append((public_id, reason))
        records[:] = [r for r in records if r.public_id != public_id]

    try:
        assert await LivenessProbe(lambda: list(records), evict).probe_once() == ["c2"]
    finally:
        server.close()
        await server.wait_closed()
    assert evicted[0][0] == "c2" and "refuses connections" in evicted[0][1]
