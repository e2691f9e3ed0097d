"""The kernel's own guards on VMCOREINFO, reproduced by what vmci produces.

kernel/vmcore_info.c (kernel/crash_core.c before 6.9):

    void vmcoreinfo_append_str(const char *fmt, ...)
    {
            char buf[0x50];
            ...
            r = vscnprintf(buf, sizeof(buf), fmt, args);      // at most 79 bytes
            r = min(r, (size_t)VMCOREINFO_BYTES - vmcoreinfo_size);
            memcpy(&vmcoreinfo_data[vmcoreinfo_size], buf, r);
            vmcoreinfo_size += r;
            WARN_ONCE(vmcoreinfo_size == VMCOREINFO_BYTES,
                      "vmcoreinfo data exceeds allocated size, truncating");
    }

so a line longer than 79 bytes loses its end (and its newline: the next line follows
on the same line), and the text stops at VMCOREINFO_BYTES (PAGE_SIZE) with one warning.
The note is built from those bytes. `kernel_text()` below is that function; the
generated kernel C is compiled and run against it, `vmci resolve` must print the same
bytes, and the user-space note builders must refuse or cut text the kernel cannot make.
"""
import os
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmci.abi import DEFAULT_VMCOREINFO_BYTES as PAGE_SIZE, LINE_BUFFER_BYTES as LINE_BUFFER
from vmci.note.build import build_note, parse_note
from hardening_support import FIXTURE_CONFIG, FIXTURE_SPECS, ROOT, build_fixture, have_gcc, run_cli



def kernel_text(lines, vmcoreinfo_bytes=PAGE_SIZE):
    """(bytes, warnings) that vmcoreinfo_append_str() leaves for these lines."""
    data, warned = b"", 0
    for line in lines:
        r = min(len(line), LINE_BUFFER - 1)
        r = min(r, vmcoreinfo_bytes - len(data))
        data += line[:r]
        if len(data) == vmcoreinfo_bytes and not warned:
            warned = 1
    return data, warned


def test_reference_model():
    assert kernel_text([b"A=1\n", b"B" * 100 + b"\n"]) == (b"A=1\n" + b"B" * 79, 0)
    assert kernel_text([b"K=" + b"v" * 60 + b"\n"] * 100)[0] == (b"K=" + b"v" * 60 + b"\n") * 65 + b"K"
    assert kernel_text([b"K=" + b"v" * 60 + b"\n"] * 100)[1] == 1


# --- the generated kernel C ---------------------------------------------------------------

HARNESS = r"""
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#define PAGE_SIZE		4096UL
#define VMCOREINFO_BYTES	PAGE_SIZE
#define min(a, b)		((a) < (b) ? (a) : (b))
static int warnings;
#define WARN_ONCE(cond, ...) ({ static int warned_; int c_ = !!(cond); \
	if (c_ && !warned_) { warned_ = 1; warnings++; fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } c_; })
/* the kernel's vscnprintf(): the bytes written into buf, without the NUL */
static int vscnprintf(char *buf, size_t size, const char *fmt, va_list args)
{
	int i = vsnprintf(buf, size, fmt, args);
	if (i < 0)
		return 0;
	return (size_t)i < size ? i : (size ? (int)size - 1 : 0);
}
static unsigned char page[VMCOREINFO_BYTES];
unsigned char *vmcoreinfo_data = page;
size_t vmcoreinfo_size;

@FUNCTION@

int main(void)
{
	static char line[1 << 16];
	while (fgets(line, sizeof(line), stdin))
		vmcoreinfo_append_str("%s", line);
	fwrite(vmcoreinfo_data, 1, vmcoreinfo_size, stdout);
	fprintf(stderr, "warnings=%d\n", warnings);
	return 0;
}
"""

KERNEL_FILES = sorted(os.path.join(root, name) for root, _, names in os.walk(os.path.join(ROOT, "generated", "c"))
                      for name in names if name in ("crash_core.c", "vmcore_info.c") and "/kernel/" in root + "/"
                      and "/arch/" not in root)


def append_str_of(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    match = re.search(r"^void vmcoreinfo_append_str\(const char \*fmt, \.\.\.\)\n\{\n.*?^\}\n", text, re.S | re.M)
    assert match, f"no vmcoreinfo_append_str() in {path}"
    return match.group()


@pytest.fixture(scope="module")
def harnesses(tmp_path_factory):
    if not have_gcc():
        pytest.skip("gcc is not installed")
    built = {}
    for path in KERNEL_FILES:
        directory = tmp_path_factory.mktemp("append-str")
        source = directory / "harness.c"
        source.write_text(HARNESS.replace("@FUNCTION@", append_str_of(path)))
        binary = str(directory / "harness")
        subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Werror", "-o", binary, str(source)], check=True,
                       capture_output=True, text=True)
        built[os.path.relpath(path, ROOT)] = binary
    return built


def run_harness(binary, lines):
    result = subprocess.run([binary], input=b"".join(lines), capture_output=True, timeout=30)
    warnings = int(re.search(rb"warnings=(\d+)", result.stderr).group(1))
    return result.stdout, warnings


