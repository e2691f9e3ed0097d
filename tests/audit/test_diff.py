"""vmci diff A B: two kernels' VMCOREINFO, each a vmlinux, a captured note or ARCH@VERSION,
entry by entry in kernel order; exit status 1 when they differ, as diff(1)."""
import os

import pytest

from conftest import GOLD, gold, json_document, kernel_path, run_vmci

AMD64_61 = "6.1.0-57-cloud-amd64"
AMD64_612 = "6.12.117+deb12-cloud-amd64"


def diff(*args):
    code, out, err = run_vmci("diff", "--format", "json", *args)
    assert "Traceback" not in err, err
    assert code in (0, 1), err
    return code, json_document(out, "diff")


def by_change(payload):
    found = {}
    for change in payload["changes"]:
        found.setdefault(change["change"], []).append(change["key"])
    return found


def test_spec_sides_across_the_6_9_split():
    code, payload = diff("x86_64@6.1", "x86_64@6.12")
    assert code == 1
    changes = by_change(payload)
    assert "NUMBER(VMALLOC_START)" in changes["added"] and "SYMBOL(vmap_area_list)" in changes["removed"]
    assert "LENGTH(zone.free_area)" in changes["changed"]
    keys = [c["key"] for c in payload["changes"]]
    # kernel order: the vmalloc start replaces vmap_area_list where it stood, before the page offsets
    assert keys.index("SYMBOL(vmap_area_list)") < keys.index("NUMBER(VMALLOC_START)") < keys.index("OFFSET(page.compound_dtor)")
    [free_area] = [c for c in payload["changes"] if c["key"] == "LENGTH(zone.free_area)"]
    assert free_area["a"]["c"] == "VMCOREINFO_LENGTH(zone.free_area, MAX_ORDER)"
    assert free_area["b"]["c"] == "VMCOREINFO_LENGTH(zone.free_area, NR_PAGE_ORDERS)"


def test_the_same_kernel_twice_is_no_difference():
    code, payload = diff("aarch64@6.12", "aarch64@6.12")
    assert code == 0 and payload["changes"] == []


def test_a_booted_kernels_note_against_its_vmlinux():
    _, _, config = gold(AMD64_61)
    code, payload = diff(os.path.join(GOLD, AMD64_61, "note.bin"), kernel_path(AMD64_61), "--config-b", config)
    assert code == 1
    # the only difference is the heap address the kernel chose at boot
    assert payload["changes"] == [{"change": "changed", "key": "SYMBOL(mem_section)",
                                   "a": {"value": "ffff88803feb5000", "condition": None, "c": None, "value_format": None},
                                   "b": {"value": "0", "condition": None, "c": None, "value_format": None}}]


def test_two_vmlinux_files():
    code, out, err = run_vmci("diff", kernel_path(AMD64_61), kernel_path(AMD64_612),
                              "--config-a", gold(AMD64_61)[2], "--config-b", gold(AMD64_612)[2])
    assert code == 1, err
    assert "~ NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE): -129 -> -268435456" in out
    assert "- SYMBOL(vmap_area_list)=" in out and "+ NUMBER(VMALLOC_START)=0xffffc90000000000" in out
    assert out.splitlines()[-1].startswith("5 added, 7 removed, ")


def test_spec_side_with_config_against_the_note_it_describes():
    _, text, config = gold(AMD64_61)
    code, payload = diff("x86_64@6.1", os.path.join(GOLD, AMD64_61, "vmcoreinfo.txt"), "--config-a", config)
    # the same keys in the same order; values cannot be compared with a spec side
    assert (code, payload["changes"]) == (0, [])


def test_a_moved_entry(tmp_path):
    _, text, _ = gold(AMD64_61)
    lines = text.splitlines(keepends=True)
    moved = lines.pop(3)
    lines.append(moved)
    edited = tmp_path / "moved.txt"
    edited.write_text("".join(lines))
    code, payload = diff(os.path.join(GOLD, AMD64_61, "vmcoreinfo.txt"), str(edited))
    assert code == 1
    assert by_change(payload) == {"moved": [moved.split("=")[0]]}


@pytest.mark.parametrize("a, fragment", [
    ("vax@6.1", "unknown architecture 'vax'"),
    ("x86_64@4.19", "outside every spec's range"),
    ("x86@6.12", "several machines"),
    ("/nonexistent/vmlinux", "/nonexistent/vmlinux"),
])
def test_bad_sides(a, fragment):
    code, out, err = run_vmci("diff", a, "x86_64@6.12")
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and fragment in err


def test_a_file_that_is_neither(tmp_path):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(bytes(range(256)) * 8)
    code, _, err = run_vmci("diff", str(garbage), "x86_64@6.12")
    assert code == 2 and str(garbage) in err and len(err.strip().splitlines()) == 1
