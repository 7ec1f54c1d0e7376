"""Shared fixtures: a hermetic SAMP environment for every test, and a running hub.

Every test runs with ``HOME``, ``USERPROFILE`` and ``SAMP_HUB`` pointing into
its own temporary directory (the autouse ``samp_env`` fixture), so nothing
ever reads or writes the real ``~/.samp``.

Tests marked ``peers`` run real third-party SAMP software (Java/JSAMP,
astropy or pyvo). A missing peer is an error, never a skip: ``scripts/setup.sh``
installs them all.
"""

from __future__ import annotations

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
    """The JSAMP jar (and a Java runtime to run it); an error if either is missing."""
    try:
        find_java()
        return find_jsamp_jar()
    except PeerUnavailableError as exc:
        raise PeerUnavailableError(f"{exc} (run scripts/setup.sh)") from exc


@pytest.fixture
def samp_module() -> object:
    """pyvo.samp (or astropy.samp where pyvo is missing); an error if neither is installed."""
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
        raise ImportError(
            f"neither pyvo.samp nor astropy.samp is importable (run scripts/setup.sh): {exc}"
        ) from exc
