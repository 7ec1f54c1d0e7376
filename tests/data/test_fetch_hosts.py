"""Which received URLs name the sender's computer, however they are spelled."""

from __future__ import annotations

import pytest

from jupyter_samp.data.fetch import names_this_host


@pytest.mark.parametrize("url", [
    "file:///tmp/t.vot", "FILE://localhost/tmp/t.vot", "http://localhost:2525/t",
    "http://LOCALHOST./t", "http://a.localhost/t", "http://127.0.0.1/t", "http://127.1/t",
    "http://2130706433/t", "http://0x7f.0.0.1/t", "http://[::1]:8080/t",
    "http://[::ffff:127.0.0.1]/t", "http://0.0.0.0/t", "https://127.255.255.254/t",
])
def test_urls_of_the_senders_computer(url: str) -> None:
    assert names_this_host(url)


@pytest.mark.parametrize("url", [
    "http://example.org/t.vot", "https://10.0.0.5/t", "http://[2001:db8::1]/t",
    "http://localhost.example.org/t", "ftp://127.0.0.1.example/t", "http:///t", "not a url",
])
def test_urls_others_can_fetch(url: str) -> None:
    assert not names_this_host(url)
