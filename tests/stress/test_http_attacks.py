"""Attacks on the hub's HTTP layer from a local process, against the real hub command.

Each runs ``jupyter-samp hub`` in its own process (so its memory can be
read), attacks it as the trust issue found, and checks the safe outcome while
two well-behaved clients keep calling each other (the canary). Figures go to
``artifacts/stress/`` and into docs/stress.rst.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jupyter_samp.core.xmlrpc import encode_call
from jupyter_samp.lockfile import read_lockfile
from jupyter_samp.testing import jupyter_samp_hub, samp_environment
from jupyter_samp.testing.peers import (
    RunningHub,
    _hub_process,
    jupyter_samp_hub_command,
    package_env,
)
from jupyter_samp.transport.http import HttpPool
from jupyter_samp.transport.xmlrpc import xmlrpc_call

from .canary import SLOW, canary_running
from .report import peak_rss_mb, record, rss_mb

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for memory figures")


def _request(url: str, body: bytes) -> bytes:
    path = "/" + url.split("/", 3)[3]
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


async def _raw_socket(url: str, rcvbuf: int | None = None) -> socket.socket:
    host, port = url.split("/")[2].split(":")
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    return sock


async def _send_all(sock: socket.socket, data: bytes, deadline: float) -> int:
    """Write as much of ``data`` as the hub takes before ``deadline``; return the bytes sent."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(asyncio.TimeoutError, OSError):
        await asyncio.wait_for(loop.sock_sendall(sock, data), deadline - loop.time())
        return len(data)
    return -1  # the hub stopped reading (or closed): the point of the test


@contextlib.asynccontextmanager
async def _hub_with_descriptor_limit(lockfile: Path, home: Path, limit: int) -> AsyncIterator[
    RunningHub
]:
    """``jupyter-samp hub`` started with at most ``limit`` open file descriptors."""
    command = jupyter_samp_hub_command(lockfile)
    launcher = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit})); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    args = [sys.executable, "-c", launcher, *command]
    extra = {"PYTHONPATH": package_env(os.environ)["PYTHONPATH"]}
    async with _hub_process("jupyter-samp hub", args, lockfile, home, 30.0, extra) as hub:
        yield hub


async def test_peer_that_never_reads_cannot_grow_hub_memory(tmp_path: Path) -> None:
    """4 MiB of metadata, 100 pipelined getMetadata on 4 connections, never read.

    Before the fix the hub queued every answer: 31 MB -> 1.6 GB in 10 s, and
    other clients stalled for 6.8 s.
    """
    with samp_environment(tmp_path) as env:
        async with jupyter_samp_hub(env.lockfile, home=env.home) as hub:
            pid = hub.process.pid
            assert pid is not None
            info = read_lockfile(env.lockfile)
            assert info is not None
            pool = HttpPool()
            url = info["samp.hub.xmlrpc.url"]
            reg = await xmlrpc_call(pool, url, "samp.hub.register", [info["samp.secret"]])
            key, self_id = reg["samp.private-key"], reg["samp.self-id"]
            fat = {"samp.name": "fat", "x.padding": "p" * (4 << 20)}
            await xmlrpc_call(pool, url, "samp.hub.declareMetadata", [key, fat], timeout=30)
            before = rss_mb(pid)
            call = _request(url, encode_call("samp.hub.getMetadata", [key, self_id]))
            async with canary_running(env.lockfile) as canary:
                sockets = [await _raw_socket(url, rcvbuf=4096) for _ in range(4)]
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 6.0
                await asyncio.gather(*(_send_all(s, call * 100, deadline) for s in sockets))
                await canary.made(20)
                during = rss_mb(pid)
                canary_figures = canary.figures()
                canary.check()
            for sock in sockets:
                sock.close()
            peak = peak_rss_mb(pid)
            pool.close()
    record("attack-unread-answers", {
        "hub_rss_mb_before": round(before, 1), "hub_rss_mb_during": round(during, 1),
        "hub_peak_rss_mb": round(peak, 1), **canary_figures,
    })
    assert during - before < 64, f"hub memory grew from {before:.1f} to {during:.1f} MiB"


async def test_connection_flood_under_a_low_descriptor_limit(tmp_path: Path) -> None:
    """1,000 idle and slow-head connections at ``nofile`` 256: registered clients are served.

    Before the fix 2,200 idle connections at ``nofile`` 2048 made the hub
    refuse everyone (``accept`` failing with EMFILE in a loop).
    """
    with samp_environment(tmp_path) as env:
        async with _hub_with_descriptor_limit(env.lockfile, env.home, 256) as hub:
            url = hub.url
            async with canary_running(env.lockfile) as canary:
                started = time.perf_counter()
                flood: list[socket.socket] = []
                for n in range(1000):
                    with contextlib.suppress(OSError):
                        sock = await _raw_socket(url)
                        if n % 2:  # half of them start a head and never finish it
                            sock.send(b"POST /xmlrpc HTTP/1.1\r\nX-Slow: ")
                        flood.append(sock)
                flood_seconds = time.perf_counter() - started
                # A new client can still join and be answered while the flood is open.
                async with canary_running(env.lockfile) as late:
                    await late.made(10)
                late.check(least=10)
                await canary.made(20)
                canary_figures = canary.figures()
                canary.check()
                for sock in flood:
                    sock.close()
            stderr = hub.process.stderr
    record("attack-connection-flood", {
        "connections_opened": 1000, "descriptor_limit": 256,
        "seconds_to_open": round(flood_seconds, 2), **canary_figures,
    })
    assert "Too many open files" not in stderr, stderr[-2000:]


