"""The URL translator: what it serves, to whom, and every refusal status."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from jupyter_samp import Hub
from jupyter_samp.core.router import Router
from jupyter_samp.hub.service import HubService
from jupyter_samp.hub.web import WebProfileServer, accept_all
from jupyter_samp.hub.web.server import bind_loopback
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.testing.rawclient import RawClient
from tests.web.webrpc import WebRpc, WebSession, within

pytestmark = pytest.mark.timeout(60)

BODY = b"<VOTABLE>" + b"x" * 300_000 + b"</VOTABLE>\n"


class _Data(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "application/x-votable+xml")
        self.finish(BODY)


class _Chunked(RequestHandler):
    async def get(self) -> None:
        for _ in range(4):  # no Content-Length: the size shows only as it arrives
            self.write(BODY[:100_000])
            await self.flush()
        self.finish()


class _Redirect(RequestHandler):
    def get(self, where: str) -> None:
        self.redirect(f"/{where}")


class _Missing(RequestHandler):
    def get(self) -> None:
        self.send_error(404)


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """A local web site: /data.vot, /missing, /redirect/<path>."""
    app = Application([
        (r"/data\.vot", _Data),
        (r"/missing", _Missing),
        (r"/chunked", _Chunked),
        (r"/redirect/(.*)", _Redirect),
    ], log_function=lambda handler: None)
    sock = bind_loopback(socket.AF_INET, 0)
    server = HTTPServer(app)
    server.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.stop()
        await server.close_all_connections()


@pytest.fixture
async def desktop(web_hub: Hub, samp_env: SampEnvironment) -> AsyncIterator[RawClient]:
    """A Standard Profile client that shows URLs to web clients."""
    client = await RawClient.connect(samp_env.lockfile, name="desktop")
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def page(rpc: WebRpc) -> WebSession:
    """A callable web client subscribed to table.load.votable."""
    session = await rpc.register()
    await session.become_callable({"table.load.votable": {}})
    return session


async def show(desktop: RawClient, page: WebSession, url: str) -> None:
    """The desktop client sends ``url`` to the page (so it becomes permitted)."""
    message = {"samp.mtype": "table.load.votable", "samp.params": {"url": url}}
    await desktop.hub("notify", page.id, message)


async def fetch(rpc: WebRpc, url: str, method: str = "GET", **headers: str) -> HTTPResponse:
    request = HTTPRequest(url, method=method, headers=headers, allow_nonstandard_methods=True,
                          body=b"" if method == "POST" else None, follow_redirects=False)
    return await within(rpc.http.fetch(request, raise_error=False))


async def test_file_url_is_served_once_shown(
    rpc: WebRpc, desktop: RawClient, page: WebSession, tmp_path: Path
) -> None:
    data = tmp_path / "table one.vot"
    data.write_bytes(BODY)
    url = data.as_uri()
    before = await fetch(rpc, page.translator + quote(url, safe=""))
    assert before.code == 403
    await show(desktop, page, url)
    for target in (quote(url, safe=""), url):  # percent-encoded, or as it is
        answer = await fetch(rpc, page.translator + target, Origin="http://127.0.0.1:8000")
        assert answer.code == 200 and answer.body == BODY
        assert answer.headers["Content-Length"] == str(len(BODY))
        assert answer.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    head = await fetch(rpc, page.translator + url, method="HEAD")
    assert head.code == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(BODY))


async def test_http_url_is_proxied_once_shown(
    rpc: WebRpc, desktop: RawClient, page: WebSession, site: str
) -> None:
    url = f"{site}/data.vot"
    assert (await fetch(rpc, page.translator + url)).code == 403
    await show(desktop, page, url)
    answer = await fetch(rpc, page.translator + quote(url, safe=""))
    assert answer.code == 200 and answer.body == BODY
    assert answer.headers["Content-Type"] == "application/x-votable+xml"
    missing = f"{site}/missing"
    await show(desktop, page, missing)
    assert (await fetch(rpc, page.translator + missing)).code == 404


async def test_redirects_only_to_permitted_urls(
    rpc: WebRpc, desktop: RawClient, page: WebSession, site: str
) -> None:
    to_data = f"{site}/redirect/data.vot"
    await show(desktop, page, to_data)
    assert (await fetch(rpc, page.translator + to_data)).code == 403
    await show(desktop, page, f"{site}/data.vot")
    answer = await fetch(rpc, page.translator + to_data)
    assert answer.code == 200 and answer.body == BODY


async def test_urls_a_page_sends_are_blocked_for_good(
    rpc: WebRpc, desktop: RawClient, page: WebSession, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private\n")
    url = secret.as_uri()
    # the page introduces the URL itself (e.g. in its metadata) ...
    await page.hub("declareMetadata", {"samp.name": "page", "home.page": url})
    # ... so a desktop client echoing it back does not make it readable
    await show(desktop, page, url)
    assert (await fetch(rpc, page.translator + url)).code == 403


async def test_refusal_statuses(
    rpc: WebRpc, desktop: RawClient, page: WebSession, tmp_path: Path
) -> None:
    base = page.translator[: page.translator.index("/proxied/")]
    assert (await fetch(rpc, page.translator.rstrip("?"))).code == 404  # no "?"
    assert (await fetch(rpc, f"{base}/proxied/not-a-token?http://x/")).code == 403
    assert (await fetch(rpc, page.translator + "not%zzaurl")).code == 400
    assert (await fetch(rpc, page.translator + "file:///etc/passwd")).code == 403
    gone = (tmp_path / "gone.vot").as_uri()
    await show(desktop, page, gone)
    assert (await fetch(rpc, page.translator + gone)).code == 404
    directory = tmp_path.as_uri()
    await show(desktop, page, directory)
    assert (await fetch(rpc, page.translator + directory)).code == 404
    allowed = (tmp_path / "t.vot")
    allowed.write_text("x")
    await show(desktop, page, allowed.as_uri())
    posted = await fetch(rpc, page.translator + allowed.as_uri(), method="POST")
    assert posted.code == 405


async def test_translator_dies_with_its_client(
    rpc: WebRpc, desktop: RawClient, page: WebSession, tmp_path: Path
) -> None:
    data = tmp_path / "t.vot"
    data.write_text("x")
    await show(desktop, page, data.as_uri())
    assert (await fetch(rpc, page.translator + data.as_uri())).code == 200
    await page.hub("unregister")
    assert (await fetch(rpc, page.translator + data.as_uri())).code == 403


async def test_size_limit(
    tmp_path: Path, site: str, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router(lambda: f"key-{id(object())}")
    service = HubService(router)
    web = WebProfileServer(service, accept_all, translator_max_size=150_000)
    web.listen(0)
    rpc = WebRpc(web.url)
    try:
        page = await rpc.register()
        big = tmp_path / "big.vot"
        big.write_bytes(BODY)
        for url in (big.as_uri(), f"{site}/data.vot"):
            web.profile.tracker.incoming(page.id, url)  # as if another client sent it
            answer = await fetch(rpc, page.translator + url)
            assert answer.code == 404 and b"larger than 150000 bytes" in answer.body
        web.profile.tracker.incoming(page.id, f"{site}/chunked")
        try:  # the first chunk goes out with a 200, then the body is cut off
            cut = await fetch(rpc, page.translator + f"{site}/chunked")
        except HTTPClientError as exc:
            assert exc.code == 599
        else:
            assert cut.code == 599, f"{cut.code}: a body over the limit was served"
    finally:
        rpc.close()
        await web.stop()
    assert "Uncaught exception" not in caplog.text
