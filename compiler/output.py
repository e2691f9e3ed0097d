"""Write output files so that a failure never leaves a half-written file behind.

Data goes to a temporary file in the destination directory, is flushed to disk, and
only then renamed over the destination (rename is atomic within a file system). An
error or Ctrl-C before the rename leaves the previous file untouched.
"""
from __future__ import annotations

import os
import re
import stat
import tempfile
from typing import Optional

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


def _mode_for(path: str) -> int:
    """The permissions a plain write would give: the existing file's (a replaced file
    keeps them), else 0666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomically(path: str, data: bytes, mode: Optional[int] = None) -> None:
    mode = _mode_for(path) if mode is None else mode
    directory = os.path.dirname(os.path.abspath(path)) or "."
    handle, temporary = tempfile.mkstemp(prefix=".vmci-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


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
