"""``python -m jupyter_samp``: the same as the ``jupyter-samp`` command."""

import sys

from jupyter_samp.cli import main

sys.exit(main())
