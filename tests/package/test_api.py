"""The Python API (docs/api.md) on a real kernel, through `import vmci` only: the specs,
the entries a kernel emits, the lines its vmlinux resolves to, notes built and read, and
the generated generator (vmci.vmcoreinfo). Only tests/data is read from the checkout,
so the same tests run against the installed wheel."""
import os
import subprocess
import sys

import pytest

import vmci
from conftest import GOLD, gold, kernel_path

AMD64 = "6.1.0-57-cloud-amd64"
ARM64 = "6.1.0-50-cloud-arm64"


def gold_bytes(release, name):
    with open(os.path.join(GOLD, release, name), "rb") as handle:
        return handle.read()


def test_import_vmci_is_cheap_and_the_api_is_there():
    # the API and its dependencies load on first use, not on `import vmci`
    code = "import sys, vmci; print(sorted(m for m in sys.modules if m.startswith(('vmci', 'yaml', 'jsonschema', 'elftools'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['vmci']"
    assert {"load_specs", "select_entries", "resolve_vmlinux", "build_note", "read_note", "open_image"} <= set(dir(vmci))
    with pytest.raises(AttributeError):
        vmci.no_such_function  # noqa: B018 (the attribute access is what raises)


def test_select_gives_the_keys_the_booted_kernel_emitted_in_order():
    meta, text, config = gold(AMD64)
    specs = vmci.load_specs()
    entries = vmci.select_entries(specs, "x86_64", AMD64, config=config)
    assert [entry.key for entry in entries] == [line.split("=", 1)[0] for line in text.splitlines()]
    by_key = {entry.key: entry for entry in entries}
    node_data = by_key["LENGTH(node_data)"]
    assert (node_data.kind, node_data.value_format, node_data.c) == ("length", "%lu",
                                                                      "VMCOREINFO_LENGTH(node_data, MAX_NUMNODES)")
    assert node_data.spec.file == "arch/x86_64.yaml" and node_data.condition is None
    assert "makedumpfile" in by_key["SYMBOL(mem_section)"].consumers
    # without a config, what depends on options carries its condition
    open_entries = {e.key: e for e in vmci.select_entries(specs, "x86_64", (6, 1))}
    assert "CONFIG_SPARSEMEM" in open_entries["SYMBOL(mem_section)"].condition


def test_resolve_gives_the_kernels_lines_with_source_runtime_reason_and_spec_place():
    meta, text, config = gold(AMD64)
    result = vmci.resolve_vmlinux(kernel_path(AMD64), config=config)
    assert (result.machine, result.arch, result.kernel_version) == ("x86_64", "x86", "6.1.192")
    assert result.build_id == meta["vmlinux_build_id"] and result.unresolved == []
    theirs = text.encode().splitlines(keepends=True)
    ours = result.text.splitlines(keepends=True)
    # byte for byte but the one heap address the booted kernel chose
    assert [a for a, b in zip(ours, theirs) if a != b] == [b"SYMBOL(mem_section)=0\n"] and len(ours) == len(theirs)
    lines = {line.key: line for line in result.lines}
    assert lines["SIZE(page)"].value == "64" and lines["SIZE(page)"].source == "dwarf"
    mem_section = lines["SYMBOL(mem_section)"]
    assert mem_section.runtime and "mem_section" in mem_section.runtime_reason and mem_section.source == "runtime"
    assert lines["OSRELEASE"].spec.file == "common.yaml" and lines["OSRELEASE"].spec.line > 1
    specs_directory = vmci.load_specs().directory
    assert all(os.path.isfile(os.path.join(specs_directory, line.spec.file)) for line in result.lines)


def test_notes_are_built_and_read_as_the_kernel_wrote_them(tmp_path):
    text = gold_bytes(AMD64, "vmcoreinfo.txt")
    assert vmci.build_note(text) == gold_bytes(AMD64, "note.bin")
    note = vmci.read_note(os.path.join(GOLD, AMD64, "note.bin"))
    assert (note.kind, note.text.encode()) == ("note", text)
    assert note.values()["OSRELEASE"] == AMD64
    core = tmp_path / "vmcore"
    core.write_bytes(vmci.build_elf_core(gold_bytes(ARM64, "vmcoreinfo.txt"), "aarch64"))
    read = vmci.read_note(core)
    assert read.kind == "elf-core" and read.text.encode() == gold_bytes(ARM64, "vmcoreinfo.txt")


def test_bad_input_is_one_vmci_error(tmp_path):
    bad = tmp_path / "junk"
    bad.write_bytes(b"\x7fELF junk")
    for call in (lambda: vmci.resolve_vmlinux(str(bad)), lambda: vmci.read_note(bad),
                 lambda: vmci.select_entries(vmci.load_specs(), "vax", "6.1"),
                 lambda: vmci.load_specs(tmp_path), lambda: vmci.open_image(tmp_path / "missing")):
        with pytest.raises(vmci.VmciError) as raised:
            call()
        assert "\n" not in str(raised.value)


def test_the_generated_generator_gives_the_same_text(tmp_path):
    from vmci import vmcoreinfo

    _, _, config = gold(ARM64)
    expected = vmci.resolve_vmlinux(kernel_path(ARM64), config=config).text
    with vmci.open_image(kernel_path(ARM64), config=config) as image:
        module = vmcoreinfo.for_elf(image.e_machine, image.elf_class, image.endianness)
        text = module.render(module.vmcoreinfo(image.resolver, image.kernel_version, image.config.values))
    assert module.__name__ == "vmci.vmcoreinfo.arm64"
    assert text.encode() == expected
