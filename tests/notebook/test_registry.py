"""Registration files of the browser route: private, never through a symlink, cleaned up."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_samp.remote import registry


def test_a_registration_is_private_and_read_back(tmp_path: Path) -> None:
    folder = tmp_path / "runtime" / "jupyter_samp"
    token = registry.new_token()
    path = registry.write(token, registry.Registration("ws://127.0.0.1:1/relay/s", pid=1), folder)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert registry.read(token, folder) == registry.Registration("ws://127.0.0.1:1/relay/s",
                                                                  "", 1)
    registry.remove(token, folder)
    assert registry.read(token, folder) is None


def test_tokens_that_are_not_tokens_find_nothing(tmp_path: Path) -> None:
    for token in ("", "short", "../" + "a" * 40, "a" * 40 + "/x"):
        assert registry.read(token, tmp_path) is None


def test_a_symlinked_folder_or_file_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = tmp_path / "jupyter_samp"
    folder.symlink_to(elsewhere)
    with pytest.raises(OSError, match="symlink"):
        registry.write(registry.new_token(), registry.Registration("ws://x"), folder)
    real = tmp_path / "real"
    token = registry.new_token()
    (real).mkdir(mode=0o700)
    secret = tmp_path / "secret.json"
    secret.write_text('{"relay": "ws://127.0.0.1:2/relay/x"}')
    (real / f"{token}.json").symlink_to(secret)
    assert registry.read(token, real) is None  # never followed


def test_files_of_kernels_that_died_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    gone, alive = registry.new_token(), registry.new_token()
    registry.write(gone, registry.Registration("ws://a", pid=int(dead.stdout)), tmp_path)
    registry.write(alive, registry.Registration("ws://b", pid=os.getpid()), tmp_path)
    assert registry.remove_stale(tmp_path) == [gone]
    assert registry.read(alive, tmp_path) is not None
