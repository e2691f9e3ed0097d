"""KASLR: notes written by real Debian kernels booted without nokaslr (tests/data/kaslr,
the same builds as tests/data/gold). vmci reads the slide from the note's KERNELOFFSET,
moves every address of the image by it, and then only the lines the booted kernel fixes
at boot differ; `vmci resolve --kaslr-offset` writes what such a kernel writes."""
import json
import os

import pytest

from conftest import DATA, gold, json_document, kernel_path, run_vmci

KASLR = os.path.join(DATA, "kaslr")
RELEASES = sorted(d for d in os.listdir(KASLR) if os.path.isdir(os.path.join(KASLR, d)))


def kaslr_note(release):
    directory = os.path.join(KASLR, release)
    with open(os.path.join(directory, "meta.json")) as handle:
        meta = json.load(handle)
    with open(os.path.join(directory, "vmcoreinfo.txt")) as handle:
        text = handle.read()
    return meta, text, directory


def values(text):
    return dict(line.split("=", 1) for line in text.splitlines())


def boot_time_keys(meta):
    """What the booted kernel fixes at boot besides the slide; KERNELOFFSET, the slide
    itself, must come out exact."""
    return set(meta["runtime_keys"]) - {"KERNELOFFSET"}


def test_the_captures_are_kaslr_boots_of_the_gold_kernels():
    assert RELEASES == ["6.1.0-50-cloud-arm64", "6.1.0-57-cloud-amd64", "6.12.107+deb13-s390x"]
    for release in RELEASES:
        meta, text, _ = kaslr_note(release)
        gold_meta, gold_text, _ = gold(release)
        assert "nokaslr" not in meta["proc_cmdline_in_guest"]
        assert meta["vmlinux_build_id"] == gold_meta["vmlinux_build_id"]
        assert meta["config_sha256"] == gold_meta["config_sha256"]
        assert values(text)["KERNELOFFSET"] != values(gold_text)["KERNELOFFSET"]


@pytest.mark.parametrize("release", RELEASES)
def test_resolve_with_the_notes_kaslr_offset_writes_the_note_but_for_boot_time_lines(release, tmp_path):
    meta, text, _ = kaslr_note(release)
    _, _, config = gold(release)
    offset = values(text)["KERNELOFFSET"]
    out = tmp_path / "vmcoreinfo.txt"
    code, _, err = run_vmci("resolve", "--vmlinux", kernel_path(release), "--config", config,
                            "--kaslr-offset", offset, "-o", str(out))
    assert code == 0, err
    ours, theirs = out.read_text().splitlines(), text.splitlines()
    assert [line.split("=")[0] for line in ours] == [line.split("=")[0] for line in theirs]
    differing = {a.split("=")[0] for a, b in zip(ours, theirs) if a != b}
    assert differing <= boot_time_keys(meta), differing
    assert values(out.read_text())["KERNELOFFSET"] == offset
    # without the slide, every SYMBOL() of the image is off
    code, plain, err = run_vmci("resolve", "--vmlinux", kernel_path(release), "--config", config)
    assert code == 0, err
    off = {a.split("=")[0] for a, b in zip(plain.splitlines(), theirs) if a != b} - boot_time_keys(meta)
    assert len([key for key in off if key.startswith("SYMBOL(")]) >= 12, off


@pytest.mark.parametrize("release", RELEASES)
def test_resolve_json_names_the_slide_and_marks_the_boot_time_lines(release):
    meta, text, _ = kaslr_note(release)
    _, gold_text, config = gold(release)
    offset = values(text)["KERNELOFFSET"]
    code, out, err = run_vmci("resolve", "--vmlinux", kernel_path(release), "--config", config,
                              "--kaslr-offset", offset, "--format", "json")
    assert code == 0, err
    payload = json_document(out, "resolve")
    slide = (int(offset, 16) - int(values(gold_text)["KERNELOFFSET"], 16)) % (1 << 64)
    assert payload["kaslr"] == {"key": "KERNELOFFSET", "offset": offset, "slide": f"{slide:x}"}
    theirs = values(text)
    for line in payload["lines"]:
        if line["value"] != theirs[line["key"]]:
            assert line["runtime"] and line["runtime_reason"], line["key"]


