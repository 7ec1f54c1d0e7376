"""pyvo.samp's own ``tests/test_standard_profile.py``, unchanged, on our classes."""

from tests.compat.pyvo_suite import replaced

with replaced():
    from pyvo.samp.tests.test_standard_profile import *  # noqa: F403
