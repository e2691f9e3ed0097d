"""`-` as an input file: standard input, as a shell user expects.

Small inputs (a config, VMCOREINFO text) are read from standard input directly. Inputs
that are read by seeking or mapping (a vmlinux, an ELF core or kdump file) are spooled
to a temporary file first, removed afterwards; messages name `<stdin>`, never the
temporary file. Standard input can be read once: two `-` in one command are refused.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from typing import BinaryIO, Iterator, Optional, Sequence

STDIN = "-"
STDIN_NAME = "<stdin>"


class StdinTwice(Exception):
    """Two arguments ask for standard input."""


def shown(path: str) -> str:
    """How messages and JSON name an input."""
    return STDIN_NAME if path == STDIN else path


def check_once(arguments: Sequence[Optional[str]], names: Sequence[str]) -> None:
    """Refuse a command line that gives `-` to more than one input."""
    given = [name for name, value in zip(names, arguments) if value == STDIN]
    if len(given) > 1:
        raise StdinTwice(f"standard input can be read once; {' and '.join(given)} both say -")


@contextlib.contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """A binary stream of the input: the file, or standard input for `-` (left open)."""
    if path == STDIN:
        yield sys.stdin.buffer
        return
    with open(path, "rb") as handle:
        yield handle


@contextlib.contextmanager
def local_file(path: str) -> Iterator[str]:
    """A path to read the input from: the file itself, or for `-` a temporary copy of
    standard input (for readers that seek or map the file), removed afterwards."""
    if path != STDIN:
        yield path
        return
    directory = tempfile.mkdtemp(prefix="vmci-stdin-")
    spooled = os.path.join(directory, "stdin")
    try:
        with open(spooled, "wb") as handle:
            shutil.copyfileobj(sys.stdin.buffer, handle, 1 << 20)
        yield spooled
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def named(message: str, actual: str, path: str) -> str:
    """A message about the file read (`actual`) that names the input as the user gave it."""
    return message.replace(actual, shown(path)) if actual != path else message
