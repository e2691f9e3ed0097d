"""One JSON file per vmlinux (keyed by build ID) remembering answers.

The file is only trusted when its build ID and file size match the image.
Writes are atomic (temporary file in the same directory + os.replace) and
merge with whatever another process wrote meanwhile.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any, Dict, Optional

FORMAT = 1
SECTIONS = ("types", "variables", "enumerators", "symbols", "facts")


def cache_path(cache_dir: str, key: str) -> str:
    safe = re.sub(r"[^0-9A-Za-z_.+-]", "_", key)
    return os.path.join(cache_dir, f"vmlinux-{safe}.json")


def empty(build_id: Optional[str], file_size: int) -> Dict[str, Any]:
    d: Dict[str, Any] = {"format": FORMAT, "build_id": build_id, "file_size": file_size}
    for s in SECTIONS:
        d[s] = {}
    return d


def load(path: str, build_id: Optional[str], file_size: int) -> Optional[Dict[str, Any]]:
    """The cached data, or None when absent, unreadable or for another file."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        return None
    if d.get("build_id") != build_id or d.get("file_size") != file_size:
        return None
    for s in SECTIONS:
        if not isinstance(d.get(s), dict):
            d[s] = {}
    return d


def save(path: str, data: Dict[str, Any]) -> bool:
    """Merge `data` into the file at `path` atomically.  Returns False when the
    directory cannot be written (the cache is an optimisation only)."""
    directory = os.path.dirname(path) or "."
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return False
    old = load(path, data.get("build_id"), data.get("file_size", -1))
    if old is not None:
        for s in SECTIONS:
            merged = dict(old.get(s, {}))
            merged.update(data.get(s, {}))
            data[s] = merged
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vmlinux-", suffix=".tmp", dir=directory)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, separators=(",", ":"), sort_keys=True)
        os.replace(tmp, path)
        return True
    except (OSError, TypeError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
