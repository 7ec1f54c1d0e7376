"""Who may talk to the Web Profile server, and the cross-origin headers it sends.

Every Web Profile request passes three gates before anything else happens:

* the peer address must be a loopback address (pages on other machines have
  no business with a desktop hub);
* the ``Host`` header, when present, must name the loopback host
  (``localhost``, ``127.0.0.1`` or ``[::1]``), which defeats DNS rebinding:
  a hostile page whose domain resolves to 127.0.0.1 still sends its own name;
* cross-origin access follows W3C CORS: a preflight is answered with the
  requested method echoed, ``Content-Type`` allowed, and the Private Network
  Access opt-in when asked for; the ``Origin`` is echoed back when it has the
  form ``scheme://...`` (so the opaque origin ``null`` gets no access).

The policy files of Adobe Flash (``/crossdomain.xml``) and Microsoft
Silverlight (``/clientaccesspolicy.xml``) are the generic "allow any domain"
documents, served for older clients.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from tornado.web import RequestHandler

_ORIGIN_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://.+\Z")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:]*)(?::[0-9]*)?\Z")

NON_LOCAL_PEER = "Access to server from non-local hosts is not permitted.\n"
#: Seconds a browser may cache a preflight answer (saves one OPTIONS per call).
PREFLIGHT_MAX_AGE = "600"

CROSSDOMAIN_XML = b"""<?xml version="1.0" ?>
<!DOCTYPE cross-domain-policy
          SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">
<cross-domain-policy>
  <site-control permitted-cross-domain-policies="all"/>
  <allow-access-from domain="*"/>
  <allow-http-request-headers-from domain="*" headers="*"/>
</cross-domain-policy>
"""

CLIENTACCESSPOLICY_XML = b"""<?xml version="1.0"?>
<access-policy>
  <cross-domain-access>
    <policy>
      <allow-from>
        <domain uri="*"/>
      </allow-from>
      <grant-to>
        <resource path="/" include-subpaths="true"/>
      </grant-to>
    </policy>
  </cross-domain-access>
</access-policy>
"""


def origin_allowed(origin: str | None) -> bool:
    """Return True if a CORS ``Origin`` header may be granted access.

    Every space-separated token must look like ``scheme://host...``; the
    opaque origin ``null`` (``file:`` pages, sandboxed frames) never does.
    """
    if not origin:
        return False
    tokens = origin.split()
    return bool(tokens) and all(_ORIGIN_TOKEN.match(token) for token in tokens)


def is_loopback(address: str | None) -> bool:
    """Return True if ``address`` (a peer IP, maybe IPv4-mapped IPv6) is loopback."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def host_allowed(host: str | None) -> bool:
    """Return True if a ``Host`` header names the loopback host (any port).

    A missing header (HTTP/1.0 clients) is allowed: browsers always send one.
    """
    if host is None:
        return True
    found = _HOST_PORT.match(host.strip().lower())
    return found is not None and found.group(1) in _LOCAL_HOSTS


class LocalOnlyHandler(RequestHandler):
    """Base of every Web Profile handler: loopback peers only, CORS on every answer."""

    def set_default_headers(self) -> None:
        """Echo an acceptable ``Origin``; tornado calls this again after errors too."""
        origin = self.request.headers.get("Origin")
        if origin is not None and origin_allowed(origin):
            self.set_header("Access-Control-Allow-Origin", origin)
            self.add_header("Vary", "Origin")

    def prepare(self) -> Any:
        """Refuse non-loopback peers and foreign ``Host`` headers with 403."""
        if not is_loopback(self.request.remote_ip):
            self._refuse(NON_LOCAL_PEER)
            return None
        if not host_allowed(self.request.headers.get("Host")):
            self._refuse("Host header does not name this machine's loopback host.\n")
            return None
        return super().prepare()

    def _refuse(self, text: str) -> None:
        self.set_status(403)
        self.set_header("Content-Type", "text/plain")
        self.finish(text)

    def options(self, *args: Any) -> None:
        """Answer a CORS preflight (``OPTIONS`` with ``Access-Control-Request-Method``)."""
        headers = self.request.headers
        requested = headers.get("Access-Control-Request-Method")
        if requested is None or "Origin" not in headers:
            self.send_error(405)
            return
        self.set_status(200)
        if origin_allowed(headers.get("Origin")):
            self.set_header("Access-Control-Allow-Methods", requested)
            self.set_header("Access-Control-Allow-Headers", "Content-Type")
            self.set_header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE)
            if headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
                self.set_header("Access-Control-Allow-Private-Network", "true")
        self.set_header("Content-Length", "0")
        self.finish()

    def compute_etag(self) -> None:
        """No ETags: answers are dynamic or streamed."""
        return None


class PolicyFileHandler(LocalOnlyHandler):
    """Serves a fixed cross-domain policy document for ``GET`` and ``HEAD`` (405 otherwise)."""

    def initialize(self, body: bytes, content_type: str) -> None:
        """Take the document and its media type from the route."""
        self.body = body
        self.content_type = content_type

    def get(self) -> None:
        """Send the policy document."""
        self.set_header("Content-Type", self.content_type)
        self.finish(self.body)

    def head(self) -> None:
        """Send the headers of the policy document only."""
        self.set_header("Content-Type", self.content_type)
        self.set_header("Content-Length", str(len(self.body)))
        self.finish()
