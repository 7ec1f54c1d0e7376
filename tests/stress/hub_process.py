"""Our hub in a process of its own, so that its memory can be measured alone.

Usage: python hub_process.py LOCKFILE. Runs the Standard Profile and the Web
Profile (on a free port; consent refused), prints the Web Profile's URL once
both listen, and stops when its standard input closes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from jupyter_samp import Hub


async def main(lockfile: Path) -> None:
    async with Hub(lockfile=lockfile, web_port=0, client_timeout=5.0) as hub:
        print(hub.web_url, flush=True)
        # Standard input closing (the test ending, or dying) stops the hub.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
