"""vmci show: the VMCOREINFO of every kind of dump, byte for byte as the kernel wrote it.

Gold notes (what eight real Debian kernels wrote, captured from /proc/kcore in QEMU) as
text, as the raw note record and wrapped by `vmci note --elf-core`; and real dumps of a
booted gold kernel (tests/note/guest_dump.py): /proc/kcore as the guest read it, QEMU's
ELF and kdump-compressed memory dumps, and what the real makedumpfile writes from the ELF
dump (kdump-compressed, flattened, ELF, flattened ELF), each also on standard input.
libkdumpfile reads the same text from makedumpfile's file."""
import os
import subprocess
import sys

import pytest

from conftest import GOLD, GOLD_RELEASES, ROOT, gold, json_document, kernel_path
from guest_dump import capture

DUMPED_RELEASE = "6.1.0-57-cloud-amd64"


def show(*args, stdin=None):
    """`vmci show` in a subprocess, bytes in and out: (exit status, stdout bytes, stderr text)."""
    result = subprocess.run([sys.executable, "-m", "vmci", "show", *args], cwd=ROOT, input=stdin,
                            capture_output=True, timeout=300)
    return result.returncode, result.stdout, result.stderr.decode("utf-8", "replace")


def gold_bytes(release):
    with open(os.path.join(GOLD, release, "vmcoreinfo.txt"), "rb") as handle:
        return handle.read()


def shown(path, *extra):
    code, out, err = show(str(path), *extra)
    assert code == 0 and err == "", err
    return out


def check_json(out):
    return json_document(out.decode("utf-8"), "show")  # valid against compiler/schemas/vmci-show-1.json


# --- gold notes ------------------------------------------------------------------------------

@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_gold_text_note_and_wrapped_core_show_the_gold_bytes(release, tmp_path):
    meta, _, _ = gold(release)
    expected = gold_bytes(release)
    core = tmp_path / "core"
    subprocess.run([sys.executable, "-m", "vmci", "note", "--from", os.path.join(GOLD, release, "vmcoreinfo.txt"),
                    "--elf-core", str(core), "--arch", meta["vmci_arch"]], cwd=ROOT, check=True)
    for path in (os.path.join(GOLD, release, "vmcoreinfo.txt"), os.path.join(GOLD, release, "note.bin"), core):
        assert shown(path) == expected, path
    with open(os.path.join(GOLD, release, "note.bin"), "rb") as handle:
        code, out, err = show("-", stdin=handle.read())
    assert (code, out, err) == (0, expected, "")


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_json_gives_the_key_value_pairs_in_kernel_order(release):
    payload = check_json(shown(os.path.join(GOLD, release, "note.bin"), "--format", "json"))
    text = gold_bytes(release).decode()
    assert payload["format"] == "vmci-show/1" and payload["input_kind"] == "note"
    assert payload["bytes"] == len(gold_bytes(release))
    assert [(line["key"], line["value"]) for line in payload["lines"]] == \
        [tuple(line.split("=", 1)) for line in text.splitlines()]
    assert [line["note_line"] for line in payload["lines"]] == list(range(1, len(text.splitlines()) + 1))


def test_output_file(tmp_path):
    out = tmp_path / "vmcoreinfo.txt"
    code, stdout, err = show(os.path.join(GOLD, DUMPED_RELEASE, "note.bin"), "-o", str(out))
    assert (code, stdout, err) == (0, b"", "")
    assert out.read_bytes() == gold_bytes(DUMPED_RELEASE)


# --- unusable input: one line, exit 2 ----------------------------------------------------------

