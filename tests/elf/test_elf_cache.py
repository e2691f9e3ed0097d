"""The JSON answer cache."""

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
from elf_support import ROOT

from vmci.elf import LookupFailure, open_vmlinux
from vmci.elf import cache as elf_cache

WARM_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from vmci.elf import open_vmlinux, LookupFailure
vm = open_vmlinux(sys.argv[1], cache_dir=sys.argv[2])
out = {}
for name in ("struct page", "atomic_long_t", "struct nope"):
    try:
        out[name] = vm.find_type(name).to_json()
    except LookupFailure as e:
        out[name] = e.reason
out["off"] = vm.find_type("struct page").member("lru.next")[0]
out["arr"] = vm.variable_type("arr").length
out["BLUE"] = vm.enumerator("BLUE")
out["sym"] = vm.symbol_address("arr")
out["banner"] = vm.linux_banner()
out["config"] = vm.embedded_config()
vm.close()
out["seconds"] = time.perf_counter() - t0
out["modules"] = sorted(m for m in sys.modules if m.startswith(("elftools", "vmci.elf")))
print(json.dumps(out))
"""


def _sha256(path):
    """The cache's digest of an image, computed here with pyelftools' ELF reader: the
    SHA-256 of the ranges (JSON), then of their bytes -- the ELF header, the program
    and section header tables, every segment, every section's contents but those of
    SHT_REL, SHT_RELA and SHT_NOBITS sections; merged, in file order."""
    import hashlib

    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as handle:
        data = handle.read()
        elf = ELFFile(handle)
        h = elf.header
        want = [(0, h.e_ehsize), (h.e_phoff, h.e_phentsize * h.e_phnum), (h.e_shoff, h.e_shentsize * h.e_shnum)]
        want += [(seg["p_offset"], seg["p_filesz"]) for seg in elf.iter_segments()]
        want += [(sec["sh_offset"], sec["sh_size"]) for sec in elf.iter_sections()
                 if sec["sh_type"] not in ("SHT_REL", "SHT_RELA", "SHT_NOBITS")]
    merged = []
    for start, size in sorted((o, min(n, len(data) - o)) for o, n in want if 0 <= o < len(data)):
        if merged and start <= merged[-1][0] + merged[-1][1]:
            merged[-1] = [merged[-1][0], max(merged[-1][0] + merged[-1][1], start + size) - merged[-1][0]]
        elif size > 0:
            merged.append([start, size])
    digest = hashlib.sha256(json.dumps(merged).encode())
    for start, size in merged:
        digest.update(data[start:start + size])
    return digest.hexdigest()


def _ask(vm):
    out = {}
    for name in ("struct page", "atomic_long_t", "struct nope"):
        try:
            out[name] = vm.find_type(name).to_json()
        except LookupFailure as e:
            out[name] = e.reason
    out["off"] = vm.find_type("struct page").member("lru.next")[0]
    out["arr"] = vm.variable_type("arr").length
    out["BLUE"] = vm.enumerator("BLUE")
    out["sym"] = vm.symbol_address("arr")
    out["banner"] = vm.linux_banner()
    out["config"] = vm.embedded_config()
    return out


def _warm(exe, cache_dir):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", WARM_SCRIPT, exe, cache_dir], env=env,
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def test_cold_then_warm(native_exe, tmp_path):
    cache = str(tmp_path / "cache")
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        cold = _ask(vm)
        bid = vm.build_id
    files = os.listdir(cache)
    fp = elf_cache.fingerprint(os.stat(native_exe))
    assert files == [os.path.basename(elf_cache.unhashed_path(cache, bid, fp))]
    assert files[0].startswith(f"vmlinux-{bid}-unhashed-")
    saved = json.load(open(os.path.join(cache, files[0])))
    assert saved["digest"] is None and saved["fingerprints"] == [fp]
    assert saved["image"] == os.path.realpath(native_exe)
    warm = _warm(native_exe, cache)
    for k, v in cold.items():
        assert warm[k] == v, k
    # the warm process neither parsed DWARF nor imported pyelftools
    assert "vmci.elf.dwarf" not in warm["modules"]
    assert "vmci.elf.types" not in warm["modules"]
    assert not [m for m in warm["modules"] if m.startswith("elftools")]


def test_cache_for_other_file_is_ignored(native_exe, tmp_path):
    cache = str(tmp_path / "cache")
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        vm.find_type("struct page")
        bid = vm.build_id
    path = elf_cache.unhashed_path(cache, bid, elf_cache.fingerprint(os.stat(native_exe)))
    data = json.load(open(path))
    data["file_size"] += 1
    data["types"]["struct page"] = {"failure": "poisoned"}
    json.dump(data, open(path, "w"))
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        assert vm.find_type("struct page").name == "page"
    # garbage in the cache file is ignored as well
    open(path, "w").write("{not json")
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        assert vm.find_type("struct page").name == "page"
    assert json.load(open(path))["file_size"] == os.path.getsize(native_exe)


def test_writers_merge_and_leave_no_temp_files(native_exe, tmp_path):
    cache = str(tmp_path / "cache")
    a = open_vmlinux(native_exe, cache_dir=cache)
    b = open_vmlinux(native_exe, cache_dir=cache)
    a.find_type("struct page")
    b.enumerator("RED")
    a.close()
    b.close()
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].endswith(".json")
    data = json.load(open(os.path.join(cache, files[0])))
    assert "struct page" in data["types"] and data["enumerators"]["RED"] == 0


def test_unwritable_cache_dir_is_harmless(native_exe, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with open_vmlinux(native_exe, cache_dir=str(blocker / "sub")) as vm:
        assert vm.find_type("struct page").size


# ------------------------------------------------- a copy with other contents
def _refs_location(exe):
    """File position, width and value of DW_AT_data_member_location of struct page's
    member `refs` (a constant in a data form, as GCC writes it)."""
    import io
    import struct

    from elftools.elf.elffile import ELFFile

    data = open(exe, "rb").read()
    elf = ELFFile(io.BytesIO(data))
    info = elf.get_section_by_name(".debug_info")["sh_offset"]
    widths = {"DW_FORM_data1": "B", "DW_FORM_data2": "H", "DW_FORM_data4": "I", "DW_FORM_data8": "Q"}
    for cu in elf.get_dwarf_info(relocate_dwarf_sections=False).iter_CUs():
        for die in cu.iter_DIEs():
            parent = die.get_parent()
            if die.tag == "DW_TAG_member" and die.attributes.get("DW_AT_name") \
                    and die.attributes["DW_AT_name"].value == b"refs" and parent is not None \
                    and parent.attributes["DW_AT_name"].value == b"page":
                a = die.attributes["DW_AT_data_member_location"]
                fmt = "<" + widths[a.form]
                position = info + a.offset
                assert struct.unpack_from(fmt, data, position)[0] == a.value
                return position, fmt, a.value
    raise AssertionError("no page.refs member in the fixture")


@pytest.fixture()
def damaged_copy(native_exe, tmp_path):
    """(intact copy, damaged copy, true offset of page.refs, damaged offset): one DWARF
    byte differs, so both have the fixture's build ID and size."""
    import struct

    position, fmt, offset = _refs_location(native_exe)
    intact = str(tmp_path / "intact")
    shutil.copy(native_exe, intact)
    data = bytearray(open(native_exe, "rb").read())
    struct.pack_into(fmt, data, position, offset + 8)
    damaged = str(tmp_path / "damaged")
    open(damaged, "wb").write(bytes(data))
    assert os.path.getsize(damaged) == os.path.getsize(intact)
    return intact, damaged, offset, offset + 8


