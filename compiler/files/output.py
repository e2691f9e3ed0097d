"""Writing vmci's outputs without harming what is there.

`-o PATH` of every command goes through `write_output`:

- `-` is standard output.
- A path naming one of vmci's own descriptors (/dev/stdout, /dev/stderr, /dev/fd/N,
  /proc/self/fd/N; bash's `-o >(cmd)` gives /dev/fd/63) is written through that
  descriptor as the shell set it up: a pipe, a terminal, a file opened for appending.
- A regular file, or a path where nothing is yet, is replaced atomically: the data goes
  to a temporary file in the same directory, is flushed to disk and renamed over it, so
  an error or Ctrl-C before the rename leaves the previous file as it was. The new file
  keeps the permissions of the one it replaces (and, when vmci runs as root, its owner
  and group); a new one gets 0666 less the umask, as a plain write would.
- A symbolic link is followed to its target, which is replaced as above; the link stays
  a link. A link owned by another user in a world-writable sticky directory (/tmp) is
  not followed, as the kernel's fs.protected_symlinks would refuse to open it.
- A character device or a FIFO is opened and written in place, as `cmd > PATH` does:
  renaming a file over it would destroy it (as root, `-o /dev/null` would replace the
  system's /dev/null by a regular file) and a FIFO's reader would get nothing. Writing
  to a FIFO waits for its reader, as the shell's redirection does.
- A directory, a block device (a disk) or a socket is refused.

An output that is also an input (the same file, by device and inode, or by its path
when it does not exist yet), two outputs that are one file, or an output among the spec
files are refused before anything is read (`check_outputs`).

Every problem is an OutputError whose text is one line naming the output.
"""
from __future__ import annotations

import os
import re
import stat
import sys
from typing import Callable, Iterable, Optional, Tuple

from vmci.files.inputs import kind_of
from vmci.errors import UnusableInput

MAX_LINKS = 40  # as the kernel's MAXSYMLINKS

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the direction
# controls of Unicode's bidirectional algorithm (UAX #9): the embeddings and overrides
# U+202A-U+202E and the isolates U+2066-U+2069 (CVE-2021-42574, "Trojan Source")
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNPRINTABLE = re.compile(f"[\x0a{_CONTROLS}]")
_UNPRINTABLE_IN_TEXT = re.compile(f"[{_CONTROLS}]")