@pytest.mark.parametrize("release", RELEASES)
def test_audit_note_applies_the_slide_it_reads_and_finds_only_boot_time_differences(release):
    meta, text, directory = kaslr_note(release)
    _, gold_text, config = gold(release)
    code, out, err = run_vmci("audit", "note", os.path.join(directory, "note.bin"), "--vmlinux",
                              kernel_path(release), "--config", config, "--format", "json")
    assert code == 0, err
    payload = json_document(out, "audit-note")
    kaslr = payload["kaslr"]
    offset = values(text)["KERNELOFFSET"]
    assert (kaslr["key"], kaslr["offset"], kaslr["without_kaslr"]) == \
        ("KERNELOFFSET", offset, values(gold_text)["KERNELOFFSET"])
    assert int(kaslr["slide"], 16) == (int(offset, 16) - int(kaslr["without_kaslr"], 16)) % (1 << 64)
    # the lines it moved are exactly those the two boots differ in, but for boot-time lines
    gold_values = values(gold_text)
    moved_by_kaslr = {key for key, value in values(text).items()
                      if value != gold_values[key] and key not in boot_time_keys(meta)}
    assert set(kaslr["moved"]) == moved_by_kaslr
    assert payload["summary"]["differs"] == payload["summary"]["missing"] == 0
    statuses = {line["key"]: line["status"] for line in payload["lines"]}
    assert {key for key, status in statuses.items() if status != "match"} <= boot_time_keys(meta)
    assert all(statuses[key] == "match" for key in moved_by_kaslr)
    # and says so in text
    code, text_out, err = run_vmci("audit", "note", os.path.join(directory, "vmcoreinfo.txt"), "--vmlinux",
                                   kernel_path(release), "--config", config)
    assert code == 0, err
    assert f"KASLR: slide {int(kaslr['slide'], 16):#x} applied, read from the note's KERNELOFFSET={offset}" in text_out


def test_audit_note_on_a_nokaslr_note_applies_no_slide():
    release = "6.12.107+deb13-s390x"
    _, _, config = gold(release)
    code, out, err = run_vmci("audit", "note", os.path.join(DATA, "gold", release, "note.bin"), "--vmlinux",
                              kernel_path(release), "--config", config)
    assert code == 0, err
    assert "KASLR: none (KERNELOFFSET as without KASLR)" in out


@pytest.mark.parametrize("release", RELEASES)
def test_diff_of_the_vmlinux_and_its_kaslr_note_shows_only_boot_time_lines(release):
    meta, _, directory = kaslr_note(release)
    _, _, config = gold(release)
    code, out, err = run_vmci("diff", kernel_path(release), os.path.join(directory, "note.bin"),
                              "--config-a", config, "--format", "json")
    assert code == 1, err  # boot-time lines differ
    payload = json_document(out, "diff")
    assert "KASLR slide" in payload["a"]["description"]
    changed = {c["key"] for c in payload["changes"] if c["change"] != "same"}
    assert changed and changed <= boot_time_keys(meta), changed


def test_kaslr_offset_on_a_kernel_without_one_is_refused():
    release = "6.1.0-50-686-pae"  # x86_32 writes no KERNELOFFSET
    _, _, config = gold(release)
    code, out, err = run_vmci("resolve", "--vmlinux", kernel_path(release), "--config", config,
                              "--kaslr-offset", "1000000")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "reports no KASLR offset" in err and "Traceback" not in err


def test_kaslr_offset_must_be_hex():
    code, _, err = run_vmci("resolve", "--vmlinux", kernel_path("6.1.0-57-cloud-amd64"), "--kaslr-offset", "0xzz")
    assert code == 2 and "is not a hexadecimal number" in err and "Traceback" not in err


@pytest.mark.parametrize("release", RELEASES)
def test_the_generated_python_moves_the_image_as_resolve_does(release, tmp_path):
    """generated/python/vmcoreinfo places the image through its image_base() and the
    resolver's slide: the same lines as `vmci resolve` with that slide."""
    import importlib
    import sys

    from conftest import ROOT
    from vmci.spec.model import kernel_version_from_banner
    from vmci.elf import open_vmlinux
    from vmci.resolve.image_resolver import ImageResolver
    from vmci.lang.kconfig import KernelConfig
    from vmci.resolve.engine import resolve_with_kaslr_offset
    from vmci.select import find_target_by_elf
    from vmci.spec.load import load_specs

    specs, _ = load_specs()
    _, text, _ = kaslr_note(release)
    config = KernelConfig.from_file(gold(release)[2])
    sys.path.insert(0, os.path.join(ROOT, "generated", "python"))
    try:
        vmcoreinfo = importlib.import_module("vmcoreinfo")
    finally:
        sys.path.pop(0)
    with open_vmlinux(kernel_path(release), cache_dir=str(tmp_path)) as vm:
        version = kernel_version_from_banner(vm.linux_banner())
        target = find_target_by_elf(specs, vm.e_machine, vm.elf_class, vm.endianness)
        theirs, slide = resolve_with_kaslr_offset(specs, vm, target, version, config, int(values(text)["KERNELOFFSET"], 16))
        module = vmcoreinfo.for_elf(vm.e_machine, vm.elf_class, vm.endianness)
        ours = module.vmcoreinfo(ImageResolver(vm, config, slide.slide), version, config.values)
    assert ours == [(line.key, line.value, line.reason) for line in theirs]
    assert {line.key: line.value for line in ours}["KERNELOFFSET"] == values(text)["KERNELOFFSET"]
