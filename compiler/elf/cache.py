"""One JSON file per vmlinux contents remembering answers.

A cache file is trusted only for the exact contents it was learned from: it
records the stat fingerprints (device, inode, size, mtime, ctime) of the files
known to have those contents, and once known the SHA-256 of the bytes the
answers can come from (the ELF, program and section header tables, every
segment and every section but the contents of relocation sections, which vmci
never reads: over half of a Debian vmlinux).  A file whose fingerprint is
recorded is trusted without reading it.  Any other file is hashed, when a file
of its build ID has a digest to compare with (about 0.2 s of CPU for a 600 MB
vmlinux, once per copy or change), and its fingerprint added to the file of its
digest, whose answers it then shares.  A file with the same
build ID but other contents -- a damaged copy, a rebuilt image -- hashes to
another digest and so gets a file of its own: files are named by build ID *and*
digest, and found by fingerprint among those of their build ID.

The digest only serves to recognise the same contents under another fingerprint
later, so a cold run -- no cache file of the build ID to compare a digest with --
does not compute it: its answers are saved *unhashed*, in a file named by build
ID and fingerprint that records the image's path, and are trusted, as any file's,
for that fingerprint alone.  A later run with another fingerprint that finds such
a file hashes the file it was learned from, if that path still has the recorded
fingerprint (the same test that trusts a fingerprint: its contents are the ones
the answers came from; the fingerprint is checked again after hashing), and
moves the answers into the file of that digest: the cost of the digest moves
from every cold run to the first run of a copy.  If the path has another
fingerprint now (touched, rewritten, replaced, removed), the unhashed answers
can no longer be matched to any contents and are deleted: such a file is read
cold once more.  (A temporary copy -- standard input spooled to a file -- is
hashed at once: its path is gone by the next run.)  Nothing is ever trusted on
less than before -- a fingerprint, or a digest computed from the file answered --
so a changed file is never answered from a stale cache.  Answers are not saved at all when the image's
fingerprint changed while it was read (written in place during the run).

Writes are atomic (temporary file in the same directory + os.replace) and
merge with whatever another process wrote meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from typing import Any, Callable, Dict, List, Optional, Tuple

FORMAT = 3                 # 1 trusted build ID and size alone; 2 hashed relocations too
SECTIONS = ("types", "variables", "enumerators", "symbols", "facts")
MAX_FINGERPRINTS = 16      # stat fingerprints remembered per contents (the newest)
MAX_CANDIDATES = 8         # cache files of one build ID searched for a fingerprint
DIGEST_NAME_CHARS = 32     # digest characters in a cache file's name


Fingerprint = List[int]


def fingerprint(st: os.stat_result) -> Fingerprint:
    """What identifies one unchanged file: rewriting it in place changes its
    ctime even when its size and mtime are restored."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


Ranges = List[Tuple[int, int]]


def file_digest(fd: int, ranges: Ranges) -> str:
    """SHA-256 of the (offset, size) `ranges` of the file open as `fd` -- the
    ranges themselves first, then their bytes -- read in 16 MiB pieces (through a
    mapping, every page of the file would count in the process's RSS).  SHA-256
    rather than BLAKE2: with the CPU's SHA extensions it is about 3x faster here."""
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


def unhashed_path(cache_dir: str, key: str, fp: Fingerprint) -> str:
    """Where the answers of a cold run are kept until their digest is known: named
    by the fingerprint of the file they were learned from."""
    tag = hashlib.sha256(json.dumps(fp).encode()).hexdigest()[:DIGEST_NAME_CHARS]
    return os.path.join(cache_dir, f"vmlinux-{_safe(key)}-unhashed-{tag}.json")


def _named_right(cache_dir: str, key: str, path: str, d: Dict[str, Any]) -> bool:
    """Is the loaded file at `path` the one its contents name?  (A file copied or
    renamed by hand answers for nothing.)"""
    if d["digest"] is not None:
        return path == cache_path(cache_dir, key, d["digest"])
    prints = d["fingerprints"]
    return len(prints) == 1 and path == unhashed_path(cache_dir, key, prints[0])


