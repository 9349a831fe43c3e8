"""`python -m builder`: runs the maintainers' command line (`builder.cli`)."""

import sys

from builder.cli import main

if __name__ == "__main__":
    sys.exit(main())
