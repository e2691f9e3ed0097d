"""A kernel source tree as `audit source` reads it: a directory or a tarball.

Only three kinds of file matter: C files that mention VMCOREINFO (csource.MARKERS), the
Kbuild makefiles (gates) and the Kconfig files (rules). A directory is walked once; a
tarball (Debian's /usr/src/linux-source-X.tar.xz) is streamed once and only those
files are kept, in memory or, with `extract_audit_files`, on disk, so that CI never
unpacks the whole tree.
"""
from __future__ import annotations

import lzma
import os
import re
import tarfile
import zlib
from typing import Callable, Dict, List, Optional, Tuple

from .csource import MARKERS

MAX_FILE_BYTES = 8 << 20


class TreeError(Exception):
    """A tree that cannot be read; str() is one line naming the path."""


def wanted(relpath: str) -> Optional[str]:
    """What a file is to the audit: 'c', 'kbuild', 'kconfig' or None."""
    name = relpath.rsplit("/", 1)[-1]
    if name.endswith(".c"):
        return "c"
    if name in ("Makefile", "Kbuild"):
        return "kbuild"
    if name.startswith("Kconfig"):
        return "kconfig"
    return None


def mentions_vmcoreinfo(data: bytes) -> bool:
    return any(marker in data for marker in MARKERS)


def version_of(makefile_text: str) -> Optional[Tuple[int, ...]]:
    """VERSION, PATCHLEVEL and SUBLEVEL from the top Makefile."""
    fields = {}
    for line in makefile_text.splitlines()[:40]:
        match = re.match(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)\s*$", line)
        if match:
            fields[match.group(1)] = match.group(2)
    if not fields.get("VERSION") or not fields.get("PATCHLEVEL"):
        return None
    parts = [int(fields["VERSION"]), int(fields["PATCHLEVEL"])]
    if fields.get("SUBLEVEL"):
        parts.append(int(fields["SUBLEVEL"]))
    return tuple(parts)


class KernelTree:
    """Read access to the files of one tree; paths are relative to its top."""

    def __init__(self, name: str, version: Tuple[int, ...], c_files: List[str], kconfig_files: List[str]):
        self.name = name
        self.version = version
        self.c_files = c_files  # the C files that mention VMCOREINFO
        self.kconfig_files = kconfig_files

    def read(self, relpath: str) -> Optional[str]:
        raise NotImplementedError

    def arches(self) -> List[str]:
        return sorted({p.split("/")[1] for p in self.kconfig_files
                       if p.startswith("arch/") and p.count("/") == 2 and p.endswith("/Kconfig")})

    @staticmethod
    def open(path: str, progress: Optional[Callable[[int, int, str], None]] = None) -> "KernelTree":
        """The tree in a directory or a tarball; `progress(done, total, what)` follows the
        tarball's compressed bytes as they are read."""
        if os.path.isdir(path):
            return DirectoryTree(path)
        if os.path.isfile(path):
            return TarballTree(path, progress)
        raise TreeError(f"{path}: no such directory or tarball")


class DirectoryTree(KernelTree):
    def __init__(self, root: str):
        self.root = root
        try:
            with open(os.path.join(root, "Makefile"), encoding="utf-8", errors="replace") as handle:
                version = version_of(handle.read(8192))
        except OSError as error:
            raise TreeError(f"{os.path.join(root, 'Makefile')}: cannot read the top Makefile "
                            f"({error.strerror or error}); is {root} a kernel source tree?")
        if version is None:
            raise TreeError(f"{os.path.join(root, 'Makefile')}:1: no VERSION/PATCHLEVEL lines; not a kernel's top Makefile")
        c_files, kconfig_files = [], []
        for directory, subdirs, files in os.walk(root, onerror=self._walk_error):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                full = os.path.join(directory, name)
                relpath = os.path.relpath(full, root).replace(os.sep, "/")
                kind = wanted(relpath)
                if kind == "kconfig":
                    kconfig_files.append(relpath)
                elif kind == "c":
                    try:
                        with open(full, "rb") as handle:
                            if mentions_vmcoreinfo(handle.read(MAX_FILE_BYTES)):
                                c_files.append(relpath)
                    except OSError as error:
                        raise TreeError(f"{full}: cannot read ({error.strerror or error})")
        super().__init__(root, version, c_files, kconfig_files)

    @staticmethod
    def _walk_error(error: OSError):
        raise TreeError(f"{error.filename}: cannot list ({error.strerror or error})")

    def read(self, relpath: str) -> Optional[str]:
        try:
            with open(os.path.join(self.root, relpath), encoding="utf-8", errors="replace") as handle:
                return handle.read(MAX_FILE_BYTES)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            raise TreeError(f"{os.path.join(self.root, relpath)}: cannot read ({error.strerror or error})")


def _members(path: str, progress: Optional[Callable[[int, int, str], None]] = None) -> Dict[str, bytes]:
    """relative path -> bytes of every file of a kernel tarball the audit needs.

    Paths are relative to the tree's top: the tarball's own top directory
    (linux-source-6.1/) is dropped when there is one."""
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise TreeError(f"{path}: not a directory or a readable tarball ({error.strerror or error})")
    try:
        size = os.fstat(raw.fileno()).st_size
        archive = tarfile.open(fileobj=raw, mode="r|*")
    except (tarfile.TarError, OSError, EOFError) as error:
        raw.close()
        raise TreeError(f"{path}: not a directory or a readable tarball ({error})")
    found: Dict[str, bytes] = {}
    try:
        with raw, archive:
            for member in archive:
                if progress is not None:
                    progress(raw.tell(), size, "reading the tarball")
                if not member.isfile():
                    continue
                name = member.name
                while name.startswith("./"):
                    name = name[2:]
                kind = wanted(name)
                if kind is None and name.rsplit("/", 1)[-1] != "Makefile":
                    continue
                handle = archive.extractfile(member)
                data = handle.read(MAX_FILE_BYTES) if handle else b""
                if kind == "c" and not mentions_vmcoreinfo(data):
                    continue
                found[name] = data
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as error:
        raise TreeError(f"{path}: damaged tarball ({error})")
    if "Makefile" in found:
        return found
    tops = {name.split("/", 1)[0] for name in found if "/" in name}
    top = next((t for t in sorted(tops) if f"{t}/Makefile" in found), None)
    if top is None:
        return found
    return {name[len(top) + 1:]: data for name, data in found.items() if name.startswith(top + "/")}


class TarballTree(KernelTree):
    def __init__(self, path: str, progress: Optional[Callable[[int, int, str], None]] = None):
        self.files: Dict[str, str] = {relpath: data.decode("utf-8", "replace")
                                      for relpath, data in _members(path, progress).items()}
        top = self.files.get("Makefile")
        version = version_of(top) if top else None
        if version is None:
            raise TreeError(f"{path}: no top Makefile with VERSION/PATCHLEVEL in the tarball; not a kernel source tarball")
        super().__init__(path, version, sorted(p for p in self.files if wanted(p) == "c"),
                         sorted(p for p in self.files if wanted(p) == "kconfig"))

    def read(self, relpath: str) -> Optional[str]:
        return self.files.get(relpath)


def extract_audit_files(tarball: str, destination: str) -> int:
    """Write the files `audit source` needs from a kernel tarball under destination;
    return how many. The result is a DirectoryTree with the same audit as the tarball."""
    count = 0
    for relpath, data in _members(tarball).items():
        target = os.path.join(destination, *relpath.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
        count += 1
    return count

