"""How a command is declared: its name, help, options and run function (Command), and
the options several commands share, each written once.

A command's module (cli/spec.py, cli/generate.py, ...) declares its Command; the registry
(cli/commands.py) lists them and builds the one argparse parser from the declarations.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

# Tuples rather than dataclasses, and no stage imported: a warm `vmci resolve` answered
# from its memo (cli/memo.py) imports the command line alone.

Run = Callable[[argparse.Namespace], int]


class Option(NamedTuple):
    """One argument of a command: argparse's add_argument(*flags, **settings)."""
    flags: Tuple[str, ...]
    settings: Dict[str, Any]

    def but(self, **settings: Any) -> Option:
        """The same option with some settings changed (a command's own help, required=...)."""
        return Option(self.flags, {**self.settings, **settings})


def option(*flags: str, **settings: Any) -> Option:
    return Option(flags, settings)


class Command(NamedTuple):
    """One subcommand: what --help says of it, its options in --help order, and either
    the function that runs it (returning the exit status) or subcommands of its own."""
    name: str
    help: str
    description: str
    options: Tuple[Option, ...] = ()
    run: Optional[Run] = None
    subcommands: Tuple[Command, ...] = ()


# --- options several commands share --------------------------------------------------------------

# --specs not given is None: the specs embedded in the package, found when used, so that a
# broken installation is reported by the command that needs them
SPECS = option("--specs", default=None, metavar="DIR",
               help="specs directory (default: the specs embedded in vmci)")
OUTPUT = option("-o", "--output", metavar="FILE", help="write to FILE instead of standard output (- too; a "
                                                      "file is replaced atomically, a FIFO or device written in place)")
TEXT_OR_JSON = option("--format", choices=("text", "json"), default="text")
KERNEL_VERSION = option("--kernel-version", metavar="VER",
                        help="6.12, 6.12.117 or a release such as 6.1.0-57-cloud-amd64")
BANNER_VERSION = option("--kernel-version", metavar="VER", help="override the version read from the image's banner")
CONFIG = option("--config", metavar="PATH", help="the kernel .config (or config.gz; - for standard input)")
AT_CRASH = option("--at-crash", action="store_true", help="include the lines appended at panic time (CRASHTIME)")
NO_CACHE = option("--no-cache", action="store_true", help="do not read or write the per-build-ID cache")


# --- what commands share at run time ---------------------------------------------------------

def write(output: Optional[str], text: str) -> None:
    """A command's output to standard output or -o (output.write_output; an OutputError
    reaches main() as one line)."""
    from vmci.files.output import write_output
    write_output(output or "-", text.encode("utf-8"))


def warn(command: str, message: Optional[str], say: Optional[Callable[[str], None]] = None) -> None:
    """A warning on standard error, `vmci COMMAND: warning: ...`, when there is one
    (through `say`, a line's writer, when given)."""
    from vmci.files.output import printable
    if message is not None:
        text = printable(f"vmci {command}: warning: {message}")
        say(text) if say is not None else print(text, file=sys.stderr)
