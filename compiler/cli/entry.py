"""The `vmci` command's entry point (the console script and `python -m vmci`).

It imports nothing before it can catch Ctrl-C: vmci.cli.main imports most of vmci and its
libraries (PyYAML, jsonschema, Jinja2), a few hundred milliseconds in which a Ctrl-C
would otherwise end in a KeyboardInterrupt traceback from the middle of an import.
"""
import signal
import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C


def main() -> int:
    try:
        from vmci.cli.main import main as run
        code = run()
        # the work is done and its output whole: a Ctrl-C from here on (the interpreter's
        # shutdown) would only turn this exit code into a death by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return code
    except KeyboardInterrupt:  # before cli.main knew the command
        sys.stderr.write("vmci: interrupted\n")
        return EXIT_INTERRUPTED
