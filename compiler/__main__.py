"""`python -m vmci`: the same as the `vmci` command."""
import atexit
import os
import sys

from vmci.cli.entry import EXIT_INTERRUPTED, main

code = main()
if code == EXIT_INTERRUPTED:
    # Under `python -m`, CPython (3.11 to 3.13) remembers a Ctrl-C that landed inside code
    # run by exec() of a string (collections.namedtuple, dataclasses, ...) even though vmci
    # caught it, and then ends the process by SIGINT instead of with this exit code
    # (Modules/main.c, pymain_run_module and Py_RunMain). Leave with the code ourselves,
    # after the same clean-up a normal exit does.
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)
sys.exit(code)
