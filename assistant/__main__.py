"""``python -m assistant …`` runs the same command line as ``assistant …``."""

from __future__ import annotations

import sys

from assistant.frontends.cli import main

if __name__ == "__main__":
    sys.exit(main())
