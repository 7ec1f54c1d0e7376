"""Keeping the hub's lockfile in place while the hub runs.

Clients find the hub only through the lockfile. If it is deleted or
corrupted while the hub runs (a cleanup script, an editor, a crashed tool
that "removed a stale file"), applications started afterwards would not find
the hub, or would start a second one. The guard checks the record every
``interval`` seconds and writes it again when it is missing or no longer
parses; if another live hub's record has replaced it, that hub is left alone
and the situation is logged.

The guard never follows a symbolic link: a link at the path is not our
record, so it is replaced (by renaming a new file over it, which replaces
the link and leaves its target alone). It keeps :attr:`LockfileGuard.identity`
up to date, so the hub removes on exit only the file it last wrote.
"""

from __future__ import annotations

import logging
from pathlib import Path

from jupyter_samp.hub.periodic import Periodic
from jupyter_samp.lockfile import FileIdentity, read_own_lockfile, write_lockfile

log = logging.getLogger("jupyter_samp.hub")


class LockfileGuard(Periodic):
    """Rewrites a hub's lockfile when it disappears or is corrupted.

    Parameters
    ----------
    path : Path
        The lockfile.
    record : dict
        What the hub wrote there (its ``samp.secret`` identifies it).
    interval : float
        Seconds between checks.
    identity : FileIdentity, optional
        The file the hub wrote at ``path``.
    """

    def __init__(
        self, path: Path, record: dict[str, str], interval: float = 2.0,
        identity: FileIdentity | None = None,
    ) -> None:
        super().__init__(interval)
        self.path = Path(path)
        self.record = dict(record)
        self.rewrites = 0
        #: The regular file at ``path`` that holds our record, as last seen or written.
        self.identity = identity

    async def tick(self) -> None:
        """One round: check (and repair) the lockfile."""
        try:
            self.check_once()
        except OSError as exc:
            log.warning("cannot check the lockfile %s: %s", self.path, exc)

    def check_once(self) -> str:
        """Check the lockfile once and repair it if needed.

        Returns
        -------
        str
            ``"ok"``, ``"rewritten"`` (it was missing or corrupted) or
            ``"replaced"`` (another hub's record is there; left alone).
        """
        found = read_own_lockfile(self.path)  # a link or a FIFO reads as missing
        current, identity = found if found is not None else ({}, None)
        secret = current.get("samp.secret")
        if secret == self.record["samp.secret"]:
            if all(current.get(k) == v for k, v in self.record.items()):
                self.identity = identity  # ours, even if an editor saved a copy
                return "ok"
        elif secret and current.get("samp.hub.xmlrpc.url"):
            log.error("the lockfile %s now names another hub; leaving it alone", self.path)
            return "replaced"
        log.warning("the lockfile %s was missing or corrupted: writing it again", self.path)
        self.identity = write_lockfile(self.path, self.record)
        self.rewrites += 1
        return "rewritten"
