"""The VMCOREINFO note: the Python builder and the generated C builder reproduce the
booted kernels' notes byte for byte, `vmci note` writes them, and the ELF core it writes
is opened by drgn and libkdumpfile, which read back exactly the text."""
import json
import os
import subprocess

import pytest

from conftest import GOLD, GOLD_RELEASES, ROOT, gold, run_vmci as vmci

from vmci.note.build import NoteError, build_note, elf_core, parse_note, read_text

HERE = os.path.dirname(os.path.abspath(__file__))
NOTE_C = os.path.join(ROOT, "generated", "c", "vmcoreinfo_note.c")


def machine_of(release):
    """uname -m of the booted kernel, a machine name the specs know."""
    meta, _, _ = gold(release)
    return meta["uname_in_guest"].split()[-1]


def big_endian(release):
    meta, _, _ = gold(release)
    return meta.get("endianness", "little") == "big"


def gold_note(release):
    with open(os.path.join(GOLD, release, "note.bin"), "rb") as handle:
        return handle.read()


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_python_builder_reproduces_the_kernels_note(release):
    _, text, _ = gold(release)
    note = build_note(text.encode(), big_endian(release), final=False)
    assert note == gold_note(release)
    assert parse_note(note, big_endian(release)) == ("VMCOREINFO", 0, text.encode())
    # the kernel's buffer: the record, then final_note()'s empty header
    assert build_note(text.encode(), big_endian(release)) == note + b"\0" * 12


@pytest.fixture(scope="module")
def c_builder(tmp_path_factory):
    binary = tmp_path_factory.mktemp("harness") / "note_harness"
    result = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-I", os.path.dirname(NOTE_C),
                             "-o", str(binary), os.path.join(HERE, "note_harness.c")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return str(binary)


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_c_builder_makes_the_same_bytes(c_builder, release, tmp_path):
    out = tmp_path / "note.bin"
    subprocess.run([c_builder, os.path.join(GOLD, release, "vmcoreinfo.txt"),
                    "big" if big_endian(release) else "little", str(out)], check=True)
    _, text, _ = gold(release)
    assert out.read_bytes() == build_note(text.encode(), big_endian(release))
    assert out.read_bytes()[:-12] == gold_note(release)


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_vmci_note_writes_the_record(release, tmp_path):
    out = tmp_path / "note.bin"
    code, _, err = vmci("note", "--from", os.path.join(GOLD, release, "vmcoreinfo.txt"), "-o", str(out),
                        "--arch", machine_of(release))
    assert code == 0, err
    assert out.read_bytes() == gold_note(release)


def test_without_arch_the_note_is_little_endian(tmp_path):
    release = "6.1.0-57-cloud-amd64"
    out = tmp_path / "note.bin"
    assert vmci("note", "--from", os.path.join(GOLD, release, "vmcoreinfo.txt"), "-o", str(out))[0] == 0
    assert out.read_bytes() == gold_note(release)


@pytest.mark.parametrize("args, message", [
    (["--from", "/nonexistent", "-o", "x"], "/nonexistent: cannot read"),
    (["--from", "{bad}", "-o", "x"], "bad.txt:2: not a KEY=VALUE line"),
    (["--from", "{unterminated}", "-o", "x"], "unterminated.txt:1: the last line has no newline"),
    (["--from", "{good}"], "give -o NOTE and/or --elf-core CORE"),
    (["--from", "{good}", "--elf-core", "x"], "--elf-core needs --arch"),
    (["--from", "{good}", "--elf-core", "x", "--arch", "x86"], "say which machine"),
    (["--from", "{good}", "--elf-core", "x", "--arch", "vax"], "unknown architecture 'vax'"),
    (["--from", "{good}", "-o", "/nonexistent/dir/note.bin"], "/nonexistent/dir/note.bin: cannot write"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    files = {"bad": "OSRELEASE=6.1\nno equals sign\n", "unterminated": "OSRELEASE=6.1", "good": "OSRELEASE=6.1\n"}
    for name, text in files.items():
        (tmp_path / f"{name}.txt").write_text(text)
    args = [a.format(**{name: str(tmp_path / f"{name}.txt") for name in files}) for a in args]
    code, out, err = vmci("note", *args, cwd=str(tmp_path))
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_read_text_checks_every_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"A=1\nB=\0\n")
    with pytest.raises(NoteError, match=r"t.txt:2:"):
        read_text(str(path))


DRGN = r'''
import json, sys, drgn
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
out = {"linux": bool(prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL), "arch": prog.platform.arch.name,
       "is_64_bit": bool(prog.platform.flags & drgn.PlatformFlags.IS_64_BIT),
       "little_endian": bool(prog.platform.flags & drgn.PlatformFlags.IS_LITTLE_ENDIAN), "release": prog["UTS_RELEASE"].string_().decode(),
       "page_size": prog["PAGE_SIZE"].value_()}
try:  # drgn 0.0.23 and later expose the raw text
    out["text"] = bytes(prog["VMCOREINFO"].value_()).decode()
except (KeyError, LookupError):
    out["text"] = None
print(json.dumps(out))
'''
KDUMPFILE = r'''
import sys, kdumpfile
dump = kdumpfile.kdumpfile(sys.argv[1])
sys.stdout.buffer.write(bytes(dump.attr["linux.vmcoreinfo.raw"]))
'''
DRGN_ARCH = {"x86_64": "X86_64", "i686": "I386", "aarch64": "AARCH64", "armv7l": "ARM", "s390x": "S390X",
             "ppc64le": "PPC64", "riscv64": "RISCV64"}


def elf_core_of(release, tmp_path):
    core = tmp_path / "vmcore"
    code, _, err = vmci("note", "--from", os.path.join(GOLD, release, "vmcoreinfo.txt"), "--elf-core", str(core),
                        "--arch", machine_of(release))
    assert code == 0, err
    return str(core)


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_libkdumpfile_reads_back_exactly_the_text(release, tmp_path):
    core = elf_core_of(release, tmp_path)
    result = subprocess.run(["/usr/bin/python3", "-c", KDUMPFILE, core], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == gold(release)[1].encode()


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_drgn_opens_it_as_that_machines_kernel(release, tmp_path):
    core = elf_core_of(release, tmp_path)
    result = subprocess.run(["/usr/bin/python3", "-c", DRGN, core], capture_output=True, timeout=60, text=True)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    _, text, _ = gold(release)
    values = dict(line.split("=", 1) for line in text.splitlines())
    assert found["linux"]
    assert found["arch"] == DRGN_ARCH[machine_of(release)]
    assert found["is_64_bit"] == (gold(release)[0]["elf_class"] == "ELF64")
    assert found["little_endian"] == (not big_endian(release))
    assert found["release"] == values["OSRELEASE"]
    assert found["page_size"] == int(values["PAGESIZE"])
    if found["text"] is not None:
        assert found["text"] == text


def test_elf_core_layout():
    note = build_note(b"OSRELEASE=6.1\n")
    for elf_class, size in ((64, 64 + 2 * 56), (32, 52 + 2 * 32)):
        for big in (False, True):
            core = elf_core(note, elf_class, big, 22)
            assert core[:4] == b"\x7fELF" and core[4] == (2 if elf_class == 64 else 1) and core[5] == (2 if big else 1)
            assert core[size:size + len(note)] == note
            assert len(core) % 4096 == 0
