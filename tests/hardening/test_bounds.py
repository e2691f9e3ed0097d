"""Resource bounds (docs/limits.md): hostile inputs are refused or handled within
bounded time and memory, with one located line.

Time is bounded with an alarm in this process; memory is measured on a subprocess
(its anonymous memory, sampled from /proc).
"""
import gzip
import os
import subprocess
import sys
import time

import pytest

from hardening_support import (FIXTURE_CONFIG, FIXTURE_SPECS, ROOT, build_fixture, check_resolve, check_validate,
                               have_gcc,
                               run_cli, time_limit)

with open(os.path.join(FIXTURE_SPECS, "common.yaml"), encoding="utf-8") as handle:
    COMMON = handle.read()
with open(os.path.join(FIXTURE_SPECS, "arch", "x86_64.yaml"), encoding="utf-8") as handle:
    ARCH = handle.read()


def specs_dir(tmp_path, common=COMMON, arch=ARCH):
    (tmp_path / "arch").mkdir(exist_ok=True)
    (tmp_path / "common.yaml").write_text(common, encoding="utf-8")
    (tmp_path / "arch" / "x86_64.yaml").write_text(arch, encoding="utf-8")
    return [str(tmp_path / "common.yaml"), str(tmp_path / "arch" / "x86_64.yaml")]


def _anonymous_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mib(argv, tmp_path, timeout=120):
    """Run vmci in a subprocess: (exit status, stdout, stderr, its peak anonymous memory
    in MiB). Anonymous memory, sampled every 10 ms: pages of the mmap'd input file are
    page cache, not what vmci allocates, and RSS would count them."""
    out_path, err_path = tmp_path / "rss.out", tmp_path / "rss.err"
    peak = 0
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "vmci", *argv], cwd=ROOT, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            peak = max(peak, _anonymous_kib(process.pid))
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"vmci {' '.join(argv)} took longer than {timeout} s")
            time.sleep(0.01)
    return process.returncode, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"), peak / 1024


# --- spec side -------------------------------------------------------------------------

def test_condition_with_many_compared_symbols_is_decided_quickly(tmp_path):
    """Two entries with one key and 14-symbol conditions: the overlap check must not
    enumerate every value of every symbol (5^14 configs)."""
    symbols = [f"CONFIG_S{i}" for i in range(14)]
    entry = "      - kind: symbol\n        name: linux_banner\n        when: \"{}\"\n        doc: Twice.\n"
    first = " && ".join(f"{s} == {i + 2}" for i, s in enumerate(symbols))
    second = first.replace("==", "!=")
    common = COMMON.replace("      - kind: osrelease\n",
                            entry.format(first) + entry.format(second) + "      - kind: osrelease\n", 1)
    files = specs_dir(tmp_path, common)
    start = time.monotonic()
    result = run_cli(["validate", str(tmp_path)], seconds=20)
    check_validate(result, files)
    assert time.monotonic() - start < 10
    # disjoint: S0 == 2 and S0 != 2 cannot both hold, so no duplicate-key error
    assert "emitted twice" not in result.out
    # the same conditions overlapping are found just as fast
    common = COMMON.replace("      - kind: osrelease\n",
                            entry.format(first) + entry.format(first.replace("== 2", ">= 2")) +
                            "      - kind: osrelease\n", 1)
    files = specs_dir(tmp_path, common)
    result = run_cli(["validate", str(tmp_path)], seconds=20)
    check_validate(result, files)
    assert "SYMBOL(linux_banner) is emitted twice for some kernel" in result.out


def repeated(template, count):
    return "".join(template.format(i=i) for i in range(count))


def test_many_entries_with_one_key_are_refused_not_compared_pairwise(tmp_path):
    """1,000 entries emitting one key (100 KB of YAML) made 500,000 overlap checks."""
    entries = repeated("      - kind: symbol\n        name: linux_banner\n        when: CONFIG_NODES_SHIFT == {i}\n"
                       "        doc: Many.\n", 1000)
    files = specs_dir(tmp_path, COMMON.replace("      - kind: osrelease\n", entries + "      - kind: osrelease\n", 1))
    start = time.monotonic()
    result = run_cli(["validate", str(tmp_path)], seconds=60)
    check_validate(result, files)
    assert time.monotonic() - start < 15
    assert "SYMBOL(linux_banner): 1000 entries emit this key; at most 100 may" in result.out


