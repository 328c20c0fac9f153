"""Entry point for ``python -m pacs_tui``."""

import sys

from pacs_tui.cli import main

sys.exit(main())
