"""Which URLs a web client may read through the hub's URL translator.

The translator lets a browser page read resources its sandbox forbids
(``file:`` URLs, other sites). That is safe only for resources some other
application chose to show it, so every value passing between a web client
and the hub is scanned for strings that look like URLs.

The permission is a positive **allow-list per web client**:

* a URL enters client *W*'s allow-list only when it arrives in content that
  *another* client wrote (a message or response addressed to *W*, another
  client's metadata or subscriptions that *W* reads, *W*'s registration
  info). The profile never passes *W*'s own content back in as "incoming"
  (its own metadata read back, a message it sent itself, ...);
* a URL that any web client *mentioned* (in a message, a reply, metadata,
  subscriptions) before it was on that client's allow-list is recorded in
  the **mention filter**, and is never translated for any web client
  afterwards, even if a desktop application later sends it back: a page
  must not launder a URL it invented (``file:///etc/passwd``) by having a
  trusting application echo it (JSAMP's rule, see its ``UrlTracker``).

Both structures are bounded, and both fail towards refusing:

* the allow-list keeps at most ``limit`` URLs per client; a new one evicts
  the oldest, which can only take access away;
* the mention filter is a Bloom filter of fixed size. It never forgets (no
  false negatives), so flooding it cannot unblock anything; flooding only
  raises its false-positive rate (more refusals), and once it is half full
  the tracker refuses every translation until the hub restarts.

Mentions are recorded leniently (URLs found inside longer strings, with and
without trailing punctuation, and in a normalised form: lower-case scheme
and host, ``%XX`` decoded, ``file:`` paths normalised), while permission
needs the exact string another client sent. The tracker is plain
bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import secrets
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("jupyter_samp.hub.web")

# scheme ":" "/" ... with no white space: java.net.URL-style absolute URLs
_URL_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:/[^\s]*\Z")
# the same, anywhere inside a longer string (for mentions only: over-blocking is safe)
_URL_INSIDE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:/[^\s\"'<>`]*")
# URLs ``normalised`` would leave as they are: lower-case scheme (not file:) and
# host, printable ASCII path with no %, no query or fragment. Matching them
# first skips urlsplit, which dominates the cost of a flood of URLs.
_ALREADY_NORMAL = re.compile(
    r"(?!file:)[a-z][a-z0-9+.\-]*://[a-z0-9.\-]+(?::[0-9]+)?(?:/[!\"$&-\x3e@-\x7e]*)?\Z"
)
_TRAILING = ".,;:!?)]}>'\""
#: Longest string considered a URL; longer ones are data, not addresses.
MAX_URL_LENGTH = 16384
#: Default size of the mention filter, in bits (2 MiB of memory).
DEFAULT_FILTER_BITS = 1 << 24


def looks_like_url(text: str) -> bool:
    """Return True for an absolute URL such as ``http://x/y`` or ``file:///tmp/t.vot``."""
    return len(text) <= MAX_URL_LENGTH and _URL_LIKE.match(text) is not None


def find_urls(value: Any, depth: int = 0) -> Iterator[str]:
    """Yield every URL-looking string in a SAMP value (map keys included)."""
    for text in _strings(value, depth):
        if looks_like_url(text):
            yield text


def find_mentions(value: Any) -> Iterator[str]:
    """Yield every URL in a SAMP value, including URLs embedded in longer strings.

    Used for what a web client sends: anything a desktop application might
    extract from the text and echo back counts as mentioned.
    """
    for text in _strings(value, 0):
        if looks_like_url(text):
            yield text
        if ":/" not in text:
            continue
        for match in _URL_INSIDE.finditer(text):
            found = match.group()[:MAX_URL_LENGTH]
            yield found
            yield found.rstrip(_TRAILING)


def _strings(value: Any, depth: int) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif depth < 64 and isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item, depth + 1)
    elif depth < 64 and isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, depth + 1)


