"""``python -m pysoa_like``: the ``pysoa-like`` command."""

from __future__ import annotations

import sys

from pysoa_like.cli import main

if __name__ == "__main__":
    sys.exit(main())
