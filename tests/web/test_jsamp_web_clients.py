"""JSAMP's own Web Profile clients (calcstorm, hubtester) against our hub.

``SAMP_HUB=web-appname:<name>`` makes every JSAMP tool a Web Profile client
of the hub at http://127.0.0.1:21012/, so our hub runs on that port here.
calcstorm's ``calc.int.*`` MTypes are not on the default web-safe list, so
the hub is told to allow them; consent is given automatically.
"""

from __future__ import annotations

import pytest

from jupyter_samp import Hub
from jupyter_samp.core.restrictions import DEFAULT_SAFE_MTYPES
from jupyter_samp.hub.web import accept_all
from jupyter_samp.testing import (
    PeerUnavailableError,
    SampEnvironment,
    run_calcstorm,
    run_hubtester,
)
from tests.web.conftest import missing

pytestmark = [pytest.mark.peers, pytest.mark.timeout(240)]


async def test_calcstorm_over_the_web_profile(
    samp_env: SampEnvironment, port_21012: int
) -> None:
    async with Hub(
        lockfile=samp_env.lockfile,
        web_port=port_21012,
        web_consent=accept_all,
        web_mtypes=(*DEFAULT_SAFE_MTYPES, "calc.*"),
    ) as hub:
        assert hub.web_port == port_21012
        for mode in ("sync", "async", "notify"):
            try:
                result = await run_calcstorm(
                    5, 50, mode, samp_hub="web-appname:calc", home=samp_env.home, timeout=90
                )
            except PeerUnavailableError as exc:
                missing(str(exc))
            assert result.ok and result.elapsed_ms is not None, result.describe()
        assert [c for c in hub.clients if c.profile == "web"] == []  # all unregistered


async def test_hubtester_over_the_web_profile(
    samp_env: SampEnvironment, port_21012: int
) -> None:
    # hubtester sends test.* MTypes, so web clients may send anything here
    async with Hub(
        lockfile=samp_env.lockfile, web_port=port_21012, web_consent=accept_all, web_mtypes=("*",)
    ):
        try:
            result = await run_hubtester(
                samp_hub="web-appname:hubtester", home=samp_env.home, timeout=120, check=False
            )
        except PeerUnavailableError as exc:
            missing(str(exc))
    assert result.ok, result.describe()
    assert "Exception" not in result.output, result.describe()
