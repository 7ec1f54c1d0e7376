"""Private files for applications on this machine: the ``file://`` fast path.

An application running as the same user on the same machine (TOPCAT, DS9 or
Aladin through the Standard Profile) can read a file directly; TOPCAT even
maps a local FITS file instead of parsing a download. :class:`LocalFiles`
writes such files, one directory per process::

    files = LocalFiles()                       # <runtime or temp dir>/jupyter_samp-<uid>/<pid>...
    written = files.write(payload, "stars.fits")
    written.url                                # file:///.../stars.fits
    written.remove()
    files.close()                              # removes the directory

Safety:

* the base directory (``$XDG_RUNTIME_DIR/jupyter_samp``, else
  ``<tempdir>/jupyter_samp-<uid>``) and each process directory are mode
  0700 and must be real directories owned by this user: a symlink or a
  directory someone else made there is refused (:class:`LocalFilesError`),
  never followed or reused;
* files are created inside the open process directory (``dir_fd``) with
  ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600, so nothing existing is
  overwritten and no link is followed;
* files go when :meth:`LocalFile.remove` is called, when :meth:`LocalFiles.close`
  is, and at interpreter exit; after a crash (``kill -9``) the next
  :class:`LocalFiles` removes directories whose process is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import secrets
import shutil
import stat
import tempfile
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_samp.data.payload import Payload, Piece
from jupyter_samp.errors import LocalFilesError

log = logging.getLogger("jupyter_samp.data")

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def default_base() -> Path:
    """Where process directories go: the user's runtime directory, else the temp directory."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "jupyter_samp"
    return Path(tempfile.gettempdir()) / f"jupyter_samp-{os.getuid()}"


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    now = _start_time(pid)
    return now is None or started in ("", now)


def private_dir(path: Path) -> None:
    """Make ``path`` (mode 0700) or check that the one there is ours and private.

    Raises
    ------
    LocalFilesError
        It is a symlink or not a directory, it belongs to another user, or it
        cannot be created.
    """
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise LocalFilesError(f"cannot create {path}: {exc}") from exc
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise LocalFilesError(f"{path} is not a directory (a symlink?): refusing to use it")
    if info.st_uid != os.getuid():
        raise LocalFilesError(f"{path} belongs to another user: refusing to use it")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700, follow_symlinks=False)


def remove_stale(base: Path) -> list[Path]:
    """Remove process directories under ``base`` whose process has ended; return them."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(base):
            parts = entry.name.split(".")
            if len(parts) != 3 or not parts[0].isdigit() or entry.is_symlink():
                continue
            if not _alive(int(parts[0]), parts[1]):
                shutil.rmtree(entry.path, ignore_errors=True)  # never follows symlinks
                removed.append(Path(entry.path))
    return removed


@dataclass
class LocalFile:
    """One file written for other applications.

    Attributes
    ----------
    path : Path
        Where it is.
    size : int
        Its size in bytes.
    """

    path: Path
    size: int
    _owner: LocalFiles | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Its ``file://`` URL."""
        return self.path.as_uri()

    def remove(self) -> None:
        """Delete the file (nothing happens if it is already gone)."""
        if self._owner is not None:
            self._owner.remove(self)


class LocalFiles:
    """A private directory of files for applications on this machine.

    Parameters
    ----------
    base : path, optional
        Parent of the process directory (default :func:`default_base`);
        stale directories found there are removed.

    Raises
    ------
    LocalFilesError
        The directory cannot be made or is not safe to use.
    """

    def __init__(self, base: str | os.PathLike[str] | None = None) -> None:
        self.base = Path(base) if base is not None else default_base()
        private_dir(self.base)
        remove_stale(self.base)
        name = f"{os.getpid()}.{_start_time(os.getpid()) or ''}.{secrets.token_hex(4)}"
        self.path = self.base / name
        private_dir(self.path)
        self._fd: int | None = os.open(self.path, _DIRECTORY)
        self._files: dict[str, LocalFile] = {}
        self._exit = weakref.finalize(self, _remove_tree, self.path)
        atexit.register(self._exit)

    @property
    def files(self) -> list[LocalFile]:
        """The files written and not removed yet."""
        return list(self._files.values())

    def write(self, payload: Payload | Iterable[Piece], filename: str) -> LocalFile:
        """Write a payload's bytes to a new file ``<token>-<filename>``, mode 0600.

        Blocking (call it from a worker thread for large data). A file that
        cannot be completed is removed.

        Raises
        ------
        LocalFilesError
            The directory was closed, or the file could not be written (disk full...).
        """
        if self._fd is None:
            raise LocalFilesError("these local files were closed")
        name = f"{secrets.token_hex(6)}-{filename}"
        pieces = payload.open(0) if isinstance(payload, Payload) else payload
        try:
            fd = os.open(name, _CREATE, 0o600, dir_fd=self._fd)
        except OSError as exc:
            raise LocalFilesError(f"cannot create {name} in {self.path}: {exc}") from exc
        written = LocalFile(self.path / name, 0, self)
        self._files[name] = written
        try:
            with open(fd, "wb", buffering=0, closefd=True) as handle:
                for piece in pieces:
                    view = memoryview(piece).cast("B")
                    while view:
                        view = view[handle.write(view) or 0 :]
                written.size = handle.tell()
        except OSError as exc:
            self.remove(written)
            raise LocalFilesError(f"cannot write {written.path}: {exc}") from exc
        except BaseException:
            self.remove(written)
            raise
        return written

    def remove(self, written: LocalFile) -> None:
        """Delete one file written here (no error if it is gone already)."""
        name = written.path.name
        self._files.pop(name, None)
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self._fd)

    def close(self) -> None:
        """Delete every file and the process directory. Safe to call twice."""
        self._files.clear()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._exit()
        atexit.unregister(self._exit)


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            log.warning("could not remove %s: %s", path, exc)
