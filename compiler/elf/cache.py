"""One JSON file per vmlinux contents remembering answers.

A cache file is trusted only for the exact contents it was learned from: it
records the SHA-256 of the bytes the answers can come from (the ELF, program
and section header tables, every segment and every section but the contents
of relocation sections, which vmci never reads: over half of a Debian vmlinux)
and the stat fingerprints (device, inode, size, mtime, ctime) of the files
known to have those contents.  A file whose fingerprint is recorded is
trusted without reading it; any other file is hashed (about 0.2 s for a 600 MB
vmlinux, once per copy or change) and its fingerprint added when the digest
matches.  When no cache file of the
build ID exists at all (a cold run), nothing needs the digest before the
answers are saved: it is computed on another thread meanwhile (hashlib and
preadv release the GIL), so a cold run does not wait for it.  A file with the same
build ID but other contents -- a damaged copy, a rebuilt image -- hashes to
another digest and so gets a file of its own: files are named by build ID
*and* digest, and found by fingerprint among those of their build ID.

Writes are atomic (temporary file in the same directory + os.replace) and
merge with whatever another process wrote meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

FORMAT = 3                 # 1 trusted build ID and size alone; 2 hashed relocations too
SECTIONS = ("types", "variables", "enumerators", "symbols", "facts")
MAX_FINGERPRINTS = 16      # stat fingerprints remembered per contents (the newest)
MAX_CANDIDATES = 8         # cache files of one build ID searched for a fingerprint
DIGEST_NAME_CHARS = 32     # digest characters in a cache file's name


def fingerprint(st: os.stat_result) -> List[int]:
    """What identifies one unchanged file: rewriting it in place changes its
    ctime even when its size and mtime are restored."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


Ranges = List[Tuple[int, int]]


def file_digest(fd: int, ranges: Ranges) -> str:
    """SHA-256 of the (offset, size) `ranges` of the file open as `fd` -- the
    ranges themselves first, then their bytes -- read in 16 MiB pieces (through a
    mapping, every page of the file would count in the process's RSS; on the
    digest thread each piece costs two waits for the GIL, up to the 5 ms switch
    interval each while the main thread decodes DWARF: 1 MiB pieces made the
    digest take 1.4 s beside a cold run instead of 0.45 s alone).  SHA-256 rather
    than BLAKE2: with the CPU's SHA extensions it is about 3x faster here."""
    h = hashlib.sha256()
    h.update(json.dumps(ranges).encode())
    buf = bytearray(1 << 24)
    view = memoryview(buf)
    for offset, size in ranges:
        end = offset + size
        while offset < end:
            n = os.preadv(fd, [view[:min(len(buf), end - offset)]], offset)
            if n <= 0:
                break  # the file is shorter than it was: what was read is hashed
            h.update(view[:n])
            offset += n
    return h.hexdigest()


def _safe(key: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.+-]", "_", key)


def cache_path(cache_dir: str, key: str, digest: str) -> str:
    return os.path.join(cache_dir, f"vmlinux-{_safe(key)}-{digest[:DIGEST_NAME_CHARS]}.json")


def empty(build_id: Optional[str], file_size: int, digest: str) -> Dict[str, Any]:
    d: Dict[str, Any] = {"format": FORMAT, "build_id": build_id, "file_size": file_size,
                         "digest": digest, "fingerprints": []}
    for s in SECTIONS:
        d[s] = {}
    return d


