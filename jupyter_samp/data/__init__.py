"""Table and image encoders and decoders for SAMP messages.

* :mod:`jupyter_samp.data.votable` writes VOTable 1.4 (BINARY2, BINARY,
  TABLEDATA) from astropy tables and pandas DataFrames, streamed in chunks.
* :mod:`jupyter_samp.data.fits` writes FITS images and tables.
* :mod:`jupyter_samp.data.decode` reads VOTable and FITS data received from
  other applications.

These modules import numpy, pandas and astropy; nothing here is imported by
``import jupyter_samp``, so the hub and client start without them.
"""
