"""Large bodies on the Web Profile port: a bounded share held at once, the rest told to retry.

Any web page can post to the Web Profile (a CORS-simple ``text/plain``
POST needs no preflight), so the bound on large bodies held while they wait
for their one-at-a-time decode applies there as on the Standard Profile.
"""

from __future__ import annotations

import asyncio

from jupyter_samp import Hub
from jupyter_samp.core.xmlrpc import encode_call
from jupyter_samp.transport import tornado_handler
from jupyter_samp.transport.body_budget import LARGE_BODY
from jupyter_samp.transport.faults import BUSY
from tests.web.webrpc import WebRpc, wait_for, within


async def test_a_large_call_while_the_budget_is_held_is_told_to_retry(
    web_hub: Hub, rpc: WebRpc
) -> None:
    body = encode_call("samp.webhub.register", [{"samp.name": "p" * (LARGE_BODY + 100)}])
    budget = tornado_handler._large_bodies().budget
    budget.limit = len(body) + 100  # room for one such body at a time
    assert web_hub.web_url is not None
    host, port = web_hub.web_url.split("/")[2].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    writer.write(head + body[:1000])  # declared, not yet sent: holds the budget
    await writer.drain()
    await wait_for(lambda: budget.held > 0)
    refused = await rpc.post(body)
    assert refused.code == 200
    assert f"<int>{BUSY}</int>".encode() in refused.body
    assert b"retry this request later" in refused.body
    writer.write(body[1000:])  # the held call completes and is answered (a refusal of its own)
    answer = await within(reader.read(65536))
    assert b"methodResponse" in answer
    writer.close()
    await wait_for(lambda: budget.held == 0)
    later = await rpc.post(body)
    assert f"<int>{BUSY}</int>".encode() not in later.body
    assert budget.held == 0
