"""Property-based fuzzing of the Standard Profile endpoint and the lockfile parser.

Every request, however malformed, must get an HTTP 200 answer holding either
a well-formed XML-RPC result or a fault with a message; after each batch the
hub must still serve a well-behaved client.
"""

from __future__ import annotations

import http.client
import xmlrpc.client
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_samp.core.xmlrpc import Fault, decode_response
from jupyter_samp.lockfile import parse_lockfile

from .conftest import ThreadedHub

METHODS = [
    "register", "unregister", "declareMetadata", "getMetadata", "declareSubscriptions",
    "getSubscriptions", "getRegisteredClients", "getSubscribedClients", "notify", "notifyAll",
    "call", "callAll", "callAndWait", "reply", "ping", "setXmlrpcCallback", "no-such-method",
]
FUZZ = settings(max_examples=600, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
values: st.SearchStrategy[Any] = st.recursive(
    text | st.integers(-(2**31), 2**31 - 1) | st.booleans() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


def post(hub: ThreadedHub, body: bytes, web: bool = False) -> tuple[int, bytes]:
    parts = urlsplit(hub.web_url if web else hub.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", parts.path or "/", body, {"Content-Type": "text/xml"})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def assert_answered(status: int, body: bytes) -> Any:
    assert status == 200, (status, body[:200])
    result = decode_response(body)
    if isinstance(result, Fault):
        assert result.string, "a fault must say what was wrong"
    return result


def assert_healthy(hub: ThreadedHub) -> None:
    body = xmlrpc.client.dumps((hub.secret,), "samp.hub.register").encode()
    info = assert_answered(*post(hub, body))
    assert isinstance(info, dict) and "samp.private-key" in info
    bye = xmlrpc.client.dumps((info["samp.private-key"],), "samp.hub.unregister").encode()
    assert not isinstance(assert_answered(*post(hub, bye)), Fault)


@FUZZ
@given(body=st.binary(max_size=300))
def test_random_bytes_get_a_fault(threaded_hub: ThreadedHub, body: bytes) -> None:
    assert isinstance(assert_answered(*post(threaded_hub, body)), Fault)


@FUZZ
@given(method=st.sampled_from(METHODS), params=st.lists(values, max_size=5))
def test_random_calls_are_answered(threaded_hub: ThreadedHub, method: str, params: list) -> None:
    body = xmlrpc.client.dumps(tuple(params), f"samp.hub.{method}", allow_none=False).encode()
    assert_answered(*post(threaded_hub, body))


WEB_METHODS = ["register", "unregister", "allowReverseCallbacks", "pullCallbacks",
               *METHODS[1:15]]


@FUZZ
@given(body=st.binary(max_size=300))
def test_web_random_bytes_get_a_fault(threaded_hub: ThreadedHub, body: bytes) -> None:
    assert isinstance(assert_answered(*post(threaded_hub, body, web=True)), Fault)


@FUZZ
@given(method=st.sampled_from(WEB_METHODS), params=st.lists(values, max_size=4))
def test_web_random_calls_are_answered(threaded_hub: ThreadedHub, method: str,
                                       params: list) -> None:
    # Registration asks for consent, which the hub's default refuses at once.
    body = xmlrpc.client.dumps(tuple(params), f"samp.webhub.{method}").encode()
    assert_answered(*post(threaded_hub, body, web=True))


@FUZZ
@given(key=st.text(max_size=40), method=st.sampled_from(METHODS[1:14]))
def test_guessed_private_keys_are_refused(threaded_hub: ThreadedHub, key: str, method: str) -> None:
    body = xmlrpc.client.dumps((key, {}), f"samp.hub.{method}").encode()
    result = assert_answered(*post(threaded_hub, body))
    assert isinstance(result, Fault)


@FUZZ
@given(text=st.text(max_size=400))
def test_lockfile_parser_never_fails(text: str) -> None:
    parsed = parse_lockfile(text)
    assert all("=" not in name for name in parsed)
    assert all(value.isascii() for value in parsed.values())


def test_deep_nesting_and_huge_values_are_refused_cleanly(threaded_hub: ThreadedHub) -> None:
    depth = 5000
    nested = ("<value><array><data>" * depth + "<value>x</value>"
              + "</data></array></value>" * depth)
    body = (f"<?xml version='1.0'?><methodCall><methodName>samp.hub.declareMetadata"
            f"</methodName><params><param><value>key</value></param><param>{nested}"
            f"</param></params></methodCall>").encode()
    result = assert_answered(*post(threaded_hub, body))
    assert isinstance(result, Fault)
    invalid_utf8 = b"<?xml version='1.0'?><methodCall><methodName>samp.hub.ping\xff\xfe" \
                   b"</methodName></methodCall>"
    assert isinstance(assert_answered(*post(threaded_hub, invalid_utf8)), Fault)
    huge = xmlrpc.client.dumps(("key", {"k": "v" * 20_000_000}), "samp.hub.declareMetadata")
    status, answer = post(threaded_hub, huge.encode())
    assert status == 200 and "too large" in decode_response(answer).string
    assert_healthy(threaded_hub)


def test_hub_is_healthy_after_the_fuzzing(threaded_hub: ThreadedHub) -> None:
    assert_healthy(threaded_hub)
