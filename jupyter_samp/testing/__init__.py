"""A test kit for SAMP software: hermetic environments and real peers.

* :func:`samp_environment` points ``HOME``, ``USERPROFILE`` and ``SAMP_HUB``
  at a temporary directory, so nothing touches the real ``~/.samp``.
* :mod:`jupyter_samp.testing.peers` runs JSAMP's ``hubtester`` and
  ``calcstorm``, and JSAMP's, astropy's or this package's hub, as asyncio
  subprocesses that are always stopped afterwards.
* :mod:`jupyter_samp.testing.rawclient` is a recording client that shows a
  test exactly what a hub sends, for tests of hubs and of applications.

Example (pytest with pytest-asyncio)::

    from jupyter_samp.hub import Hub
    from jupyter_samp.testing import samp_environment, run_hubtester

    async def test_hub_passes_hubtester(tmp_path):
        with samp_environment(tmp_path) as env:
            async with Hub(lockfile=env.lockfile):
                await run_hubtester(timeout=120)
"""

from jupyter_samp.testing.env import SampEnvironment, samp_environment
from jupyter_samp.testing.peers import (
    CalcStormResult,
    PeerError,
    PeerFailedError,
    PeerProcess,
    PeerResult,
    PeerUnavailableError,
    RunningHub,
    astropy_hub,
    find_java,
    find_jsamp_jar,
    java_command,
    jsamp_hub,
    jupyter_samp_hub,
    ping_hub,
    run_calcstorm,
    run_hubtester,
    run_peer,
    wait_for_hub,
)

__all__ = [
    "CalcStormResult",
    "PeerError",
    "PeerFailedError",
    "PeerProcess",
    "PeerResult",
    "PeerUnavailableError",
    "RunningHub",
    "SampEnvironment",
    "astropy_hub",
    "find_java",
    "find_jsamp_jar",
    "java_command",
    "jsamp_hub",
    "jupyter_samp_hub",
    "ping_hub",
    "run_calcstorm",
    "run_hubtester",
    "run_peer",
    "samp_environment",
    "wait_for_hub",
]
