"""What `vmci generate` owns in its output directory: the files its manifest names.

DIR/.vmci-manifest.json records every file generate wrote there, with the SHA-256 of
what it wrote:

    {"format": "vmci-manifest/1", "files": {"c/6.1/kernel/crash_core.c": "sha256:…", …}}

Only those files are ever replaced or removed, and only while they still hold what
generate wrote: a file changed by hand since, or one generate did not write, is left
alone with a warning (`--force` replaces it; nothing but a file generate wrote and that
is unchanged is ever removed). A directory without a manifest is generate's only when it
does not exist or is empty; any other needs `--force`, and then only the files written
are recorded. The manifest holds no dates or versions, so it is the same for the same
outputs (and `generate --check` compares it like any other output).

Before the first file is changed the manifest is rewritten with the new hashes under
"pending", and after the last without them: a run interrupted at any point leaves every
file either as it was or as the specs give it, and both are still generate's.

Everything under DIR is reached through directory descriptors opened without following
links (O_NOFOLLOW, openat): a symbolic link under DIR -- to a file or to a directory --
is never followed, so generate never writes or removes outside DIR; a FIFO or device at
an output path is never opened. Only DIR itself, which the user named, may be a link.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from vmci.files.inputs import kind_of
from vmci.jsonformat import document, format_name
from vmci.errors import UnusableInput

NAME = ".vmci-manifest.json"
MAX_MANIFEST_BYTES = 1 << 20
_DIGEST_PREFIX = "sha256:"


class OwnershipError(UnusableInput):
    """The directory cannot be written safely: one line naming it, exit status 2."""


def digest(data: bytes) -> str:
    return _DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def manifest_text(files: Dict[str, str], pending: Optional[Dict[str, str]] = None) -> str:
    payload = {"files": dict(sorted(files.items()))}
    if pending:
        payload["pending"] = dict(sorted(pending.items()))
    return document("manifest", payload)


@dataclass
class Manifest:
    files: Dict[str, str] = field(default_factory=dict)
    pending: Dict[str, str] = field(default_factory=dict)
    found: bool = False  # a manifest file was there

    def recorded(self, path: str) -> Tuple[str, ...]:
        """The hashes of what generate wrote (or was about to write) at `path`."""
        return tuple(h for h in (self.files.get(path), self.pending.get(path)) if h)


def _valid_path(path: object) -> bool:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def parse_manifest(text: bytes, shown: str) -> Manifest:
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise OwnershipError(f"{shown}: not a vmci manifest ({error}); remove it, or use --force") from None
    if not isinstance(data, dict) or data.get("format") != format_name("manifest"):
        found = data.get("format") if isinstance(data, dict) else None
        raise OwnershipError(f"{shown}: not a vmci manifest (format {found!r}, expected "
                             f"{format_name('manifest')!r}); remove it, or use --force")
    manifest = Manifest(found=True)
    for member in ("files", "pending"):
        entries = data.get(member, {})
        if not isinstance(entries, dict):
            raise OwnershipError(f"{shown}: `{member}` is not a mapping of paths to hashes; remove it, or use --force")
        for path, value in entries.items():
            if not _valid_path(path):
                raise OwnershipError(f"{shown}: `{member}` names {path!r}, which is not a path inside the directory; "
                                     f"remove the manifest, or use --force")
            if not (isinstance(value, str) and value.startswith(_DIGEST_PREFIX) and len(value) == 71 and
                    all(c in "0123456789abcdef" for c in value[7:])):
                raise OwnershipError(f"{shown}: `{member}` gives {path} the hash {value!r}, not sha256:<64 hex digits>;"
                                     f" remove the manifest, or use --force")
        getattr(manifest, member).update(entries)
    return manifest


# --- the directory, reached without following links ----------------------------------------

@dataclass(frozen=True)
class Look:
    """What is at one path under DIR."""
    state: str  # "missing", "file", "blocked"
    digest: str = ""  # of a file
    data_size: int = 0
    blocked_at: str = ""  # the path (under DIR) of the link or odd file in the way
    reason: str = ""


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class OutputDirectory:
    """DIR opened once; every path under it reached by openat() without following links."""

    def __init__(self, path: str, create: bool):
        self.path = path
        if create:
            os.makedirs(path, exist_ok=True)
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def is_empty(self) -> bool:
        return not os.listdir(self.fd)

    def _walk(self, relpath: str, create: bool) -> Tuple[Optional[int], str, Optional[Look]]:
        """(descriptor of the directory holding relpath's last part, that part, None), or
        (None, part, Look) when a part is missing (and not created) or in the way."""
        parts = relpath.split("/")
        current = os.dup(self.fd)
        done: List[str] = []
        try:
            for part in parts[:-1]:
                done.append(part)
                try:
                    following = os.open(part, _DIRECTORY_FLAGS, dir_fd=current)
                except FileNotFoundError:
                    if not create:
                        os.close(current)
                        return None, parts[-1], Look("missing")
                    os.mkdir(part, 0o777, dir_fd=current)
                    following = os.open(part, _DIRECTORY_FLAGS, dir_fd=current)
                except OSError as error:
                    if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    mode = os.lstat(part, dir_fd=current).st_mode
                    os.close(current)
                    return None, parts[-1], _blocked("/".join(done), mode, directory_expected=True)
                os.close(current)
                current = following
        except BaseException:
            os.close(current)
            raise
        return current, parts[-1], None

    def look(self, relpath: str) -> Look:
        parent, name, found = self._walk(relpath, create=False)
        if parent is None:
            assert found is not None  # _walk gives a Look exactly when it gives no directory
            return found
        try:
            try:
                handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
            except FileNotFoundError:
                return Look("missing")
            except OSError as error:
                if error.errno != errno.ELOOP:
                    raise
                return _blocked(relpath, stat.S_IFLNK)
            try:
                mode = os.fstat(handle).st_mode
                if not stat.S_ISREG(mode):
                    return _blocked(relpath, mode)
                hasher, size = hashlib.sha256(), 0
                while True:
                    piece = os.read(handle, 1 << 20)
                    if not piece:
                        break
                    hasher.update(piece)
                    size += len(piece)
                return Look("file", _DIGEST_PREFIX + hasher.hexdigest(), size)
            finally:
                os.close(handle)
        finally:
            os.close(parent)

    def read_small(self, relpath: str, limit: int) -> Optional[bytes]:
        """The bytes of a regular file directly in DIR (None if absent); OwnershipError
        if it is not a regular file or larger than `limit`."""
        shown = os.path.join(self.path, relpath)
        try:
            handle = os.open(relpath, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise OwnershipError(f"{shown}: a symbolic link; generate does not follow links in its directory")
            raise
        try:
            mode = os.fstat(handle).st_mode
            if not stat.S_ISREG(mode):
                raise OwnershipError(f"{shown}: not a regular file ({kind_of(mode)})")
            data = os.read(handle, limit + 1)
            if len(data) > limit:
                raise OwnershipError(f"{shown}: larger than {limit} bytes; not a vmci manifest")
            return data
        finally:
            os.close(handle)

    def write(self, relpath: str, data: bytes) -> Optional[Look]:
        """Replace relpath atomically (creating its directories); a Look if something is in the way."""
        from vmci.files.output import replace_in

        parent, name, found = self._walk(relpath, create=True)
        if parent is None:
            return found
        try:
            try:
                like: Optional[os.stat_result] = os.lstat(name, dir_fd=parent)
            except FileNotFoundError:
                like = None
            if like is not None and not stat.S_ISREG(like.st_mode):
                return _blocked(relpath, like.st_mode)
            replace_in(parent, name, data, like)
            return None
        finally:
            os.close(parent)

    def remove(self, relpath: str) -> None:
        """Remove a file, then each directory on its way that this left empty."""
        parts = relpath.split("/")
        chain = [os.dup(self.fd)]
        try:
            for part in parts[:-1]:
                chain.append(os.open(part, _DIRECTORY_FLAGS, dir_fd=chain[-1]))
            os.unlink(parts[-1], dir_fd=chain[-1])
            for depth in range(len(parts) - 1, 0, -1):
                try:
                    os.rmdir(parts[depth - 1], dir_fd=chain[depth - 1])
                except OSError:
                    break  # not empty
        finally:
            for handle in chain:
                os.close(handle)


def _blocked(relpath: str, mode: int, directory_expected: bool = False) -> Look:
    if stat.S_ISLNK(mode):
        reason = "a symbolic link; generate does not write through links"
    elif stat.S_ISDIR(mode):
        reason = "a directory"
    elif directory_expected:
        reason = f"{kind_of(mode)} where a directory is expected"
    else:
        reason = f"not a regular file ({kind_of(mode)})"
    return Look("blocked", blocked_at=relpath, reason=reason)


def read_manifest(directory: OutputDirectory) -> Manifest:
    shown = os.path.join(directory.path, NAME)
    data = directory.read_small(NAME, MAX_MANIFEST_BYTES)
    if data is None:
        return Manifest()
    return parse_manifest(data, shown)
