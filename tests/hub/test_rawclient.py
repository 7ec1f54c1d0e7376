"""The recording client of the testing kit does what its documentation shows."""

from __future__ import annotations

from pathlib import Path

from jupyter_samp.testing import samp_environment
from jupyter_samp.testing.rawclient import RawClient, echo, echo_responder, standard_hub


async def test_the_documented_example(tmp_path: Path) -> None:
    with samp_environment(tmp_path) as env:
        async with standard_hub(lockfile=env.lockfile):
            listener = await RawClient.connect(
                env.lockfile, name="listener", subscriptions={"test.echo": {}},
                responder=echo_responder)
            sender = await RawClient.connect(env.lockfile, name="sender")
            answer = await sender.hub("callAndWait", listener.public_id, echo(n="1"), "10")
            assert answer["samp.result"] == {"n": "1"}
            # The listener recorded the call it answered.
            call = await listener.next_call()
            assert call.sender == sender.public_id and call.message["samp.params"] == {"n": "1"}
            await sender.close()
            await listener.close()
