"""``python -m ratings BATTLES_FILE``: see :mod:`ratings.cli`."""

import sys

from ratings.cli import main

sys.exit(main())
