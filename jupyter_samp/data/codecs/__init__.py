"""The encoders and decoders: from a DataFrame to the bytes an application downloads, and back.

Writing, in the order the bytes are made:

1. :mod:`._frames` turns a pandas DataFrame or an astropy Table into column
   sources (nullable dtypes, categoricals, the index, masked columns,
   Quantity, Time), each a :class:`._sources.Source` (:mod:`._sources`): a
   uniform, chunked numpy view of one column and its null mask.
2. :mod:`._fields` chooses each column's VOTable type, scanning the data
   once where needed, so every problem is found before any byte is sent.
3. :mod:`.votable` plans the document (:func:`.votable.plan_votable`):
   :mod:`._xml` writes the XML around the data and :mod:`._encode` encodes
   rows, BINARY2/BINARY as base64 of packed big-endian arrays or TABLEDATA,
   a chunk at a time, so that a resource server can stream it
   (:mod:`jupyter_samp.data.payload`). :mod:`.fits` writes FITS tables and
   images with astropy.

Reading what other applications send:

* :mod:`.decode` reads VOTables and FITS files; :mod:`._prolog` refuses a
  VOTable that declares entities before any parser sees it, and
  :mod:`._binary_read` reads single-table binary VOTables with fixed-size
  fields vectorised (astropy's reader goes row by row).

These modules import numpy, pandas and astropy at their top; only
:mod:`jupyter_samp.data`'s lazy names reach them, so ``import jupyter_samp``
does not.
"""
