"""``python -m edgesim.docgen [--check] [-o FILE]``: see :func:`edgesim.docgen.main`."""
import sys

from edgesim.docgen import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
