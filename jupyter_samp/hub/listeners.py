"""Which TCP ports are listening on this computer, read from the kernel's table.

The liveness probe must find out whether a client's callback server is still
there without talking to it. Opening a connection and closing it again is not
harmless: SAOImage DS9's XML-RPC server treats a connection that closes before
a request as an internal error and shows a modal error dialog, every time; a
dialog raised while DS9 is inside a SAMP call holds that call until a person
dismisses it. So on Linux the probe reads the kernel's socket tables
(``/proc/net/tcp`` and ``/proc/net/tcp6``), a fixed-column text format
documented in ``proc(5)``, and never touches the client. Elsewhere there is no
such table and :func:`read_listeners` returns None.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The kernel's socket tables for IPv4 and IPv6.
TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))

# TCP_LISTEN in the kernel's numbering, as the ``st`` column prints it.
_LISTEN = "0A"
_WILDCARDS = (ipaddress.IPv4Address(0), ipaddress.IPv6Address(0))


@dataclass(frozen=True)
class Listeners:
    """The (address, port) pairs of every listening TCP socket at one moment."""

    sockets: frozenset[tuple[IPAddress, int]]

    def accepts(self, address: IPAddress, port: int) -> bool:
        """Whether a connection to ``address:port`` would find a listening socket.

        A socket bound to the wildcard address of either family counts: an
        IPv6 wildcard socket usually takes IPv4 connections too, and when
        unsure this answers yes (a live client must never be evicted).
        """
        return any((candidate, port) in self.sockets for candidate in (address, *_WILDCARDS))


def _decode_address(text: str) -> IPAddress:
    """Decode the kernel's hexadecimal address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(text)
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(swapped) == 4:
        return ipaddress.IPv4Address(swapped)
    address = ipaddress.IPv6Address(swapped)
    return address.ipv4_mapped or address


def parse_table(lines: Iterable[str]) -> set[tuple[IPAddress, int]]:
    """The listening sockets in one table's lines (its header line is skipped).

    Lines that do not have the documented columns are ignored rather than
    guessed at; a missing listener only means the probe leaves a client alone.
    """
    found: set[tuple[IPAddress, int]] = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN or fields[1].count(":") != 1:
            continue
        address, _, port = fields[1].partition(":")
        try:
            found.add((_decode_address(address), int(port, 16)))
        except ValueError:
            continue
    return found


def read_listeners(tables: Iterable[Path] = TABLES) -> Listeners | None:
    """Read the listening sockets now, or None where the system has no such tables."""
    found: set[tuple[IPAddress, int]] = set()
    readable = False
    for table in tables:
        try:
            with table.open(encoding="ascii", errors="replace") as lines:
                found |= parse_table(lines)
        except OSError:
            continue
        readable = True
    return Listeners(frozenset(found)) if readable else None


def is_local_address(address: IPAddress) -> bool:
    """Whether ``address`` belongs to this computer (a socket can be bound to it)."""
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True
