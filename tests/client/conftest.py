"""Fixtures for client tests: the same tests run against three hubs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyter_samp import Hub
from jupyter_samp.testing import astropy_hub, jsamp_hub, samp_environment
from jupyter_samp.testing.env import SampEnvironment


@dataclass
class HubUnderTest:
    """A running hub of some implementation, and the hermetic environment around it."""

    kind: str
    lockfile: Path
    env: SampEnvironment


@asynccontextmanager
async def _start(kind: str, env: SampEnvironment) -> AsyncIterator[None]:
    if kind == "jupyter_samp":
        async with Hub(lockfile=env.lockfile, web_profile=False):
            yield
    elif kind == "jsamp":
        async with jsamp_hub(env.lockfile, home=env.home):
            yield
    else:
        async with astropy_hub(env.lockfile, home=env.home):
            yield


@pytest.fixture(params=["jupyter_samp", "jsamp", "astropy"])
async def any_hub(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[HubUnderTest]:
    """A running hub: ours, JSAMP's or astropy's, with SAMP_HUB pointing at it."""
    with samp_environment(tmp_path) as env:
        async with _start(request.param, env):
            yield HubUnderTest(request.param, env.lockfile, env)


@pytest.fixture
async def our_hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """Our hub, in this loop, with SAMP_HUB pointing at it."""
    with samp_environment(tmp_path) as env:
        async with Hub(lockfile=env.lockfile, web_profile=False) as hub:
            yield hub
