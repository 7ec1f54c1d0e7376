"""A second process for the kernel test: sends a table and a selection to the notebook.

Usage: python sender_process.py VOTABLE_PATH. It registers as "sender-proc",
sends the table (a file: URL) to the client named "jupyter", selects rows 1
and 2 of it, prints "sent", and stays registered until its stdin closes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jupyter_samp import SyncClient


def main(path: str) -> None:
    with SyncClient("sender-proc") as client:
        url = Path(path).resolve().as_uri()
        client.call("jupyter", "table.load.votable",
                    {"url": url, "table-id": "from-sender", "name": "sent"}, timeout=60)
        client.call("jupyter", "table.select.rowList",
                    {"table-id": "from-sender", "row-list": [1, 2]}, timeout=60)
        print("sent", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv[1])
