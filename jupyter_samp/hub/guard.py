"""Keeping the hub's lockfile in place while the hub runs.

Clients find the hub only through the lockfile. If it is deleted or
corrupted while the hub runs (a cleanup script, an editor, a crashed tool
that "removed a stale file"), applications started afterwards would not find
the hub, or would start a second one. The guard checks the record every
``interval`` seconds and writes it again when it is missing or no longer
parses; if another live hub's record has replaced it, that hub is left alone
and the situation is logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

from jupyter_samp.hub.periodic import Periodic
from jupyter_samp.lockfile import read_lockfile, write_lockfile

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
    """

    def __init__(self, path: Path, record: dict[str, str], interval: float = 2.0) -> None:
        super().__init__(interval)
        self.path = Path(path)
        self.record = dict(record)
        self.rewrites = 0

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
        current = read_lockfile(self.path)
        secret = (current or {}).get("samp.secret")
        if secret == self.record["samp.secret"]:
            if all(current.get(k) == v for k, v in self.record.items()):  # type: ignore[union-attr]
                return "ok"
        elif secret and (current or {}).get("samp.hub.xmlrpc.url"):
            log.error("the lockfile %s now names another hub; leaving it alone", self.path)
            return "replaced"
        log.warning("the lockfile %s was missing or corrupted: writing it again", self.path)
        write_lockfile(self.path, self.record)
        self.rewrites += 1
        return "rewritten"
