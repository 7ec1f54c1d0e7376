"""JSAMP calcstorm against compat.SAMPHubServer started from Python: no hang, no error.

A quick version (small storms, one per mode); the 20-runs-per-mode soak is
benchmarks/soak_compat_calcstorm.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_samp.compat import SAMPHubServer
from jupyter_samp.testing import SampEnvironment, run_calcstorm

pytestmark = pytest.mark.peers


@pytest.fixture
def compat_hub(samp_env: SampEnvironment) -> Iterator[SAMPHubServer]:
    """A compat hub (Standard Profile) writing the test's lockfile."""
    hub = SAMPHubServer(lockfile=str(samp_env.lockfile), web_profile=False)
    hub.start()
    yield hub
    hub.stop()


@pytest.mark.parametrize("mode", ["sync", "async", "notify", "random"])
async def test_calcstorm_on_compat_hub(compat_hub: SAMPHubServer, samp_env: SampEnvironment,
                                       jsamp_jar: Path, mode: str) -> None:
    result = await run_calcstorm(4, 25, mode, home=samp_env.home, timeout=60, jar=jsamp_jar)
    assert result.ok and not result.timed_out, result.describe()
    assert result.elapsed_ms is not None, result.describe()
    assert compat_hub.is_running
