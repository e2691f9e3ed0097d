"""The reader against small C programs: values must equal what the C
compiler itself computed (sizeof/offsetof stored in the image, and printed
by the native build)."""

import shutil
import subprocess

import pytest
from elf_support import build_fixture

import elf_fixture_c as F
from vmci.elf import CType, ElfFormatError, LookupFailure, open_vmlinux

TARGET_FACTS = {  # target -> (elf_class, endianness, e_machine)
    "native": (64, "little", 62),
    "aarch64": (64, "little", 183),
    "s390x": (64, "big", 22),
    "armhf": (32, "little", 40),
    "i686": (32, "little", 3),
}
DWARFS = ["-gdwarf-5", "-gdwarf-4", "-gdwarf-2"]


@pytest.fixture(params=[(t, d) for t in TARGET_FACTS for d in DWARFS],
                ids=lambda p: f"{p[0]}{p[1]}")
def built(request, fixture_dir):
    target, dwarf = request.param
    exe = build_fixture(fixture_dir, target, dwarf)
    vm = open_vmlinux(exe)
    yield target, exe, vm
    vm.close()


def test_native_printf_agrees_with_image(native_exe):
    with open_vmlinux(native_exe) as vm:
        assert F.printed(native_exe) == F.from_image(vm)


def test_elf_facts(built):
    target, exe, vm = built
    assert (vm.elf_class, vm.endianness, vm.e_machine) == TARGET_FACTS[target]
    assert vm.has_dwarf
    assert vm.path == exe
    out = subprocess.run(["readelf", "-n", exe], capture_output=True, text=True).stdout
    assert vm.build_id and f"Build ID: {vm.build_id}" in out


def test_struct_layout_matches_compiler(built):
    _t, _exe, vm = built
    exp = F.from_image(vm)
    page = vm.find_type("struct page")
    assert page.kind == "struct" and page.name == "page"
    assert page.size == exp["sizeof struct page"]
    for label, value in exp.items():
        if label.startswith("struct page."):
            assert page.member(label[len("struct page."):])[0] == value, label
    lh = vm.find_type("struct list_head")
    assert lh.size == exp["sizeof struct list_head"]
    assert lh.member("prev")[0] == exp["struct list_head.prev"]
    assert vm.find_type("struct self_ref").size == exp["sizeof struct self_ref"]
    assert vm.find_type("struct self_ref").member("x")[0] == exp["struct self_ref.x"]


def test_anonymous_members_and_types(built):
    _t, _exe, vm = built
    exp = F.from_image(vm)
    page = vm.find_type("struct page")
    anon = [m for m in page.members if m.name is None]
    assert len(anon) == 2 and all(m.type.kind == "union" for m in anon)
    off, t = page.member("lru")
    assert t.kind == "struct" and t.name == "list_head" and t.members is not None
    off, t = page.member("lru.next")
    assert off == exp["struct page.lru"] and t.kind == "pointer"
    # pointer targets are shallow: named, sized, not expanded
    assert t.target.kind == "struct" and t.target.name == "list_head" and t.target.members is None
    assert t.target.size == exp["sizeof struct list_head"]
    _o, fn = page.member("fn")
    assert fn.kind == "pointer" and fn.target.kind == "function"
    _o, cv = page.member("cv")  # qualifiers are dropped
    assert cv.kind == "base" and cv.name == "int"
    _o, name = page.member("name")
    assert name.kind == "array" and name.length == 16 and name.target.length == 4
    assert name.size == exp["sizeof name"] and name.array_length() == 16
    _o, zero = page.member("zero")
    assert zero.length == 0
    _o, flex = page.member("flex")
    assert flex.length is None
    with pytest.raises(LookupFailure, match="no bound"):
        flex.array_length()
    assert page.member("name[3]")[0] == exp["struct page.name"] + 3 * 4
    with pytest.raises(LookupFailure, match="member 'nope' not found in struct page"):
        page.member("nope")
    with pytest.raises(LookupFailure):
        page.member("flags.x")


def test_typedefs(built):
    _t, _exe, vm = built
    exp = F.from_image(vm)
    al = vm.find_type("atomic_long_t")
    assert al.kind == "typedef" and al.name == "atomic_long_t"
    assert al.resolved().kind == "struct" and al.resolved().name is None
    assert al.resolved().size == exp["sizeof atomic_long_t"]
    off, t = al.member("counter")
    assert off == 0 and t.resolved().size == exp["sizeof long"]
    alias = vm.find_type("page_alias_t")
    assert alias.target.kind == "typedef" and alias.resolved().name == "page"
    assert alias.member("refs.counter")[0] == exp["struct page.refs.counter"]


