"""Helpers shared by the vmlinux reader tests (imported by name: this
directory is a package, so its conftest does not shadow tests/conftest.py)."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
for p in (ROOT, HERE, os.path.join(ROOT, "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)

import elf_fixture_c as F  # noqa: E402

KERNELS = ["6.1.0-57-cloud-amd64", "6.12.117+deb12-cloud-amd64", "6.1.0-50-cloud-arm64",
           "6.1.0-50-686-pae",   # i386: ELF32
           "6.1.0-50-s390x",     # big endian
           "6.1.0-50-armmp"]     # armhf: ELF32
DEFAULT_KERNEL_CACHE = "/var/cache/vmci/kernels"


def kernel_path(release: str) -> str:
    """vmlinux of `release` from $VMCI_KERNEL_CACHE (RELEASE/vmlinux).  When the
    variable is set, a missing file is a test failure; otherwise the test is
    skipped."""
    env = os.environ.get("VMCI_KERNEL_CACHE")
    base = env or DEFAULT_KERNEL_CACHE
    path = os.path.join(base, release, "vmlinux")
    if os.path.isfile(path):
        return path
    if env:
        pytest.fail(f"VMCI_KERNEL_CACHE={env}: {release}/vmlinux is missing")
    pytest.skip(f"no {path} (set VMCI_KERNEL_CACHE)")


_built = {}


def build_fixture(fixture_dir, target="native", dwarf="-gdwarf-5", extra=None):
    if not F.have(target):
        pytest.skip(f"{F.TARGETS[target][0]} is not installed")
    key = (target, dwarf, tuple(extra or ()))
    if key not in _built:
        sub = os.path.join(fixture_dir, f"{target}{dwarf}{'-'.join(extra or ())}")
        _built[key] = F.build(sub, target, dwarf, extra)
    return _built[key]
