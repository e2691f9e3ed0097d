"""`python -m vmci`: the same as the `vmci` command."""
import sys

from vmci.cli import main

sys.exit(main())
