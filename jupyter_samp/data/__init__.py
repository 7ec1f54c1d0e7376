"""Tables and images to and from other SAMP applications.

* :mod:`jupyter_samp.data.bridge`: :class:`DataBridge` sends tables, images,
  spectra, positions and row selections through a client, and receives tables
  and images; :mod:`jupyter_samp.data.shortcuts` (:func:`send_table` and
  friends) use a client's default bridge.
* :mod:`jupyter_samp.data.resources`: the local HTTP server the data is fetched from.
* :mod:`jupyter_samp.data.codecs.votable` writes VOTable 1.4 (BINARY2, BINARY,
  TABLEDATA) from astropy tables and pandas DataFrames, streamed in chunks.
* :mod:`jupyter_samp.data.codecs.fits` writes FITS images and tables.
* :mod:`jupyter_samp.data.codecs.decode` reads VOTable and FITS data received from
  other applications.

These modules import numpy, pandas and astropy; importing this package does
not (the names below are loaded on first use), and ``import jupyter_samp``
does not import it, so the hub and client start without them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DataBridge": "bridge",
    "TableReceipt": "bridge",
    "bridge_for": "shortcuts",
    "send_table": "shortcuts",
    "send_image": "shortcuts",
    "send_spectrum": "shortcuts",
    "point_at": "shortcuts",
    "load_bibcode": "shortcuts",
    "sky_position": "sky",
    "Receipt": "receipts",
    "DeliveryError": "receipts",
    "TableHandle": "handles",
    "TableEvent": "handles",
    "ImageHandle": "handles",
    "Received": "receive",
    "ResourceServer": "resources",
    "Resource": "resources",
    "FetchError": "fetch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_samp.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"jupyter_samp.data.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
