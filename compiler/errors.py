"""The errors every stage raises, in one hierarchy.

    VmciError            anything vmci reports about its input (the API's one exception)
      UnusableInput      the input cannot be used at all: a missing or damaged file, a bad
                         argument, broken data (the command line exits 2)
        UsageError       what the user asked for makes no sense (an option, a version, ...)
      Findings           the input was understood and found wanting: spec errors, an entry
                         that cannot be resolved or generated (the command line exits 1)
        SpecProblems     the spec errors of a specs directory, each a located Problem

Each stage's own exception classes (ConfigError, NoteReadError, GenerateError, ...) derive
from one of the two roots, so that a caller catches a whole class of failure without
knowing the stage. Only the command line (vmci.cli) turns them into exit codes and prints
them; a message is one line naming the file and place. Two kinds stand outside: the ELF
reader's errors (vmci.elf.errors), because vmci.elf imports nothing else of vmci, and
runtime.Unresolved, because runtime.py is copied verbatim into the generated package;
the stages that call them say which input was damaged or which line stays unresolved.
"""
from __future__ import annotations

from typing import Sequence


class VmciError(Exception):
    """Input vmci cannot use or found wanting; the message names the file and place."""


class UnusableInput(VmciError):
    """Input that cannot be used at all: a bad file, a bad argument, broken data."""


class UsageError(UnusableInput):
    """A problem with what the user asked for (an option, a combination of options)."""


class Findings(VmciError):
    """The input was understood and found wanting (spec errors, unresolved entries)."""


class SpecProblems(Findings):
    """A specs directory with errors: each problem is printed on a line of its own, then
    the message when there is one (e.g. what was not done because of them)."""

    def __init__(self, problems: Sequence[object], message: str = "") -> None:
        super().__init__(message or f"{len(problems)} errors in the specs")
        self.problems = list(problems)
        self.summary = message
