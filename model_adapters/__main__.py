"""``python -m model_adapters``: see :mod:`model_adapters.cli`."""

from .cli import main

raise SystemExit(main())
