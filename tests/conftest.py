"""Shared fixtures: a hermetic SAMP environment for every test, and a running hub.

Every test runs with ``HOME``, ``USERPROFILE`` and ``SAMP_HUB`` pointing into
its own temporary directory (the autouse ``samp_env`` fixture), so nothing
ever reads or writes the real ``~/.samp``.

Tests marked ``peers`` run real third-party SAMP software (Java/JSAMP,
astropy or pyvo). A missing peer is an error, never a skip: ``scripts/setup.sh``
installs them all.
"""

from __future__ import annotations

import gc
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


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what importing the tests created, so the collections below stay cheap.

    A full collection walks every object the imports made (pandas, astropy,
    hypothesis...): about 64 ms each, which made the suite 70 % slower.
    Frozen, they are skipped, and a collection takes about 4 ms.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect garbage after each test, so an object it left unclosed is reported there.

    A transport or socket garbage-collected unclosed raises a ResourceWarning
    (an error here) from its finaliser; without this it would be reported in
    whichever later test the collector happened to run. Run with
    ``PYTHONTRACEMALLOC=15`` to see where the object was allocated.
    """
    yield
    gc.collect()


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