def empty(build_id: Optional[str], file_size: int, digest: Optional[str]) -> Dict[str, Any]:
    d: Dict[str, Any] = {"format": FORMAT, "build_id": build_id, "file_size": file_size,
                         "digest": digest, "fingerprints": []}
    for s in SECTIONS:
        d[s] = {}
    return d


def load(path: str, build_id: Optional[str], file_size: int,
         digest: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The cached data, or None when absent, unreadable, of another format or
    for another file (build ID, size, and the digest when given; an unhashed
    file's digest is None)."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        return None
    if d.get("build_id") != build_id or d.get("file_size") != file_size:
        return None
    known = d.get("digest")
    if not (known is None or isinstance(known, str)) or (digest is not None and known != digest):
        return None
    d["digest"] = known
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


# (path of a file, its fingerprint when learned from) -> its digest, or None when that
# path no longer has that fingerprint (or cannot be read)
DigestOf = Callable[[str, Fingerprint], Optional[str]]


def find(cache_dir: str, key: str, build_id: Optional[str], st: os.stat_result, image: str,
         fd: int, ranges: Callable[[], Ranges], digest_of: DigestOf,
         lasting: bool = True) -> Tuple[str, Dict[str, Any], bool]:
    """(path, data, changed) of the cache file for the contents of the file `image`,
    open as `fd`, whose stat is `st` (the digest covers the ranges `ranges()` gives,
    asked for only when the file is hashed; see file_digest).  The file is hashed
    only when no cache file of this build ID lists its fingerprint and one with a
    digest exists to compare with (after the unhashed files among them were hashed
    with `digest_of`), or when it is not `lasting` (a temporary copy, removed after
    this run: unhashed answers could never be matched with it again); else its
    answers go to an unhashed file.  `changed` says that the data gained the
    fingerprint (or is new) and should be saved."""
    fp = fingerprint(st)
    prefix = f"vmlinux-{_safe(key)}-"
    try:
        names = sorted(n for n in os.listdir(cache_dir) if n.startswith(prefix) and n.endswith(".json"))
    except OSError:
        names = []
    hashed = False  # is there a file with a digest to compare this file's with?
    unhashed = []
    for name in names[:MAX_CANDIDATES]:
        path = os.path.join(cache_dir, name)
        d = load(path, build_id, st.st_size)
        if d is None or not _named_right(cache_dir, key, path, d):
            continue
        if fp in d["fingerprints"]:
            return path, d, False
        if d["digest"] is None:
            unhashed.append((path, d))
        else:
            hashed = True
    for path, d in unhashed:
        hashed = _hash_unhashed(cache_dir, key, path, d, digest_of) or hashed
    if not hashed and lasting:
        d = empty(build_id, st.st_size, None)
        d["fingerprints"] = [fp]
        d["image"] = image
        return unhashed_path(cache_dir, key, fp), d, True
    digest = file_digest(fd, ranges())
    path = cache_path(cache_dir, key, digest)
    d = load(path, build_id, st.st_size, digest) or empty(build_id, st.st_size, digest)
    d["fingerprints"] = _add_fingerprint(d["fingerprints"], fp)
    return path, d, True


def _hash_unhashed(cache_dir: str, key: str, path: str, d: Dict[str, Any], digest_of: DigestOf) -> bool:
    """Move the answers of the unhashed file at `path` into the file of their digest,
    if the image they were learned from still has the recorded fingerprint; else
    delete them (nothing can match them to contents any more).  Did it move them?"""
    image = d.get("image")
    digest = digest_of(image, d["fingerprints"][0]) if isinstance(image, str) else None
    moved = False
    if digest is not None:
        d["digest"] = digest
        del d["image"]
        moved = save(cache_path(cache_dir, key, digest), d)
    try:
        os.unlink(path)
    except OSError:
        pass
    return moved


def _add_fingerprint(prints: List[Fingerprint], fp: Fingerprint) -> List[Fingerprint]:
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
