"""How a command is declared: its name, help, options and run function (Command), and
the options several commands share, each written once.

A command's module (cli/spec.py, cli/generate.py, ...) declares its Command; the registry
(cli/commands.py) lists them and builds the one argparse parser from the declarations.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

from vmci.spec.load import DEFAULT_SPECS_DIR

Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Option:
    """One argument of a command: argparse's add_argument(*flags, **settings)."""
    flags: Tuple[str, ...]
    settings: Dict[str, Any]

    def but(self, **settings: Any) -> Option:
        """The same option with some settings changed (a command's own help, required=...)."""
        return Option(self.flags, {**self.settings, **settings})


def option(*flags: str, **settings: Any) -> Option:
    return Option(flags, settings)


@dataclass(frozen=True)
class Command:
    """One subcommand: what --help says of it, its options in --help order, and either
    the function that runs it (returning the exit status) or subcommands of its own."""
    name: str
    help: str
    description: str
    options: Tuple[Option, ...] = ()
    run: Optional[Run] = None
    subcommands: Tuple[Command, ...] = field(default=())


# --- options several commands share --------------------------------------------------------------

SPECS = option("--specs", default=DEFAULT_SPECS_DIR, metavar="DIR",
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


def warn(command: str, message: Optional[str]) -> None:
    """A warning on standard error, `vmci COMMAND: warning: ...`, when there is one."""
    from vmci.files.output import printable
    if message is not None:
        print(printable(f"vmci {command}: warning: {message}"), file=sys.stderr)
