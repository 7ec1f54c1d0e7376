"""The astropy.samp (pyvo.samp) API on jupyter_samp's hub and client.

``from jupyter_samp.compat import SAMPIntegratedClient`` in place of
``from astropy.samp import SAMPIntegratedClient`` (or ``pyvo.samp``) is the
whole migration: the same classes, signatures, handlers and exceptions, with
our hub underneath and no polling. docs/migration.rst goes call by call.
"""

from __future__ import annotations

from jupyter_samp.compat.client import SAMPClient
from jupyter_samp.compat.constants import (
    SAFE_MTYPES,
    SAMP_STATUS_ERROR,
    SAMP_STATUS_OK,
    SAMP_STATUS_WARNING,
)
from jupyter_samp.compat.dialog import WebProfileDialog
from jupyter_samp.compat.errors import (
    SAMPClientError,
    SAMPHubError,
    SAMPProxyError,
    SAMPProxyTimeoutError,
    SAMPWarning,
)
from jupyter_samp.compat.hub import SAMPHubServer
from jupyter_samp.compat.hub_proxy import SAMPHubProxy
from jupyter_samp.compat.integrated_client import SAMPIntegratedClient

__all__ = [
    "SAFE_MTYPES",
    "SAMP_STATUS_ERROR",
    "SAMP_STATUS_OK",
    "SAMP_STATUS_WARNING",
    "SAMPClient",
    "SAMPClientError",
    "SAMPHubError",
    "SAMPHubProxy",
    "SAMPHubServer",
    "SAMPIntegratedClient",
    "SAMPProxyError",
    "SAMPProxyTimeoutError",
    "SAMPWarning",
    "WebProfileDialog",
]
