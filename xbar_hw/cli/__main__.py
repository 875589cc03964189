"""``python -m xbar_hw.cli``: the ``xbar-hw`` command."""

import sys

from . import main

sys.exit(main())
