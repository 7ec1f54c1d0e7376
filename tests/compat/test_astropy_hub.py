"""astropy.samp's own ``tests/test_hub.py``, unchanged, on our classes (see pyvo_suite)."""

from tests.compat.pyvo_suite import replaced

with replaced():
    from astropy.samp.tests.test_hub import *  # noqa: F403
