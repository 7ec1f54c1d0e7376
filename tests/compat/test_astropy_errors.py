"""astropy.samp's own ``tests/test_errors.py``, unchanged, on our classes (see pyvo_suite)."""

from tests.compat.pyvo_suite import replaced

with replaced():
    from astropy.samp.tests.test_errors import *  # noqa: F403