def test_many_definitions_of_one_macro(tmp_path):
    """1,000 definitions of one macro: pairwise overlap checks, and a 1,000-level
    condition in the reference check that overflowed Python's stack."""
    defines = repeated("  - name: MANY\n    value: {i}\n    when: CONFIG_NODES_SHIFT == {i}\n", 1000)
    common = COMMON.replace("defines:\n", "defines:\n" + defines, 1).replace(
        "      - kind: osrelease\n", "      - kind: number\n        name: MANY\n        doc: Many.\n"
                                    "      - kind: osrelease\n", 1)
    files = specs_dir(tmp_path, common)
    start = time.monotonic()
    result = run_cli(["validate", str(tmp_path)], seconds=60)
    check_validate(result, files)
    assert time.monotonic() - start < 15
    assert "define MANY: 1000 definitions; at most 100 may" in result.out


def test_many_machines(tmp_path):
    """1,500 machines in one target: their conditions OR-ed in a chain overflowed
    Python's stack in the reference check."""
    machines = repeated("    - name: m{i}\n      elf: {{machine: {i}, class: 64, endianness: little}}\n"
                        "      config: CONFIG_M{i}\n", 1500)
    files = specs_dir(tmp_path, arch=ARCH.replace("  machines:\n", "  machines:\n" + machines, 1))
    result = run_cli(["validate", str(tmp_path)], seconds=60)
    check_validate(result, files)


def test_gzip_bomb_config_is_refused_in_bounded_memory(tmp_path):
    """A 1 MB config.gz that inflates to 1 GiB: refused past the 16 MiB config limit
    without inflating the rest."""
    member = gzip.compress(b"CONFIG_X=y\n" + bytes(64 << 20), compresslevel=9)
    bomb = tmp_path / "config.gz"
    bomb.write_bytes(member * 16)  # 16 gzip members, 1 GiB inflated
    assert bomb.stat().st_size < (2 << 20), bomb.stat().st_size
    code, out, err, rss = peak_rss_mib(["list", "--arch", "x86_64", "--kernel-version", "6.1", "--config", str(bomb),
                                        "--specs", FIXTURE_SPECS], tmp_path)
    assert code == 2, err
    assert err.startswith(f"vmci list: {bomb}: ") and "16777216" in err and len(err.splitlines()) == 1, err
    assert rss < 200, f"peak RSS {rss:.0f} MiB"


def test_alias_bomb_is_refused_at_the_first_anchor(tmp_path):
    """'Billion laughs': nine levels of ten aliases each would build 10^9 strings."""
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with time_limit(5):
        result = run_cli(["validate", str(tmp_path)])
    check_validate(result, [str(tmp_path / "bomb.yaml")])
    assert result.out == f"{tmp_path}/bomb.yaml:1:5: error: YAML anchors (&name) are not allowed in specs\n"


