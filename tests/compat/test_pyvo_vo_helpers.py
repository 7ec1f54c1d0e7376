"""pyvo.samp's own ``tests/test_vo_helpers.py``, unchanged, on our classes (see pyvo_suite)."""

from tests.compat.pyvo_suite import replaced

with replaced():
    from pyvo.samp.tests.test_vo_helpers import *  # noqa: F403