def one_line(args, stdin, *fragments):
    code, out, err = show(*args, stdin=stdin)
    assert code == 2 and out == b"", (code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmci show: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_input(tmp_path):
    note = open(os.path.join(GOLD, DUMPED_RELEASE, "note.bin"), "rb").read()
    one_line(["/nonexistent/vmcore"], None, "/nonexistent/vmcore", "cannot open")
    one_line([kernel_path(DUMPED_RELEASE)], None, "not a core")
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    one_line([str(png)], None, str(png), "not a VMCOREINFO text")
    one_line(["-"], b"", "<stdin>", "empty")
    cut = tmp_path / "cut.note"
    cut.write_bytes(note[:len(note) // 2])
    one_line([str(cut)], None, str(cut))
    stray = tmp_path / "stray.txt"
    stray.write_text("OSRELEASE=6.1.0\nthis is no key value line\n")
    one_line([str(stray)], None, f"{stray}:2:")


# --- real dumps of a booted gold kernel --------------------------------------------------------

@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    kernel_dir = os.path.dirname(kernel_path(DUMPED_RELEASE))
    for name in ("vmlinuz", "qemu_fw_cfg.ko"):
        kernel_path(DUMPED_RELEASE, name)  # a missing part is a failure: tools/setup.sh fetches it
    work = tmp_path_factory.mktemp("dumps")
    files = capture(kernel_dir, str(work))
    yield files
    for path in files.values():  # a gigabyte of guest memory: not kept after the tests
        os.unlink(path)


# QEMU before 8.2 writes `dump-guest-memory -z` in makedumpfile's flattened format (dump.c,
# write_start_flat_header()): a second, independent writer of that format.
KINDS = {"kcore-head": "elf-core", "qemu-elf": "elf-core", "qemu-kdump": "flattened", "makedumpfile-kdump": "kdump",
         "makedumpfile-elf": "elf-core", "makedumpfile-flat": "flattened", "makedumpfile-flat-elf": "flattened"}


def test_every_real_dump_shows_the_note_the_kernel_wrote(dumps):
    """The seven files hold one note, the one the booted kernel wrote: byte-identical
    across all of them; against the gold capture of the same kernel (another boot, with
    another initramfs) only lines the gold marks as fixed at boot may differ."""
    meta, _, _ = gold(DUMPED_RELEASE)
    texts = {}
    for name, kind in KINDS.items():
        texts[name] = shown(dumps[name])
        assert check_json(shown(dumps[name], "--format", "json"))["input_kind"] == kind, name
    assert len(set(texts.values())) == 1, {name: len(text) for name, text in texts.items()}
    booted = texts["qemu-elf"].decode().splitlines()
    golden = gold_bytes(DUMPED_RELEASE).decode().splitlines()
    assert [line.split("=")[0] for line in booted] == [line.split("=")[0] for line in golden]
    differing = [a.split("=")[0] for a, b in zip(booted, golden) if a != b]
    assert set(differing) <= set(meta["runtime_keys"]), differing
    assert len(differing) <= 1  # at most the heap address of mem_section (this boot's initramfs is bigger)


def test_flattened_and_kdump_dumps_on_standard_input(dumps):
    expected = shown(dumps["qemu-elf"])
    for name in ("makedumpfile-flat", "makedumpfile-flat-elf", "makedumpfile-kdump"):
        with open(dumps[name], "rb") as handle:
            code, out, err = show("-", stdin=handle.read())
        assert (code, err) == (0, "") and out == expected, name


def test_libkdumpfile_reads_the_same_text_from_makedumpfile_s_file(dumps):
    script = ("import sys, kdumpfile\n"
              "dump = kdumpfile.kdumpfile(sys.argv[1])\n"
              "sys.stdout.buffer.write(bytes(memoryview(dump.attr['linux.vmcoreinfo.raw'])))\n")
    result = subprocess.run(["/usr/bin/python3", "-c", script, dumps["makedumpfile-kdump"]], capture_output=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown(dumps["makedumpfile-kdump"])


def test_truncated_and_damaged_real_dumps(dumps, tmp_path):
    flat = open(dumps["makedumpfile-flat"], "rb").read(64 << 10)
    # the VMCOREINFO record is cut: the stream ends inside it
    vmcoreinfo_at = flat.index(b"OSRELEASE=")
    one_line(["-"], flat[:vmcoreinfo_at + 100], "<stdin>", "truncated")
    wrong_type = flat[:16] + (7).to_bytes(8, "big") + flat[24:]
    one_line(["-"], wrong_type, "type 7")
    kdump = tmp_path / "cut.kdump"
    kdump.write_bytes(open(dumps["makedumpfile-kdump"], "rb").read(4096 + 512))
    one_line([str(kdump)], None, str(kdump), "truncated")
