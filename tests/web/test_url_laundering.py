"""Attacks on the URL translator: a page trying to read a local file it was never shown.

Each test runs the attack while two well-behaved clients (the canary: a
desktop client answering calls, and a second page reading a table it was
legitimately sent) keep working, and records how long the canary waited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from tornado.httpclient import HTTPRequest, HTTPResponse

from jupyter_samp import Hub
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.testing.rawclient import RawClient, echo_responder
from tests.web.webrpc import WebRpc, WebSession, within

pytestmark = pytest.mark.timeout(120)

SECRET = b"the private key of the user\n"
#: What the issue's attack used: one more junk URL than the old blocked set held.
JUNK = 100_001


@dataclass
class Canary:
    """Two well-behaved clients exercised in a loop while an attack runs."""

    desktop: RawClient
    page: WebSession
    table_url: str
    rounds: int = 0
    worst: float = 0.0
    failures: list[str] = field(default_factory=list)

    async def one_round(self) -> None:
        started = time.monotonic()
        pong = await self.desktop.hub("ping")
        answer = await fetch(self.page.rpc, self.page.translator + self.table_url)
        if pong != "" and pong is not None:
            self.failures.append(f"ping answered {pong!r}")
        if answer.code != 200 or answer.body != b"table\n":
            self.failures.append(f"canary translation: HTTP {answer.code}")
        self.worst = max(self.worst, time.monotonic() - started)
        self.rounds += 1

    async def run_during(self, attack: Awaitable[Any]) -> Any:
        """Run ``attack``, doing canary rounds until it ends (and at least one)."""
        task = asyncio.ensure_future(attack)
        while True:
            await self.one_round()
            if task.done():
                break
        return task.result()


async def fetch(rpc: WebRpc, url: str) -> HTTPResponse:
    request = HTTPRequest(url, request_timeout=30.0)
    return await within(rpc.http.fetch(request, raise_error=False), 30.0)


@pytest.fixture
async def desktop(web_hub: Hub, samp_env: SampEnvironment) -> AsyncIterator[RawClient]:
    """A desktop application that answers table.load.votable calls by echoing their params."""
    client = await RawClient.connect(
        samp_env.lockfile, name="desktop", subscriptions={"table.load.votable": {}},
        responder=echo_responder,
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def secret_url(tmp_path: Path) -> str:
    path = tmp_path / "secret.txt"
    path.write_bytes(SECRET)
    return path.as_uri()


@pytest.fixture
async def attacker(rpc: WebRpc) -> WebSession:
    session = await rpc.register("attacker")
    await session.become_callable({"table.load.votable": {}})
    return session


@pytest.fixture
async def canary(
    rpc: WebRpc, desktop: RawClient, samp_env: SampEnvironment, tmp_path: Path
) -> AsyncIterator[Canary]:
    table = tmp_path / "table.vot"
    table.write_bytes(b"table\n")
    page = await rpc.register("canary-page")
    await page.become_callable({"table.load.votable": {}})
    message = {"samp.mtype": "table.load.votable", "samp.params": {"url": table.as_uri()}}
    other = await RawClient.connect(samp_env.lockfile, name="canary-desktop")
    try:
        await other.hub("notify", page.id, message)
        canary = Canary(other, page, table.as_uri())
        await canary.one_round()  # the page can read what it was shown, before the attack
        assert not canary.failures
        yield canary
    finally:
        await other.close()
    assert canary.failures == []
    print(f"canary: {canary.rounds} rounds, worst {canary.worst * 1000:.0f} ms")
    assert canary.worst < 10.0


def junk(count: int, start: int = 0) -> dict[str, str]:
    return {f"junk.{n}": f"http://junk.example/{n}" for n in range(start, start + count)}


async def assert_refused(page: WebSession, url: str) -> None:
    for target in (url, quote(url, safe="")):
        answer = await fetch(page.rpc, page.translator + target)
        assert answer.code == 403, (answer.code, answer.body)
        assert SECRET not in (answer.body or b"")


async def test_own_metadata_flood_then_read_back(
    attacker: WebSession, canary: Canary, secret_url: str
) -> None:
    """The reported attack: declare the file URL plus 100,001 junk URLs, read it back, fetch."""

    async def attack() -> Any:
        await attacker.hub("declareMetadata", {"samp.name": "evil", "home.page": secret_url,
                                               **junk(JUNK)})
        return await attacker.hub("getMetadata", attacker.id)

    echoed = await canary.run_during(attack())
    assert echoed["home.page"] == secret_url
    await assert_refused(attacker, secret_url)


async def test_own_message_echoed_in_a_reply(
    attacker: WebSession, desktop: RawClient, canary: Canary, secret_url: str
) -> None:
    """The file URL goes out in the page's own call; the desktop's reply echoes it back."""
    message = {"samp.mtype": "table.load.votable", "samp.params": {"url": secret_url}}

    async def attack() -> Any:
        sync = await attacker.hub("callAndWait", desktop.public_id, message, "30")
        await attacker.hub("call", desktop.public_id, "tag-1", message)
        await attacker.hub("notify", attacker.id, message)  # to itself, too
        # then flood past the 100,000 the allow-list once kept, in case anything is bounded
        for start in range(0, 120_000, 40_000):
            await attacker.hub("declareMetadata", {"samp.name": "evil", **junk(40_000, start)})
        return sync

    sync = await canary.run_during(attack())
    assert sync["samp.result"]["url"] == secret_url  # the echo did happen
    pulled = await attacker.pull(5)
    assert any(secret_url in repr(callback) for callback in pulled)
    await assert_refused(attacker, secret_url)


async def test_flood_then_desktop_sends_the_url_back(
    attacker: WebSession, desktop: RawClient, canary: Canary, secret_url: str
) -> None:
    """120,000 distinct URLs after the file URL; then a desktop app sends exactly that URL."""

    async def attack() -> None:
        await attacker.hub("declareMetadata", {"samp.name": "evil", "icon": secret_url})
        for start in range(0, 120_000, 40_000):  # past the 100,000 the allow-list once kept
            await attacker.hub("notify", desktop.public_id, {
                "samp.mtype": "table.load.votable", "samp.params": junk(40_000, start)})
        await attacker.hub("declareMetadata", {"samp.name": "evil"})
        shown = {"samp.mtype": "table.load.votable", "samp.params": {"url": secret_url}}
        await desktop.hub("notify", attacker.id, shown)

    await canary.run_during(attack())
    await assert_refused(attacker, secret_url)
    # a fresh page of the same site gets nothing either: mentions are blocked for every page
    again = await attacker.rpc.register("attacker-again")
    await again.become_callable({"table.load.votable": {}})
    await desktop.hub("notify", again.id, {
        "samp.mtype": "table.load.votable", "samp.params": {"url": secret_url}})
    await assert_refused(again, secret_url)


async def test_file_url_never_shown_is_refused(
    attacker: WebSession, canary: Canary, secret_url: str
) -> None:
    """Asking straight away, and after reading other clients' metadata and subscriptions."""

    async def attack() -> None:
        for client in await attacker.hub("getRegisteredClients"):
            await attacker.hub("getMetadata", client)
            await attacker.hub("getSubscriptions", client)
        await attacker.hub("getSubscribedClients", "table.load.votable")

    await canary.run_during(attack())
    await assert_refused(attacker, secret_url)

