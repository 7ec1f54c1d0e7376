"""The lockfile guard, driven one round at a time."""

from __future__ import annotations

import os
from pathlib import Path

from jupyter_samp.hub.guard import LockfileGuard
from jupyter_samp.lockfile import read_lockfile, write_lockfile

RECORD = {"samp.secret": "ours", "samp.hub.xmlrpc.url": "http://127.0.0.1:1/xmlrpc",
          "samp.profile.version": "1.3"}


def test_guard_leaves_a_good_record_alone(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    write_lockfile(path, RECORD)
    assert LockfileGuard(path, RECORD).check_once() == "ok"


def test_guard_rewrites_a_deleted_lockfile_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    guard = LockfileGuard(path, RECORD)
    assert guard.check_once() == "rewritten"
    assert read_lockfile(path) == RECORD
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_guard_rewrites_a_corrupted_lockfile(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_bytes(b"\x00\xffgarbage=\n")
    assert LockfileGuard(path, RECORD).check_once() == "rewritten"
    assert read_lockfile(path) == RECORD


def test_guard_leaves_another_hubs_record_alone(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    other = {**RECORD, "samp.secret": "theirs"}
    write_lockfile(path, other)
    assert LockfileGuard(path, RECORD).check_once() == "replaced"
    assert read_lockfile(path) == other
