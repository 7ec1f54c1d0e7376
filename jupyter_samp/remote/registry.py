"""Registration files: how the Jupyter server finds a kernel's relay and data.

A kernel that offers the browser route writes one JSON file, named by an
unguessable token, into ``<Jupyter runtime dir>/jupyter_samp/`` (mode 0700,
files 0600, never through a symlink). The server extension reads it when a
request names that token: the token is the capability, the file says which
loopback ports to forward to. Files of kernels that died are removed by the
next kernel that registers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

#: What a token looks like (the server extension refuses anything else).
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")


@dataclass
class Registration:
    """Where one kernel's relay and resource server listen.

    Attributes
    ----------
    relay : str
        ``ws://127.0.0.1:PORT/relay/SECRET``, the kernel's relay endpoint.
    resources : str
        ``http://127.0.0.1:PORT`` of the kernel's resource server; empty
        until it is started.
    pid : int
        The kernel's process id (a file whose process is gone is stale).
    """

    relay: str
    resources: str = ""
    pid: int = 0


def registry_dir() -> Path:
    """``<Jupyter runtime dir>/jupyter_samp``, as kernel and server both see it."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir()) / "jupyter_samp"


def new_token() -> str:
    """An unguessable token (256 bits)."""
    return secrets.token_urlsafe(32)


def write(token: str, registration: Registration, directory: Path | None = None) -> Path:
    """Write (or replace) the file for ``token``.

    Raises
    ------
    OSError
        If the directory is a symlink or not this user's, or cannot be written.
    """
    folder = _private_dir(directory or registry_dir())
    path = folder / f"{token}.json"
    temporary = folder / f".{token}.{secrets.token_hex(4)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(temporary, flags, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(registration), handle)
    os.replace(temporary, path)  # replaces a name, never follows one
    return path


def read(token: str, directory: Path | None = None) -> Registration | None:
    """The registration for ``token``, or None if there is none (or it is malformed)."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    path = (directory or registry_dir()) / f"{token}.json"
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        with os.fdopen(descriptor, encoding="utf-8") as handle:
            data = json.loads(handle.read(4096))
        return Registration(relay=str(data["relay"]), resources=str(data.get("resources", "")),
                            pid=int(data.get("pid", 0)))
    except (ValueError, KeyError, TypeError):
        return None


def remove(token: str, directory: Path | None = None) -> None:
    """Remove the file for ``token`` (nothing happens if it is gone)."""
    with contextlib.suppress(OSError):
        ((directory or registry_dir()) / f"{token}.json").unlink()


def remove_stale(directory: Path | None = None) -> list[str]:
    """Remove the files of kernels that no longer run; return their tokens."""
    folder = directory or registry_dir()
    removed = []
    with contextlib.suppress(OSError):
        for path in folder.glob("*.json"):
            entry = read(path.stem, folder)
            if entry is not None and entry.pid and not _alive(entry.pid):
                remove(path.stem, folder)
                removed.append(path.stem)
    return removed


def _private_dir(folder: Path) -> Path:
    """Create ``folder`` 0700 if needed; refuse a symlink or another user's folder."""
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{folder} is not a directory of its own (a symlink?): refusing it")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise OSError(f"{folder} belongs to another user: refusing it")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
