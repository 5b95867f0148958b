"""``python -m topo``: the ``topo`` command line."""

import sys

from topo.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
