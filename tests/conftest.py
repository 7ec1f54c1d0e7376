"""Shared fixtures: a hermetic SAMP environment for every test, and a running hub.

Every test runs with ``HOME``, ``USERPROFILE`` and ``SAMP_HUB`` pointing into
its own temporary directory (the autouse ``samp_env`` fixture), so nothing
ever reads or writes the real ``~/.samp``.

Tests marked ``peers`` run real third-party SAMP software (Java/JSAMP,
astropy or pyvo). Where it is not installed they are skipped, except under
CI (``CI`` set) or with ``JUPYTER_SAMP_REQUIRE_PEERS=1``, where a missing
peer is an error.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from jupyter_samp.hub import Hub
from jupyter_samp.testing import (
    PeerUnavailableError,
    SampEnvironment,
    find_java,
    find_jsamp_jar,
    samp_environment,
)


def _peers_required() -> bool:
    flag = os.environ.get("JUPYTER_SAMP_REQUIRE_PEERS", "")
    return bool(os.environ.get("CI")) or flag not in ("", "0")


@pytest.fixture(autouse=True)
def samp_env(tmp_path: Path) -> Iterator[SampEnvironment]:
    """A private home and lockfile; ``SAMP_HUB`` names the lockfile."""
    with samp_environment(tmp_path / "samp") as env:
        yield env


@pytest.fixture
async def hub(samp_env: SampEnvironment) -> AsyncIterator[Hub]:
    """Our hub (Standard Profile only), on 127.0.0.1 and owning ``samp_env.lockfile``."""
    async with Hub(lockfile=samp_env.lockfile, web_profile=False) as running:
        yield running


@pytest.fixture
def jsamp_jar() -> Path:
    """The JSAMP jar (and a Java runtime to run it), or a skip / error if missing."""
    try:
        find_java()
        return find_jsamp_jar()
    except PeerUnavailableError as exc:
        if _peers_required():
            raise
        pytest.skip(str(exc))


@pytest.fixture
def samp_module() -> object:
    """pyvo.samp (or astropy.samp where pyvo is missing), or a skip / error."""
    try:
        import pyvo.samp

        return pyvo.samp
    except ImportError:
        pass
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*astropy\.samp.*deprecated.*")
            import astropy.samp

        return astropy.samp
    except ImportError as exc:
        if _peers_required():
            raise
        pytest.skip(f"neither pyvo.samp nor astropy.samp is importable: {exc}")