def test_bitfields_match_compiler(built):
    """bf_probe has bf2 = 0x1f and everything else zero: the bits our Member
    describes must be exactly the set bits of the image's initial data."""
    _t, _exe, vm = built
    page = vm.find_type("struct page")
    bf = {m.name: m for m in page.members if m.bit_size is not None}
    assert [(n, bf[n].bit_size) for n in ("bf1", "bf2", "bf3")] == [("bf1", 3), ("bf2", 5), ("bf3", 20)]
    m = page.find_member("bf2")
    raw = vm.read_memory(vm.symbol_address("bf_probe"), page.size)
    start = m.offset * 8 + m.bit_offset
    set_bits = []
    for i, byte in enumerate(raw):
        for b in range(8):
            if byte & (1 << b):
                # DWARF data_bit_offset numbering: from the LSB on little
                # endian, from the MSB on big endian
                set_bits.append(i * 8 + (b if vm.endianness == "little" else 7 - b))
    assert sorted(set_bits) == list(range(start, start + 5))


def test_base_types(built):
    _t, _exe, vm = built
    exp = F.from_image(vm)
    for spelling, label in [("unsigned long", "sizeof unsigned long"), ("long", "sizeof long"),
                            ("int", "sizeof int"), ("char", "sizeof char"),
                            ("unsigned short", "sizeof short"), ("short unsigned int", "sizeof short"),
                            ("unsigned int", "sizeof int"), ("long unsigned int", "sizeof long")]:
        t = vm.find_type(spelling)
        assert t.kind == "base" and t.size == exp[label], spelling
    assert vm.find_type("unsigned long").encoding == "unsigned"
    assert vm.find_type("void").kind == "void"


def test_enums(built):
    _t, _exe, vm = built
    exp = F.from_image(vm)
    for name in ("RED", "GREEN", "BLUE", "F_B", "F_C", "BIG_U"):
        assert vm.enumerator(name) == exp[name], name
    assert vm.enumerator("NEG") == -3
    color = vm.find_type("enum color")
    assert color.kind == "enum" and color.size == exp["sizeof enum color"]
    assert dict(color.enumerators) == {"RED": 0, "GREEN": 5, "BLUE": 6, "NEG": -3}
    with pytest.raises(LookupFailure, match="no enumerator named 'NOPE'"):
        vm.enumerator("NOPE")


def test_variables(built):
    _t, _exe, vm = built
    arr = vm.variable_type("arr")  # `extern int arr[]` in a.c, defined in b.c
    assert arr.kind == "array" and arr.length == 7 and arr.array_length() == 7
    assert arr.size == 7 * vm.find_type("int").size
    m = vm.variable_type("matrix")
    assert m.length == 3 and m.target.kind == "array" and m.target.length == 5
    assert vm.variable_type("buf256").length == 256
    assert vm.variable_type("buf64k").length == 65536
    assert vm.variable_type("global_page").name == "page"
    assert vm.variable_type("alias_ptr").target.kind == "typedef"
    with pytest.raises(LookupFailure, match="no variable 'nope_var' in DWARF"):
        vm.variable_type("nope_var")


def test_lookup_failures(built):
    _t, _exe, vm = built
    with pytest.raises(LookupFailure, match="no DWARF type named 'struct nope'"):
        vm.find_type("struct nope")
    with pytest.raises(LookupFailure, match="only a declaration of 'struct only_declared'"):
        vm.find_type("struct only_declared")
    with pytest.raises(LookupFailure) as ei:
        vm.find_type("union page")
    assert ei.value.reason == "no DWARF type named 'union page'"
    # repeated failures are answered from memory
    with pytest.raises(LookupFailure):
        vm.find_type("struct nope")


