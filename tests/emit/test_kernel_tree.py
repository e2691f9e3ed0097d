"""The generated kernel C builds inside a real kernel tree, and preprocesses to the same
VMCOREINFO calls as the kernel's own files.

Debian's linux-source-6.1 and linux-source-6.12, each with `make defconfig && make
prepare` for x86_64 and, with gcc-aarch64-linux-gnu, arm64 (tests/emit/
prepare-ktree.sh; cached outside the repo under $VMCI_KTREE_CACHE, default
/var/cache/vmci/ktree). The generated common file (kernel/crash_core.c in 6.1,
kernel/vmcore_info.c from 6.9) and the architecture's file replace the kernel's, printk's
log_buf_vmcoreinfo_setup() replaces the kernel's in kernel/printk/printk.c, and
`make <object>` must succeed without a warning. Then `make <file>.i` of the generated
and of the original files must give the same sequence of vmcoreinfo_append_str() calls
(key, format, value C) and hook calls.

Slow (minutes the first time): runs only with VMCI_KERNEL_BUILD=1.
"""
import fcntl
import json
import os
import re
import subprocess
import time

import pytest

from generate_support import GENERATED, HERE, function_body, tokens, vmcoreinfo_calls

from vmci.lang import cexpr
from vmci.spec.model import parse_version
from vmci.select import COMMON_FUNCTION, find_target
from vmci.spec.load import load_specs

pytestmark = pytest.mark.kernel_build  # deselected unless VMCI_KERNEL_BUILD=1 (tests/conftest.py)

VERSIONS = ("6.1", "6.12")  # the Debian linux-source packages
KTREE_CACHE = os.environ.get("VMCI_KTREE_CACHE", "/var/cache/vmci/ktree")
# how to build each machine's objects: the kernel's ARCH and the cross compiler
MAKE = {"x86_64": ["ARCH=x86_64"], "aarch64": ["ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"]}
PREPARE_NAME = {"x86_64": "x86_64", "aarch64": "arm64"}
PRINTK = "kernel/printk/printk.c"


def arch_source(machine, version):
    specs, _ = load_specs()
    target = find_target(specs, machine)
    return target.emitters[0], target.emitters[0].source_for(parse_version(version)).file


def common_source(version):
    specs, _ = load_specs()
    [common] = [e for e in specs.general_emitters() if any(f.name == COMMON_FUNCTION for f in e.functions)]
    return common.source_for(parse_version(version)).file


def splice(kernel_text, generated_text, function):
    """The kernel's file with the generated definition of `function` in place of its own."""
    pattern = re.compile(r"^void " + function + r"\(void\)\n\{\n.*?^\}\n", re.S | re.M)
    ours = pattern.search(generated_text).group()
    assert len(pattern.findall(kernel_text)) == 1
    return pattern.sub(lambda _: ours, kernel_text)


class Tree:
    """The prepared tree of one machine; files put in place are put back afterwards."""

    def __init__(self, version, machine):
        self.version, self.machine = version, machine
        self.src = os.path.join(KTREE_CACHE, version, "src")
        self.build = os.path.join(KTREE_CACHE, version, PREPARE_NAME[machine])
        self.saved = {}

    def make(self, *targets):
        for target in targets:  # always rebuild: the sources move back and forth
            for suffix in (".o", ".i"):
                try:
                    os.unlink(os.path.join(self.build, os.path.splitext(target)[0] + suffix))
                except FileNotFoundError:
                    pass
        started = time.monotonic()
        result = subprocess.run(["make", "-s", "-C", self.src, f"O={self.build}", *MAKE[self.machine], *targets],
                                capture_output=True, text=True, timeout=3600)
        return result, time.monotonic() - started

    def put(self, path, text):
        target = os.path.join(self.src, path)
        if path not in self.saved:
            with open(target) as handle:
                self.saved[path] = handle.read()
        temporary = target + ".vmci-tmp"
        with open(temporary, "w") as handle:
            handle.write(text)
        os.replace(temporary, target)  # a new inode: the hard-linked pristine tree is untouched

    def original(self, path):
        if path in self.saved:
            return self.saved[path]
        with open(os.path.join(self.src, path)) as handle:
            return handle.read()

    def restore(self):
        for path, text in self.saved.items():
            self.put(path, text)
        self.saved.clear()

    def preprocessed(self, path):
        with open(os.path.join(self.build, os.path.splitext(path)[0] + ".i")) as handle:
            return tokens(handle.read())


