"""Which URLs a web client may read through the hub's URL translator.

The translator lets a browser page read resources its sandbox forbids
(``file:`` URLs, other sites). That is safe only for resources some other,
trusted application chose to show it, so every map passing between a web
client and the hub is scanned for strings that look like URLs:

* URLs flowing **to** a web client (messages, responses, hub events with
  other clients' metadata and subscriptions, answers to its queries) become
  *permitted* for that client, unless they are blocked;
* URLs flowing **from** a web client (its messages, replies, metadata) that
  are not already permitted to it become *blocked* for every web client, for
  good: a page must not launder a URL it invented (``file:///etc/passwd``)
  by having a desktop application echo it back.

Only permitted URLs are translated, whatever their scheme or host. The
tracker is plain bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# scheme ":" "/" ... with no white space: java.net.URL-style absolute URLs
_URL_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:/[^\s]*\Z")
#: Longest string considered a URL; longer ones are data, not addresses.
MAX_URL_LENGTH = 16384


def looks_like_url(text: str) -> bool:
    """Return True for an absolute URL such as ``http://x/y`` or ``file:///tmp/t.vot``."""
    return len(text) <= MAX_URL_LENGTH and _URL_LIKE.match(text) is not None


def find_urls(value: Any, depth: int = 0) -> Iterator[str]:
    """Yield every URL-looking string in a SAMP value (map keys included)."""
    if isinstance(value, str):
        if looks_like_url(value):
            yield value
    elif depth < 64 and isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and looks_like_url(key):
                yield key
            yield from find_urls(item, depth + 1)
    elif depth < 64 and isinstance(value, (list, tuple)):
        for item in value:
            yield from find_urls(item, depth + 1)


class _BoundedSet:
    """An insertion-ordered set that forgets its oldest entries beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self._items: dict[str, None] = {}
        self._limit = limit

    def add(self, item: str) -> None:
        if item in self._items:
            return
        self._items[item] = None
        if len(self._items) > self._limit:
            del self._items[next(iter(self._items))]

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


class UrlTracker:
    """Permitted URLs per web client, and URLs blocked for all of them.

    Parameters
    ----------
    limit : int
        Most URLs remembered per client and in the blocked set; the oldest
        are forgotten beyond it, which bounds memory on long-lived hubs
        (a forgotten permitted URL is simply no longer translated).
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._permitted: dict[str, _BoundedSet] = {}
        self._blocked = _BoundedSet(limit)

    def incoming(self, client_id: str, value: Any) -> None:
        """Record that ``value`` was sent *to* web client ``client_id``."""
        permitted = None
        for url in find_urls(value):
            if url in self._blocked:
                continue
            if permitted is None:
                permitted = self._permitted.setdefault(client_id, _BoundedSet(self._limit))
            permitted.add(url)

    def outgoing(self, client_id: str, value: Any) -> None:
        """Record that ``value`` came *from* web client ``client_id``."""
        permitted = self._permitted.get(client_id)
        for url in find_urls(value):
            if permitted is None or url not in permitted:
                self._blocked.add(url)

    def is_permitted(self, client_id: str, url: str) -> bool:
        """Return True if web client ``client_id`` may read ``url`` through the translator."""
        permitted = self._permitted.get(client_id)
        return permitted is not None and url in permitted and url not in self._blocked

    def is_blocked(self, url: str) -> bool:
        """Return True if ``url`` was introduced by a web client and may never be translated."""
        return url in self._blocked

    def forget(self, client_id: str) -> None:
        """Drop what was permitted to a client that left (blocked URLs stay blocked)."""
        self._permitted.pop(client_id, None)
