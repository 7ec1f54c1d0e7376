"""astropy.samp's own ``tests/test_hub_proxy.py``, unchanged, on our classes (see pyvo_suite)."""

from tests.compat.pyvo_suite import replaced

with replaced():
    from astropy.samp.tests.test_hub_proxy import *  # noqa: F403
