"""``python -m triochat`` is the ``triochat`` command."""

from __future__ import annotations

import sys

from ._cli.main import main

sys.exit(main())
