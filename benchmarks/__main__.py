"""``python -m benchmarks`` runs the benchmark table."""

from __future__ import annotations

import sys

from .run import main

sys.exit(main())
