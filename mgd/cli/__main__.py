"""``python -m mgd.cli``: the ``mgd`` command line."""

import sys

from mgd.cli.main import main

sys.exit(main())
