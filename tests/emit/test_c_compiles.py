"""The generated kernel C compiles: gcc -fsyntax-only -Wall -Wextra -Werror against stub
kernel headers (tests/emit/stubs), with every Kconfig option its guards test on, and
with all of them off. The stubs declare vmcoreinfo_append_str() with the kernel's
__printf(1, 2), so gcc checks every format against its argument.

test_kernel_tree.py builds the same files inside a real kernel tree (VMCI_KERNEL_BUILD=1)."""
import glob
import os

import pytest

from generate_support import GENERATED, config_symbols, syntax_check

# the files the stubs describe: the common list, printk's hook, x86_64, arm64 and riscv
FILES = sorted(p for pattern in ("kernel/*.c", "kernel/printk/printk.c", "arch/x86/kernel/*_64.c",
                                 "arch/arm64/kernel/*.c", "arch/riscv/kernel/*.c")
               for p in glob.glob(os.path.join(GENERATED, "c", "*", pattern)))


@pytest.mark.parametrize("path", FILES, ids=[os.path.relpath(p, GENERATED) for p in FILES])
@pytest.mark.parametrize("options", ["all-on", "all-off"])
def test_generated_c_compiles_against_stub_headers(path, options, tmp_path):
    defines = config_symbols(path) if options == "all-on" else []
    code, stderr = syntax_check(path, tmp_path, defines)
    assert code == 0, stderr


def test_every_version_has_the_files_the_stubs_cover():
    for version in os.listdir(os.path.join(GENERATED, "c")):
        if os.path.isdir(os.path.join(GENERATED, "c", version)):
            covered = [p for p in FILES if p.startswith(os.path.join(GENERATED, "c", version) + os.sep)]
            # common, printk, x86_64, arm64, and riscv from 6.2 (its arch_crash_save_vmcoreinfo())
            riscv = tuple(int(part) for part in version.split(".")) >= (6, 2)
            assert len(covered) == 4 + riscv, (version, covered)


def test_in_file_helpers_are_the_kernels_functions_not_their_stand_ins():
    """riscv's get_satp_value() and arm64's get_tcr_el1_t1sz() are static inline
    functions of their files; generated C writes their real bodies, never the value
    resolve stands in for them (0, 64 - vabits_actual) as a #define."""
    newest = max(os.listdir(os.path.join(GENERATED, "c")),
                 key=lambda v: tuple(int(p) for p in v.split(".")) if v[0].isdigit() else ())
    with open(os.path.join(GENERATED, "c", newest, "arch", "riscv", "kernel", "vmcore_info.c")) as handle:
        riscv = handle.read()
    assert "static inline u64 get_satp_value(void)\n{\n\treturn csr_read(CSR_SATP);\n}\n" in riscv
    assert riscv.index("get_satp_value(void)") < riscv.index("void arch_crash_save_vmcoreinfo(void)")
    assert 'vmcoreinfo_append_str("NUMBER(satp)=0x%llx\\n", get_satp_value());' in riscv
    for path in glob.glob(os.path.join(GENERATED, "c", "*", "arch", "arm64", "kernel", "*.c")):
        with open(path) as handle:
            arm64 = handle.read()
        assert "#define get_tcr_el1_t1sz" not in arm64, path
        # the field macros took the sysreg-generated names in 6.18 (specs/arch/arm64.yaml)
        mask, shift = (("TCR_EL1_T1SZ_MASK", "TCR_EL1_T1SZ_SHIFT") if f"{os.sep}7." in path
                       else ("TCR_T1SZ_MASK", "TCR_T1SZ_OFFSET"))
        assert ("static inline u64 get_tcr_el1_t1sz(void)\n{\n"
                f"\treturn (read_sysreg(tcr_el1) & {mask}) >> {shift};\n}}\n") in arm64, path


def test_the_user_space_note_builder_compiles_cleanly(tmp_path):
    import subprocess
    note = os.path.join(GENERATED, "c", "vmcoreinfo_note.c")
    result = subprocess.run(["gcc", "-fsyntax-only", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", note],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_common_spec_without_crash_time_entries_still_gives_the_frame(tmp_path):
    """crash_save_vmcoreinfo() is part of the kernel's frame whether or not the common
    spec lists it: without it, generate writes the function empty and the C compiles."""
    import re

    from generate_support import copy_specs, vmci

    specs = copy_specs(tmp_path / "specs")
    path = os.path.join(specs, "common.yaml")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    start = text.index("  - name: crash_save_vmcoreinfo\n")
    end = text.index("\n  - name: ", start + 1) if "\n  - name: " in text[start + 1:] else len(text)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text[:start] + text[end + 1:])
    code, out, err = vmci("generate", "--specs", specs, "-o", str(tmp_path / "out"), "--kernel-version", "6.12")
    assert code == 0, out + err
    generated = str(tmp_path / "out" / "c" / "6.12" / "kernel" / "vmcore_info.c")
    with open(generated, encoding="utf-8") as handle:
        c = handle.read()
    assert "CRASHTIME" not in c
    body = re.search(r"^void crash_save_vmcoreinfo\(void\)\n\{\n(.*?)^\}\n", c, re.S | re.M).group(1)
    assert "update_vmcoreinfo_note();" in body and "vmcoreinfo_append_str" not in body
    assert syntax_check(generated, tmp_path, config_symbols(generated)) == (0, "")