lines = st.lists(st.binary(min_size=0, max_size=150).map(lambda b: b.replace(b"\n", b"").replace(b"\0", b"")
                                                         .replace(b"%", b"") + b"\n"), max_size=120)


def test_there_is_generated_kernel_c_for_each_version():
    assert len(KERNEL_FILES) >= 3, KERNEL_FILES


def test_generated_append_str_cuts_like_the_kernel(harnesses):
    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(lines)
    def check(text_lines):
        expected = kernel_text(text_lines)
        for name, binary in harnesses.items():
            assert run_harness(binary, text_lines) == expected, name

    check()
    long_line = [b"OFFSET(" + b"x" * 90 + b")=8\n"]
    many = [b"SYMBOL(some_symbol)=ffffffff82a00000\n"] * 200
    for name, binary in harnesses.items():
        assert run_harness(binary, long_line) == (b"OFFSET(" + b"x" * 72, 0), name
        data, warnings = run_harness(binary, many)
        assert (len(data), warnings) == (PAGE_SIZE, 1), name


# --- vmci resolve ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fixture_image(tmp_path_factory):
    if not have_gcc():
        pytest.skip("gcc is not installed")
    return build_fixture(str(tmp_path_factory.mktemp("hardening-fixture")))


def specs_with(tmp_path, entries):
    import shutil

    directory = tmp_path / "specs"
    shutil.copytree(FIXTURE_SPECS, directory)
    path = directory / "common.yaml"
    text = path.read_text().replace("      - kind: osrelease\n", entries + "      - kind: osrelease\n", 1)
    path.write_text(text)
    return str(directory)


def resolve_text(image, specs):
    # --quiet: these tests are about the text and its guards, not the boot-time summary
    result = run_cli(["resolve", "--vmlinux", image, "--config", FIXTURE_CONFIG, "--specs", specs, "--no-cache", "--quiet"])
    return result


def test_resolve_cuts_a_long_line_as_the_kernel_does(fixture_image, tmp_path):
    key = "NUMBER(" + "k" * 56 + ")"  # 64 characters, the schema's limit: the line is 85 bytes
    entry = (f"      - kind: append\n        key: {key}\n        format: \"%lu\"\n        c: 18446744073709551615UL\n"
             "        doc: A line longer than the kernel's 79 bytes.\n        lint-ignore: [LINE_TOO_LONG]\n")
    result = resolve_text(fixture_image, specs_with(tmp_path, entry))
    assert result.code == 0, result
    expected = (key + "=18446744073709551615\n").encode()[:79]
    assert result.out.startswith(expected.decode() + "OSRELEASE=6.1.0-99-fuzz\n"), result.out[:200]


def test_resolve_stops_at_vmcoreinfo_bytes(fixture_image, tmp_path):
    entries = "".join(f"      - kind: append\n        key: NUMBER(filler_{i:03d})\n        format: \"%lu\"\n"
                      f"        c: 18446744073709551615UL\n        doc: Filler.\n" for i in range(150))
    result = resolve_text(fixture_image, specs_with(tmp_path, entries))
    assert result.code == 0, result
    full = [f"NUMBER(filler_{i:03d})=18446744073709551615\n".encode() for i in range(150)]
    expected, _ = kernel_text(full)
    assert result.out.encode() == expected
    assert result.err == ("vmci resolve: warning: the text reaches VMCOREINFO_BYTES (4096); the kernel truncates it "
                          "there (WARN_ONCE \"vmcoreinfo data exceeds allocated size, truncating\"), and so does "
                          "this output\n")


# --- the user-space note builders -------------------------------------------------------------

def oversized_text(tmp_path):
    path = tmp_path / "vmcoreinfo.txt"
    path.write_bytes(b"".join(f"NUMBER(filler_{i:03d})=18446744073709551615\n".encode() for i in range(150)))
    return path


def note_of(tmp_path, *args):
    if (tmp_path / "note").exists():
        (tmp_path / "note").unlink()
    result = run_cli(["note", "-o", str(tmp_path / "note"), "--arch", "x86_64", *args])
    return result, (tmp_path / "note").read_bytes() if (tmp_path / "note").exists() else None


def test_vmci_note_refuses_text_longer_than_vmcoreinfo_bytes(tmp_path):
    text = oversized_text(tmp_path)
    result, note = note_of(tmp_path, "--from", str(text))
    assert (result.code, note) == (2, None)
    assert result.err == (f"vmci note: {text}: 6000 bytes of text; the kernel holds at most VMCOREINFO_BYTES (4096) "
                          "and truncates there (--truncate cuts it the same way)\n")


def test_vmci_note_truncate_cuts_as_the_kernel_does(tmp_path):
    text = oversized_text(tmp_path)
    result, note = note_of(tmp_path, "--from", str(text), "--truncate")
    assert result.code == 0, result
    assert "VMCOREINFO_BYTES (4096)" in result.err and len(result.err.splitlines()) == 1
    expected, _ = kernel_text(text.read_bytes().splitlines(keepends=True))
    assert parse_note(note) == ("VMCOREINFO", 0, expected)
    assert len(note) == 12 + 12 + PAGE_SIZE


