"""``python -m semlevel ...``: the same command line as the ``semlevel`` script."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
