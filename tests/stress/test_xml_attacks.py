"""DTD and entity attacks on a running hub, over both profiles' real HTTP ports.

The hub runs in a process of its own (``hub_process.py``) so that its memory
is measured alone. Each attack is sent while two well-behaved clients (the
canary) keep exchanging synchronous calls and pings through the hub; every
attack must be answered at once with a fault saying what was refused, the
hub's memory must not grow, nothing may be expanded, and every canary call
must be answered. The figures go to ``artifacts/stress/xml_attacks_*.json``.

The Web Profile attacks are what any web site can send: a CORS-simple
``text/plain`` POST with a foreign ``Origin``, no preflight, no secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from jupyter_samp.core.xmlrpc import Fault, decode_response
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.testing.rawclient import PROMPT, RawClient, echo, echo_responder

from .report import peak_rss_mb, record, rss_mb

#: An attack must be answered within this many seconds (the bug took 5-8 s).
ANSWER_DEADLINE = 2.0
#: Hub memory may grow by at most this much over all repetitions of one attack.
RSS_GROWTH_MB = 30.0
#: Each attack is sent this many times (half of them concurrently).
REPEAT = 6
MEGABYTE = 1 << 20


# ---------------------------------------------------------------- the attacks


def _call(method: str, params: list[str]) -> str:
    inner = "".join(f"<param>{param}</param>" for param in params)
    return (f"<methodCall><methodName>{method}</methodName><params>{inner}</params>"
            f"</methodCall>")


def _name_struct(name: str) -> str:
    return (f"<value><struct><member><name>samp.name</name><value>{name}</value>"
            f"</member></struct></value>")


def _laughs() -> str:
    entities = "".join(f"<!ENTITY l{i} '{('&l' + str(i - 1) + ';') * 10}'>" for i in range(1, 10))
    return f"<!DOCTYPE methodCall [<!ENTITY l0 'lol'>{entities}]>"


@dataclass(frozen=True)
class Attack:
    """One hostile body: ``build(method_prefix_params)`` gives the document."""

    name: str
    prolog: str
    reference: str
    refusal: str = "DTD"
    encoding: str = "utf-8"

    def body(self, method: str, leading: list[str]) -> bytes:
        text = self.prolog + _call(method, [*leading, _name_struct(self.reference)])
        encoded = text.encode(self.encoding)
        return (b"\xff\xfe" + encoded) if self.encoding == "utf-16-le" else encoded


ATTACKS = [
    # The reported bypass: a PI holding "<method" before the DOCTYPE, 1 MB of entity text.
    Attack("pi-before-doctype-1mb", f"<?x <method?><!DOCTYPE m [<!ENTITY big '{'A' * MEGABYTE}'>]>",
           "&big;"),
    # The reported 4 MB bomb: a 1 MB entity referenced four times by another one.
    Attack("pi-before-doctype-4mb-bomb",
           f"<?x <method?><!DOCTYPE m [<!ENTITY a '{'A' * MEGABYTE}'><!ENTITY b '&a;&a;&a;&a;'>]>",
           "&b;&b;&b;&b;"),
    Attack("billion-laughs", "<?x <methodCall?>" + _laughs(), "&l9;"),
    Attack("external-entity", "<!DOCTYPE m [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>", "&x;"),
    Attack("parameter-entity",
           "<!DOCTYPE m [<!ENTITY % p SYSTEM 'file:///etc/passwd'> %p;]>", "x"),
    Attack("utf16-pi-before-doctype",
           "<?x <method?><!DOCTYPE m [<!ENTITY e 'EXPANDED'>]>", "&e;", encoding="utf-16-le"),
    Attack("unknown-encoding", "<?xml version='1.0' encoding='x-no-such'?>", "x",
           refusal="encoding"),
]


# ---------------------------------------------------------------- the hub and raw HTTP


@dataclass
class HubProcess:
    process: asyncio.subprocess.Process
    lockfile: Path
    web_url: str

    @property
    def pid(self) -> int:
        return self.process.pid


@pytest.fixture
async def hub_process(samp_env: SampEnvironment) -> AsyncIterator[HubProcess]:
    """Our hub (both profiles, free ports) in a child process."""
    script = Path(__file__).with_name("hub_process.py")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(samp_env.lockfile),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        web_url = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        assert web_url.startswith("http://127.0.0.1:"), web_url
        yield HubProcess(process, samp_env.lockfile, web_url)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


async def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One POST on its own connection; the status and body of the answer."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {host}:{port}",
                f"Content-Length: {len(body)}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head_bytes, _, rest = answer.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1]) if head_bytes else 0
    return status, rest


# ---------------------------------------------------------------- the canary


@dataclass
class Canary:
    """Two registered clients exchanging calls and pings through the hub."""

    listener: RawClient
    sender: RawClient
    latencies: list[float] = field(default_factory=list)
    rounds: int = 0
    tick: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.rounds += 1
            started = time.perf_counter()
            answer = await self.sender.hub(
                "callAndWait", self.listener.public_id, echo(n=str(self.rounds)), "10")
            assert answer == {"samp.status": "samp.ok", "samp.result": {"n": str(self.rounds)}}
            await self.listener.hub("ping")
            self.latencies.append(time.perf_counter() - started)
            self.tick.set()

    async def wait_rounds(self, count: int) -> None:
        """Wait (with a deadline) until ``count`` rounds have been answered in all."""
        async def waiting() -> None:
            while len(self.latencies) < count:
                self.tick.clear()
                await self.tick.wait()

        await asyncio.wait_for(waiting(), PROMPT)


@contextlib.asynccontextmanager
async def canary_running(lockfile: Path) -> AsyncIterator[Canary]:
    """The canary, exchanging calls in the background for as long as the block runs."""
    listener = await RawClient.connect(lockfile, name="canary-listener",
                                       subscriptions={"test.echo": {}}, responder=echo_responder)
    sender = await RawClient.connect(lockfile, name="canary-sender", subscriptions={})
    canary = Canary(listener, sender)
    stop = asyncio.Event()
    task = asyncio.ensure_future(canary.run(stop))
    try:
        yield canary
        stop.set()
        await asyncio.wait_for(task, PROMPT)  # re-raises whatever failed in the canary
    finally:
        stop.set()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await sender.close()
        await listener.close()


# ---------------------------------------------------------------- the tests


async def _attack(hub: HubProcess, attack: Attack, send: Callable[[Attack], Any],
                  canary: Canary) -> dict[str, Any]:
    """Send one attack REPEAT times (half at once) and return its figures."""
    rss_before = rss_mb(hub.pid)
    rounds_before = len(canary.latencies)
    times: list[float] = []

    async def once() -> None:
        started = time.perf_counter()
        status, body = await asyncio.wait_for(send(attack), PROMPT)
        times.append(time.perf_counter() - started)
        assert status == 200, (attack.name, status, body[:200])
        fault = decode_response(body)
        assert isinstance(fault, Fault), (attack.name, fault)
        assert attack.refusal in fault.string, fault.string
        if attack.refusal == "DTD":
            assert "not allowed" in fault.string, fault.string
        assert "EXPANDED" not in fault.string and "AAAA" not in fault.string

    for _ in range(REPEAT // 2):
        await once()
    # The rest at once, while the canary must still complete rounds of its own.
    await asyncio.gather(*(once() for _ in range(REPEAT - REPEAT // 2)),
                         canary.wait_rounds(rounds_before + 3))
    during = canary.latencies[rounds_before:]
    figures = {
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_mb(hub.pid), 1),
        "peak_rss_mb": round(peak_rss_mb(hub.pid), 1),
        "answer_s_max": round(max(times), 4),
        "answer_s_median": round(statistics.median(times), 4),
        "body_bytes": len(attack.body("m", [])),
        "canary_rounds": len(during),
        "canary_s_max": round(max(during), 4) if during else None,
    }
    assert max(times) < ANSWER_DEADLINE, (attack.name, figures)
    assert figures["rss_after_mb"] - rss_before < RSS_GROWTH_MB, (attack.name, figures)
    return figures


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.name for attack in ATTACKS])
async def test_standard_profile_refuses_dtds(hub_process: HubProcess, attack: Attack) -> None:
    """No secret needed: a stranger posts to the lockfile's URL; then a member tries too."""
    async with canary_running(hub_process.lockfile) as canary:
        member = await RawClient.connect(hub_process.lockfile, name="member", callable=False)
        try:
            assert member.private_key is not None

            def send(attack: Attack) -> Any:
                body = attack.body("samp.hub.declareMetadata", [f"<value>{member.private_key}"
                                                                f"</value>"])
                return raw_post(member.hub_url, body, {"Content-Type": "text/xml"})

            figures = await _attack(hub_process, attack, send, canary)
            # Nothing was expanded into the member's metadata either.
            assert await member.hub("getMetadata", member.public_id) == {"samp.name": "member"}
        finally:
            await member.close()
    _check_canary(canary)
    record(f"xml_attacks_standard_{attack.name}", figures)


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.name for attack in ATTACKS])
async def test_web_profile_refuses_dtds(hub_process: HubProcess, attack: Attack) -> None:
    """What any web page can send: text/plain, foreign Origin, no preflight."""
    async with canary_running(hub_process.lockfile) as canary:

        def send(attack: Attack) -> Any:
            body = attack.body("samp.webhub.register", [])
            headers = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
            return raw_post(hub_process.web_url, body, headers)

        figures = await _attack(hub_process, attack, send, canary)
        names = await canary.sender.hub("getRegisteredClients")
        assert len(names) == 2  # the listener and the hub: no web client got in
    _check_canary(canary)
    record(f"xml_attacks_web_{attack.name}", figures)


def _check_canary(canary: Canary) -> None:
    assert canary.rounds >= 1 and canary.latencies, "the canary never got an answer"
    assert max(canary.latencies) < ANSWER_DEADLINE, canary.latencies
