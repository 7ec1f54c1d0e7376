"""The liveness probe: dead clients are found in the kernel's socket table, never by connecting."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest

from jupyter_samp.core.model import ClientRecord
from jupyter_samp.hub.listeners import Listeners, parse_table, read_listeners
from jupyter_samp.hub.liveness import LivenessProbe, callback_is_gone

# Lines as the kernel prints them (proc(5)): a listener on 127.0.0.1:8080, an
# established connection, a listener on [::1]:21012, one on the IPv6
# wildcard, a v4-mapped one, and lines that do not follow the format.
TCP4 = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:1F91 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: garbage
   3: 0100007F:zz 00000000:0000 0A
"""
TCP6 = """\
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:5214 00000000000000000000000000000000:0000 0A
   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A
   2: 0000000000000000FFFF00000100007F:1F92 00000000000000000000000000000000:0000 0A
"""


def test_parse_table_reads_listeners_in_the_kernels_byte_order() -> None:
    v4 = ipaddress.ip_address
    assert parse_table(TCP4) == {(v4("127.0.0.1"), 8080)}
    assert parse_table(TCP6) == {
        (v4("::1"), 21012), (v4("::"), 80), (v4("127.0.0.1"), 8082)}


def test_a_wildcard_listener_accepts_every_address() -> None:
    listeners = Listeners(frozenset(parse_table(TCP6)))
    assert listeners.accepts(ipaddress.ip_address("127.0.0.1"), 80)
    assert listeners.accepts(ipaddress.ip_address("::1"), 21012)
    assert not listeners.accepts(ipaddress.ip_address("127.0.0.1"), 21012)


def test_without_a_table_nothing_is_known(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert read_listeners([tmp_path / "absent"]) is None


class CountingServer:
    """A TCP server that counts the connections it is offered."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def start(self, host: str) -> int:
        self.server = await asyncio.start_server(self._accept, host, 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def listening() -> AsyncIterator[CountingServer]:
    server = CountingServer()
    yield server
    await server.close()


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_a_closed_port_is_gone_and_a_listening_one_is_not(
        listening: CountingServer, host: str) -> None:
    port = await listening.start(host)
    shown = f"[{host}]" if ":" in host else host
    listeners = read_listeners()
    assert listeners is not None
    assert not await callback_is_gone(f"http://{shown}:{port}/xmlrpc", listeners)
    assert await callback_is_gone(f"http://{shown}:{free_port(host)}/xmlrpc", listeners)
    assert listening.connections == 0


async def test_what_cannot_be_judged_is_never_gone() -> None:
    listeners = Listeners(frozenset())
    # Another computer (TEST-NET-1), a name that does not resolve, a bad port, no host.
    for url in ("http://192.0.2.1:8001/", "http://no-such-host.invalid:8001/",
                "http://127.0.0.1:99999/", "http:///xmlrpc"):
        assert not await callback_is_gone(url, listeners, timeout=1.0), url


async def test_probe_evicts_only_dead_standard_clients_without_connecting(
        listening: CountingServer) -> None:
    live_port = await listening.start("127.0.0.1")
    records = [
        ClientRecord("c1", "k1", "standard", callback=f"http://127.0.0.1:{live_port}/"),
        ClientRecord("c2", "k2", "standard", callback=f"http://localhost:{free_port()}/"),
        ClientRecord("c3", "k3", "web", callback=object()),
        ClientRecord("c4", "k4", "standard", callback=None),
    ]
    evicted: list[tuple[str, str]] = []

    def evict(public_id: str, reason: str) -> None:
        evicted.append((public_id, reason))
        records[:] = [r for r in records if r.public_id != public_id]

    assert await LivenessProbe(lambda: list(records), evict).probe_once() == ["c2"]
    assert evicted[0][0] == "c2" and "nothing listens" in evicted[0][1]
    # DS9 shows an error dialog for every connection that closes before a request.
    assert listening.connections == 0
