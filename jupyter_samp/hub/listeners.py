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
import re
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


# One line of a table: "sl: local_address rem_address st ..." (proc(5)).
# The kernel's own format, matched per line in C: a busy hub has thousands of
# connections, and splitting every line in Python held the loop for tens of
# milliseconds a round.
_LISTENING_LINE = re.compile(
    r"^ *\d+: ([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4}) [0-9A-Fa-f]+:[0-9A-Fa-f]{4} "
    + _LISTEN + "(?: |$)",
    re.MULTILINE,
)


def parse_table(text: str) -> set[tuple[IPAddress, int]]:
    """The listening sockets in one table's text (its header line does not match).

    Lines that do not have the documented columns are ignored rather than
    guessed at; a missing listener only means the probe leaves a client alone.
    """
    return {(_decode_address(address), int(port, 16))
            for address, port in _LISTENING_LINE.findall(text)}


def read_listeners(tables: Iterable[Path] = TABLES) -> Listeners | None:
    """Read the listening sockets now, or None where the system has no such tables."""
    found: set[tuple[IPAddress, int]] = set()
    readable = False
    for table in tables:
        try:
            found |= parse_table(table.read_text(encoding="ascii", errors="replace"))
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
