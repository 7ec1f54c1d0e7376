"""jupyter_samp: SAMP 1.3 hub, client and Jupyter integration on asyncio/tornado."""

from __future__ import annotations

__version__ = "0.1.0"
