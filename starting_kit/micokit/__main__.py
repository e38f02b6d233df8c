"""``python -m micokit``: the same command line as the ``micokit`` script."""

import sys

from .cli import main

sys.exit(main())
