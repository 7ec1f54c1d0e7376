"""Who may reach the Web Profile: loopback peers, local Host headers, CORS, policy files."""

from __future__ import annotations

import pytest

from jupyter_samp import Hub
from jupyter_samp.core.xmlrpc import encode_call
from jupyter_samp.hub.web import cors
from jupyter_samp.hub.web.cors import host_allowed, is_loopback, origin_allowed
from tests.web.webrpc import WebRpc

PING = encode_call("samp.webhub.ping", [])


def preflight(origin: str = "http://127.0.0.1:8000", **extra: str) -> dict[str, str]:
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    headers.update({key.replace("_", "-"): value for key, value in extra.items()})
    return headers


async def test_preflight_echoes_origin_and_method(rpc: WebRpc) -> None:
    response = await rpc.request(
        "OPTIONS", headers=preflight(Access_Control_Request_Headers="content-type")
    )
    assert response.code == 200
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    assert headers["Access-Control-Allow-Methods"] == "POST"
    assert headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert headers["Content-Length"] == "0"
    assert "Access-Control-Allow-Private-Network" not in headers


async def test_preflight_grants_private_network_access_when_asked(rpc: WebRpc) -> None:
    headers = preflight(
        "https://example.org", Access_Control_Request_Private_Network="true"
    )
    response = await rpc.request("OPTIONS", headers=headers)
    assert response.code == 200
    assert response.headers["Access-Control-Allow-Private-Network"] == "true"
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.org"


async def test_null_origin_gets_no_access(rpc: WebRpc) -> None:
    response = await rpc.request("OPTIONS", headers=preflight("null"))
    assert response.code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers
    rpc.origin = "null"
    posted = await rpc.post(PING)
    assert posted.code == 200 and "Access-Control-Allow-Origin" not in posted.headers


async def test_post_answer_echoes_origin(rpc: WebRpc) -> None:
    response = await rpc.post(PING)
    assert response.code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    assert response.headers["Content-Type"] == "text/xml"
    rpc.origin = None  # a desktop client sends no Origin
    response = await rpc.post(PING)
    assert response.code == 200 and "Access-Control-Allow-Origin" not in response.headers


async def test_options_without_preflight_headers_is_not_allowed(rpc: WebRpc) -> None:
    assert (await rpc.request("OPTIONS")).code == 405


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405_without_an_error_logged(
    rpc: WebRpc, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused method is no fault of the hub: no ERROR and no traceback in its log."""
    with caplog.at_level("DEBUG"):
        assert (await rpc.request(method, body=b"")).code == 405
    assert not [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info], caplog.text


@pytest.mark.parametrize("host", ["evil.example:21012", "127.0.0.2", "localhost.evil.example"])
async def test_foreign_host_header_is_refused(rpc: WebRpc, host: str) -> None:
    response = await rpc.post(PING, headers={"Host": host})
    assert response.code == 403
    assert b"Host" in response.body
    policy = await rpc.request("GET", "/crossdomain.xml", headers={"Host": host})
    assert policy.code == 403


@pytest.mark.parametrize("host", ["localhost:21012", "127.0.0.1", "[::1]:80", "LOCALHOST"])
async def test_local_host_headers_are_accepted(rpc: WebRpc, host: str) -> None:
    assert (await rpc.post(PING, headers={"Host": host})).code == 200


async def test_non_loopback_peer_is_refused(
    rpc: WebRpc, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only loopback exists in the test sandbox, so the peer check is made to fail.
    monkeypatch.setattr(cors, "is_loopback", lambda address: False)
    response = await rpc.post(PING)
    assert response.code == 403
    assert response.body == cors.NON_LOCAL_PEER.encode()
    assert response.headers["Content-Type"] == "text/plain"


async def test_policy_files(rpc: WebRpc) -> None:
    flash = await rpc.request("GET", "/crossdomain.xml")
    assert flash.code == 200
    assert flash.headers["Content-Type"] == "text/x-cross-domain-policy"
    assert b'<allow-access-from domain="*"/>' in flash.body
    silver = await rpc.request("GET", "/clientaccesspolicy.xml")
    assert silver.code == 200 and silver.headers["Content-Type"] == "text/xml"
    assert b'<domain uri="*"/>' in silver.body
    head = await rpc.request("HEAD", "/crossdomain.xml")
    assert head.code == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(flash.body))
    for method in ("POST", "PUT", "DELETE"):
        answer = await rpc.request(method, "/crossdomain.xml", body=b"x")
        assert answer.code == 405, method
    assert (await rpc.request("GET", "/nothing-here")).code == 404


async def test_listens_on_ipv6_loopback_too(web_hub: Hub) -> None:
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    probe = WebRpc(f"http://[::1]:{web_hub.web_port}/")
    try:
        response = await probe.post(PING)
    except OSError:
        pytest.skip("::1 is not configured on this machine")
    finally:
        probe.close()
    assert response.code == 200


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://127.0.0.1:8000", True),
        ("https://example.org", True),
        ("chrome-extension://abc", True),
        ("http://a https://b", True),
        ("null", False),
        ("", False),
        (None, False),
        ("example.org", False),
        ("http://a null", False),
    ],
)
def test_origin_rule(origin: str | None, allowed: bool) -> None:
    assert origin_allowed(origin) is allowed


@pytest.mark.parametrize(
    ("address", "local"),
    [("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("10.0.0.1", False), ("192.168.1.2", False), ("::ffff:10.0.0.1", False), ("", False),
     (None, False), ("not-an-ip", False)],
)
def test_loopback_rule(address: str | None, local: bool) -> None:
    assert is_loopback(address) is local


@pytest.mark.parametrize(
    ("host", "allowed"),
    [(None, True), ("localhost", True), ("127.0.0.1:1", True), ("[::1]", True),
     ("[::1]:21012", True), ("::1", False), ("evil.example", False), ("127.0.0.1.nip.io", False),
     ("localhost:21012:1", False)],
)
def test_host_rule(host: str | None, allowed: bool) -> None:
    assert host_allowed(host) is allowed
