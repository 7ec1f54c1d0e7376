"""A client that accepts one call and never answers it, until it is killed.

Usage: python victim_process.py. Prints its public id once it is subscribed
to ``test.victim`` and registered, then blocks on stdin.
"""

from __future__ import annotations

import sys
import threading

from jupyter_samp import Message, SyncClient


def main() -> None:
    never = threading.Event()
    with SyncClient("victim", reconnect=False) as client:

        @client.on("test.victim")
        def hold(message: Message) -> None:
            print("holding", flush=True)
            never.wait()

        print(client.client.self_id, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