def normalised(url: str) -> str:
    """A canonical spelling of ``url``, so trivially different spellings match as mentions.

    Lower-case scheme and host, ``%XX`` decoded; ``file:`` URLs on this host
    become ``file:`` plus the normalised path. Never raises: a URL that
    cannot be parsed is returned as it is.
    """
    if _ALREADY_NORMAL.match(url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    path = unquote(parts.path)
    if scheme == "file" and parts.netloc.lower() in ("", "localhost"):
        return "file:" + posixpath.normpath("/" + path.lstrip("/"))
    query = f"?{unquote(parts.query)}" if parts.query else ""
    return f"{scheme}://{parts.netloc.lower()}{path}{query}"


class MentionFilter:
    """A Bloom filter of URLs: never forgets, so it can only ever say "mentioned" more often.

    Parameters
    ----------
    bits : int
        Size in bits (a power of two).
    hashes : int
        Bits set per entry.
    """

    def __init__(self, bits: int = DEFAULT_FILTER_BITS, hashes: int = 7) -> None:
        if bits <= 0 or bits & (bits - 1):
            raise ValueError(f"the filter size must be a power of two, not {bits}")
        self._bits = bytearray(bits // 8 or 1)
        self._mask = bits - 1
        self._hashes = hashes
        self._unpack = struct.Struct(f"<{hashes}I").unpack
        self._key = secrets.token_bytes(16)  # pages cannot aim at chosen bits
        self.set_bits = 0
        self.size = bits

    def _positions(self, text: str) -> list[int]:
        digest = hashlib.blake2b(
            text.encode("utf-8", "surrogatepass"), digest_size=4 * self._hashes, key=self._key
        ).digest()
        mask = self._mask
        return [word & mask for word in self._unpack(digest)]

    def add(self, text: str) -> None:
        """Record ``text``."""
        for position in self._positions(text):
            byte, bit = divmod(position, 8)
            if not self._bits[byte] & (1 << bit):
                self._bits[byte] |= 1 << bit
                self.set_bits += 1

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        bits = self._bits
        return all(bits[spot >> 3] & (1 << (spot & 7)) for spot in self._positions(text))

    @property
    def saturated(self) -> bool:
        """True once half the bits are set: false positives are then too common to trust."""
        return self.set_bits * 2 > self.size


class AllowList:
    """URLs other applications sent to one web client; the oldest go beyond ``limit``.

    Entries are keyed digests, not the URLs, so a long URL costs no more
    memory than a short one.
    """

    def __init__(self, limit: int, key: bytes) -> None:
        self._items: dict[bytes, None] = {}
        self._limit = limit
        self._key = key

    def _digest(self, url: str) -> bytes:
        return hashlib.blake2b(
            url.encode("utf-8", "surrogatepass"), digest_size=16, key=self._key
        ).digest()

    def add(self, url: str) -> None:
        """Allow ``url``; forgets the oldest entry beyond the limit (less access, never more)."""
        digest = self._digest(url)
        self._items.pop(digest, None)  # a URL sent again is fresh again
        self._items[digest] = None
        while len(self._items) > self._limit:
            del self._items[next(iter(self._items))]

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and self._digest(url) in self._items

    def __len__(self) -> int:
        return len(self._items)


class UrlTracker:
    """Allow-lists per web client, and the URLs web clients mentioned.

    Parameters
    ----------
    limit : int
        Most URLs allowed per client; the oldest are forgotten beyond it
        (a forgotten URL is simply no longer translated).
    filter_bits : int
        Size of the mention filter in bits (a power of two); see the
        module docstring for what happens when it fills up.
    """

    def __init__(self, limit: int = 100_000, filter_bits: int = DEFAULT_FILTER_BITS) -> None:
        self._limit = limit
        self._key = secrets.token_bytes(16)
        self._allowed: dict[str, AllowList] = {}
        self._mentioned = MentionFilter(filter_bits)
        self._warned = False

    def incoming(self, client_id: str, value: Any) -> None:
        """Allow the URLs in ``value``, which another application sent to web client ``client_id``.

        The caller must pass only content that the client did not write
        itself; URLs any web client mentioned first are not allowed.
        """
        allowed = None
        for url in find_urls(value):
            if self.is_blocked(url):
                continue
            if allowed is None:
                allowed = self._allowed.setdefault(client_id, AllowList(self._limit, self._key))
            allowed.add(url)

    def outgoing(self, client_id: str, value: Any) -> None:
        """Record the URLs web client ``client_id`` put into ``value`` as mentioned.

        A URL already on the client's allow-list stays allowed (forwarding a
        table URL it was sent is normal); any other is blocked for every
        web client, for good.
        """
        allowed = self._allowed.get(client_id)
        for url in find_mentions(value):
            if allowed is not None and url in allowed:
                continue
            self._mentioned.add(url)
            spelling = normalised(url)
            if spelling != url:
                self._mentioned.add(spelling)

    def is_permitted(self, client_id: str, url: str) -> bool:
        """Return True if web client ``client_id`` may read ``url`` through the translator.

        Only the exact string another application sent is permitted, and
        nothing is while the mention filter is saturated.
        """
        allowed = self._allowed.get(client_id)
        if allowed is None or url not in allowed:
            return False
        return not self.is_blocked(url)

    def is_blocked(self, url: str) -> bool:
        """Return True if a web client mentioned ``url`` (or the filter is saturated)."""
        if self._mentioned.saturated:
            if not self._warned:
                self._warned = True
                log.warning("too many URLs mentioned by web clients: the URL translator "
                            "refuses everything until the hub restarts")
            return True
        if url in self._mentioned:
            return True
        spelling = normalised(url)
        return spelling != url and spelling in self._mentioned

    def allowed_count(self, client_id: str) -> int:
        """How many URLs are on the client's allow-list."""
        allowed = self._allowed.get(client_id)
        return len(allowed) if allowed is not None else 0

    def forget(self, client_id: str) -> None:
        """Drop the allow-list of a client that left (mentions stay recorded)."""
        self._allowed.pop(client_id, None)