async def test_slow_heads_do_not_starve_new_clients(tmp_path: Path) -> None:
    """Hundreds of heads trickling in (slowloris) beyond the cap: new clients join and call."""
    with samp_environment(tmp_path) as env:
        async with _hub_with_descriptor_limit(env.lockfile, env.home, 256) as hub:
            url = hub.url
            trickling = [await _raw_socket(url) for _ in range(300)]
            for sock in trickling:
                with contextlib.suppress(OSError):
                    sock.send(b"POST /xmlrpc HTTP/1.1\r\nX-Slow: a")
            async with canary_running(env.lockfile) as canary:
                for _ in range(20):
                    for sock in trickling:
                        with contextlib.suppress(OSError):
                            sock.send(b"a")
                    await asyncio.sleep(0.05)  # the attacker's pace, not a synchronisation
                canary_figures = canary.figures()
                canary.check()
            for sock in trickling:
                sock.close()
    record("attack-slow-heads", {"connections": 300, "descriptor_limit": 256, **canary_figures})


async def test_large_bodies_do_not_stall_other_clients(tmp_path: Path) -> None:
    """8 strangers at once each post 15 MB of XML-RPC, twice: other clients keep being answered.

    Decoding 15 MB takes over a second; on the event loop, 16 of them held
    every other client for tens of seconds.
    """
    padding = {f"x.k{i}": "v" * 20 for i in range(15_000_000 // 90)}  # 88 bytes an entry
    body = encode_call("samp.hub.declareMetadata", ["no-such-key", padding])
    with samp_environment(tmp_path) as env:
        async with jupyter_samp_hub(env.lockfile, home=env.home) as hub:
            url = hub.url
            pool = HttpPool()

            async def stranger() -> list[str]:
                faults = []
                for _ in range(2):
                    answer = await pool.post(url, body, timeout=120)
                    faults.append(answer.body.decode("utf-8", "replace"))
                return faults

            async with canary_running(env.lockfile) as canary:
                started = time.perf_counter()
                answers = await asyncio.gather(*(stranger() for _ in range(8)))
                took = time.perf_counter() - started
                await canary.made(3)
                canary_figures = canary.figures()
                canary.check()
            pool.close()
    faults = [fault for faults in answers for fault in faults]
    decoded = sum("Unknown private key" in fault for fault in faults)
    busy = sum("Server busy" in fault for fault in faults)  # past the bound on large bodies
    record("attack-large-bodies", {"bodies": 16, "body_mb": round(len(body) / 1e6, 1),
                                   "decoded": decoded, "busy": busy,
                                   "all_answered_s": round(took, 2), **canary_figures})
    assert decoded + busy == 16 and decoded >= 4, faults


async def _answer_of(sock: socket.socket, deadline: float) -> str:
    """The XML-RPC answer read from ``sock``, whole, or what came before ``deadline``."""
    loop = asyncio.get_running_loop()
    received = b""
    while b"</methodResponse>" not in received and loop.time() < deadline:
        try:
            piece = await asyncio.wait_for(loop.sock_recv(sock, 65536), deadline - loop.time())
        except (asyncio.TimeoutError, OSError):
            break
        if not piece:
            break
        received += piece
    return received.decode("utf-8", "replace")


async def test_many_large_bodies_at_once_cannot_grow_hub_memory(tmp_path: Path) -> None:
    """64 strangers post 15 MB each at once: the hub holds a bounded share, and answers all.

    Large bodies wait for a one-at-a-time decode in a worker thread; before
    the bound, the hub read every one of them meanwhile and held them all
    (8 at once took it to 181 MB). Beyond the bound a body is read and
    dropped, and its caller told the hub is busy and to retry.
    """
    padding = {f"x.k{i}": "v" * 20 for i in range(15_000_000 // 90)}  # 88 bytes an entry
    call = _request("http://x/xmlrpc", encode_call("samp.hub.declareMetadata", ["no-key", padding]))
    with samp_environment(tmp_path) as env:
        async with jupyter_samp_hub(env.lockfile, home=env.home) as hub:
            pid = hub.process.pid
            assert pid is not None
            before = rss_mb(pid)
            async with canary_running(env.lockfile) as canary:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 240.0
                sockets = [await _raw_socket(hub.url) for _ in range(64)]

                async def stranger(sock: socket.socket) -> str:
                    await _send_all(sock, call, deadline)
                    return await _answer_of(sock, deadline)

                try:
                    started = time.perf_counter()
                    answers = await asyncio.gather(*(stranger(sock) for sock in sockets))
                    took = time.perf_counter() - started
                    await canary.made(3)
                finally:
                    for sock in sockets:
                        sock.close()
                canary_figures = canary.figures()
                # The canary shares this process's loop with the 64 senders pushing
                # 1 GB, on 2 cores: its calls wait behind them too (1-2.5 s at worst).
                canary.check(slow=2 * SLOW)
            peak = peak_rss_mb(pid)
    decoded = sum("Unknown private key" in answer for answer in answers)
    busy = sum("Server busy" in answer for answer in answers)
    record("attack-many-large-bodies", {
        "bodies": 64, "body_mb": round(len(call) / 1e6, 1), "decoded": decoded, "busy": busy,
        "all_answered_s": round(took, 2), "hub_rss_mb_before": round(before, 1),
        "hub_peak_rss_mb": round(peak, 1), **canary_figures,
    })
    assert decoded + busy == 64, [answer[-300:] for answer in answers if "fault" not in answer]
    assert decoded >= 1
    assert peak - before < 150, f"hub memory peaked at {peak:.1f} MiB from {before:.1f}"
