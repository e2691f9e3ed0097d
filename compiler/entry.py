"""The `vmci` command's entry point (the console script and `python -m vmci`).

It imports nothing before it can catch Ctrl-C: vmci.cli imports most of vmci and its
libraries (PyYAML, jsonschema, Jinja2), a few hundred milliseconds in which a Ctrl-C
would otherwise end in a KeyboardInterrupt traceback from the middle of an import.
"""
import sys


def main() -> int:
    try:
        from .cli import main as run
        return run()
    except KeyboardInterrupt:  # before cli.main knew the command (or after it returned)
        sys.stderr.write("vmci: interrupted\n")
        return 130
