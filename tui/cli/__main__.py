"""`python -m tui.cli`: the same entry as the `mltui` console script."""

import sys

from tui.cli import main

if __name__ == "__main__":
    sys.exit(main())
