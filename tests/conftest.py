"""Shared fixtures: paths to the project's data and to the real kernels.

Real-kernel tests find each Debian kernel under $VMCI_KERNEL_CACHE/RELEASE/ (set by
tools/test.sh, filled by tools/setup.sh). A missing kernel is a failure, not a skip:
CI must run them.

The fast lane, `pytest -m "not slow"`, leaves out every test marked `slow` here, in one
place (see _slow_names): those that reach a real kernel, a kernel source tree, QEMU or a
wheel build. It needs no downloaded kernel.
"""
import ast
import functools
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


def run_vmci(*args, input=None, cwd=ROOT):
    """Run the real command line in a subprocess: exit code, stdout, stderr."""
    result = subprocess.run([sys.executable, "-m", "vmci", *args], cwd=cwd, input=input,
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
    config.addinivalue_line("markers", "slow: needs a downloaded kernel, a kernel source tree, QEMU or a build;"
                            " `pytest -m 'not slow'` is the fast lane")


# What makes a test slow: calling one of these, directly or through a function or fixture
# of tests/ that does. kernel_path/kernel_file: a downloaded vmlinux or its parts;
# kernel_source: a linux-source tree; capture: a gold kernel booted under QEMU.
SLOW_CALLS = {("conftest", "kernel_path"), ("elf_support", "kernel_path"), ("hardening_support", "kernel_file"),
              ("audit_helpers", "kernel_source"), ("guest_dump", "capture")}
# Whole modules: building the sdist and wheel and installing them into a fresh virtualenv.
SLOW_MODULES = {"tests/package/test_installed_wheel.py"}
# A hypothesis test that tries this many examples or more is a fuzzing campaign (the spec
# fuzzer's 2,000 documents, the injection fuzzer's strings in every field), not a unit test.
FUZZ_CAMPAIGN_EXAMPLES = 200
# Campaigns whose hypothesis settings live on inner functions, out of sight of that rule:
# the spec fuzzer (2,000 documents through validate, list, resolve and generate, ~90 s)
# the injection fuzzer (strings in every field through every output, ~85 s), and every
# single mutation of the shipped specs through both schema checkers (~100 s).
FUZZ_CAMPAIGNS = {"tests/hardening/test_fuzz_specs.py::test_generated_specs",
                  "tests/hardening/test_injection.py::test_any_string_in_any_field",
                  "tests/spec/test_schema_accept.py::test_every_single_mutation_gets_the_same_answer"}


@functools.cache
def _slow_functions():
    """(module, function) of every function of tests/ that reaches one of SLOW_CALLS: a
    name it uses is the module's own function of that name, or what it imports by that
    name from another module of tests/ (`from conftest import kernel_path`)."""
    uses = {}  # (module, function) -> the (module, function) its names can mean
    for directory, _, files in os.walk(os.path.join(ROOT, "tests")):
        for file in files:
            if not file.endswith(".py"):
                continue
            module = file[:-3]
            with open(os.path.join(directory, file), encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            imported = {alias.asname or alias.name: (node.module, alias.name) for node in ast.walk(tree)
                        if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                    uses.setdefault((module, node.name), set()).update(
                        imported.get(name, (module, name)) for name in names)
    slow = set(SLOW_CALLS)
    while True:
        more = {function for function, used in uses.items() if function not in slow and used & slow}
        if not more:
            return frozenset(slow)
        slow |= more


def _is_slow(item):
    if os.path.relpath(str(item.path), ROOT) in SLOW_MODULES:
        return True
    if any(item.get_closest_marker(marker) for marker in SLOW_TARGETS):
        return True
    if item.nodeid in FUZZ_CAMPAIGNS:
        return True
    fuzz = getattr(getattr(item, "function", None), "_hypothesis_internal_use_settings", None)
    if fuzz is not None and fuzz.max_examples >= FUZZ_CAMPAIGN_EXAMPLES:
        return True
    functions = [item.function] if hasattr(item, "function") else []
    for name in item.fixturenames:  # every fixture the test uses, with those they use
        functions += [definition.func for definition in item._fixtureinfo.name2fixturedefs.get(name, ())]
    return any((getattr(f, "__module__", "").rpartition(".")[2], f.__name__) in _slow_functions()
               for f in functions)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
    selected, deselected = [], []
    for item in items:
        wanted = [v for m, v in SLOW_TARGETS.items() if item.get_closest_marker(m)]
        (deselected if any(os.environ.get(v, "") in ("", "0") for v in wanted) else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