@pytest.fixture(scope="module", params=[(v, m) for v in VERSIONS for m in ("x86_64", "aarch64")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def tree(request):
    version, machine = request.param
    prepare = subprocess.run([os.path.join(HERE, "prepare-ktree.sh"), version, PREPARE_NAME[machine]],
                             capture_output=True, text=True, timeout=7200)
    assert prepare.returncode == 0, prepare.stderr
    ktree = os.path.join(KTREE_CACHE, version)
    os.makedirs(ktree, exist_ok=True)
    with open(os.path.join(ktree, ".vmci-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tree = Tree(version, machine)
        try:
            yield tree
        finally:
            tree.restore()


def generated(version, path):
    with open(os.path.join(GENERATED, "c", version, path)) as handle:
        return handle.read()


def test_builds_without_warnings_and_preprocesses_to_the_kernels_calls(tree, record_property):
    version = tree.version
    emitter, arch_file = arch_source(tree.machine, version)
    common = common_source(version)
    files = {common: generated(version, common), arch_file: generated(version, arch_file),
             PRINTK: splice(tree.original(PRINTK), generated(version, PRINTK), "log_buf_vmcoreinfo_setup")}
    objects = [os.path.splitext(p)[0] + ".o" for p in files]
    preprocessed = [os.path.splitext(p)[0] + ".i" for p in files]

    # the kernel's own files first: the reference sequence, and a clean baseline
    stock, stock_seconds = tree.make(*objects, *preprocessed)
    assert stock.returncode == 0, stock.stderr
    theirs = {p: tree.preprocessed(p) for p in files}

    for path, text in files.items():
        tree.put(path, text)
    try:
        built, seconds = tree.make(*objects, *preprocessed)
        ours = {p: tree.preprocessed(p) for p in files}
    finally:
        tree.restore()
    warnings = [line for line in built.stderr.splitlines() if "warning:" in line]
    summary = {"version": version, "machine": tree.machine, "objects": objects, "seconds": round(seconds, 1),
               "stock_seconds": round(stock_seconds, 1), "warnings": len(warnings),
               "stock_warnings": sum("warning:" in line for line in stock.stderr.splitlines())}
    with open(os.path.join(KTREE_CACHE, version, f"result-{tree.machine}.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    record_property("kernel_tree", summary)
    print(json.dumps(summary))
    assert built.returncode == 0, built.stderr
    assert warnings == [], built.stderr

    # the same VMCOREINFO calls, in the same order
    functions = {common: ["crash_save_vmcoreinfo_init", "crash_save_vmcoreinfo"],
                 PRINTK: ["log_buf_vmcoreinfo_setup"], arch_file: ["arch_crash_save_vmcoreinfo"]}
    modelled = modelled_keys(emitter, version)
    for path, names in functions.items():
        for name in names:
            mine = vmcoreinfo_calls(function_body(ours[path], name))
            kernel = vmcoreinfo_calls(function_body(theirs[path], name))
            assert [c[:2] for c in mine] == [c[:2] for c in kernel], (path, name)
            differing = [a[0] for a, b in zip(mine, kernel) if a != b]
            assert set(differing) <= (modelled if path == arch_file else set()), (path, name, differing)
            assert len(mine) > 0


def modelled_keys(emitter, version):
    """Keys whose kernel C calls a function the spec can only model with an in-file macro
    (arm64's get_tcr_el1_t1sz() reads TCR_EL1; the spec writes 64 - vabits_actual): the
    value's C differs from the kernel's by design, the key and format do not."""
    version = parse_version(version)
    macros = {d.name for d in emitter.defines if d.in_file and d.function_like and d.runtime
              and d.versions.contains(version)}
    keys = set()
    for entry in emitter.entries():
        node = getattr(entry, "c_node", None)
        if node is not None and entry.versions.contains(version) and cexpr.calls_in(node) & macros:
            keys.add(entry.key)
    return keys
