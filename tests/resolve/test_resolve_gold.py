"""vmci resolve on real Debian kernels reproduces the VMCOREINFO those kernels emitted
when booted (tests/data/gold), byte for byte, except the lines whose values are fixed
only at run time; sizes and offsets agree with drgn."""
import os

import pytest

from conftest import GOLD_RELEASES, gold, json_document, kernel_path, run_vmci
from vmci.lang.kconfig import KernelConfig
from vmci.resources import specs_dir

SPECS = specs_dir()


def resolve_json(release, *extra):
    meta, _, config = gold(release)
    code, out, err = run_vmci("resolve", "--vmlinux", kernel_path(release), "--config", config,
                              "--format", "json", *extra)
    assert code == 0, err
    return json_document(out, "resolve")


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_text_equals_the_booted_kernels_note_but_for_runtime_lines(release, tmp_path):
    meta, text, config = gold(release)
    out = tmp_path / "vmcoreinfo.txt"
    code, _, err = run_vmci("resolve", "--vmlinux", kernel_path(release), "--config", config, "-o", str(out))
    assert code == 0, err
    ours = out.read_bytes().decode().splitlines(keepends=True)
    theirs = text.splitlines(keepends=True)
    assert [line.split("=")[0] for line in ours] == [line.split("=")[0] for line in theirs]  # same keys, same order
    differing = [b.split("=")[0] for a, b in zip(ours, theirs) if a != b]
    # every differing line is one the capture recorded as fixed at run time ...
    assert set(differing) <= set(meta["runtime_keys"]), differing
    # ... and one vmci itself marks as runtime, with a reason
    marked = {line["key"]: line["runtime_reason"] for line in resolve_json(release)["lines"] if line["source"] == "runtime"}
    assert all(marked.get(key) for key in differing), [key for key in differing if not marked.get(key)]
    if meta["debian_arch"] == "amd64":
        # booted with nokaslr on a CPU without LA57 or SME, only the heap pointer differs
        assert differing == ["SYMBOL(mem_section)"]
        assert len(ours) - len(differing) >= len(theirs) - 1


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_json_marks_runtime_values_and_names_sources(release):
    meta, _, _ = gold(release)
    payload = resolve_json(release)
    assert payload["build_id"] == meta["vmlinux_build_id"]
    lines = {line["key"]: line for line in payload["lines"]}
    assert payload["unresolved"] == 0
    for line in payload["lines"]:
        assert os.path.isfile(os.path.join(SPECS, line["spec"]["file"])) and line["spec"]["line"] > 1
        assert line["source"] in ("dwarf", "symtab", "expr", "runtime", "image", "elf-note", "config")
    config = KernelConfig.from_file(gold(release)[2])
    if config.is_enabled("CONFIG_SPARSEMEM_EXTREME"):
        # the root array is allocated at boot: the value is a pointer read from the image
        assert lines["SYMBOL(mem_section)"]["source"] == "runtime"
        assert lines["SYMBOL(mem_section)"]["runtime"] is True
        assert "mem_section" in lines["SYMBOL(mem_section)"]["runtime_reason"]
    elif "SYMBOL(mem_section)" in lines:  # a static array: its address
        assert lines["SYMBOL(mem_section)"]["source"] == "symtab"
    assert lines["SIZE(page)"]["source"] == "dwarf"
    assert lines["SYMBOL(_stext)"]["source"] == "symtab"
    assert lines["BUILD-ID"]["source"] == "elf-note"
    if "KERNELOFFSET" in lines:  # 64-bit arches; x86_32 and arm do not emit it
        assert lines["KERNELOFFSET"]["source"] == "runtime"


def drgn_program(release):
    drgn = pytest.importorskip("drgn") if os.environ.get("VMCI_ALLOW_NO_DRGN") else __import__("drgn")
    program = drgn.Program()
    program.load_debug_info([kernel_path(release)])
    return drgn, program


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_sizes_and_offsets_agree_with_drgn(release):
    drgn, program = drgn_program(release)
    payload = resolve_json(release)
    checked = 0
    for line in payload["lines"]:
        if line["kind"] not in ("struct-size", "size", "offset", "type-offset"):
            continue
        key, value = line["key"], int(line["value"])
        name = key[key.index("(") + 1:-1]
        if line["kind"] == "struct-size":
            assert drgn.sizeof(program.type(f"struct {name}")) == value, key
        elif line["kind"] == "size":
            assert drgn.sizeof(program.type(name)) == value, key
        elif line["kind"] in ("offset", "type-offset"):
            type_name, member = name.split(".", 1)
            ctype = program.type(f"struct {type_name}" if line["kind"] == "offset" else type_name)
            assert drgn.offsetof(ctype, member) == value, key
        checked += 1
    assert checked >= 60


def test_cache_makes_a_second_run_equal_and_no_cache_bypasses_it(tmp_path):
    release = "6.1.0-57-cloud-amd64"
    _, _, config = gold(release)
    env_home = tmp_path / "cache"
    import subprocess
    import sys
    from conftest import ROOT

    def run(*extra):
        result = subprocess.run([sys.executable, "-m", "vmci", "resolve", "--vmlinux", kernel_path(release),
                                 "--config", config, *extra], cwd=ROOT, capture_output=True, text=True,
                                env=dict(os.environ, XDG_CACHE_HOME=str(env_home)))
        assert result.returncode == 0, result.stderr
        return result.stdout

    cold = run()
    files = sorted(p.name for p in (env_home / "vmci").iterdir())
    assert any("01d2640d3a13145ee314eb05b155f141b7b7058b" in name for name in files), files
    assert run() == cold
    assert run("--no-cache") == cold