def load(path: str, build_id: Optional[str], file_size: int,
         digest: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The cached data, or None when absent, unreadable, of another format or
    for another file (build ID, size, and the digest when given)."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        return None
    if d.get("build_id") != build_id or d.get("file_size") != file_size:
        return None
    if not isinstance(d.get("digest"), str) or (digest is not None and d["digest"] != digest):
        return None
    prints = d.get("fingerprints")
    d["fingerprints"] = [p for p in prints if isinstance(p, list)] if isinstance(prints, list) else []
    for s in SECTIONS:
        entries = d.get(s)
        d[s] = {k: v for k, v in entries.items() if _entry_ok(s, k, v)} if isinstance(entries, dict) else {}
    return d


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _entry_ok(section: str, key: str, v: Any) -> bool:
    """Has a cached answer the shape vmlinux.py writes?  (Others are dropped, and
    the question is asked of the image again.)"""
    failure = isinstance(v, dict) and isinstance(v.get("failure"), str)
    if section in ("types", "variables"):
        return failure or (isinstance(v, dict) and isinstance(v.get("type"), dict))
    if section == "enumerators":
        return failure or _is_int(v)
    if section == "symbols":
        return v is None or _is_int(v)
    if key == "has_dwarf":
        return isinstance(v, bool)
    return v is None or isinstance(v, str)


class PendingPath:
    """The cache file's path once the digest, computed on another thread from a
    duplicate of the descriptor (the image may be closed first), is known."""

    def __init__(self, cache_dir: str, key: str, fd: int, ranges: Ranges) -> None:
        self._cache_dir, self._key, self._ranges = cache_dir, key, ranges
        self._digest: Optional[str] = None
        self._fd = os.dup(fd)
        self._thread = threading.Thread(target=self._run, name="vmci-digest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._digest = file_digest(self._fd, self._ranges)
        except OSError:
            self._digest = None  # the cache is an optimisation: nothing is saved
        finally:
            os.close(self._fd)

    def resolve(self, data: Dict[str, Any]) -> Optional[str]:
        """The path, with the digest recorded in `data`; None if it could not be read."""
        self._thread.join()
        if self._digest is None:
            return None
        data["digest"] = self._digest
        return cache_path(self._cache_dir, self._key, self._digest)


CachePath = Union[str, PendingPath]


def find(cache_dir: str, key: str, build_id: Optional[str], st: os.stat_result,
         fd: int, ranges: Callable[[], Ranges]) -> Tuple[CachePath, Dict[str, Any], bool]:
    """(path, data, changed) of the cache file for the contents of the file open
    as `fd`, whose stat is `st` (the digest covers the ranges `ranges()` gives,
    asked for only when the file is hashed; see file_digest).  The file is hashed only when no cache file of
    this build ID lists its fingerprint, and on another thread when there is no
    cache file of this build ID at all (the path is then a PendingPath);
    `changed` says that the data gained the fingerprint (or is new) and should
    be saved."""
    fp = fingerprint(st)
    prefix = f"vmlinux-{_safe(key)}-"
    try:
        names = sorted(n for n in os.listdir(cache_dir) if n.startswith(prefix) and n.endswith(".json"))
    except OSError:
        names = []
    for name in names[:MAX_CANDIDATES]:
        path = os.path.join(cache_dir, name)
        d = load(path, build_id, st.st_size)
        if d is not None and fp in d["fingerprints"] and path == cache_path(cache_dir, key, d["digest"]):
            return path, d, False
    if not names:
        d = empty(build_id, st.st_size, "")
        d["fingerprints"] = [fp]
        return PendingPath(cache_dir, key, fd, ranges()), d, True
    digest = file_digest(fd, ranges())
    path = cache_path(cache_dir, key, digest)
    d = load(path, build_id, st.st_size, digest) or empty(build_id, st.st_size, digest)
    d["fingerprints"] = _add_fingerprint(d["fingerprints"], fp)
    return path, d, True


def _add_fingerprint(prints: List[List[int]], fp: List[int]) -> List[List[int]]:
    return ([p for p in prints if p != fp] + [fp])[-MAX_FINGERPRINTS:]


def save(path: str, data: Dict[str, Any]) -> bool:
    """Merge `data` into the file at `path` atomically.  Returns False when the
    directory cannot be written (the cache is an optimisation only)."""
    directory = os.path.dirname(path) or "."
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return False
    old = load(path, data.get("build_id"), data.get("file_size", -1), data.get("digest"))
    if old is not None:
        for s in SECTIONS:
            merged = dict(old.get(s, {}))
            merged.update(data.get(s, {}))
            data[s] = merged
        prints = old["fingerprints"]
        for fp in data.get("fingerprints", []):
            prints = _add_fingerprint(prints, fp)
        data["fingerprints"] = prints
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vmlinux-", suffix=".tmp", dir=directory)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # dumps, not dump: only the one-shot encoder is CPython's C one (10x faster)
            f.write(json.dumps(data, separators=(",", ":"), sort_keys=True))
        os.replace(tmp, path)
        return True
    except (OSError, TypeError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
