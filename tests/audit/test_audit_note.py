"""vmci audit note: the VMCOREINFO each gold kernel wrote, in every container a dump tool
meets (text, raw note, ELF core, kdump-compressed), against what vmci resolves from that
kernel's vmlinux: only lines the specs mark as fixed at run time differ. Edited notes
give differs/missing/unexpected/moved with exit status 1; bad files one line, exit 2.
The synthetic cores are checked with libkdumpfile, which must read the same text."""
import os
import subprocess
import sys

import pytest

from conftest import GOLD, GOLD_RELEASES, gold, json_document, kernel_path, run_vmci
from dumpfiles import elf_core, kdump_compressed

AMD64 = "6.1.0-57-cloud-amd64"


def elf_header_of(path):
    with open(path, "rb") as handle:
        ident = handle.read(20)
    order = "<" if ident[5] == 1 else ">"
    return int.from_bytes(ident[18:20], "little" if order == "<" else "big"), 32 if ident[4] == 1 else 64, order


def audit_note(release, path, *extra):
    _, _, config = gold(release)
    code, out, err = run_vmci("audit", "note", str(path), "--vmlinux", kernel_path(release), "--config", config,
                              "--format", "json", *extra)
    assert "Traceback" not in err, err
    assert code in (0, 1), err
    return code, json_document(out, "audit-note")


