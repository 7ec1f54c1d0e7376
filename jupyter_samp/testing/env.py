"""A hermetic SAMP environment: a temporary home and a private lockfile.

SAMP discovery reads ``SAMP_HUB`` and the home directory (``~/.samp``), so a
test that starts a hub or a client must not inherit the user's. Inside
:func:`samp_environment`, ``HOME`` and ``USERPROFILE`` point at a temporary
home and ``SAMP_HUB`` at a lockfile next to it; everything is put back
afterwards. Java ignores ``HOME``: pass ``-Duser.home`` (see
:attr:`SampEnvironment.home` and :mod:`jupyter_samp.testing.peers`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jupyter_samp.lockfile import SAMP_HUB_ENV, hub_env_value

#: The environment variables :func:`samp_environment` sets and restores.
MANAGED_VARIABLES = ("HOME", "USERPROFILE", SAMP_HUB_ENV)


@dataclass(frozen=True)
class SampEnvironment:
    """Where a hermetic SAMP session keeps its files.

    Attributes
    ----------
    root : Path
        The temporary directory holding everything below.
    home : Path
        The home directory (``HOME``, ``USERPROFILE``, Java's ``user.home``).
    lockfile : Path
        The lockfile ``SAMP_HUB`` names (outside the home directory, so the
        default ``~/.samp`` stays a different file).
    """

    root: Path
    home: Path
    lockfile: Path

    @property
    def env_value(self) -> str:
        """The ``SAMP_HUB`` value naming :attr:`lockfile` (``std-lockurl:file://...``)."""
        return hub_env_value(self.lockfile)

    @property
    def default_lockfile(self) -> Path:
        """The lockfile clients read when ``SAMP_HUB`` is unset: ``<home>/.samp``."""
        return self.home / ".samp"

    def variables(self, samp_hub: bool = True) -> dict[str, str]:
        """The variables this environment sets (``SAMP_HUB`` only if ``samp_hub``)."""
        values = {"HOME": str(self.home), "USERPROFILE": str(self.home)}
        if samp_hub:
            values[SAMP_HUB_ENV] = self.env_value
        return values

    def subprocess_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A full environment for a child process: the current one plus these paths."""
        env = dict(os.environ)
        env.update(self.variables(samp_hub=True))
        env.update(extra or {})
        return env


@contextmanager
def samp_environment(
    root: str | Path | None = None, *, samp_hub: bool = True
) -> Iterator[SampEnvironment]:
    """Point ``HOME``, ``USERPROFILE`` and ``SAMP_HUB`` at a private directory.

    Parameters
    ----------
    root : str or Path, optional
        Directory to use (created if needed, left in place afterwards).
        By default a new temporary directory is made and removed afterwards.
    samp_hub : bool
        Set ``SAMP_HUB`` to the private lockfile (default). With False,
        ``SAMP_HUB`` is removed, so discovery falls back to ``<home>/.samp``.

    Yields
    ------
    SampEnvironment
        The paths in use. The previous values of the variables (or their
        absence) are restored on exit, whatever happened inside.

    Examples
    --------
    >>> with samp_environment() as env:      # doctest: +SKIP
    ...     async with Hub() as hub:          # writes env.lockfile, never ~/.samp
    ...         ...
    """
    saved = {name: os.environ.get(name) for name in MANAGED_VARIABLES}
    temporary = None
    if root is None:
        temporary = tempfile.TemporaryDirectory(prefix="samp-env-", ignore_cleanup_errors=True)
        base = Path(temporary.name)
    else:
        base = Path(root)
        base.mkdir(parents=True, exist_ok=True)
    base = base.resolve()
    home = base / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    env = SampEnvironment(root=base, home=home, lockfile=base / "samp-hub.lock")
    try:
        os.environ.update(env.variables(samp_hub=samp_hub))
        if not samp_hub:
            os.environ.pop(SAMP_HUB_ENV, None)
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if temporary is not None:
            temporary.cleanup()
