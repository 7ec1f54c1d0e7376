"""Fixtures for the notebook layer: an IPython shell with the extension, a fresh session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_samp import Hub
from jupyter_samp.notebook import session as session_module
from jupyter_samp.testing import samp_environment


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    """An in-process IPython shell with ``%load_ext jupyter_samp`` done.

    The shell is never cleared: libraries (astropy's logger) remember that
    they run under IPython and later call ``get_ipython()`` expecting a shell.
    """
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_samp")
    yield ip


@pytest.fixture
async def fresh_session() -> AsyncIterator[session_module.SampSession]:
    """This process's notebook session, new for the test and closed after it."""
    session_module._session = None
    session = session_module.connection()
    yield session
    if session.client is not None:
        await session.client.close(stop_hub=True)
    session_module._session = None


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """Our hub with SAMP_HUB pointing at it (Web Profile off)."""
    with samp_environment(tmp_path) as env:
        async with Hub(lockfile=env.lockfile, web_profile=False) as running:
            yield running
