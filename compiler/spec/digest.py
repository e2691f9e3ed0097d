"""Which files a specs directory's load reads, and the hash of everything that decides what
loading them gives (vmci's code, the schema, each file's contents, where they are shown
from), computed without importing the model.

spec/load.py keys its cache by specs_key(); a warm `vmci resolve` (cli/memo.py) keys its
answer by the same value before it imports anything that reads a spec.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Iterable, List, Optional, Tuple

from vmci.resources import schema_dir

MAX_SPEC_BYTES = 1 << 20  # a spec file larger than this is refused (yamlsource), never hashed


def spec_files(directory: str) -> List[str]:
    """Every emitter file under a specs directory, in a stable order."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "schema" and not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) and name != "consumers.yaml":
                found.append(os.path.join(root, name))
    return found


def emitter_inputs(directory: str) -> List[Tuple[str, str]]:
    """(path, name as shown) of every emitter file: relative to the working directory,
    unless that climbs out of it."""
    found = []
    for path in spec_files(directory):
        relative = os.path.relpath(path)
        found.append((path, relative if not relative.startswith("..") else path))
    return found


def consumers_input(directory: str) -> Optional[Tuple[str, str]]:
    """(path, name as shown) of the directory's consumers.yaml, when anything is there (a
    broken link too: loading reports it, rather than taking it for no file)."""
    path = os.path.join(directory, "consumers.yaml")
    return (path, os.path.relpath(path)) if os.path.lexists(path) else None


def content_digest(path: str) -> Optional[str]:
    """The SHA-256 of a spec file's bytes; None when it is not a regular file that can be
    read, or is too large to be a spec (loading it reports why, every time)."""
    from vmci.files.inputs import regular_file_sha256

    return regular_file_sha256(path, MAX_SPEC_BYTES)


def code_digest() -> Any:
    """A hash of everything besides the specs that decides what loading and checking them
    gives: vmci's version, its Python modules (by name, size and modification time: an
    edited or reinstalled module changes them, and a stat is all a warm command pays for
    the hundred modules, where reading them all cost more than the cache saved) and the
    spec schema (by contents)."""
    from vmci import __version__

    digest = hashlib.sha256(f"vmci {__version__}\0".encode())
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                _hash_stat(digest, os.path.join(root, name))
    schema = schema_dir()
    for name in sorted(os.listdir(schema)):
        _hash_file(digest, os.path.join(schema, name))
    return digest


def _hash_stat(digest: Any, path: str) -> None:
    try:
        status = os.stat(path)
        facts = f"{status.st_size} {status.st_mtime_ns}"
    except OSError:
        facts = "<absent>"
    digest.update(f"{path}\0{facts}\0".encode("utf-8", "surrogateescape"))


def _hash_file(digest: Any, path: str) -> None:
    from vmci.files.inputs import regular_file_sha256

    digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
    digest.update((regular_file_sha256(path) or "<absent>").encode())


def place(directory: str) -> str:
    """The specs directory and the working directory (spec places are shown relative to
    it), hashed: what one spec cache file is for."""
    digest = hashlib.sha256()
    for part in (os.getcwd(), os.path.abspath(directory)):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def specs_key(code: str, place: str, files: Iterable[Tuple[str, Optional[str]]]) -> str:
    """The SHA-256 of every input of a load: vmci's code_digest, the place, and each spec
    file by its name as shown and the digest of its contents (None: not hashed)."""
    key = hashlib.sha256(f"{code}\0{place}\0".encode())
    for shown, digest in sorted(files):
        key.update(json.dumps([shown, digest]).encode("utf-8", "surrogateescape") + b"\0")
    return key.hexdigest()


def current_specs_key(directory: str) -> Optional[str]:
    """specs_key of the specs directory as it is now, read the way loading reads it; None
    when a load would not be remembered whole (no such directory, a file that is not a
    regular file, too large, or named by bytes that are not UTF-8)."""
    if not os.path.isdir(directory):
        return None
    inputs = emitter_inputs(directory)
    consumers = consumers_input(directory)
    files = []
    for path, shown in inputs + ([consumers] if consumers else []):
        try:
            shown.encode("utf-8")
        except UnicodeEncodeError:
            return None
        digest = content_digest(path)
        if digest is None:
            return None
        files.append((shown, digest))
    return specs_key(code_digest().hexdigest(), place(directory), files)
