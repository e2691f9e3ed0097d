"""`python -m vmci`: the same as the `vmci` command."""
import sys

from vmci.entry import main

sys.exit(main())
