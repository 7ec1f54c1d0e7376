"""Listening sockets for our servers, closed again if binding fails.

``tornado.netutil.bind_sockets`` leaves a socket open when its bind fails,
which a busy port then leaks; every server of the package binds here instead.
"""

from __future__ import annotations

import os
import socket


def listening_sockets(addr: str, port: int, backlog: int = 128) -> list[socket.socket]:
    """Bind and listen on every address ``addr`` resolves to, all on one port.

    With ``port`` 0 the first socket picks a free port and the others take
    the same. IPv6 sockets are IPv6 only, so ``localhost`` gets one socket per
    family.

    Raises
    ------
    OSError
        If an address cannot be bound; every socket opened so far is closed.
    """
    infos = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if os.name != "nt":  # a restarted server may reuse the port at once
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets
