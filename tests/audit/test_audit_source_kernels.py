"""vmci audit source on Debian's linux-source-5.10 (bullseye), -6.1, -6.12, -7.2 (sid) and
-7.3 (7.3-rc, experimental): every file that emits VMCOREINFO is found (the common list,
printk, every architecture), and the specs agree with every tree: no drift (7.2 added
riscv's KERNELOFFSET and NUMBER(satp), and arm64's helper its TCR_EL1_* names). The trees
are extracted from the tarballs once (audit_helpers.kernel_source: /usr/src, or
tools/fetch-source.sh's cache), never built."""
import shutil

import pytest

from audit_helpers import kernel_source
from conftest import ROOT, json_document, run_vmci

EMITTING_FILES = {
    "5.10": {
        "kernel/crash_core.c", "kernel/printk/printk.c",
        "arch/x86/kernel/crash_core_32.c", "arch/x86/kernel/crash_core_64.c", "arch/arm64/kernel/crash_core.c",
        "arch/arm/kernel/machine_kexec.c", "arch/ia64/kernel/machine_kexec.c", "arch/powerpc/kexec/core.c",
        "arch/s390/kernel/machine_kexec.c", "arch/sh/kernel/machine_kexec.c",
    },
    "6.1": {
        "kernel/crash_core.c", "kernel/printk/printk.c",
        "arch/x86/kernel/crash_core_32.c", "arch/x86/kernel/crash_core_64.c", "arch/arm64/kernel/crash_core.c",
        "arch/arm/kernel/machine_kexec.c", "arch/ia64/kernel/machine_kexec.c", "arch/powerpc/kexec/core.c",
        "arch/s390/kernel/machine_kexec.c", "arch/sh/kernel/machine_kexec.c",
    },
    "6.12": {
        "kernel/vmcore_info.c", "kernel/printk/printk.c",
        "arch/x86/kernel/vmcore_info_32.c", "arch/x86/kernel/vmcore_info_64.c", "arch/arm64/kernel/vmcore_info.c",
        "arch/arm/kernel/vmcore_info.c", "arch/powerpc/kexec/vmcore_info.c", "arch/riscv/kernel/vmcore_info.c",
        "arch/s390/kernel/vmcore_info.c", "arch/sh/kernel/vmcore_info.c",
    },
}
# 7.2 (sid) and 7.3-rc (experimental): the files of 6.12; tools/fetch-source.sh fetches them
EMITTING_FILES["7.2"] = EMITTING_FILES["7.3"] = EMITTING_FILES["6.12"]
VERSIONS = sorted(EMITTING_FILES)


def audit(tree, *extra):
    code, out, err = run_vmci("audit", "source", tree, "--format", "json", *extra)
    assert "Traceback" not in err, err
    assert code in (0, 1), err
    return code, json_document(out, "audit-source")


@pytest.fixture(scope="module", params=VERSIONS)
def tree_audit(request):
    tree = kernel_source(request.param)
    return request.param, tree, audit(tree)


def test_every_emitting_file_is_found_with_its_spec(tree_audit):
    version, _, (_, payload) = tree_audit
    files = {f["file"]: f for f in payload["files"]}
    assert set(files) == EMITTING_FILES[version]
    for name, report in files.items():
        assert report["emitter"] is not None, name
        assert sum(len(items) for items in report["functions"].values()) > 0, name
    assert payload["kernel_version"].startswith(version + ".")
    printk = files["kernel/printk/printk.c"]["functions"]["log_buf_vmcoreinfo_setup"]
    assert printk[0]["key"] == "SYMBOL(prb)"


def test_no_drift(tree_audit):
    version, _, (code, payload) = tree_audit
    assert payload["drift"] == [], "\n".join(f"{d['kernel_location'] or d['spec']}: {d['category']}: {d['key']}: {d['message']}"
                                            for d in payload["drift"])
    assert code == 0


def test_a_deliberately_removed_spec_entry_is_reported_by_name(tmp_path):
    tree = kernel_source("6.12")
    specs = tmp_path / "specs"
    shutil.copytree(f"{ROOT}/specs", specs)
    common = specs / "common.yaml"
    text = common.read_text()
    removed = "      - kind: symbol\n        name: _stext\n"
    assert removed in text
    start = text.index(removed)
    end = text.index("      - kind:", start + len(removed))
    common.write_text(text[:start] + text[end:])
    code, payload = audit(tree, "--specs", str(specs))
    assert code == 1
    lacking = [d for d in payload["drift"] if d["category"] == "specs-lack"]
    assert [d["key"] for d in lacking] == ["SYMBOL(_stext)"]
    assert lacking[0]["kernel_location"]["file"] == "kernel/vmcore_info.c" and lacking[0]["kernel_location"]["line"] > 1


def test_5_10_appends_the_build_id_from_its_helper_and_builds_ia64_through_core_y():
    """5.10's crash_save_vmcoreinfo_init() calls add_build_id_vmcoreinfo(), which appends
    BUILD-ID with VMCOREINFO_BUILD_ID(build_id); arch/ia64/Makefile and arch/sh/Makefile
    build their kernel/ directory through `core-y += arch/<arch>/kernel/`."""
    _, payload = audit(kernel_source("5.10"))
    files = {f["file"]: f for f in payload["files"]}
    common = files["kernel/crash_core.c"]["functions"]
    init = [item["key"] for item in common["crash_save_vmcoreinfo_init"]]
    assert init[:3] == ["OSRELEASE", "add_build_id_vmcoreinfo()", "PAGESIZE"]
    assert [item["key"] for item in common["add_build_id_vmcoreinfo"]] == ["BUILD-ID"]
    assert "OFFSET(uts_namespace.name)" not in init and "SYMBOL(kallsyms_names)" not in init
    assert files["arch/ia64/kernel/machine_kexec.c"]["gate"] == "CONFIG_KEXEC"
    assert files["arch/sh/kernel/machine_kexec.c"]["gate"] == "CONFIG_KEXEC"
    printk = [item["key"] for item in files["kernel/printk/printk.c"]["functions"]["log_buf_vmcoreinfo_setup"]]
    assert printk[-1] == "OFFSET(atomic_long_t.counter)"  # no latched_seq before 5.13


@pytest.mark.parametrize("version", VERSIONS)
def test_validate_against_the_real_tree_checks_only_what_applies_to_its_version(version):
    """--kernel-src checks every CONFIG_ symbol the specs use for the tree's version
    against its Kconfig files. An emitter whose versions ended before the tree's (ia64,
    gone after 6.6) and entries or sources outside it are not checked: on 7.2 ia64's
    CONFIG_IA64_PAGE_SIZE_* are unknown, and must not be reported."""
    code, out, err = run_vmci("validate", "--kernel-src", kernel_source(version))
    assert "Traceback" not in err
    errors = [line for line in out.splitlines() if ": error: " in line]
    assert errors == [] and code == 0, "\n".join(errors)
    assert " 0 errors" in err
