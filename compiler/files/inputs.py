"""Opening input files: `-` as standard input, and only regular files where a stream would hang.

`-` as an input file is standard input, as a shell user expects. Small inputs (a config,
VMCOREINFO text) are read from standard input directly. Inputs that are read by seeking
or mapping (a vmlinux, an ELF core or kdump file) are spooled to a temporary file first,
removed afterwards; messages name `<stdin>`, never the temporary file. Standard input
can be read once: two `-` in one command are refused.

Files that must be regular files: a FIFO opened for reading waits for a writer --
forever when none comes; a character device such as /dev/zero never ends, /dev/tty
waits for the keyboard, and opening some devices has effects of its own (a tape rewinds
when closed). vmci reads such a file only where the user named it as a stream
(`--config <(zcat config.gz)`, `note --from -`). Where it finds a file by walking a tree
(a kernel tree's C files, Makefiles and Kconfig files; the spec files of a specs
directory; generate's output directory) or must map it (`--vmlinux`), anything but a
regular file is refused by what stat says, before it is opened, and checked again on the
open descriptor (`check_regular`, `open_regular`).
"""
from __future__ import annotations

import contextlib
import os
import stat
import sys
from typing import BinaryIO, Iterator, Optional, Sequence
from vmci.errors import UnusableInput, UsageError

STDIN = "-"
STDIN_NAME = "<stdin>"


class StdinTwice(UsageError):
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
    import shutil  # here: every command imports this module, few read standard input
    import tempfile

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


# --- files that must be regular files --------------------------------------------------
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"))


def kind_of(mode: int) -> str:
    """What a file is, in words, from its st_mode."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a regular file" if stat.S_ISREG(mode) else f"a file of type {stat.S_IFMT(mode):#o}"


class NotRegularFile(UnusableInput):
    """A FIFO, device, socket or directory where a regular file is expected."""

    def __init__(self, path: str, mode: int):
        self.path = path
        self.kind = kind_of(mode)
        super().__init__(f"{path}: not a regular file ({self.kind})")


def check_regular(path: str) -> os.stat_result:
    """The stat of `path` (links followed) if it is a regular file; NotRegularFile if it
    is not; OSError if it cannot be looked at."""
    status = os.stat(path)
    if not stat.S_ISREG(status.st_mode):
        raise NotRegularFile(path, status.st_mode)
    return status


def open_regular(path: str, mode: str = "rb", **kwargs):
    """open(path, mode) for reading, refusing anything but a regular file without
    waiting on it (NotRegularFile); OSError as open() gives it."""
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):  # replaced between the two looks
            raise NotRegularFile(path, status.st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def regular_file_sha256(path: str, limit: Optional[int] = None) -> Optional[str]:
    """The SHA-256 (hex) of a regular file's bytes, read in 1 MiB pieces; None when it is
    not a regular file, cannot be read, or holds more than `limit` bytes. A FIFO or device
    planted at `path` is neither waited on nor read."""
    import hashlib

    digest, size = hashlib.sha256(), 0
    try:
        with open_regular(path) as handle:
            for piece in iter(lambda: handle.read(1 << 20), b""):
                size += len(piece)
                if limit is not None and size > limit:
                    return None
                digest.update(piece)
    except (OSError, NotRegularFile):
        return None
    return digest.hexdigest()