def _refs_offset(path, cache):
    with open_vmlinux(path, cache_dir=cache) as vm:
        return vm.build_id, vm.find_type("struct page").member("refs")[0]


@pytest.mark.parametrize("first", ["damaged", "intact"])
def test_a_copy_with_other_contents_does_not_poison_the_cache(damaged_copy, tmp_path, first):
    """Same build ID, same size, one DWARF byte changed: each file gets its own
    answers, whichever was read first, warm or cold."""
    intact, damaged, good, bad = damaged_copy
    cache = str(tmp_path / "cache")
    order = [(damaged, bad), (intact, good)]
    if first == "intact":
        order.reverse()
    build_ids = set()
    for _ in range(2):  # cold, then warm from the cache
        for path, expected in order:
            build_id, got = _refs_offset(path, cache)
            build_ids.add(build_id)
            assert got == expected, (path, got, expected)
    assert len(build_ids) == 1
    build_id = build_ids.pop()
    # one cache file per contents, both of this build ID
    files = sorted(os.listdir(cache))
    assert len(files) == 2 and all(f.startswith(f"vmlinux-{build_id}-") for f in files), files


def test_warm_run_of_an_unchanged_file_does_not_hash(native_exe, tmp_path, monkeypatch):
    """A fingerprint the cache knows is trusted without reading the file.  A cold run
    hashes nothing (there is no digest to compare with); the first copy hashes itself
    and the file the cold run learned from, and shares its answers; a touched copy is
    hashed once, then known."""
    calls = []
    real = elf_cache.file_digest

    def spy(fd, ranges):
        calls.append(os.fstat(fd).st_ino)
        return real(fd, ranges)

    monkeypatch.setattr(elf_cache, "file_digest", spy)
    cache = str(tmp_path / "cache")
    exe, copy = str(tmp_path / "exe"), str(tmp_path / "copy")
    shutil.copy(native_exe, exe)
    with open_vmlinux(exe, cache_dir=cache) as vm:  # cold
        vm.find_type("struct page")
    assert calls == []
    for _ in range(3):
        with open_vmlinux(exe, cache_dir=cache) as vm:
            assert vm.find_type("struct page").name == "page"
    assert calls == [], "a warm run of an unchanged file read the whole file"
    shutil.copy(exe, copy)
    with open_vmlinux(copy, cache_dir=cache) as vm:
        assert "struct page" in vm._data["types"]  # the cold run's answer, shared
    assert sorted(calls) == sorted([os.stat(exe).st_ino, os.stat(copy).st_ino])
    os.utime(copy, ns=(1, 1))  # touched: same contents, hashed once more, then known again
    for _ in range(2):
        with open_vmlinux(copy, cache_dir=cache) as vm:
            assert vm.find_type("struct page").name == "page"
    assert len(calls) == 3
    files = glob.glob(os.path.join(cache, "vmlinux-*.json"))
    assert len(files) == 1
    data = json.load(open(files[0]))
    assert data["digest"] == _sha256(exe) and files[0] == elf_cache.cache_path(cache, data["build_id"], data["digest"])
    assert len(data["fingerprints"]) == 3 and data["format"] == elf_cache.FORMAT


