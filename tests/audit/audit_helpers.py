"""Helpers of the audit tests: the real kernel source trees, extracted once.

Debian's linux-source-6.1 and linux-source-6.12 packages (bookworm) install the tarballs
under /usr/src; the trees of other suites (5.10 from bullseye, 7.2 from sid, 7.3 from
experimental) are fetched by tools/fetch-source.sh into $VMCI_SOURCE_TARBALLS (default
/var/cache/vmci/linux-source) without being installed. Only what `vmci audit source` reads is extracted (the C files that mention
VMCOREINFO, every Makefile/Kbuild and every Kconfig file: about 5000 files, 40 MB),
into $VMCI_SOURCE_CACHE/<version> (default /var/cache/vmci/src), outside the
repository, and reused while the tarball and audit/tree.py (which picks the files) are
unchanged (the stamp used to be compared with the extraction time in it, so every call
extracted again). A missing tarball is a failure,
not a skip: CI must run these tests (tools/setup.sh installs or fetches them).
"""
import hashlib
import json
import os
import shutil
import tempfile
import time

import pytest
from vmci.audit import tree as tree_module
from vmci.audit.tree import extract_audit_files

SOURCE_CACHE = os.environ.get("VMCI_SOURCE_CACHE", "/var/cache/vmci/src")
TARBALL_DIRS = ("/usr/src", os.environ.get("VMCI_SOURCE_TARBALLS", "/var/cache/vmci/linux-source"))
STAMP = ".vmci-extracted.json"


def kernel_source(version: str) -> str:
    """A directory with the audit's files of linux-source-<version>, extracted on first use."""
    candidates = [os.path.join(directory, f"linux-source-{version}.tar.xz") for directory in TARBALL_DIRS]
    tarball = next((path for path in candidates if os.path.exists(path)), None)
    if tarball is None:
        pytest.fail(f"linux-source-{version}.tar.xz is in none of {', '.join(TARBALL_DIRS)}: "
                    f"run tools/setup.sh (it installs or fetches it)")
    stat = os.stat(tarball)
    with open(tree_module.__file__, "rb") as handle:  # what is extracted is tree.py's choice
        extractor = hashlib.sha256(handle.read()).hexdigest()
    stamp = {"tarball": tarball, "size": stat.st_size, "mtime": int(stat.st_mtime), "extractor": extractor}
    destination = os.path.join(SOURCE_CACHE, version)
    try:
        with open(os.path.join(destination, STAMP)) as handle:
            found = json.load(handle)  # the stamp, and what the extraction took
        if isinstance(found, dict) and {key: found.get(key) for key in stamp} == stamp:
            return destination
    except (OSError, ValueError):
        pass
    os.makedirs(SOURCE_CACHE, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{version}-", dir=SOURCE_CACHE)
    started = time.monotonic()
    count = extract_audit_files(tarball, work)
    stamp["files"] = count
    stamp["seconds"] = round(time.monotonic() - started, 1)
    with open(os.path.join(work, STAMP), "w") as handle:
        json.dump(stamp, handle)
    shutil.rmtree(destination, ignore_errors=True)
    os.replace(work, destination)
    return destination
