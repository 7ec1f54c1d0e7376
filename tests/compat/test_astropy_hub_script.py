"""astropy.samp's own ``tests/test_hub_script.py``, unchanged, on our classes (see pyvo_suite)."""

from tests.compat.pyvo_suite import replaced

with replaced():
    from astropy.samp.tests.test_hub_script import *  # noqa: F403
