"""pyvo.samp's own ``tests/test_web_profile.py``, unchanged, on our classes (see pyvo_suite)."""

from tests.compat.pyvo_suite import replaced

with replaced():
    from pyvo.samp.tests.test_web_profile import *  # noqa: F403