def test_deep_nesting_is_refused_at_level_33(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text("schema: " + "[" * 100_000 + "]" * 100_000 + "\n")
    block = tmp_path / "block.yaml"
    block.write_text("".join(" " * (2 * i) + "- \n" if i < 999 else " " * (2 * i) + "- x\n" for i in range(1000)))
    with time_limit(10):
        result = run_cli(["validate", str(tmp_path)])
    check_validate(result, [str(flow), str(block)])
    assert f"{block}:33:65: error: nested deeper than 32 levels" in result.out
    assert f"{flow}:1:40: error: nested deeper than 32 levels" in result.out


def garbage_file(path, size=1 << 30):
    """A sparse file of `size` bytes with random megabytes at its start, middle and end."""
    with open(path, "wb") as handle:
        handle.truncate(size)
        for offset in (0, size // 2, size - (1 << 20)):
            handle.seek(offset)
            handle.write(os.urandom(1 << 20))
    return str(path)


@pytest.fixture(scope="module")
def fixture_image(tmp_path_factory):
    if not have_gcc():
        pytest.skip("gcc is not installed")
    return build_fixture(str(tmp_path_factory.mktemp("hardening-fixture")))


def test_a_gigabyte_of_garbage_as_each_input(tmp_path, fixture_image):
    specs = tmp_path / "specs"
    specs.mkdir()
    garbage = garbage_file(specs / "garbage.yaml")
    code, out, err, rss = peak_rss_mib(["validate", str(specs)], tmp_path)
    assert code == 1 and out == f"{garbage}:1:1: error: file is {1 << 30} bytes; specs are limited to 1048576\n", out
    assert rss < 200, rss
    for argv, message in (
            (["--vmlinux", garbage, "--config", FIXTURE_CONFIG], f"vmci resolve: {garbage}: ELF header: "),
            (["--vmlinux", fixture_image, "--config", garbage], f"vmci resolve: {garbage}: larger than 16777216 bytes")):
        code, out, err, rss = peak_rss_mib(["resolve", *argv, "--specs", FIXTURE_SPECS, "--no-cache"], tmp_path)
        assert code == 2 and err.startswith(message) and len(err.splitlines()) == 1, err
        assert rss < 200, rss


# --- reader side -------------------------------------------------------------------------

def dies_by_name(data, attribute="DW_AT_type"):
    """name -> (DIE offset, CU offset, file position of its `attribute` value or None), and
    member DIEs as 'struct.member'."""
    import io

    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(data))
    info = elf.get_section_by_name(".debug_info")["sh_offset"]
    found = {}
    for cu in elf.get_dwarf_info(relocate_dwarf_sections=False).iter_CUs():
        for die in cu.iter_DIEs():
            name = die.attributes.get("DW_AT_name")
            if name is None:
                continue
            name = name.value.decode()
            parent = die.get_parent()
            if die.tag == "DW_TAG_member" and parent is not None and "DW_AT_name" in parent.attributes:
                name = parent.attributes["DW_AT_name"].value.decode() + "." + name
            elif die.tag in ("DW_TAG_structure_type", "DW_TAG_union_type"):
                name = "struct " + name
            ref = die.attributes.get(attribute)
            found.setdefault(name, (die.offset, cu.cu_offset, info + ref.offset if ref is not None else None))
    return found


@pytest.mark.parametrize("case", ["typedef refers to itself", "struct contains itself", "two typedefs in a cycle"])
def test_dwarf_type_cycles(case, fixture_image, tmp_path):
    """A DIE whose type is itself, a struct that contains itself by value, two
    typedefs that name each other: resolve ends within seconds in one line naming the
    file and the unit, or in `not resolved` lines, never hangs or overflows the stack."""
    import struct as binary

    data = bytearray(open(fixture_image, "rb").read())
    dies = dies_by_name(bytes(data))
    if case == "typedef refers to itself":
        die, cu, position = dies["nodemask_t"]
        binary.pack_into("<I", data, position, die - cu)
    elif case == "struct contains itself":
        page, cu, _ = dies["struct page"]
        binary.pack_into("<I", data, dies["page.memcg_data"][2], page - cu)
    else:
        first, cu, first_position = dies["nodemask_t"]
        second, _, second_position = dies["pg_data_t"]
        binary.pack_into("<I", data, first_position, second - cu)
        binary.pack_into("<I", data, second_position, first - cu)
    path = tmp_path / "vmlinux"
    path.write_bytes(bytes(data))
    start = time.monotonic()
    result = run_cli(["resolve", "--vmlinux", str(path), "--config", FIXTURE_CONFIG, "--specs", FIXTURE_SPECS,
                      "--no-cache"], seconds=30)
    assert time.monotonic() - start < 10
    outcome = check_resolve(result, str(path))
    assert outcome in ("refused", "unresolved"), result
    if outcome == "refused":
        assert result.err.startswith(f"vmci resolve: {path}: .debug_info CU at 0x"), result
        assert "cycle" in result.err, result


def sparse_copy_with_section(fixture_image, tmp_path, name, size):
    """The fixture in a sparse file whose section `name` is moved to 1 GiB and claims
    `size` bytes (its real contents first, zeros after)."""
    from elf_mutations import Mutator
    import struct as binary

    data = bytearray(open(fixture_image, "rb").read())
    section = Mutator(bytes(data), dwarf=False).sections[name]
    where = 1 << 30
    binary.pack_into("<QQ", data, section.header + 24, where, size)
    path = tmp_path / f"vmlinux-{name.strip('.')}"
    with open(path, "wb") as handle:
        handle.write(data)
        handle.truncate(where + size)
        handle.seek(where)
        handle.write(data[section.offset:section.offset + section.size])
    return str(path)


def test_symbol_table_of_absurd_size(fixture_image, tmp_path):
    """A .symtab that claims 1 GiB (45 million entries, all but the real ones empty, in a
    sparse file) is refused from its header in one line naming the file and the section,
    before a single entry is read; reading it took about 5 s and grew with the claim."""
    path = sparse_copy_with_section(fixture_image, tmp_path, ".symtab", 1 << 30)
    start = time.monotonic()
    with time_limit(5):
        result = run_cli(["resolve", "--vmlinux", path, "--config", FIXTURE_CONFIG, "--specs", FIXTURE_SPECS,
                          "--no-cache"])
    assert time.monotonic() - start < 2
    assert check_resolve(result, path) == "refused"
    assert result.err == (f"vmci resolve: {path}: .symtab: 44739242 symbols (0x40000000 bytes); vmci reads at most "
                          f"2000000 (real kernels have under 300,000): a damaged section header?\n"), result


def test_symbol_table_at_the_bound(fixture_image, tmp_path):
    """MAX_SYMBOLS entries are read (the real ones first, then empty ones); one more is
    refused."""
    from vmci.elf.elffile import MAX_SYMBOLS

    def resolve(image):
        return run_cli(["resolve", "--vmlinux", image, "--config", FIXTURE_CONFIG, "--specs", FIXTURE_SPECS,
                        "--no-cache"])

    intact = resolve(fixture_image)
    assert intact.code == 0 and "SYMBOL(init_uts_ns)=" in intact.out, intact
    for entries, outcome in ((MAX_SYMBOLS, "ok"), (MAX_SYMBOLS + 1, "refused")):
        path = sparse_copy_with_section(fixture_image, tmp_path, ".symtab", entries * 24)
        result = resolve(path)
        assert check_resolve(result, path) == outcome, result
        if outcome == "ok":
            assert result.out == intact.out
        else:
            assert f": .symtab: {MAX_SYMBOLS + 1} symbols" in result.err, result


def test_symbols_naming_every_offset_of_one_long_string(fixture_image, tmp_path):
    """200,000 symbols whose names start at successive offsets of one 8 MiB string: each
    name would be a copy of megabytes (1.6 TB in all). Names longer than the kernel's
    KSYM_NAME_LEN (512) are skipped as kallsyms skips them; the real symbols still answer."""
    import struct as binary

    from elf_mutations import Mutator

    data = bytearray(open(fixture_image, "rb").read())
    sections = Mutator(bytes(data), dwarf=False).sections
    symtab, strtab = sections[".symtab"], sections[".strtab"]
    run = 8 << 20
    strings = bytes(data[strtab.offset:strtab.offset + strtab.size]) + b"a" * run + b"\0"
    hostile = b"".join(binary.pack("<IBBHQQ", strtab.size + 40 * i, 0x11, 0, 1, 0x1000 + i, 8)
                       for i in range(200_000))
    symbols = bytes(data[symtab.offset:symtab.offset + symtab.size]) + hostile
    data += bytes(-len(data) % 8)
    binary.pack_into("<QQ", data, symtab.header + 24, len(data), len(symbols))
    data += symbols
    binary.pack_into("<QQ", data, strtab.header + 24, len(data), len(strings))
    data += strings
    path = tmp_path / "vmlinux-long-names"
    path.write_bytes(bytes(data))
    intact = run_cli(["resolve", "--vmlinux", fixture_image, "--config", FIXTURE_CONFIG, "--specs", FIXTURE_SPECS,
                      "--no-cache"])
    start = time.monotonic()
    code, out, err, rss = peak_rss_mib(["resolve", "--vmlinux", str(path), "--config", FIXTURE_CONFIG, "--specs",
                                        FIXTURE_SPECS, "--no-cache"], tmp_path, timeout=60)
    assert (code, out, err) == (0, intact.out, intact.err), err  # the same boot-time note, nothing more
    assert time.monotonic() - start < 20
    assert rss < 200, f"peak RSS {rss:.0f} MiB"


def test_string_table_of_absurd_size(fixture_image, tmp_path):
    path = sparse_copy_with_section(fixture_image, tmp_path, ".strtab", 1 << 30)
    code, out, err, rss = peak_rss_mib(["resolve", "--vmlinux", path, "--config", FIXTURE_CONFIG, "--specs",
                                        FIXTURE_SPECS, "--no-cache"], tmp_path)
    assert code in (0, 2), err
    assert rss < 400, f"peak RSS {rss:.0f} MiB for a 1 GiB .strtab"
