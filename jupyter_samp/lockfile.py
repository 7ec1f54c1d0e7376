"""Find, read and write the Standard Profile hub record (the lockfile).

Discovery follows the standard: ``SAMP_HUB=std-lockurl:<url>`` names the
lockfile; otherwise it is ``.samp`` in the home directory. The multiple-hub
convention (``~/.samp-1/samp-hub-<id>``) is supported as an option.
Lockfiles are written atomically and are never readable by anyone but
their owner: the secret in them is the whole of the Standard Profile's
security.

A hub never follows a symbolic link at its lockfile path: a link planted
there (pointing at, say, ``~/.bashrc``) would otherwise have its target
replaced by the record and deleted when the hub stops. Writing goes to a
private temporary file that is renamed over the path, and a rename replaces
the directory entry, the link itself, never its target. The hub remembers
the identity (device, inode) of the file it wrote and removes the path on
exit only if it still names that very file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

from jupyter_samp.errors import HubUnavailableError

SAMP_HUB_ENV = "SAMP_HUB"
STD_PREFIX = "std-lockurl:"
_NAME = re.compile(r"[a-zA-Z0-9\-_.]+\Z")
_VALUE = re.compile(r"[\x20-\x7f]*\Z")
#: Flags that make opening a symbolic link fail instead of following it (0 where unknown).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: Largest lockfile read; a record is a few hundred bytes.
_MAX_LOCKFILE = 1 << 16


class FileIdentity(NamedTuple):
    """Which file a path named: ``st_dev`` and ``st_ino``."""

    device: int
    inode: int

    @classmethod
    def of(cls, info: os.stat_result) -> FileIdentity:
        """The identity in a ``stat`` result."""
        return cls(info.st_dev, info.st_ino)


def _without_last_link(path: Path) -> Path:
    """``path`` with its directory resolved but its last component left as it is.

    Resolving the whole path would follow a symbolic link planted at the
    lockfile's own name.
    """
    path = Path(path)
    return path.parent.resolve() / path.name


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
    return _without_last_link(default_lockfile_path()).as_uri()


def hub_env_value(path: Path) -> str:
    """Return the ``SAMP_HUB`` value that points clients at the lockfile ``path``."""
    return STD_PREFIX + _without_last_link(path).as_uri()


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


def read_lockfile(path: Path, *, follow_symlinks: bool = True) -> dict[str, str] | None:
    """Read a lockfile, returning None if it does not exist or cannot be read.

    With ``follow_symlinks=False`` (what hubs use) a symbolic link, or
    anything but a regular file, at ``path`` reads as no lockfile at all.
    """
    if not follow_symlinks:
        found = read_own_lockfile(path)
        return found[0] if found is not None else None
    try:
        return parse_lockfile(Path(path).read_text(encoding="ascii", errors="replace"))
    except OSError:
        return None


def read_own_lockfile(path: Path) -> tuple[dict[str, str], FileIdentity] | None:
    """Read the regular file at ``path`` without following a link; return it and its identity.

    Returns None if there is no regular file there (missing, a symbolic
    link, a FIFO, a directory) or it cannot be read. Never blocks on a
    FIFO (``O_NONBLOCK``) and reads at most 64 KiB.
    """
    flags = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:  # ELOOP for a link, ENOENT, EACCES...
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return None
        text = os.read(descriptor, _MAX_LOCKFILE).decode("ascii", "replace")
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return parse_lockfile(text), FileIdentity.of(info)


def identity_at(path: Path) -> FileIdentity | None:
    """The identity of the regular file at ``path`` itself (``lstat``), or None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return FileIdentity.of(info) if stat.S_ISREG(info.st_mode) else None


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


def write_lockfile(path: Path, info: dict[str, str]) -> FileIdentity:
    """Write a lockfile atomically, readable by its owner only (mode 0600).

    The text goes to a private temporary file created with mode 0600
    (``O_CREAT | O_EXCL | O_NOFOLLOW``: nothing planted under its name is
    opened), which then replaces ``path`` in one step, so no reader ever
    sees half a record and the secret is never exposed. The rename replaces
    whatever entry ``path`` is, a symbolic link included, and never writes
    through a link.

    Returns
    -------
    FileIdentity
        The file written, for :func:`remove_if_ours`.

    Raises
    ------
    OSError
        If the file cannot be written (nothing is left behind then).
    ValueError
        If ``info`` breaks the lockfile grammar (nothing is written).
    """
    path = Path(path)
    text = format_lockfile(info)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
            identity = FileIdentity.of(os.fstat(handle.fileno()))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return identity


def remove_if_ours(path: Path, secret: str, identity: FileIdentity | None = None) -> bool:
    """Delete the lockfile only if it is still ours; return whether it did.

    Ours means: a regular file (``lstat``: a symbolic link is never ours,
    and is never followed), and either the very file we wrote (``identity``)
    or one holding our ``secret`` (a copy put back by an editor, say).
    ``unlink`` removes a directory entry and never follows a link, so even
    a link swapped in at the last moment only loses the link.
    """
    current = identity_at(path)
    if current is None:
        return False
    if current != identity:
        found = read_own_lockfile(path)
        if found is None or found[1] != current or found[0].get("samp.secret") != secret:
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
    """Create ``~/.samp-1`` (mode 0700) and return a fresh lockfile path in it and its id.

    Raises
    ------
    PermissionError
        If the directory is not safe to write a secret into (see
        :func:`check_private_directory`).
    """
    directory = multiple_hub_dir()
    directory.mkdir(mode=0o700, exist_ok=True)
    check_private_directory(directory)
    hub_id = secrets.token_hex(8)
    return directory / f"samp-hub-{hub_id}", hub_id


def check_private_directory(directory: Path) -> None:
    """Refuse a directory someone else controls.

    A symbolic link is accepted only if the link itself is ours (a user may
    keep ``~/.samp-1`` elsewhere); what it leads to must be a directory we
    own that nobody else may write into (no group or other write bit), or
    another user could swap our records for links or read the secrets.
    A no-op where there are no user ids (Windows).

    Raises
    ------
    PermissionError
        If the link or the directory belongs to someone else, the directory
        is writable by others, or it is not a directory.
    """
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover - Windows
        return
    uid = getuid()
    link = os.lstat(directory)
    if stat.S_ISLNK(link.st_mode) and link.st_uid != uid:
        raise PermissionError(f"{directory} is a symbolic link owned by uid {link.st_uid}")
    info = os.stat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{directory} is not a directory")
    if info.st_uid != uid:
        raise PermissionError(f"{directory} is owned by uid {info.st_uid}, not by this user")
    if info.st_mode & 0o022:
        raise PermissionError(f"{directory} is writable by other users "
                              f"(mode {stat.S_IMODE(info.st_mode):o})")
