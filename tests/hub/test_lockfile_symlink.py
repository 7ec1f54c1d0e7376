"""A symbolic link planted at the lockfile path must never lead the hub to its target.

Each test keeps two well-behaved clients (the canary) exchanging calls
through the hub while the link is planted, and checks the victim file's
content and existence afterwards.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from jupyter_samp.lockfile import (
    check_private_directory,
    read_lockfile,
    remove_if_ours,
    write_lockfile,
)
from jupyter_samp.testing import SampEnvironment
from jupyter_samp.testing.rawclient import (
    RawClient,
    assert_hub_serves,
    echo,
    echo_responder,
    standard_hub,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="POSIX links")

VICTIM = b"export PATH=$HOME/bin:$PATH  # the user's precious file\n"


@pytest.fixture
def victim(samp_env: SampEnvironment) -> Path:
    path = samp_env.root / "victim.rc"
    path.write_bytes(VICTIM)
    os.chmod(path, 0o644)
    return path


def assert_untouched(victim: Path) -> None:
    assert victim.exists() and not victim.is_symlink()
    assert victim.read_bytes() == VICTIM
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def plant_link(path: Path, target: Path) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


class Canary:
    """Two registered clients; each round one calls the other and the latency is kept."""

    def __init__(self, listener: RawClient, sender: RawClient) -> None:
        self.listener = listener
        self.sender = sender
        self.worst = 0.0

    async def round(self) -> None:
        started = time.monotonic()
        assert self.listener.public_id is not None
        response = await self.sender.hub("callAndWait", self.listener.public_id,
                                         echo(n="1"), "10")
        assert response["samp.status"] == "samp.ok"
        self.worst = max(self.worst, time.monotonic() - started)


@asynccontextmanager
async def canary_of(lockfile: Path) -> AsyncIterator[Canary]:
    async with (
        await RawClient.connect(lockfile, name="listener", subscriptions={"test.echo": {}},
                                responder=echo_responder) as listener,
        await RawClient.connect(lockfile, name="sender") as sender,
    ):
        canary = Canary(listener, sender)
        await canary.round()
        yield canary
        print(f"canary worst latency {canary.worst * 1000:.1f} ms")
        assert canary.worst < 5.0


async def test_link_at_the_lockfile_path_is_replaced_not_followed(
    samp_env: SampEnvironment, victim: Path
) -> None:
    plant_link(samp_env.lockfile, victim)
    async with standard_hub(lockfile=samp_env.lockfile, guard_interval=3600) as hub:
        assert hub.lockfile == samp_env.lockfile
        assert not samp_env.lockfile.is_symlink()  # the link itself was replaced
        assert stat.S_IMODE(os.lstat(samp_env.lockfile).st_mode) == 0o600
        assert_untouched(victim)
        async with canary_of(samp_env.lockfile) as canary:
            await canary.round()
    assert not samp_env.lockfile.exists()
    assert_untouched(victim)


async def test_default_dot_samp_link_is_not_followed(
    samp_env: SampEnvironment, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAMP_HUB")
    plant_link(samp_env.default_lockfile, victim)
    async with standard_hub(guard_interval=3600) as hub:
        assert hub.lockfile is not None and hub.lockfile.name == ".samp"
        assert_untouched(victim)
        await assert_hub_serves(samp_env.default_lockfile)
    assert_untouched(victim)


async def test_link_swapped_in_before_the_guard_rewrites(
    samp_env: SampEnvironment, victim: Path
) -> None:
    hub = standard_hub(lockfile=samp_env.lockfile, guard_interval=3600)
    async with hub, canary_of(samp_env.lockfile) as canary:
        plant_link(samp_env.lockfile, victim)
        await canary.round()
        assert hub._guard.check_once() == "rewritten"  # driven here, not by its timer
        assert not samp_env.lockfile.is_symlink()
        assert (read_lockfile(samp_env.lockfile) or {}).get("samp.hub.xmlrpc.url") == hub.url
        assert_untouched(victim)
        await canary.round()
    assert not samp_env.lockfile.exists()  # the rewritten file was ours: removed
    assert_untouched(victim)


async def test_link_swapped_in_before_exit(samp_env: SampEnvironment, victim: Path) -> None:
    hub = standard_hub(lockfile=samp_env.lockfile, guard_interval=3600)
    async with hub, canary_of(samp_env.lockfile) as canary:
        plant_link(samp_env.lockfile, victim)
        await canary.round()
    assert samp_env.lockfile.is_symlink()  # not ours: left as it was
    assert_untouched(victim)


async def test_link_to_a_copy_of_our_record_is_not_removed(
    samp_env: SampEnvironment
) -> None:
    hub = standard_hub(lockfile=samp_env.lockfile, guard_interval=3600)
    elsewhere = samp_env.root / "copy"
    async with hub:
        elsewhere.write_bytes(samp_env.lockfile.read_bytes())  # holds our secret
        plant_link(samp_env.lockfile, elsewhere)
    assert elsewhere.exists() and samp_env.lockfile.is_symlink()


def test_remove_if_ours_never_follows(samp_env: SampEnvironment, victim: Path) -> None:
    record = {"samp.secret": "s3cret", "samp.hub.xmlrpc.url": "http://127.0.0.1:1/x"}
    identity = write_lockfile(victim, record)  # the target holds our very record...
    link = samp_env.root / "link"
    link.symlink_to(victim)
    assert not remove_if_ours(link, "s3cret", identity)  # ...yet the link is not ours
    assert victim.exists() and link.is_symlink()
    assert read_lockfile(link, follow_symlinks=False) is None
    assert remove_if_ours(victim, "s3cret", identity)


def test_multiple_mode_directory_must_be_private(samp_env: SampEnvironment) -> None:
    directory = samp_env.home / ".samp-1"
    directory.mkdir(mode=0o700)
    check_private_directory(directory)
    os.chmod(directory, 0o777)
    with pytest.raises(PermissionError, match="writable by other users"):
        check_private_directory(directory)
    os.chmod(directory, 0o700)
    directory.rmdir()
    (samp_env.root / "file").write_text("x")
    directory.symlink_to(samp_env.root / "file")
    with pytest.raises(PermissionError, match="not a directory"):
        check_private_directory(directory)


async def test_multiple_mode_refuses_a_shared_directory(samp_env: SampEnvironment) -> None:
    directory = samp_env.home / ".samp-1"
    directory.mkdir(mode=0o700)
    os.chmod(directory, 0o777)
    with pytest.raises(PermissionError):
        await standard_hub(mode="multiple").start()
    assert list(directory.iterdir()) == []


async def test_multiple_mode_accepts_a_link_to_our_private_directory(
    samp_env: SampEnvironment
) -> None:
    real = samp_env.root / "records"
    real.mkdir(mode=0o700)
    (samp_env.home / ".samp-1").symlink_to(real)
    async with standard_hub(mode="multiple") as hub:
        assert hub.lockfile is not None and hub.lockfile.parent == real.resolve()
        await assert_hub_serves(hub.lockfile)
    assert list(real.iterdir()) == []