def containers(release, tmp_path):
    """The gold kernel's VMCOREINFO as text, raw note, ELF core and kdump-compressed file."""
    meta, text, _ = gold(release)
    machine, elf_class, order = elf_header_of(kernel_path(release))
    data = text.encode()
    elf = tmp_path / "vmcore.elf"
    elf.write_bytes(elf_core(data, machine, elf_class, order))
    kdump = tmp_path / "vmcore.kdump"
    uname_machine = meta["uname_in_guest"].split()[-1]
    kdump.write_bytes(kdump_compressed(data, release, uname_machine, elf_class // 8, order))
    return {"text": os.path.join(GOLD, release, "vmcoreinfo.txt"), "note": os.path.join(GOLD, release, "note.bin"),
            "elf-core": str(elf), "kdump": str(kdump)}


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_only_runtime_lines_differ_in_any_container(release, tmp_path):
    meta, text, _ = gold(release)
    for kind, path in containers(release, tmp_path).items():
        code, payload = audit_note(release, path)
        assert payload["input_kind"] == kind and payload["build_id"] == meta["vmlinux_build_id"]
        statuses = {line["status"] for line in payload["lines"]}
        assert statuses <= {"match", "runtime"}, [line for line in payload["lines"] if line["status"] not in ("match", "runtime")]
        assert code == 0
        runtime = [line["key"] for line in payload["lines"] if line["status"] == "runtime"]
        assert set(runtime) <= set(meta["runtime_keys"]), runtime
        assert payload["summary"]["match"] + len(runtime) == len(text.splitlines())
        for line in payload["lines"]:
            if line["status"] == "runtime":
                assert line["value"] != line["expected"] and line["runtime"] and line["runtime_reason"]


LIBKDUMPFILE_READ = """
import sys, kdumpfile
dump = kdumpfile.kdumpfile(sys.argv[1])
sys.stdout.write(dump.attr["file.format"] + "\\n")
sys.stdout.flush()
sys.stdout.buffer.write(bytes(memoryview(dump.attr["linux.vmcoreinfo.raw"])))
"""


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_libkdumpfile_reads_the_same_text_from_the_synthetic_dumps(release, tmp_path):
    # in a child process: a C library that crashes on a bad file must not take pytest along
    _, text, _ = gold(release)
    paths = containers(release, tmp_path)
    for kind, expected_format in (("elf-core", "elf"), ("kdump", "diskdump")):
        result = subprocess.run([sys.executable, "-c", LIBKDUMPFILE_READ, paths[kind]], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr.decode()
        file_format, _, raw = result.stdout.partition(b"\n")
        assert file_format.decode() == expected_format
        assert raw == text.encode()


def edited(tmp_path, edit):
    _, text, _ = gold(AMD64)
    lines = text.splitlines(keepends=True)
    lines = edit(lines)
    path = tmp_path / "vmcoreinfo.txt"
    path.write_text("".join(lines))
    return path


def by_key(payload):
    return {line["key"]: line for line in payload["lines"]}


def test_a_changed_value_differs_with_both_values(tmp_path):
    path = edited(tmp_path, lambda lines: [("SIZE(page)=72\n" if line.startswith("SIZE(page)=") else line) for line in lines])
    code, payload = audit_note(AMD64, path)
    assert code == 1
    line = by_key(payload)["SIZE(page)"]
    assert (line["status"], line["value"], line["expected"]) == ("differs", "72", "64")
    code, out, _ = run_vmci("audit", "note", str(path), "--vmlinux", kernel_path(AMD64), "--config", gold(AMD64)[2])
    assert "differs     SIZE(page)=72 (vmci: 64; specs/common.yaml:" in out


def test_missing_unexpected_and_moved(tmp_path):
    def edit(lines):
        lines = [line for line in lines if not line.startswith("OFFSET(list_head.prev)=")]
        lines.append("NUMBER(NOT_A_KEY)=1\n")
        a = next(i for i, line in enumerate(lines) if line.startswith("NUMBER(PG_lru)="))
        lines[a], lines[a + 1] = lines[a + 1], lines[a]
        return lines
    code, payload = audit_note(AMD64, edited(tmp_path, edit))
    assert code == 1
    lines = by_key(payload)
    assert lines["OFFSET(list_head.prev)"]["status"] == "missing"
    assert lines["OFFSET(list_head.prev)"]["expected"] == "8"
    assert lines["NUMBER(NOT_A_KEY)"]["status"] == "unexpected"
    assert lines["NUMBER(NOT_A_KEY)"]["note_line"] == 108
    assert payload["summary"]["moved"] == 1
    moved = [line for line in payload["lines"] if line["moved"]]
    assert moved[0]["status"] == "match"


def test_crashtime_from_a_dump_is_a_runtime_line(tmp_path):
    path = edited(tmp_path, lambda lines: lines + ["CRASHTIME=1764380000\n"])
    code, payload = audit_note(AMD64, path)
    assert code == 0
    crashtime = by_key(payload)["CRASHTIME"]
    assert crashtime["status"] == "runtime" and crashtime["value"] == "1764380000"
    # a boot-time note has no CRASHTIME; --at-crash says it must
    code, payload = audit_note(AMD64, os.path.join(GOLD, AMD64, "note.bin"), "--at-crash")
    assert code == 1 and by_key(payload)["CRASHTIME"]["status"] == "missing"


def test_proc_kcore_of_this_host():
    """Where the host has a readable /proc/kcore its note is read; where it has none (a
    container without it, as CI's machines), the answer is one clear line, exit 2."""
    from vmci.note.read import NoteReadError, read_captured_note
    if os.access("/proc/kcore", os.R_OK):
        note = read_captured_note("/proc/kcore")
        assert note.kind == "kcore"
        assert dict((line.key, line.value) for line in note.lines)["OSRELEASE"] == os.uname().release
    else:
        with pytest.raises(NoteReadError):
            read_captured_note("/proc/kcore")
        one_line_error(run_note("/proc/kcore"), "/proc/kcore")


def one_line_error(result, *fragments):
    code, out, err = result
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def run_note(path, release=AMD64):
    return run_vmci("audit", "note", str(path), "--vmlinux", kernel_path(release), "--config", gold(release)[2])


def test_bad_files(tmp_path):
    _, text, _ = gold(AMD64)
    one_line_error(run_note("/nonexistent/vmcore"), "/nonexistent/vmcore")
    garbage = tmp_path / "garbage"
    garbage.write_bytes(bytes(range(256)) * 4)
    one_line_error(run_note(garbage), str(garbage), "not a VMCOREINFO text")
    truncated = tmp_path / "truncated.elf"
    truncated.write_bytes(elf_core(text.encode(), truncate_notes=True))
    one_line_error(run_note(truncated), str(truncated), "truncated")
    one_line_error(run_note(kernel_path(AMD64)), kernel_path(AMD64), "not a core")
    no_note = tmp_path / "no-note.elf"
    no_note.write_bytes(elf_core(b"").replace(b"VMCOREINFO\0", b"NOTVMCORE\0\0"))
    one_line_error(run_note(no_note), str(no_note), "no VMCOREINFO note")
    old = tmp_path / "old.kdump"
    old.write_bytes(kdump_compressed(text.encode(), header_version=2))
    one_line_error(run_note(old), str(old), "header version 2")
    flat = tmp_path / "flat"
    flat.write_bytes(b"makedumpfile\0\0\0\0" + (1).to_bytes(8, "big") * 2 + b"\0" * 4072)
    one_line_error(run_note(flat), str(flat), "ends without its end record")
    bad_line = tmp_path / "bad.txt"
    bad_line.write_text("OSRELEASE=6.1\nno equals sign here\n")
    one_line_error(run_note(bad_line), f"{bad_line}:2:")
    one_line_error(run_vmci("audit", "note", os.path.join(GOLD, AMD64, "note.bin"), "--vmlinux", "/nonexistent/vmlinux",
                            "--config", gold(AMD64)[2]), "/nonexistent/vmlinux")