def test_cache_of_format_1_is_ignored(native_exe, tmp_path):
    """Files of the old format (trusted on build ID and size alone) are not read."""
    cache = tmp_path / "cache"
    cache.mkdir()
    with open_vmlinux(native_exe) as vm:
        bid, size = vm.build_id, vm.file_size
    old = {"format": 1, "build_id": bid, "file_size": size, "types": {"struct page": {"failure": "poisoned"}},
           "variables": {}, "enumerators": {}, "symbols": {}, "facts": {}}
    (cache / f"vmlinux-{bid}.json").write_text(json.dumps(old))
    with open_vmlinux(native_exe, cache_dir=str(cache)) as vm:
        assert vm.find_type("struct page").name == "page"


def test_malformed_entries_in_the_cache_are_asked_again(native_exe, tmp_path):
    """A cache file edited by hand (entries of the wrong shape) neither answers nor
    breaks a question: the image is asked again."""
    cache = str(tmp_path / "cache")
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        truth = (vm.find_type("struct page").size, vm.enumerator("BLUE"), vm.symbol_address("arr"),
                 vm.variable_type("arr").length, vm.linux_banner())
    path = glob.glob(os.path.join(cache, "vmlinux-*.json"))[0]
    data = json.load(open(path))
    data["types"]["struct page"] = {"type": {"kind": "struct", "members": [{"name": "x"}]}}
    data["types"]["atomic_long_t"] = 5
    data["variables"]["arr"] = {"type": "array"}
    data["enumerators"]["BLUE"] = "six"
    data["symbols"]["arr"] = [1]
    data["facts"]["banner"] = 7
    json.dump(data, open(path, "w"))
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        assert (vm.find_type("struct page").size, vm.enumerator("BLUE"), vm.symbol_address("arr"),
                vm.variable_type("arr").length, vm.linux_banner()) == truth
        assert vm.find_type("atomic_long_t").resolved().size == 8


