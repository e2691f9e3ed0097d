"""The command registry: every `vmci` subcommand, in the order --help lists them, and the
one argparse parser built from their declarations (cli/options.py).

Each command is declared once, as a Command in its module under cli/; COMMANDS says
where, so that running one command imports that command's module alone (importing every
stage to list its commands cost a warm `vmci resolve` a fifth of its time). A new command
is a Command in a module of cli/ and one line here.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence, Tuple

from vmci import __version__
from vmci.cli.options import Command

EXIT_UNUSABLE = 2

# (name, the module under vmci.cli that declares it, the Command's name there)
COMMANDS: Tuple[Tuple[str, str, str], ...] = (
    ("validate", "spec", "VALIDATE"),
    ("list", "spec", "LIST"),
    ("resolve", "resolve", "RESOLVE"),
    ("generate", "generate", "GENERATE"),
    ("note", "note", "NOTE"),
    ("audit", "audit", "AUDIT"),
    ("coverage", "audit", "COVERAGE"),
    ("diff", "audit", "DIFF"),
    ("show", "show", "SHOW"),
    ("export", "export", "EXPORT"),
)


def command(name: str) -> Command:
    """The declaration of command `name` (ImportError: a broken installation)."""
    for known, module, attribute in COMMANDS:
        if known == name:
            declared: Command = getattr(importlib.import_module(f"vmci.cli.{module}"), attribute)
            return declared
    raise KeyError(name)


def build_parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The command line. When argv names a command, only that command is declared (the
    parse is the same; --help of the whole program, or a word that is no command, gets
    them all)."""
    parser = argparse.ArgumentParser(
        prog="vmci", description="A declarative spec compiler for the Linux kernel's VMCOREINFO.",
        epilog="Exit status: 0 ok, 1 problems found (spec errors, unresolved entries, drift), 2 unusable input.")
    parser.add_argument("--version", action="version", version=f"vmci {__version__}")
    names = [name for name, _, _ in COMMANDS]
    if argv and argv[0] in names:
        names = [argv[0]]
    _add_commands(parser, tuple(command(name) for name in names), "command", "COMMAND", "")
    return parser


def _add_commands(parser: argparse.ArgumentParser, commands: Tuple[Command, ...], dest: str, metavar: str,
                  prefix: str) -> None:
    sub = parser.add_subparsers(dest=dest, metavar=metavar)
    for declared in commands:
        p = sub.add_parser(declared.name, help=declared.help, description=declared.description)
        for option in declared.options:
            p.add_argument(*option.flags, **option.settings)
        name = prefix + declared.name
        if declared.subcommands:
            # `vmci audit` alone: its help, and the exit status of a missing argument
            _add_commands(p, declared.subcommands, f"{declared.name}_command", declared.name.upper(), name + " ")
            p.set_defaults(run=lambda args, p=p: _help(p), command_name=name)
        else:
            p.set_defaults(run=declared.run, command_name=name)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_UNUSABLE
