"""Lockfiles: parsing, writing, discovery, and how hubs claim and release them."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_samp.errors import (
    HubAlreadyRunningError,
    HubUnavailableError,
    RegistrationRefusedError,
)
from jupyter_samp.hub import Hub
from jupyter_samp.lockfile import (
    default_lockfile_path,
    format_lockfile,
    hub_env_value,
    lockfile_url,
    parse_lockfile,
    read_lockfile,
    read_lockurl,
    remove_if_ours,
    url_to_path,
    write_lockfile,
)
from jupyter_samp.testing import PeerProcess, SampEnvironment, samp_environment, wait_for_hub
from jupyter_samp.testing.peers import jupyter_samp_hub_command, package_env, ping_hub
from jupyter_samp.testing.rawclient import (
    PROMPT,
    BlackHole,
    RawClient,
    assert_hub_serves,
    dead_url,
    standard_hub,
    within,
)

RECORD = {
    "samp.secret": "0123456789abcdef",
    "samp.hub.xmlrpc.url": "http://127.0.0.1:45123/xmlrpc",
    "samp.profile.version": "1.3",
}

# ---------------------------------------------------------------- parsing


def test_parse_splits_at_the_first_equals_sign() -> None:
    info = parse_lockfile("samp.hub.xmlrpc.url=http://h:1/x?a=b=c\nk=\n")
    assert info == {"samp.hub.xmlrpc.url": "http://h:1/x?a=b=c", "k": ""}


def test_parse_crlf_cr_and_lf_line_ends() -> None:
    text = "samp.secret=s1\r\nsamp.hub.xmlrpc.url=http://a/\rsamp.profile.version=1.3\n"
    assert parse_lockfile(text) == {
        "samp.secret": "s1",
        "samp.hub.xmlrpc.url": "http://a/",
        "samp.profile.version": "1.3",
    }


def test_parse_skips_comments_blank_and_junk_lines() -> None:
    text = "\n".join(
        [
            "# SAMP Standard Profile lockfile written 2024-05-01T10:00:00",
            "#samp.secret=commented-out",
            "",
            "just some junk",
            "bad name=1",
            "=no-name",
            "caf\u00e9=1",
            "good.key-1_x=value with spaces and = sign",
            "samp.secret=real",
            "ctl=bad\x01value",
            "hub.label=   trailing   ",
        ]
    )
    assert parse_lockfile(text) == {
        "good.key-1_x": "value with spaces and = sign",
        "samp.secret": "real",
        "hub.label": "   trailing",
    }


def test_parse_later_assignment_wins() -> None:
    assert parse_lockfile("k=1\nk=2\n") == {"k": "2"}


def test_format_and_parse_round_trip() -> None:
    info = {**RECORD, "hub.label": "a label = with equals"}
    text = format_lockfile(info)
    assert text.startswith("# ")
    assert text.endswith("\n")
    assert parse_lockfile(text) == info


@pytest.mark.parametrize(
    "info", [{"bad name": "x"}, {"k": "line\nbreak"}, {"k": "caf\u00e9"}, {"": "x"}], ids=repr
)
def test_format_refuses_what_the_grammar_forbids(info: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="grammar"):
        format_lockfile(info)


# ---------------------------------------------------------------- writing


def test_written_lockfile_is_private(samp_env: SampEnvironment) -> None:
    write_lockfile(samp_env.lockfile, RECORD)
    assert stat.S_IMODE(samp_env.lockfile.stat().st_mode) == 0o600
    assert read_lockfile(samp_env.lockfile) == RECORD


def test_overwriting_makes_a_world_readable_file_private(samp_env: SampEnvironment) -> None:
    samp_env.lockfile.write_text("samp.secret=old\n")
    os.chmod(samp_env.lockfile, 0o644)
    write_lockfile(samp_env.lockfile, RECORD)
    assert stat.S_IMODE(samp_env.lockfile.stat().st_mode) == 0o600
    assert read_lockfile(samp_env.lockfile) == RECORD


def test_write_is_atomic_and_leaves_no_temporary_files(samp_env: SampEnvironment) -> None:
    path = samp_env.lockfile
    write_lockfile(path, RECORD)
    before = path.read_text()
    inode = path.stat().st_ino
    with pytest.raises(ValueError):
        write_lockfile(path, {"samp.secret": "new", "bad name": "x"})
    assert path.read_text() == before  # a failed write changes nothing
    assert path.stat().st_ino == inode
    write_lockfile(path, {**RECORD, "samp.secret": "new"})
    assert path.stat().st_ino != inode  # replaced, never rewritten in place
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(["home", path.name])


def test_read_missing_lockfile_gives_none(samp_env: SampEnvironment) -> None:
    assert read_lockfile(samp_env.root / "absent") is None


def test_remove_if_ours_checks_the_secret(samp_env: SampEnvironment) -> None:
    write_lockfile(samp_env.lockfile, RECORD)
    assert not remove_if_ours(samp_env.lockfile, "someone-else")
    assert samp_env.lockfile.exists()
    assert remove_if_ours(samp_env.lockfile, RECORD["samp.secret"])
    assert not samp_env.lockfile.exists()
    assert not remove_if_ours(samp_env.lockfile, RECORD["samp.secret"])


# ---------------------------------------------------------------- discovery


def test_samp_hub_std_lockurl_names_the_lockfile(samp_env: SampEnvironment) -> None:
    assert os.environ["SAMP_HUB"] == samp_env.env_value
    assert samp_env.env_value.startswith("std-lockurl:file://")
    assert url_to_path(lockfile_url()) == samp_env.lockfile


def test_foreign_samp_hub_prefix_is_ignored(
    samp_env: SampEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMP_HUB", "web-appname:somewebapp")
    assert url_to_path(lockfile_url()) == samp_env.default_lockfile.resolve()


def test_unset_samp_hub_means_dot_samp_in_the_temporary_home(
    samp_env: SampEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAMP_HUB")
    assert default_lockfile_path() == samp_env.home / ".samp"
    assert url_to_path(lockfile_url()) == (samp_env.home / ".samp").resolve()


def test_hub_env_value_round_trips(samp_env: SampEnvironment) -> None:
    odd = samp_env.root / "dir with space" / "lock#1"
    value = hub_env_value(odd)
    assert value.startswith("std-lockurl:file:///")
    assert "%20" in value
    assert url_to_path(value[len("std-lockurl:") :]) == odd


def test_url_to_path_only_for_file_urls() -> None:
    assert url_to_path("http://127.0.0.1/lock") is None
    assert url_to_path("ftp://x/lock") is None


def test_read_lockurl_from_a_file(samp_env: SampEnvironment) -> None:
    with pytest.raises(HubUnavailableError, match="no lockfile"):
        read_lockurl(samp_env.lockfile.as_uri())
    samp_env.lockfile.write_text("samp.secret=x\n")
    with pytest.raises(HubUnavailableError, match=r"lacks samp\.hub\.xmlrpc\.url"):
        read_lockurl(samp_env.lockfile.as_uri())
    write_lockfile(samp_env.lockfile, RECORD)
    assert read_lockurl(samp_env.lockfile.as_uri()) == RECORD


@contextlib.contextmanager
def _serve_text(text: str) -> Iterator[str]:
    body = text.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/lock":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_read_lockurl_over_http() -> None:
    with _serve_text(format_lockfile(RECORD)) as base:
        assert read_lockurl(f"{base}/lock") == RECORD
        with pytest.raises(HubUnavailableError):
            read_lockurl(f"{base}/missing")


def test_samp_environment_restores_the_variables(tmp_path: Path) -> None:
    before = {name: os.environ.get(name) for name in ("HOME", "USERPROFILE", "SAMP_HUB")}
    with samp_environment(tmp_path / "inner") as env:
        assert os.environ["HOME"] == str(env.home)
        assert os.environ["USERPROFILE"] == str(env.home)
        assert os.environ["SAMP_HUB"] == env.env_value
        with samp_environment(tmp_path / "nohub", samp_hub=False) as other:
            assert "SAMP_HUB" not in os.environ
            assert Path.home() == other.home
        assert os.environ["SAMP_HUB"] == env.env_value
    assert {name: os.environ.get(name) for name in before} == before


# ---------------------------------------------------------------- hubs and their lockfile


async def test_hub_writes_a_private_lockfile_and_removes_it(samp_env: SampEnvironment) -> None:
    hub = standard_hub(lockfile=samp_env.lockfile)
    async with hub:
        info = read_lockfile(samp_env.lockfile)
        assert info is not None
        assert info["samp.hub.xmlrpc.url"] == hub.url
        assert info["samp.profile.version"] == "1.3"
        assert len(info["samp.secret"]) >= 16
        assert stat.S_IMODE(samp_env.lockfile.stat().st_mode) == 0o600
        assert hub.env_value == samp_env.env_value
        assert hub.url is not None and hub.url.startswith("http://127.0.0.1:")
        await assert_hub_serves(samp_env.lockfile)
    assert not samp_env.lockfile.exists()
    assert not hub.running


async def test_hub_uses_samp_hub_by_default(samp_env: SampEnvironment) -> None:
    async with standard_hub() as hub:
        assert hub.lockfile == samp_env.lockfile
        assert samp_env.lockfile.exists()
        assert not samp_env.default_lockfile.exists()


async def test_hub_uses_dot_samp_when_samp_hub_is_unset(
    samp_env: SampEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAMP_HUB")
    async with standard_hub() as hub:
        assert hub.lockfile == samp_env.default_lockfile.resolve()
        assert read_lockfile(samp_env.default_lockfile) is not None
        assert not samp_env.lockfile.exists()
    assert not samp_env.default_lockfile.exists()


async def test_second_hub_on_a_live_lockfile_is_refused(samp_env: SampEnvironment) -> None:
    async with standard_hub(lockfile=samp_env.lockfile) as first:
        before = samp_env.lockfile.read_text()
        second = standard_hub(lockfile=samp_env.lockfile)
        with pytest.raises(HubAlreadyRunningError, match="already running"):
            await second.start()
        assert not second.running
        assert samp_env.lockfile.read_text() == before
        assert first.running
        await assert_hub_serves(samp_env.lockfile)
        await second.stop()  # harmless on a hub that never started
        assert samp_env.lockfile.read_text() == before


async def test_stale_lockfile_is_taken_over(samp_env: SampEnvironment) -> None:
    stale = {**RECORD, "samp.hub.xmlrpc.url": dead_url()}
    write_lockfile(samp_env.lockfile, stale)
    async with standard_hub(lockfile=samp_env.lockfile) as hub:
        info = read_lockfile(samp_env.lockfile)
        assert info is not None
        assert info["samp.hub.xmlrpc.url"] == hub.url
        assert info["samp.secret"] != stale["samp.secret"]
        await assert_hub_serves(samp_env.lockfile)
    assert not samp_env.lockfile.exists()


async def test_lockfile_without_url_is_taken_over(samp_env: SampEnvironment) -> None:
    samp_env.lockfile.write_text("# junk\nsamp.secret=x\n")
    async with standard_hub(lockfile=samp_env.lockfile) as hub:
        assert (read_lockfile(samp_env.lockfile) or {}).get("samp.hub.xmlrpc.url") == hub.url


async def test_stop_leaves_a_record_that_replaced_ours(samp_env: SampEnvironment) -> None:
    hub = standard_hub(lockfile=samp_env.lockfile)
    await hub.start()
    try:
        other = {**RECORD, "samp.secret": "another-hubs-secret"}
        write_lockfile(samp_env.lockfile, other)
    finally:
        await hub.stop()
    assert read_lockfile(samp_env.lockfile) == other


async def test_two_hubs_started_at_once_exactly_one_wins(samp_env: SampEnvironment) -> None:
    hubs = [standard_hub(lockfile=samp_env.lockfile), standard_hub(lockfile=samp_env.lockfile)]
    outcomes = await asyncio.gather(*(h.start() for h in hubs), return_exceptions=True)
    try:
        winners = [h for h, outcome in zip(hubs, outcomes, strict=True) if outcome is h]
        losers = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1 and isinstance(losers[0], HubAlreadyRunningError), outcomes
        info = read_lockfile(samp_env.lockfile)
        assert info is not None and info["samp.hub.xmlrpc.url"] == winners[0].url
        assert [h.running for h in hubs].count(True) == 1
        await assert_hub_serves(samp_env.lockfile)
    finally:
        for h in hubs:
            await h.stop()
    assert not samp_env.lockfile.exists()


async def test_many_hubs_started_at_once_exactly_one_wins(samp_env: SampEnvironment) -> None:
    hubs = [standard_hub(lockfile=samp_env.lockfile) for _ in range(5)]
    outcomes = await asyncio.gather(*(h.start() for h in hubs), return_exceptions=True)
    try:
        assert sum(1 for h, o in zip(hubs, outcomes, strict=True) if o is h) == 1, outcomes
        assert all(
            isinstance(o, HubAlreadyRunningError) for o in outcomes if isinstance(o, BaseException)
        )
    finally:
        for h in hubs:
            await h.stop()


async def test_multiple_mode_writes_into_a_private_directory(samp_env: SampEnvironment) -> None:
    async with (
        standard_hub(mode="multiple", label="test hub") as first,
        standard_hub(mode="multiple") as second,
    ):
        directory = samp_env.home / ".samp-1"
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert first.lockfile is not None and second.lockfile is not None
        assert first.lockfile != second.lockfile
        for hub in (first, second):
            assert hub.lockfile is not None
            assert hub.lockfile.parent == directory.resolve()
            assert hub.lockfile.name.startswith("samp-hub-")
            assert stat.S_IMODE(hub.lockfile.stat().st_mode) == 0o600
            info = read_lockfile(hub.lockfile)
            assert info is not None and info["samp.hub.xmlrpc.url"] == hub.url
            assert hub.lockfile.name == f"samp-hub-{info['hub.id']}"
        assert (read_lockfile(first.lockfile) or {}).get("hub.label") == "test hub"
        assert not samp_env.lockfile.exists()
        assert not samp_env.default_lockfile.exists()
        await assert_hub_serves(second.lockfile)
    assert list(directory.iterdir()) == []


def test_hub_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        Hub(mode="dual")


# ---------------------------------------------------------------- the hub command


@contextlib.asynccontextmanager
async def _hub_command(samp_env: SampEnvironment, *args: str):  # type: ignore[no-untyped-def]
    command = jupyter_samp_hub_command(samp_env.lockfile, *args)
    process = PeerProcess(command, env=package_env(samp_env.subprocess_env()), name="hub command")
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_hub_command_stops_cleanly_on_signals(
    samp_env: SampEnvironment, signum: signal.Signals
) -> None:
    async with _hub_command(samp_env) as process:
        found = await process.wait_for_output(r"SAMP_HUB=(\S+)", timeout=30)
        assert found.group(1) == samp_env.env_value
        info = await wait_for_hub(samp_env.lockfile, timeout=30, process=process)
        assert f"listening at {info['samp.hub.xmlrpc.url']}" in process.stdout
        client = await RawClient.connect(
            samp_env.lockfile, name="watcher", subscriptions={"samp.hub.event.shutdown": {}}
        )
        async with client:
            process.send_signal(signum)
            note = await client.next_notification("samp.hub.event.shutdown", timeout=PROMPT)
            assert note.sender == client.hub_id
            assert note.message == {"samp.mtype": "samp.hub.event.shutdown", "samp.params": {}}
            assert await process.wait(timeout=PROMPT) == 0
            client.private_key = None  # the hub is gone: nothing to unregister from
        assert "Traceback" not in process.stderr, process.stderr
        assert not samp_env.lockfile.exists()
        assert not await ping_hub(info["samp.hub.xmlrpc.url"], timeout=2)


async def test_registration_while_the_hub_shuts_down_is_refused(
    samp_env: SampEnvironment,
) -> None:
    """Between its shutdown event and its exit the hub lets nobody register again."""
    hub = Hub(lockfile=samp_env.lockfile, web_profile=False, client_timeout=2.0)
    await hub.start()
    async with BlackHole() as hole:
        # A client that never answers keeps the hub draining its shutdown event.
        stuck = RawClient.from_lockfile(samp_env.lockfile)
        await stuck.register()
        await stuck.hub("setXmlrpcCallback", hole.url)
        await stuck.hub("declareSubscriptions", {"samp.hub.event.shutdown": {}})
        stopping = asyncio.ensure_future(hub.stop())
        try:
            await within(hole.accepted.wait())
            assert samp_env.lockfile.exists()
            late = RawClient.from_lockfile(samp_env.lockfile)
            try:
                with pytest.raises(RegistrationRefusedError, match="shutting down"):
                    await late.register()
            finally:
                await late.close()
            await within(stopping, 2.0 + PROMPT)
        finally:
            stuck.private_key = None  # the hub is gone: nothing to unregister from
            await stuck.close()
    assert not samp_env.lockfile.exists()


async def test_hub_command_refuses_to_start_over_a_live_hub(samp_env: SampEnvironment) -> None:
    async with standard_hub(lockfile=samp_env.lockfile):
        async with _hub_command(samp_env) as process:
            assert await process.wait(timeout=30) == 1
            assert "already running" in process.stderr
        await assert_hub_serves(samp_env.lockfile)


async def test_hub_command_idle_timeout(samp_env: SampEnvironment) -> None:
    async with _hub_command(samp_env, "--timeout", "0.5") as process:
        assert await process.wait(timeout=30) == 0
        assert "SAMP hub listening at" in process.stdout
    assert not samp_env.lockfile.exists()
