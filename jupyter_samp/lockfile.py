"""Find, read and write the Standard Profile hub record (the lockfile).

Discovery follows the standard: ``SAMP_HUB=std-lockurl:<url>`` names the
lockfile; otherwise it is ``.samp`` in the home directory. The multiple-hub
convention (``~/.samp-1/samp-hub-<id>``) is supported as an option.
Lockfiles are written atomically and are never readable by anyone but
their owner: the secret in them is the whole of the Standard Profile's
security.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from jupyter_samp.errors import HubUnavailableError

SAMP_HUB_ENV = "SAMP_HUB"
STD_PREFIX = "std-lockurl:"
_NAME = re.compile(r"[a-zA-Z0-9\-_.]+\Z")
_VALUE = re.compile(r"[\x20-\x7f]*\Z")


def home_directory() -> Path:
    """Return the user's home directory as the standard defines it for SAMP."""
    if sys.platform == "win32" and os.environ.get("USERPROFILE"):
        return Path(os.environ["USERPROFILE"])
    return Path(os.path.expanduser("~"))


def default_lockfile_path() -> Path:
    """Return ``~/.samp``, the lockfile of the single-hub convention."""
    return home_directory() / ".samp"


def multiple_hub_dir() -> Path:
    """Return ``~/.samp-1``, where hubs of the multiple-hub convention keep their records."""
    return home_directory() / ".samp-1"


def lockfile_url() -> str:
    """Return the URL of the lockfile clients should read.

    ``SAMP_HUB`` wins when it holds a ``std-lockurl:`` value; a value for
    another profile is ignored, as the standard says.
    """
    value = os.environ.get(SAMP_HUB_ENV, "")
    if value.startswith(STD_PREFIX):
        return value[len(STD_PREFIX) :]
    return default_lockfile_path().resolve().as_uri()


def hub_env_value(path: Path) -> str:
    """Return the ``SAMP_HUB`` value that points clients at the lockfile ``path``."""
    return STD_PREFIX + Path(path).resolve().as_uri()


def url_to_path(url: str) -> Path | None:
    """Return the local path of a ``file:`` URL, or None for other schemes."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file":
        return None
    return Path(urllib.request.url2pathname(parts.path))


def parse_lockfile(text: str) -> dict[str, str]:
    """Parse lockfile text into its assignments.

    Comments, blank and malformed lines are skipped; a line is split at its
    first ``=`` so values may contain ``=``; CR/LF line ends both work.
    """
    info: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        value = value.rstrip()
        if _NAME.match(name) and _VALUE.match(value):
            info[name] = value
    return info


def format_lockfile(info: dict[str, str]) -> str:
    """Render assignments as lockfile text, with a header comment.

    Raises
    ------
    ValueError
        If a name or value has characters the lockfile grammar forbids.
    """
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    lines = [f"# SAMP Standard Profile lockfile written {stamp} by jupyter_samp"]
    for name, value in info.items():
        if not _NAME.match(name) or not _VALUE.match(value):
            raise ValueError(f"lockfile entry {name!r}={value!r} breaks the lockfile grammar")
        lines.append(f"{name}={value}")
    return "\n".join(lines) + "\n"


def read_lockfile(path: Path) -> dict[str, str] | None:
    """Read a lockfile, returning None if it does not exist or cannot be read."""
    try:
        return parse_lockfile(Path(path).read_text(encoding="ascii", errors="replace"))
    except OSError:
        return None


def read_lockurl(url: str, timeout: float = 5.0) -> dict[str, str]:
    """Read the lockfile at ``url`` (``file:`` or ``http:``) for a client.

    Raises
    ------
    HubUnavailableError
        If there is no lockfile there, or it lacks the keys a client needs.
    """
    path = url_to_path(url)
    info = read_lockfile(path) if path is not None else _fetch_lockurl(url, timeout)
    if info is None:
        raise HubUnavailableError(f"No SAMP hub is running: no lockfile at {url}")
    missing = [k for k in ("samp.secret", "samp.hub.xmlrpc.url") if k not in info]
    if missing:
        raise HubUnavailableError(f"The lockfile at {url} lacks {', '.join(missing)}")
    return info


def _fetch_lockurl(url: str, timeout: float) -> dict[str, str] | None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return parse_lockfile(answer.read(1 << 16).decode("ascii", "replace"))
    except OSError:
        return None


def write_lockfile(path: Path, info: dict[str, str]) -> None:
    """Write a lockfile atomically, readable by its owner only (mode 0600).

    The text goes to a private temporary file created with mode 0600, which
    then replaces ``path`` in one step, so no reader ever sees half a record
    and the secret is never exposed, not even for a moment.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii", newline="\n") as handle:
            handle.write(format_lockfile(info))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def remove_if_ours(path: Path, secret: str) -> bool:
    """Delete the lockfile only if it still holds ``secret``; return whether it did."""
    info = read_lockfile(path)
    if info is None or info.get("samp.secret") != secret:
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True


class DirectoryLock:
    """An exclusive advisory lock on a directory (POSIX ``flock``; a no-op elsewhere).

    Hubs of this package hold it while they check for a live hub and write
    their record, so two starting at once cannot both win. :meth:`acquire`
    blocks: call it from a worker thread when an event loop must stay free.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._descriptor: int | None = None

    def acquire(self) -> None:
        """Block until the lock is ours."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows has no flock
            return
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except BaseException:
            os.close(descriptor)
            raise
        self._descriptor = descriptor

    def release(self) -> None:
        """Let the lock go (closing the descriptor releases the flock)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def make_multiple_hub_path() -> tuple[Path, str]:
    """Create ``~/.samp-1`` (mode 0700) and return a fresh lockfile path in it and its id."""
    directory = multiple_hub_dir()
    directory.mkdir(mode=0o700, exist_ok=True)
    hub_id = secrets.token_hex(8)
    return directory / f"samp-hub-{hub_id}", hub_id
