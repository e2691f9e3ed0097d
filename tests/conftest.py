"""Shared fixtures: paths to the project's data and to the real kernels.

Real-kernel tests find each Debian kernel under $VMCI_KERNEL_CACHE/RELEASE/ (set by
tools/test.sh, filled by tools/setup.sh). A missing kernel is a failure, not a skip:
CI must run them.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
GOLD = os.path.join(DATA, "gold")
GOLD_RELEASES = sorted(os.listdir(GOLD))
KERNEL_CACHE = os.environ.get("VMCI_KERNEL_CACHE", "/var/cache/vmci/kernels")


def gold(release):
    directory = os.path.join(GOLD, release)
    with open(os.path.join(directory, "meta.json")) as handle:
        meta = json.load(handle)
    with open(os.path.join(directory, "vmcoreinfo.txt"), "rb") as handle:
        text = handle.read().decode()
    return meta, text, os.path.join(directory, "config")


def kernel_path(release, name="vmlinux"):
    path = os.path.join(KERNEL_CACHE, release, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: run tools/setup.sh (it fetches the real kernels)")
    return path


def run_vmci(*args, input=None):
    """Run the real command line in a subprocess: exit code, stdout, stderr."""
    result = subprocess.run([sys.executable, "-m", "vmci", *args], cwd=ROOT, input=input,
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout, result.stderr


def json_document(out, command):
    """A command's --format json output, checked against its JSON Schema (vmci/schemas/):
    the format it names is vmci-<command>/1 and the document is valid."""
    from vmci.jsonformat import check, format_name

    payload = json.loads(out)
    assert payload["format"] == format_name(command)
    check(payload)
    return payload


# Slow targets run only when the environment asks for them (tools/test.sh, and so CI,
# does). They are deselected, not skipped, in a plain pytest run: each is a separate
# test target (see README).
SLOW_TARGETS = {
    "kernel_build": "VMCI_KERNEL_BUILD",  # generated C compiled inside real kernel trees
    "e2e": "VMCI_E2E",  # a kernel built twice and booted under QEMU
}


def pytest_configure(config):
    for marker, variable in SLOW_TARGETS.items():
        config.addinivalue_line("markers", f"{marker}: slow target, runs only with {variable}=1")


def pytest_collection_modifyitems(config, items):
    selected, deselected = [], []
    for item in items:
        wanted = [v for m, v in SLOW_TARGETS.items() if item.get_closest_marker(m)]
        (deselected if any(os.environ.get(v, "") in ("", "0") for v in wanted) else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