def test_vmci_note_takes_the_text_a_truncating_kernel_writes(tmp_path):
    text = tmp_path / "vmcoreinfo.txt"
    data, warned = kernel_text([f"NUMBER(filler_{i:03d})=18446744073709551615\n".encode() for i in range(150)])
    assert (len(data), warned, data.endswith(b"\n")) == (PAGE_SIZE, 1, False)
    text.write_bytes(data)
    result, note = note_of(tmp_path, "--from", str(text))
    assert result.code == 0, result
    assert parse_note(note) == ("VMCOREINFO", 0, data)
    # one byte short of VMCOREINFO_BYTES, the same cut line cannot come from a kernel
    text.write_bytes(data[:-1])
    result, note = note_of(tmp_path, "--from", str(text))
    assert (result.code, note) == (2, None)
    last_line = data.count(b"\n") + 1
    assert last_line == 103 and f"{text}:103: the last line has no newline" in result.err


def test_vmci_note_bound_is_the_texts_page_size(tmp_path):
    """A 16K-page kernel holds 16K of text: PAGESIZE=16384 in the text sets the bound."""
    text = tmp_path / "vmcoreinfo.txt"
    body = b"OSRELEASE=6.12.0\nPAGESIZE=16384\n" + oversized_text(tmp_path).read_bytes()
    text.write_bytes(body)
    result, note = note_of(tmp_path, "--from", str(text))
    assert result.code == 0, result
    assert parse_note(note)[2] == body
    result, _ = note_of(tmp_path, "--from", str(text), "--page-size", "4096")
    assert result.code == 2 and f"{text}:2: PAGESIZE=16384, but --page-size says 4096" in result.err
    text.write_bytes(oversized_text(tmp_path).read_bytes())  # no PAGESIZE line: --page-size gives the bound
    result, note = note_of(tmp_path, "--from", str(text), "--page-size", "8192")
    assert result.code == 0, result
    assert len(parse_note(note)[2]) == 6000


NOTE_HARNESS = os.path.join(ROOT, "tests", "note", "note_harness.c")


@pytest.mark.parametrize("vmcoreinfo_bytes", [None, 16384])
def test_generated_c_note_builder_cuts_at_vmcoreinfo_bytes(tmp_path, vmcoreinfo_bytes):
    if not have_gcc():
        pytest.skip("gcc is not installed")
    binary = str(tmp_path / "note_harness")
    define = [f"-DVMCOREINFO_BYTES={vmcoreinfo_bytes}UL"] if vmcoreinfo_bytes else []
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *define, "-I",
                    os.path.join(ROOT, "generated", "c"), "-o", binary, NOTE_HARNESS], check=True)
    lines = [f"NUMBER(filler_{i:03d})=18446744073709551615\n".encode() for i in range(500)]  # 20,000 bytes
    text = tmp_path / "vmcoreinfo.txt"
    text.write_bytes(b"".join(lines))
    subprocess.run([binary, str(text), "little", str(tmp_path / "note")], check=True)
    expected, warned = kernel_text(lines, vmcoreinfo_bytes or PAGE_SIZE)
    assert warned == 1
    note = (tmp_path / "note").read_bytes()
    assert note == build_note(expected)
    assert len(note) == 12 + 12 + (vmcoreinfo_bytes or PAGE_SIZE) + 12  # VMCOREINFO_NOTE_SIZE


def generated_runtime():
    import importlib
    import sys

    sys.path.insert(0, os.path.join(ROOT, "generated", "python"))
    try:
        return importlib.import_module("vmcoreinfo._runtime")
    finally:
        sys.path.pop(0)


def test_generated_python_render_cuts_like_the_kernel():
    runtime = generated_runtime()
    lines = [runtime.Line("NUMBER(" + "k" * 72 + ")", "1")]
    assert runtime.render(lines).encode() == kernel_text([b"NUMBER(" + b"k" * 72 + b")=1\n"])[0]


@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(st.lists(st.tuples(st.from_regex(r"[A-Z][A-Z_()a-z0-9.]{0,90}", fullmatch=True),
                          st.one_of(st.none(), st.from_regex(r"[0-9a-f]{1,20}", fullmatch=True))), max_size=200),
       st.sampled_from([4096, 16384]))
def test_generated_python_render_equals_the_kernel_model(lines, page_size):
    runtime = generated_runtime()
    lines = [runtime.Line("PAGESIZE", str(page_size))] + \
        [runtime.Line(key, value, None if value is not None else "no such member") for key, value in lines]
    expected, _ = kernel_text([f"{key}={value}\n".encode() for key, value, _ in lines if value is not None], page_size)
    assert runtime.render(lines, partial=True).encode() == expected
    missing = [line.key for line in lines if line.value is None]
    if missing:  # the whole text is refused, naming every line without a value
        with pytest.raises(runtime.UnresolvedLines) as raised:
            runtime.render(lines)
        assert [line.key for line in raised.value.lines] == missing
    else:
        assert runtime.render(lines).encode() == expected
