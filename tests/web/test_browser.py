"""The JavaScript client in a real browser (headless Chromium) against our hub and JSAMP's.

A page served from a local origin loads ``js/samp-web-client.js``, registers
through the hub's Web Profile, and exchanges messages with a Python client on
the Standard Profile. Refusals (consent denied, MType blocked, URL not
permitted) must reach the page as clear faults or HTTP statuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from jupyter_samp import Client, Hub
from jupyter_samp.client import Message
from jupyter_samp.testing import (
    PeerProcess,
    PeerUnavailableError,
    SampEnvironment,
    java_command,
    wait_for_hub,
)
from tests.web.conftest import ConsentLog, missing

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

PROMPT = 15.0

REGISTER_JS = """
async ([hubUrl]) => {
  const conn = await samp.register({"samp.name": "browser-test"}, {hubUrl});
  window.conn = conn;
  conn.onMessage("table.load.votable", async ({params, senderId}) => {
    window.received.push(params);
    sampLog(`table.load.votable from ${senderId}: ${params.url}`);
    const answer = await fetch(conn.translateUrl(params.url));
    const text = await answer.text();
    return {status: String(answer.status), text, echo: params.url};
  });
  await conn.startCallbacks();
  sampLog(`registered as ${conn.selfId}`);
  return conn.selfId;
}
"""

REFUSALS_JS = """
async ([target]) => {
  const conn = window.conn;
  const out = {};
  for (const mtype of ["script.aladin.send", "x.not.safe"]) {
    try {
      await conn.notify(target, {"samp.mtype": mtype, "samp.params": {script: "status"}});
      out[mtype] = "sent";
    } catch (error) {
      out[mtype] = `${error.name}: ${error.message}`;
    }
  }
  out.subscribed = await conn.getSubscribedClients("x.not.safe");
  out.secret = (await fetch(conn.translateUrl("file:///etc/passwd"))).status;
  out.remote = (await fetch(conn.translateUrl("http://127.0.0.1:9/never-sent"))).status;
  for (const [key, value] of Object.entries(out)) sampLog(`${key}: ${JSON.stringify(value)}`);
  return out;
}
"""

SEND_JS = """
async ([target]) => {
  const conn = window.conn;
  await conn.notify(target, {"samp.mtype": "table.highlight.row",
                             "samp.params": {"row": "7", "note": "a < b & c"}});
  const answer = await conn.callAndWait(target, {"samp.mtype": "samp.app.ping"}, 10);
  sampLog(`ping answered ${answer["samp.status"]}`);
  return answer;
}
"""

UNREGISTER_JS = "async () => { await window.conn.unregister(); return window.conn.closed; }"


@asynccontextmanager
async def python_client(lockfile: Path) -> AsyncIterator[tuple[Client, asyncio.Queue[Message]]]:
    """A Standard Profile client recording the messages it handles."""
    seen: asyncio.Queue[Message] = asyncio.Queue()

    async def record(message: Message) -> dict[str, Any]:
        seen.put_nowait(message)
        return {}

    client = Client("python-side", hub=lockfile)
    for mtype in ("table.highlight.row", "script.aladin.send", "x.not.safe"):
        client.add_handler(mtype, record)  # declared as the client registers
    await client.start()
    try:
        yield client, seen
    finally:
        await client.close()


async def wait_for_client(client: Client, client_id: str) -> None:
    """Wait until ``client`` knows about ``client_id``."""
    changed = asyncio.Event()
    stop = client.observe(lambda event: changed.set())

    async def known() -> None:
        while client_id not in client.clients:
            await changed.wait()
            changed.clear()

    try:
        await asyncio.wait_for(known(), PROMPT)
    finally:
        stop()


async def exchange_messages(page: Any, hub_url: str, lockfile: Path, data: Path) -> dict:
    """Register the page, message it from Python and back; return what the page saw."""
    async with python_client(lockfile) as (client, seen):
        web_id = await page.evaluate(REGISTER_JS, [hub_url])
        await wait_for_client(client, web_id)
        url = data.as_uri()
        response = await client.call(web_id, "table.load.votable", {"url": url}, timeout=PROMPT)
        assert response.result == {"status": "200", "text": data.read_text(), "echo": url}

        ping = await page.evaluate(SEND_JS, [client.self_id])
        assert ping["samp.status"] == "samp.ok"
        message = await asyncio.wait_for(seen.get(), PROMPT)
        assert message.mtype == "table.highlight.row"
        assert message.params == {"row": "7", "note": "a < b & c"}
        assert message.sender_id == web_id

        refusals = await page.evaluate(REFUSALS_JS, [client.self_id])
        assert seen.empty(), "a blocked MType reached the Python client"
        assert await page.evaluate(UNREGISTER_JS) is True
        return refusals


def _write_data(tmp_path: Path) -> Path:
    data = tmp_path / "table.vot"
    data.write_text("<VOTABLE version='1.4'><!-- a tiny table --></VOTABLE>\n")
    return data


async def test_page_talks_to_python_through_our_hub(
    page: Any, samp_env: SampEnvironment, page_server: str, tmp_path: Path
) -> None:
    consent = ConsentLog(True)
    async with Hub(lockfile=samp_env.lockfile, web_port=0, web_consent=consent) as hub:
        assert hub.web_url is not None
        refusals = await exchange_messages(page, hub.web_url, samp_env.lockfile,
                                           _write_data(tmp_path))
    (request,) = consent.requests
    assert request.name == "browser-test"
    assert request.origin == page_server
    # browsers send only the origin as Referer across origins (strict-origin-when-cross-origin)
    assert request.referer == f"{page_server}/"
    assert not request.mismatch
    blocked = "SampFault: MType {} blocked from web profile"
    assert refusals["script.aladin.send"] == blocked.format("script.aladin.send")
    assert refusals["x.not.safe"] == blocked.format("x.not.safe")
    assert refusals["subscribed"] == {}
    assert refusals["secret"] == 403
    assert refusals["remote"] == 403
    assert "blocked from web profile" in await page.inner_text("#log")


async def test_page_sees_refused_consent(page: Any, samp_env: SampEnvironment) -> None:
    async with Hub(
        lockfile=samp_env.lockfile, web_port=0, web_consent=ConsentLog(False)
    ) as hub:
        outcome = await page.evaluate(
            """async ([hubUrl]) => {
                 try { await samp.register("denied-page", {hubUrl}); return "registered"; }
                 catch (error) { sampLog(error.message); return `${error.name}: ${error.message}`; }
               }""",
            [hub.web_url],
        )
        assert hub.clients == ()
    assert outcome == "SampFault: User denied authorization"


async def test_hub_availability_from_the_page(page: Any, samp_env: SampEnvironment) -> None:
    async with Hub(lockfile=samp_env.lockfile, web_port=0) as hub:
        available = await page.evaluate(
            "async ([hubUrl]) => samp.isHubAvailable({hubUrl})", [hub.web_url]
        )
        port = hub.web_port
    gone = await page.evaluate(
        "async ([hubUrl]) => samp.isHubAvailable({hubUrl, timeout: 3000})",
        [f"http://127.0.0.1:{port}/"],
    )
    assert (available, gone) == (True, False)


async def test_page_talks_to_python_through_jsamp_hub(
    page: Any, samp_env: SampEnvironment, port_21012: int, tmp_path: Path
) -> None:
    tool = ["hub", "-mode", "no-gui", "-profiles", "std,web", "-web:auth", "true"]
    try:
        args = java_command(tool, home=samp_env.home)
    except PeerUnavailableError as exc:
        missing(str(exc))
    async with PeerProcess(args, env=samp_env.subprocess_env(), name="JSAMP hub") as process:
        await wait_for_hub(samp_env.lockfile, process=process)
        refusals = await exchange_messages(
            page, f"http://127.0.0.1:{port_21012}/", samp_env.lockfile, _write_data(tmp_path)
        )
    assert "blocked" in refusals["script.aladin.send"]
    assert "blocked" in refusals["x.not.safe"]
    assert refusals["subscribed"] == {}
    assert refusals["secret"] == 403
