"""pyvo.samp's own ``tests/test_errors.py``, unchanged, on our classes (see pyvo_suite)."""

from tests.compat.pyvo_suite import replaced

with replaced():
    from pyvo.samp.tests.test_errors import *  # noqa: F403
