"""``python -m marksales``: the same as the ``marksales`` command."""

import sys

from ._cli import main

sys.exit(main())