def test_memory(built):
    _t, _exe, vm = built
    ptr = vm.find_type("unsigned long").size
    assert vm.read_uint(vm.symbol_address("init_value"), 4) == 0xDEADBEEF
    assert vm.read_uint(vm.symbol_address("short_value"), 2) == 0xBEEF
    assert vm.read_memory(vm.symbol_address("bss_var"), 16) == bytes(16)
    assert vm.read_cstring(vm.symbol_address("greeting")) == "hello, vmlinux"
    assert vm.read_cstring(vm.symbol_address("greeting"), 5) == "hello"
    p = vm.read_uint(vm.symbol_address("greeting_ptr"), ptr)
    assert vm.read_cstring(p) == "pointer string"
    assert vm.read_uint(vm.symbol_address("global_page"), ptr) == 0x1234
    # a local (static) symbol
    assert vm.read_uint(vm.symbol_address("static_counter"), 4) == 42
    assert vm.symbol_address("no_such_symbol") is None
    assert vm.read_memory(0, 4) is None or vm.e_machine != 62
    assert vm.read_memory(2**63, 4) is None
    assert vm.linux_banner() is None
    assert vm.embedded_config() == F.CONFIG_TEXT
    with pytest.raises(LookupFailure):
        vm.read_memory(-1, 4)


def test_symbols_match_nm(built):
    _t, exe, vm = built
    if shutil.which("nm") is None:
        pytest.skip("nm missing")
    out = subprocess.run(["nm", exe], capture_output=True, text=True, check=True).stdout
    seen = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "BDRTbdrt":
            seen.setdefault(parts[2], int(parts[0], 16))
    for name in ("expect", "arr", "matrix", "global_page", "bss_var", "greeting", "init_value",
                 "use_arr", "static_counter"):
        assert vm.symbol_address(name) == seen[name], name


def test_compressed_debug_sections(fixture_dir, tmp_path):
    exe = build_fixture(fixture_dir)
    if shutil.which("objcopy") is None:
        pytest.skip("objcopy missing")
    z = str(tmp_path / "z")
    subprocess.run(["objcopy", "--compress-debug-sections=zlib", exe, z], check=True)
    with open_vmlinux(exe) as a, open_vmlinux(z) as b:
        assert a.find_type("struct page") == b.find_type("struct page")
        assert b.variable_type("arr").length == 7
        assert b.enumerator("BLUE") == 6


def test_stripped_image(fixture_dir, tmp_path):
    exe = build_fixture(fixture_dir)
    if shutil.which("objcopy") is None:
        pytest.skip("objcopy missing")
    s = str(tmp_path / "stripped")
    subprocess.run(["objcopy", "--strip-debug", exe, s], check=True)
    with open_vmlinux(s) as vm:
        assert not vm.has_dwarf
        assert vm.symbol_address("arr") is not None
        for call in (lambda: vm.find_type("struct page"), lambda: vm.variable_type("arr"),
                     lambda: vm.enumerator("RED")):
            with pytest.raises(LookupFailure, match=r"has no DWARF \(.debug_info\); use the -dbg vmlinux"):
                call()
    a = str(tmp_path / "all")
    subprocess.run(["objcopy", "--strip-all", exe, a], check=True)
    with open_vmlinux(a) as vm:
        assert vm.symbol_address("arr") is None
        assert vm.read_cstring(0) is None or True


def test_progress_called(native_exe):
    calls = []
    with open_vmlinux(native_exe, progress=lambda d, t, w: calls.append((d, t, w))) as vm:
        vm.find_type("struct page")
    assert calls and all(0 <= d <= t for d, t, _w in calls)
    assert any("struct page" in w for _d, _t, w in calls)


def test_ctype_json_roundtrip(native_exe):
    with open_vmlinux(native_exe) as vm:
        for name in ("struct page", "atomic_long_t", "enum color", "unsigned long"):
            t = vm.find_type(name)
            assert CType.from_json(t.to_json()) == t
    with pytest.raises(LookupFailure):
        CType.from_json({"kind": "bogus"})


def test_open_errors(tmp_path):
    with pytest.raises(ElfFormatError) as ei:
        open_vmlinux(str(tmp_path / "missing"))
    assert ei.value.place == "file"
    p = tmp_path / "text"
    p.write_text("hello, this is not an ELF file at all\n")
    with pytest.raises(ElfFormatError) as ei:
        open_vmlinux(str(p))
    assert str(ei.value) == f"{p}: ELF header: not an ELF file (bad magic)"
    assert ei.value.path == str(p) and ei.value.place == "ELF header"
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ElfFormatError):
        open_vmlinux(str(tmp_path / "empty"))
    with pytest.raises(ElfFormatError):
        open_vmlinux(str(tmp_path))  # a directory