def _escape(match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def printable(text: str) -> str:
    """One line without control characters: names from a damaged image, a tarball or a
    file name could otherwise move the cursor, retitle the window, clear the screen,
    split the line or reorder it; they are shown as escapes (`\\x1b`, `\\u202e`)."""
    return _UNPRINTABLE.sub(_escape, text)


def printable_text(text: str) -> str:
    """Lines (newlines and tabs kept) without other control characters."""
    return _UNPRINTABLE_IN_TEXT.sub(_escape, text)


class OutputError(UnusableInput):
    """An output that cannot, or must not, be written."""

    def __init__(self, message: str, stdout: bool = False):
        super().__init__(message)
        self.stdout = stdout  # standard output failed: what Python still buffers for it is lost


def _created_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


# --- atomic replacement -----------------------------------------------------------------------

def replace_in(directory_fd: int, name: str, data: bytes, like: Optional[os.stat_result] = None,
               mode: Optional[int] = None) -> None:
    """Write `data` as `name` in the directory open as `directory_fd`: a temporary file
    there, flushed to disk, renamed over `name`. Neither is reached through a link.
    `like` is the file replaced: its permissions and, where allowed, owner are kept."""
    if mode is None:
        mode = stat.S_IMODE(like.st_mode) if like is not None else _created_mode()
    while True:
        temporary = f".vmci-{os.urandom(6).hex()}.tmp"  # secrets.token_hex(6), without its imports
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=directory_fd)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            if like is not None and (like.st_uid, like.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(stream.fileno(), like.st_uid, like.st_gid)
                except PermissionError:
                    pass  # only root may give a file away; the new file is the writer's, as with any editor
            os.fchmod(stream.fileno(), mode)  # after fchown, which clears the set-id bits
            os.fsync(stream.fileno())
        os.replace(temporary, name, src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=directory_fd)
        except OSError:
            pass
        raise


def write_atomically(path: str, data: bytes, mode: Optional[int] = None) -> None:
    """Replace the regular file `path` (or create it) atomically; OSError on failure."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        like: Optional[os.stat_result] = os.stat(path)
    except FileNotFoundError:
        like = None
    directory_fd = os.open(directory or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        replace_in(directory_fd, name, data, like, mode)
    finally:
        os.close(directory_fd)


def forget_oldest(directory: str, own: str, keep: int) -> None:
    """Keep a cache directory bounded: of the regular files whose names fully match the
    regular expression `own`, all but the `keep` most recently written are removed.
    Nothing else in the directory is touched."""
    pattern = re.compile(own)
    found = []
    with os.scandir(directory) as items:
        for item in items:
            if pattern.fullmatch(item.name) and item.is_file(follow_symlinks=False):
                found.append((item.stat(follow_symlinks=False).st_mtime, item.path))
    for _, path in sorted(found)[:-keep]:
        try:
            os.unlink(path)
        except OSError:
            pass  # another vmci removed it first


def write_if_changed(path: str, data: bytes) -> bool:
    """Write only when the content differs; return whether it was written."""
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except OSError:
        pass
    write_atomically(path, data)
    return True


# --- `-o PATH` ----------------------------------------------------------------------------------

def write_output(path: str, data: bytes) -> None:
    """Write one output as the module docstring says; OutputError when it cannot be."""
    if path == "-":
        write_stdout(data)
        return
    target, descriptor = _follow_links(path)
    try:
        if descriptor is not None:
            _write_descriptor(path, descriptor, data)
            return
        try:
            status: Optional[os.stat_result] = os.lstat(target)
        except FileNotFoundError:
            status = None
        if status is None or stat.S_ISREG(status.st_mode):
            write_atomically(target, data)
        elif stat.S_ISCHR(status.st_mode) or stat.S_ISFIFO(status.st_mode):
            _write_in_place(path, target, data)
        else:
            why = {stat.S_IFBLK: "; vmci does not write over a disk"}.get(stat.S_IFMT(status.st_mode), "")
            raise OutputError(f"{path}: cannot write: {kind_of(status.st_mode)}{why}")
    except BrokenPipeError:
        raise
    except OSError as error:
        raise OutputError(f"{path}: cannot write: {error.strerror or error}")


def write_stdout(data: bytes) -> None:
    stream = sys.stdout
    if stream is None:
        raise OutputError("standard output is closed", stdout=True)
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is None:  # a text stream (tests capture standard output in a StringIO)
            stream.write(data.decode("utf-8", "surrogateescape"))
            stream.flush()
        else:
            stream.flush()  # what print() wrote comes first
            buffer.write(data)
            buffer.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        raise OutputError(f"standard output: cannot write: {error.strerror or error}", stdout=True)


def _follow_links(path: str) -> Tuple[str, Optional[int]]:
    """(the path the data goes to, or the descriptor of ours the path names)."""
    current = path
    for _ in range(MAX_LINKS + 1):
        descriptor = _own_descriptor(current)
        if descriptor is not None:
            return current, descriptor
        try:
            status = os.lstat(current)
        except FileNotFoundError:
            return current, None
        except OSError as error:
            raise OutputError(f"{path}: cannot write: {error.strerror or error}")
        if not stat.S_ISLNK(status.st_mode):
            return current, None
        _check_link_is_safe(path, current, status)
        current = os.path.join(os.path.dirname(current), os.readlink(current))
    raise OutputError(f"{path}: cannot write: more than {MAX_LINKS} symbolic links in a row")


def _own_descriptor(path: str) -> Optional[int]:
    directory, name = os.path.split(os.path.abspath(path))
    if not name.isdigit():
        return None
    import threading  # here: only an -o naming a descriptor needs it, and a warm resolve imports this module

    pid = os.getpid()
    ours = (f"/proc/{pid}/fd", f"/proc/{pid}/task/{threading.get_native_id()}/fd")
    return int(name) if os.path.realpath(directory) in ours else None


def _check_link_is_safe(path: str, link: str, status: os.stat_result) -> None:
    directory = os.path.dirname(os.path.abspath(link))
    where = os.stat(directory)
    shared = where.st_mode & stat.S_ISVTX and where.st_mode & stat.S_IWOTH
    if shared and status.st_uid not in (os.geteuid(), where.st_uid):
        raise OutputError(f"{path}: a symbolic link of another user (uid {status.st_uid}) in the world-writable "
                          f"directory {directory}; not followed (as fs.protected_symlinks refuses it)")


def _write_descriptor(path: str, descriptor: int, data: bytes) -> None:
    streams = {1: (sys.__stdout__, sys.stdout, "standard output"), 2: (sys.__stderr__, sys.stderr, "standard error")}
    if descriptor in streams:
        original, current, name = streams[descriptor]
        if original is None:  # closed when vmci started: the number may now be a file vmci opened
            raise OutputError(f"{path}: cannot write: {name} is closed")
        if current is not None:
            current.flush()  # keep the order of what went through Python's stream
    os.fstat(descriptor)  # EBADF for a descriptor that is not open
    _write_all(descriptor, data)


def _write_in_place(path: str, target: str, data: bytes) -> None:
    descriptor = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)  # a FIFO: waits for its reader
    try:
        mode = os.fstat(descriptor).st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
            raise OutputError(f"{path}: cannot write: it changed into {kind_of(mode)} while being opened")
        _write_all(descriptor, data)
    finally:
        os.close(descriptor)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


# --- outputs that are inputs ---------------------------------------------------------------------

def _identity(path: str) -> Optional[Tuple[int, int]]:
    """(device, inode) of the regular file `path` names, links followed; None otherwise."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None


def _same_file(path: str, other: str) -> bool:
    """Whether writing `path` would overwrite `other`: the same regular file, or the
    same place when neither exists yet. A terminal or pipe named twice is no conflict."""
    if path == "-" or other == "-":
        return False
    identity, other_identity = _identity(path), _identity(other)
    if identity is not None or other_identity is not None:
        return identity == other_identity
    if os.path.lexists(path) or os.path.lexists(other):
        return False
    return _real(path) == _real(other)


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def check_outputs(outputs: Iterable[Tuple[str, Optional[str]]], inputs: Iterable[Tuple[str, Optional[str]]],
                  directories: Iterable[Tuple[str, Optional[str], Callable[[str], bool]]] = ()) -> None:
    """Refuse (OutputError) an output that would overwrite an input.

    outputs, inputs: (option, path) as given (path None: not given); directories:
    (option, path, reads) where reads(relative path) says whether a file at that place
    under the directory is read as an input (a spec file, a kernel tree's Makefile)."""
    written = [(option, path) for option, path in outputs if path is not None]
    read = [(option, path) for option, path in inputs if path is not None and path != "-"]
    for number, (option, path) in enumerate(written):
        for other_option, other in written[:number]:
            if path == other == "-":
                raise OutputError(f"{other_option} - and {option} -: both standard output; give a file for one of them")
            if _same_file(path, other):
                raise OutputError(f"{option} {path}: the same file as {other_option} {other}; give two files")
        if path == "-":
            continue
        for input_option, source in read:
            if _same_file(path, source):
                raise OutputError(f"{option} {path}: the same file as {input_option} {source}; "
                                  f"vmci does not write over its input")
        for input_option, directory, reads in directories:
            if directory is not None and _inside(path, directory, reads):
                raise OutputError(f"{option} {path}: a file {input_option} {directory} reads; "
                                  f"vmci does not write over its input")


def _inside(path: str, directory: str, reads: Callable[[str], bool]) -> bool:
    """Whether `path` is a file under `directory` that `reads` says is read: by its place,
    or, for a file with other hard links, by its inode."""
    real, top = _real(path), _real(directory)
    relative = os.path.relpath(real, top)
    if not relative.startswith("..") and reads(relative.replace(os.sep, "/")):
        return True
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return False
    if not stat.S_ISREG(status.st_mode) or status.st_nlink < 2:
        return False
    for root, _, names in os.walk(top):
        for name in names:
            candidate = os.path.join(root, name)
            try:
                other = os.lstat(candidate)
            except OSError:
                continue
            if (other.st_dev, other.st_ino) == (status.st_dev, status.st_ino) and \
                    reads(os.path.relpath(candidate, top).replace(os.sep, "/")):
                return True
    return False


# --- standard output while a command runs ------------------------------------------------------

class GuardedStdout:
    """sys.stdout while a command runs: a failed write (a full disk, a closed or
    revoked descriptor) is an OutputError naming standard output, not a traceback from
    print(). A broken pipe stays BrokenPipeError: the reader stopped, vmci stops."""

    def __init__(self, stream):
        self._stream = stream

    def _guard(self, call, *args):
        if self._stream is None:
            raise OutputError("standard output is closed", stdout=True)
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as error:
            raise OutputError(f"standard output: cannot write: {error.strerror or error}", stdout=True)

    def write(self, text):
        return self._guard(lambda: self._stream.write(text))

    def flush(self):
        if self._stream is not None:
            self._guard(self._stream.flush)

    def __getattr__(self, name):
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


def discard_stdout() -> None:
    """After standard output failed: point descriptor 1 at the null device, so that
    Python's last flush at exit does not fail again with a message of its own."""
    stream = sys.__stdout__
    if stream is None:
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.dup2(null, stream.fileno())
        finally:
            os.close(null)
    except (OSError, ValueError):
        pass
