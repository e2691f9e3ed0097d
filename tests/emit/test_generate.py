"""vmci generate: generated/ is in sync with the specs, --check finds every stale file,
output is deterministic and carries provenance, bad specs never reach generated code,
and a new architecture needs only its YAML file."""
import ast
import hashlib
import importlib
import json
import os
import shutil
import sys
import textwrap

import pytest

from generate_support import GENERATED, ROOT, copy_specs, vmci

from vmci.lang import cexpr
from vmci.emit import c as emit_c
from vmci.emit import render
from vmci.abi import PINNED_VERSIONS
from vmci.emit.generate import COPIED_MODULES, newest_version
from vmci.lang.condition import Condition
from vmci.emit.manifest import NAME as MANIFEST
from vmci.spec.kinds import AppendEntry, SymbolEntry
from vmci.spec.model import SpecLocation, format_version
from vmci.emit.render import MARKER, RenderError
from vmci.spec.load import load_specs


def tree(directory):
    found = {}
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            path = os.path.join(root, name)
            if path == os.path.join(directory, MANIFEST):
                continue  # compared by test_output_is_deterministic_whatever_the_working_directory
            with open(path, "rb") as handle:
                found[os.path.relpath(path, directory)] = handle.read()
    return found


def test_generated_is_in_sync_with_the_specs():
    code, out, err = vmci("generate", "--check")
    assert code == 0, out + err
    assert out == ""


def test_check_lists_changed_missing_and_leftover_files(tmp_path):
    out_dir = tmp_path / "gen"
    assert vmci("generate", "-o", str(out_dir))[0] == 0
    (out_dir / "c" / "vmcoreinfo_note.c").unlink()
    # a file an earlier run wrote (its manifest says so) that the specs no longer give
    leftover = out_dir / "c" / "5.0" / "kernel" / "vmcore_info.c"
    leftover.parent.mkdir(parents=True)
    leftover.write_text(f"/* {MARKER} from specs/common.yaml */\n")
    manifest = json.loads((out_dir / MANIFEST).read_text())
    manifest["files"]["c/5.0/kernel/vmcore_info.c"] = "sha256:" + hashlib.sha256(leftover.read_bytes()).hexdigest()
    (out_dir / MANIFEST).write_text(json.dumps(manifest))
    (out_dir / "README").write_text(f"not generated, not ours, though it quotes {MARKER}\n")
    code, out, err = vmci("generate", "--check", "-o", str(out_dir))
    assert code == 1
    lines = out.splitlines()
    assert lines == [f"{out_dir}/{MANIFEST}: differs",
                     f"{out_dir}/c/5.0/kernel/vmcore_info.c: no longer generated",
                     f"{out_dir}/c/vmcoreinfo_note.c: missing"], out
    assert "3 of" in err and "stale" in err
    # regenerating writes only what changed and removes the leftover, never the README
    code, _, err = vmci("generate", "-o", str(out_dir))
    assert code == 0 and "1 written" in err and "1 removed" in err, err
    assert (out_dir / "README").exists() and not leftover.exists() and not leftover.parent.parent.exists()
    assert vmci("generate", "--check", "-o", str(out_dir))[0] == 0
    # a file changed by hand is stale, and generate leaves it alone
    (out_dir / "rst" / "vmcoreinfo.rst").write_text("edited by hand\n")
    code, out, err = vmci("generate", "--check", "-o", str(out_dir))
    assert (code, out) == (1, f"{out_dir}/rst/vmcoreinfo.rst: differs\n"), out + err
    code, _, err = vmci("generate", "-o", str(out_dir))
    assert code == 1 and "changed since vmci generate wrote it; left alone" in err, err
    assert (out_dir / "rst" / "vmcoreinfo.rst").read_text() == "edited by hand\n"


def test_regeneration_writes_nothing_when_nothing_changed(tmp_path):
    out_dir = tmp_path / "gen"
    assert vmci("generate", "-o", str(out_dir))[0] == 0
    stamps = {path: os.stat(os.path.join(out_dir, path)).st_mtime_ns for path in tree(out_dir)}
    code, _, err = vmci("generate", "-o", str(out_dir))
    assert code == 0 and " 0 written" in err, err
    assert stamps == {path: os.stat(os.path.join(out_dir, path)).st_mtime_ns for path in tree(out_dir)}


