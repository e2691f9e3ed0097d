"""The `vmci` command: parse arguments, call one stage, print, exit.

Exit status: 0 success; 1 the input was understood and found wanting (spec problems,
entries that could not be resolved, drift); 2 the input could not be used at all
(missing or damaged file, bad arguments). Every failure is one line naming the file and
place; no traceback reaches the user. The stages raise vmci.errors (Findings,
UnusableInput); main() here is the one place that prints them and turns them into exit
codes. The commands themselves are declared in cli/commands.py.
"""
from __future__ import annotations

import os
import sys
from typing import List, Optional

from vmci.cli.entry import EXIT_INTERRUPTED
from vmci.errors import Findings, SpecProblems, UnusableInput, UsageError
from vmci.files.output import printable

EXIT_OK, EXIT_FOUND, EXIT_UNUSABLE = 0, 1, 2


# The inputs and outputs of every command, by their argparse names: an output that is
# also an input is refused before the command starts (output.check_outputs).
_OUTPUT_OPTIONS = (("output", "-o"), ("elf_core", "--elf-core"))
_INPUT_OPTIONS = (("vmlinux", "--vmlinux"), ("config", "--config"), ("source", "--from"), ("file", "FILE"),
                  ("a", "A"), ("b", "B"), ("config_a", "--config-a"), ("config_b", "--config-b"),
                  ("kernel_tree", "KERNEL_TREE"))


def _is_spec_input(relative: str) -> bool:
    return relative.endswith((".yaml", ".yml", ".json"))


def _is_tree_input(relative: str) -> bool:
    from vmci.audit.tree import wanted
    return wanted(relative) is not None


def _check_outputs(args) -> None:
    from vmci.files.output import check_outputs

    given = lambda names: [(option, getattr(args, name, None)) for name, option in names]  # noqa: E731
    check_outputs(given(_OUTPUT_OPTIONS), given(_INPUT_OPTIONS),
                  [("--specs", getattr(args, "specs", None), _is_spec_input),
                   ("SPECS_DIR", getattr(args, "specs_positional", None), _is_spec_input),
                   ("KERNEL_TREE", getattr(args, "kernel_tree", None), _is_tree_input)])


def _check_working_directory() -> None:
    """Every command shows paths relative to the working directory; one that was removed
    while the shell stood in it is one line, not a traceback from the first relpath."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise UsageError("the working directory no longer exists; cd to a directory that does")
    except OSError as error:
        raise UsageError(f"cannot find the working directory: {error.strerror or error}")


def main(argv: Optional[List[str]] = None) -> int:
    from vmci.files.output import GuardedStdout, discard_stdout

    words = sys.argv[1:] if argv is None else argv
    try:
        from vmci.cli.commands import build_parser
        parser = build_parser(words)
    except ImportError as error:  # a stage module missing from a broken installation
        print(printable(f"vmci: this installation of vmci is incomplete ({error}); reinstall vmci"), file=sys.stderr)
        return EXIT_UNUSABLE
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return EXIT_UNUSABLE
    name = args.command_name
    stdout, sys.stdout = sys.stdout, GuardedStdout(sys.stdout)
    try:
        _check_working_directory()
        _check_outputs(args)
        code: int = args.run(args)
        sys.stdout.flush()  # a full disk shows here, while it can still be told
        return code
    except SpecProblems as error:  # each problem names its spec file and place
        for problem in error.problems:
            print(printable(str(problem)), file=sys.stderr)
        if error.summary:
            print(printable(f"vmci {name}: {error.summary}"), file=sys.stderr)
        return EXIT_FOUND
    except Findings as error:
        print(printable(f"vmci {name}: {error}"), file=sys.stderr)
        return EXIT_FOUND
    except UnusableInput as error:
        if getattr(error, "stdout", False):
            discard_stdout()
        print(printable(f"vmci {name}: {error}"), file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print(f"vmci {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader stopped reading (vmci ... | head): so does vmci
        discard_stdout()
        return EXIT_OK
    finally:
        sys.stdout = stdout


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