def test_unhashed_answers_of_a_changed_file_are_dropped(native_exe, tmp_path, monkeypatch):
    """The answers of a cold run are hashed later only from a file that still has the
    fingerprint they were learned with: after the file changed, they match no
    contents, are deleted, and answer nothing -- not even for the same bytes."""
    calls = []
    real = elf_cache.file_digest

    def spy(fd, ranges):
        calls.append(os.fstat(fd).st_ino)
        return real(fd, ranges)

    monkeypatch.setattr(elf_cache, "file_digest", spy)
    cache = str(tmp_path / "cache")
    exe = str(tmp_path / "exe")
    shutil.copy(native_exe, exe)
    with open_vmlinux(exe, cache_dir=cache) as vm:
        vm.find_type("struct page")
    [unhashed] = os.listdir(cache)
    os.utime(exe, ns=(1, 1))
    with open_vmlinux(exe, cache_dir=cache) as vm:
        assert vm._data["types"] == {}  # asked again
        assert vm.find_type("struct page").name == "page"
    assert calls == []  # nothing to hash against: cold again
    files = os.listdir(cache)
    assert len(files) == 1 and files[0] != unhashed and "-unhashed-" in files[0]


def test_a_file_written_while_read_saves_nothing(native_exe, tmp_path):
    """The fingerprint is looked at again before saving: answers read while the file
    was rewritten in place may mix two contents and are not kept."""
    cache = str(tmp_path / "cache")
    exe = str(tmp_path / "exe")
    shutil.copy(native_exe, exe)
    with open_vmlinux(exe, cache_dir=cache) as vm:
        vm.find_type("struct page")
        with open(exe, "r+b") as f:
            f.seek(0)
            f.write(f.read(4))  # the same bytes: only the ctime changes
    assert not os.path.exists(cache) or os.listdir(cache) == []


def test_a_temporary_copy_is_hashed_at_once(native_exe, tmp_path):
    """Standard input is read from a temporary copy, removed after the run: its answers
    are saved under their digest at once, so the next copy of the same bytes (another
    temporary file, another fingerprint) finds them."""
    cache = str(tmp_path / "cache")
    for run in range(2):
        spooled = str(tmp_path / f"stdin-{run}")
        shutil.copy(native_exe, spooled)
        with open_vmlinux(spooled, cache_dir=cache, lasting=False) as vm:
            assert ("struct page" in vm._data["types"]) == (run == 1)
            assert vm.find_type("struct page").name == "page"
        os.unlink(spooled)
    [name] = os.listdir(cache)
    assert name == os.path.basename(elf_cache.cache_path(cache, vm.build_id, _sha256(native_exe)))
    assert len(json.load(open(os.path.join(cache, name)))["fingerprints"]) == 2

