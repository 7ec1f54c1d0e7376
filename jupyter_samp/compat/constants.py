"""The status strings and the safe MTypes of the astropy.samp API."""

from __future__ import annotations

from jupyter_samp.core.restrictions import DEFAULT_SAFE_MTYPES

__all__ = ["SAFE_MTYPES", "SAMP_STATUS_ERROR", "SAMP_STATUS_OK", "SAMP_STATUS_WARNING"]

#: ``samp.status`` of a successful response.
SAMP_STATUS_OK = "samp.ok"
#: ``samp.status`` of a response that succeeded with a warning.
SAMP_STATUS_WARNING = "samp.warning"
#: ``samp.status`` of a failed response.
SAMP_STATUS_ERROR = "samp.error"
#: MType patterns a Web Profile client may send (the hub's own list).
SAFE_MTYPES = list(DEFAULT_SAFE_MTYPES)
