"""`python -m pensionx` is the `pensionx` command."""

import sys

from pensionx.cli import main

sys.exit(main())