def test_output_is_deterministic_whatever_the_working_directory(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert vmci("generate", "-o", str(first))[0] == 0
    assert vmci("generate", "-o", str(second), "--specs", os.path.join(ROOT, "specs"), cwd=str(tmp_path))[0] == 0
    assert tree(first) == tree(second)
    assert tree(first) == tree(GENERATED)
    assert (first / MANIFEST).read_bytes() == (second / MANIFEST).read_bytes()
    with open(os.path.join(GENERATED, MANIFEST), "rb") as handle:
        assert (first / MANIFEST).read_bytes() == handle.read()


def test_every_file_names_the_specs_and_the_command():
    files = tree(GENERATED)
    assert files
    copies = {f"python/vmcoreinfo/{name}" for name in COPIED_MODULES}
    for path, data in files.items():
        if path in copies:
            continue  # vmci's own modules, byte for byte (test_python_generated.py compares them)
        head = data[:600].decode()
        assert MARKER in head, path
        assert "specs/" in head or path.endswith("vmcoreinfo_note.c"), path
        assert "vmci generate" in head, path


def test_kernel_c_for_the_pinned_and_newest_versions():
    specs, _ = load_specs()
    versions = sorted(os.listdir(os.path.join(GENERATED, "c")))
    expected = {format_version(v) for v in PINNED_VERSIONS} | {format_version(newest_version(specs))}
    assert set(v for v in versions if v[0].isdigit()) == expected
    for version in expected:
        before_6_9 = version in ("5.10", "6.1")  # kernel/crash_core.c until 6.9
        common = "kernel/crash_core.c" if before_6_9 else "kernel/vmcore_info.c"
        assert os.path.exists(os.path.join(GENERATED, "c", version, common))
        assert os.path.exists(os.path.join(GENERATED, "c", version, "arch/x86/kernel",
                                           "crash_core_64.c" if before_6_9 else "vmcore_info_64.c"))


def test_a_chosen_kernel_version(tmp_path):
    code, _, err = vmci("generate", "--kernel-version", "6.9", "-o", str(tmp_path))
    assert code == 0, err
    versions = os.listdir(tmp_path / "c")
    assert sorted(v for v in versions if v[0].isdigit()) == ["6.9"]
    text = " ".join((tmp_path / "c" / "6.9" / "kernel" / "vmcore_info.c").read_text().split())
    assert 'vmcoreinfo_append_str("NUMBER(VMALLOC_START)=0x%lx\\n", (unsigned long)VMALLOC_START);' in text
    assert "VMCOREINFO_SYMBOL(vmap_area_list)" not in text


@pytest.mark.parametrize("version, message", [("banana", "is not a kernel version"),
                                              ("5.4", "outside the specs' versions")])
def test_bad_kernel_version_is_one_line(tmp_path, version, message):
    code, out, err = vmci("generate", "--kernel-version", version, "-o", str(tmp_path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_common_file_has_the_kernels_shape():
    text = open(os.path.join(GENERATED, "c", "6.12", "kernel", "vmcore_info.c")).read()
    for function in ("Elf_Word *append_elf_note(", "void final_note(", "static void update_vmcoreinfo_note(",
                     "void crash_update_vmcoreinfo_safecopy(", "void crash_save_vmcoreinfo(void)",
                     "void vmcoreinfo_append_str(const char *fmt, ...)", "void __weak arch_crash_save_vmcoreinfo(",
                     "phys_addr_t __weak paddr_vmcoreinfo_note(", "static int __init crash_save_vmcoreinfo_init("):
        assert function in text
    assert "r = vscnprintf(buf, sizeof(buf), fmt, args);" in text
    assert "r = min(r, (size_t)VMCOREINFO_BYTES - vmcoreinfo_size);" in text
    assert "WARN_ONCE(vmcoreinfo_size == VMCOREINFO_BYTES," in text
    body = text.split("crash_save_vmcoreinfo_init(void)\n{", 1)[1]
    # entries in emission order, guarded as the kernel guards them, in-file defines before use
    expected = ["\tVMCOREINFO_OSRELEASE(init_uts_ns.name.release);", "#ifdef CONFIG_MMU",
                "\tVMCOREINFO_SYMBOL_ARRAY(swapper_pg_dir);", "#endif", "#ifndef CONFIG_NUMA",
                "\tVMCOREINFO_LENGTH(zone.free_area, NR_PAGE_ORDERS);", "\tlog_buf_vmcoreinfo_setup();",
                "#define PAGE_SLAB_MAPCOUNT_VALUE\t(PGTY_slab << 24)", "\tVMCOREINFO_NUMBER(PAGE_SLAB_MAPCOUNT_VALUE);",
                "#ifdef CONFIG_KALLSYMS", "\tarch_crash_save_vmcoreinfo();", "\tupdate_vmcoreinfo_note();"]
    lines = body.splitlines()
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions)
    assert "\t" * 3 in text and "    VMCOREINFO" not in text  # kernel style: tabs


def test_guards_nest_and_fold_into_else_like_the_kernel():
    text = open(os.path.join(GENERATED, "c", "6.1", "kernel", "crash_core.c")).read()
    assert textwrap.dedent("""\
        #ifdef CONFIG_KALLSYMS
        \tVMCOREINFO_SYMBOL(kallsyms_names);
        \tVMCOREINFO_SYMBOL(kallsyms_num_syms);
        \tVMCOREINFO_SYMBOL(kallsyms_token_table);
        \tVMCOREINFO_SYMBOL(kallsyms_token_index);
        #ifdef CONFIG_KALLSYMS_BASE_RELATIVE
        \tVMCOREINFO_SYMBOL(kallsyms_offsets);
        \tVMCOREINFO_SYMBOL(kallsyms_relative_base);
        #else
        \tVMCOREINFO_SYMBOL(kallsyms_addresses);
        #endif /* CONFIG_KALLSYMS_BASE_RELATIVE */
        #endif /* CONFIG_KALLSYMS */
        """) in text
    assert textwrap.dedent("""\
        #ifdef CONFIG_HUGETLB_PAGE
        \tVMCOREINFO_NUMBER(HUGETLB_PAGE_DTOR);
        #define PAGE_OFFLINE_MAPCOUNT_VALUE\t(~PG_offline)
        \tVMCOREINFO_NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE);
        #endif
        """) in text
    ia64 = open(os.path.join(GENERATED, "c", "6.1", "arch", "ia64", "kernel", "machine_kexec.c")).read()
    assert "#if CONFIG_PGTABLE_LEVELS == 3\n\tVMCOREINFO_CONFIG(PGTABLE_3);\n#elif CONFIG_PGTABLE_LEVELS == 4\n" in ia64


def test_every_generated_c_file_has_balanced_guards():
    for path in tree(os.path.join(GENERATED, "c")):
        depth = 0
        with open(os.path.join(GENERATED, "c", path)) as handle:
            for number, line in enumerate(handle, 1):
                if line.startswith(("#if", "#ifdef", "#ifndef")):
                    depth += 1
                elif line.startswith(("#else", "#elif")):
                    assert depth > 0, f"{path}:{number}"
                elif line.startswith("#endif"):
                    depth -= 1
                    assert depth >= 0, f"{path}:{number}"
        assert depth == 0, path


def test_generated_python_parses():
    for path, data in tree(os.path.join(GENERATED, "python")).items():
        ast.parse(data, path)


# --- nothing from a spec reaches generated code unchecked -------------------------------------

@pytest.mark.parametrize("bad", ["08-quote-in-name.yaml", "09-semicolon-in-name.yaml", "10-statement-in-c.yaml",
                                 "11-string-in-c.yaml", "18-keyword-name.yaml",
                                 "25-in-file-stand-in.yaml"])
def test_a_spec_with_code_in_a_name_is_rejected_and_nothing_is_written(tmp_path, bad):
    specs = copy_specs(tmp_path / "specs")
    shutil.copy(os.path.join(ROOT, "tests", "data", "bad_specs", bad), os.path.join(specs, "bad.yaml"))
    out_dir = tmp_path / "gen"
    code, out, err = vmci("generate", "--specs", specs, "-o", str(out_dir))
    assert code == 1, err
    assert "bad.yaml:" in err and "Traceback" not in err
    assert "nothing generated" in err
    assert not out_dir.exists()


def test_identifiers_are_checked_and_strings_escaped_when_rendering():
    where = SpecLocation("specs/x.yaml", 3)
    for name in ['x"); system("id', "x; evil()", "int", "a.b c", ""]:
        with pytest.raises(RenderError):
            emit_c.statement(SymbolEntry(where, name=name))
    assert render.c_string('K"E\\Y=%lx\n') == r'"K\"E\\Y=%lx\n"'
    assert render.c_string("??=") == r'"\?\?="'
    assert render.c_comment("a */ b") == "a * / b"
    assert render.py_doc('say """hi""" \\') == r'say \"\"\"hi\"\"\" \\'
    assert render.rst("*bold* `x` a_ b") == r"\*bold\* \`x\` a\_ b"


def test_append_keys_cannot_inject_printf_conversions():
    where, node = SpecLocation("specs/x.yaml", 3), cexpr.parse_expression("x")
    name, args = emit_c.statement(AppendEntry(where, append_key="A%sB", append_format="%lx", c="x", c_node=node))
    assert args[0] == r'"A%%sB=%lx\n"'
    with pytest.raises(RenderError):
        emit_c.statement(AppendEntry(where, append_key="A", append_format="%n", c="x", c_node=node))


def test_preprocessor_conditions_use_defined():
    assert emit_c.opening(emit_c_atoms("CONFIG_A")) == "#ifdef CONFIG_A"
    assert emit_c.opening(emit_c_atoms("!CONFIG_A")) == "#ifndef CONFIG_A"
    assert emit_c.opening(emit_c_atoms("CONFIG_A && !CONFIG_B")) == "#if defined(CONFIG_A) && !defined(CONFIG_B)"
    assert emit_c.opening(emit_c_atoms("CONFIG_A || CONFIG_B")) == "#if defined(CONFIG_A) || defined(CONFIG_B)"
    assert emit_c.opening(emit_c_atoms("CONFIG_A && (CONFIG_B || CONFIG_C)")) == \
        "#if defined(CONFIG_A) && (defined(CONFIG_B) || defined(CONFIG_C))"
    assert emit_c.opening(emit_c_atoms("CONFIG_LEVELS == 3 && IS_ENABLED(CONFIG_X)")) == \
        "#if CONFIG_LEVELS == 3 && IS_ENABLED(CONFIG_X)"
    assert emit_c.opening(emit_c_atoms("!(CONFIG_VA_BITS > 48)")) == "#if !(CONFIG_VA_BITS > 48)"


def emit_c_atoms(text):
    return Condition.parse(text).conjuncts()


# --- adding an architecture is adding a file --------------------------------------------------

TOY_ARCH = """\
schema: vmci-1
emitter: toy64
doc: A made-up architecture, to show that generate needs no code for a new one.
since: "6.1"
target:
  arch: toy
  machines:
    - name: toy64
      aliases: [toy]
      elf: {machine: 4660, class: 64, endianness: big}
      config: CONFIG_TOY && CONFIG_64BIT
sources:
  - file: arch/toy/kernel/crash_core.c
    until: "6.9"
    gate: CONFIG_CRASH_CORE
    includes: [linux/crash_core.h]
  - file: arch/toy/kernel/vmcore_info.c
    since: "6.9"
    gate: CONFIG_VMCORE_INFO
    includes: [linux/vmcore_info.h, asm/toy.h]
defines:
  - name: PAGE_SHIFT
    value: 12
  - name: SECTION_SIZE_BITS
    value: 28
  - name: MAX_PHYSMEM_BITS
    value: 46
  - name: VMALLOC_START
    value: 0x1000UL
  - name: TOY_LEVELS
    value: 3
    in-file: true
functions:
  - name: arch_crash_save_vmcoreinfo
    doc: The toy's own entries.
    entries:
      - kind: symbol
        name: toy_page_table
        doc: The toy's page table.
      - kind: number
        name: TOY_LEVELS
        doc: Paging levels.
      - kind: append
        key: NUMBER(TOY_OFFSET)
        format: 0x%lx
        c: toy_offset
        when: CONFIG_TOY_RELOCATABLE
        since: "6.9"
        doc: Where the toy kernel was relocated to.
"""


def test_a_new_architecture_needs_only_its_spec_file(tmp_path):
    specs = copy_specs(tmp_path / "specs")
    with open(os.path.join(specs, "arch", "toy64.yaml"), "w") as handle:
        handle.write(TOY_ARCH)
    out_dir = tmp_path / "gen"
    code, out, err = vmci("generate", "--specs", specs, "-o", str(out_dir))
    assert code == 0, err
    c_file = out_dir / "c" / "6.12" / "arch" / "toy" / "kernel" / "vmcore_info.c"
    text = c_file.read_text()
    assert "#include <asm/toy.h>" in text and "specs/arch/toy64.yaml" in text
    assert textwrap.dedent("""\
        void arch_crash_save_vmcoreinfo(void)
        {
        \tVMCOREINFO_SYMBOL(toy_page_table);
        #define TOY_LEVELS\t3
        \tVMCOREINFO_NUMBER(TOY_LEVELS);
        #ifdef CONFIG_TOY_RELOCATABLE
        \tvmcoreinfo_append_str("NUMBER(TOY_OFFSET)=0x%lx\\n", toy_offset);
        #endif
        }
        """) in text
    assert "TOY_OFFSET" not in (out_dir / "c" / "6.1" / "arch" / "toy" / "kernel" / "crash_core.c").read_text()
    assert "toy64" in (out_dir / "rst" / "vmcoreinfo.rst").read_text()
    # the Python module exists, parses, and produces the toy's lines after the common ones
    package = out_dir / "python"
    sys.path.insert(0, str(package))
    try:
        for name in [m for m in sys.modules if m == "vmcoreinfo" or m.startswith("vmcoreinfo.")]:
            del sys.modules[name]
        vmcoreinfo = importlib.import_module("vmcoreinfo")
        module = vmcoreinfo.for_elf(4660, 64, "big")
        assert module.EMITTER == "toy64" and module.MACHINES[0].aliases == ("toy",)
        config = {"CONFIG_TOY": "y", "CONFIG_64BIT": "y", "CONFIG_VMCORE_INFO": "y", "CONFIG_CRASH_CORE": "y",
                  "CONFIG_TOY_RELOCATABLE": "y"}
        lines = module.vmcoreinfo(ZeroResolver(), (6, 12), config)
        keys = [line.key for line in lines]
        assert keys[0] == "OSRELEASE"
        assert keys[-3:] == ["SYMBOL(toy_page_table)", "NUMBER(TOY_LEVELS)", "NUMBER(TOY_OFFSET)"]
        assert "NUMBER(TOY_OFFSET)" not in [line.key for line in module.vmcoreinfo(ZeroResolver(), (6, 1), config)]
    finally:
        sys.path.remove(str(package))
        for name in [m for m in sys.modules if m == "vmcoreinfo" or m.startswith("vmcoreinfo.")]:
            del sys.modules[name]


class ZeroResolver:
    def build_id(self):
        return "0" * 40

    def string(self, expression, scope):
        return "6.12.0-toy"

    def integer(self, expression, c_type, scope):
        return 0


def test_before_5_14_the_common_file_appends_the_build_id_from_its_note_scan():
    """5.10's crash_save_vmcoreinfo_init() calls add_build_id_vmcoreinfo(), which the frame
    defines as the kernel did (scanning __start_notes for NT_GNU_BUILD_ID); from 5.14 the
    macro formats vmlinux_build_id and the helper is gone."""
    with open(os.path.join(GENERATED, "c", "5.10", "kernel", "crash_core.c")) as handle:
        old = handle.read()
    with open(os.path.join(GENERATED, "c", "6.1", "kernel", "crash_core.c")) as handle:
        new = handle.read()
    assert "static void add_build_id_vmcoreinfo(void)\n{" in old
    assert "\t\t\t\tVMCOREINFO_BUILD_ID(build_id);\n" in old and "&__start_notes" in old
    init = old[old.index("static int __init crash_save_vmcoreinfo_init(void)"):]
    assert init.index("VMCOREINFO_OSRELEASE(") < init.index("\tadd_build_id_vmcoreinfo();\n") < \
        init.index("VMCOREINFO_PAGESIZE(")
    assert "#include <crypto/sha.h>" in old and "#include <linux/buildid.h>" not in old
    assert "add_build_id_vmcoreinfo" not in new and "\tVMCOREINFO_BUILD_ID();\n" in new


def test_check_from_remembered_digests_still_finds_every_change(tmp_path):
    """generate --check remembers the outputs' digests (issue 15): run warm, it still
    finds a file changed by hand, and an edited spec gives new outputs, not the old ones."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def check(out_dir, specs):
        import subprocess
        result = subprocess.run([sys.executable, "-m", "vmci", "generate", "--check", "-o", str(out_dir),
                                 "--specs", specs], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        return result.returncode, result.stdout

    specs = copy_specs(tmp_path / "specs")
    out_dir = tmp_path / "gen"
    assert vmci("generate", "-o", str(out_dir), "--specs", specs)[0] == 0
    assert check(out_dir, specs) == (0, "")
    assert os.listdir(tmp_path / "cache" / "vmci")  # the digests are remembered
    note_c = out_dir / "c" / "vmcoreinfo_note.c"
    original = note_c.read_text()
    note_c.write_text(original + "/* edited by hand */\n")
    assert check(out_dir, specs) == (1, f"{out_dir}/c/vmcoreinfo_note.c: differs\n")
    note_c.write_text(original)
    assert check(out_dir, specs) == (0, "")
    common = os.path.join(specs, "common.yaml")
    with open(common, encoding="utf-8") as handle:
        text = handle.read()
    assert "doc: The kernel release" in text
    with open(common, "w", encoding="utf-8") as handle:
        handle.write(text.replace("doc: The kernel release", "doc: Edited. The kernel release", 1))
    code, out = check(out_dir, specs)
    assert code == 1 and f"{out_dir}/rst/vmcoreinfo.rst: differs\n" in out, out
