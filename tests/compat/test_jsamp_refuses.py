"""What the shims of pyvo_suite work around is refused by JSAMP's hub as well.

* ``<int>`` in a message (INT_SHIM): JSAMP's hub answers a fault,
  "Bad SAMP object: contains a java.lang.Integer".
* a path-less URL, which ``xmlrpc.client`` posts to ``/RPC2`` (RPC2_SHIM):
  JSAMP's HTTP server answers 404 "No handler for URL"; shown on its Standard
  Profile server, since its Web Profile cannot be moved off port 21012,
  which other hubs on this machine may hold. Our Web Profile refuses it too.
"""

from __future__ import annotations

import asyncio
import http.client
import urllib.parse
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

from jupyter_samp.hub import Hub
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.testing.peers import jsamp_hub

pytestmark = pytest.mark.peers


def _int_then_rpc2(url: str, secret: str) -> tuple[Any, Any]:
    hub = xmlrpc.client.ServerProxy(url)
    key = hub.samp.hub.register(secret)["samp.private-key"]
    message = {"samp.mtype": "x.test", "samp.params": {"parameter2": 1331}}
    try:
        with pytest.raises(xmlrpc.client.Fault) as refused_int:
            hub.samp.hub.notifyAll(key, message)
        status = post_status(url.rsplit("/", 1)[0] + "/RPC2", "samp.hub.ping")
    finally:
        hub.samp.hub.unregister(key)
        hub("close")()
    return refused_int.value, status


def post_status(url: str, method: str) -> int:
    """The HTTP status of an XML-RPC call of ``method`` posted to ``url``."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", parts.path, xmlrpc.client.dumps((), method),
                           {"Content-Type": "text/xml"})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


async def test_jsamp_hub_refuses_int_and_rpc2(samp_env: SampEnvironment, jsamp_jar: Path) -> None:
    async with jsamp_hub(samp_env.lockfile, home=samp_env.home, jar=jsamp_jar) as running:
        fault, status = await asyncio.to_thread(_int_then_rpc2, running.url, running.secret)
    assert "Integer" in fault.faultString
    assert status == 404


async def test_our_web_profile_answers_at_slash_only(samp_env: SampEnvironment) -> None:
    async with Hub(lockfile=samp_env.lockfile, web_port=0) as hub:
        base = f"http://127.0.0.1:{hub.web_port}"
        assert await asyncio.to_thread(post_status, base + "/", "samp.webhub.ping") == 200
        assert await asyncio.to_thread(post_status, base + "/RPC2", "samp.webhub.ping") == 404
