"""Strict grammars (issue 14, items 5 and 11): numbers past Python's int-digit limit,
kernel versions, config lines, YAML 1.1 numbers, CRLF text and doubled notes each get
one clear line and exit status 2 (or 1 for a spec problem), never a traceback, never a
silent reading."""
import os
import shutil

import pytest

from hardening_support import FIXTURE_SPECS, ROOT, check_one_line_error, check_validate, run_cli, run_subprocess
from test_bounds import COMMON, specs_dir

from vmci.lang.kconfig import KernelConfig
from vmci.note.build import build_note

MINI_TREE = os.path.join(ROOT, "tests", "data", "audit", "mini-tree")
MINI_SPECS = os.path.join(ROOT, "tests", "data", "audit", "mini-specs")
HUGE = "6" * 5000


@pytest.mark.parametrize("version", [HUGE, f"6.{HUGE}", f"6.1.{HUGE}", "\u0666.\u0661", "6.1garbage", "6.1.-1",
                                     "6.1.0.0.0", "6..1", "6.1.", " ", "6.1 garbage"])
def test_kernel_versions_are_parsed_strictly(version):
    result = run_cli(["list", "--specs", FIXTURE_SPECS, "--arch", "x86_64", "--kernel-version", version])
    check_one_line_error(result, "list", "is not a kernel version")
    assert "Exceeds the limit" not in result.err and len(result.err) < 300


@pytest.mark.parametrize("version,parsed", [("6.1", "6.1"), ("6.1.0-57-cloud-amd64", "6.1"),
                                            ("6.12.117+deb13-cloud-arm64", "6.12.117"), ("6.12.0-rc1", "6.12")])
def test_real_release_strings_still_parse(version, parsed):
    result = run_cli(["list", "--specs", FIXTURE_SPECS, "--arch", "x86_64", "--kernel-version", version,
                      "--format", "json"])
    assert result.code == 0, str(result)
    assert f'"kernel_version": "{parsed}"' in result.out


def test_a_page_size_past_the_int_digit_limit(tmp_path):
    text = tmp_path / "vmcoreinfo.txt"
    text.write_text(f"OSRELEASE=6.1\nPAGESIZE={'4' * 5000}\n")
    result = run_cli(["note", "--from", str(text), "-o", str(tmp_path / "note.bin")])
    check_one_line_error(result, "note", f"{text}:2", "5000-digit")
    assert not (tmp_path / "note.bin").exists()


def test_a_makefile_version_past_the_int_digit_limit(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(MINI_TREE, tree)
    makefile = tree / "Makefile"
    makefile.write_text(makefile.read_text().replace("VERSION = 6", f"VERSION = {HUGE}", 1))
    result = run_cli(["audit", "source", str(tree), "--specs", MINI_SPECS])
    check_one_line_error(result, "audit source", f"{makefile}:3", "5000-digit")


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_config_lines_end_at_newline_only(tmp_path, separator):
    """A string value that holds a character str.splitlines() splits at cannot switch
    another option: kconfig reads `CONFIG_CMDLINE` whole and CONFIG_NUMA stays y."""
    config = tmp_path / "config"
    config.write_text(f'CONFIG_NUMA=y\nCONFIG_CMDLINE="quiet{separator}CONFIG_NUMA=n{separator}"\r\n',
                      encoding="utf-8")
    parsed = KernelConfig.from_file(str(config))
    assert parsed.values["CONFIG_NUMA"] == "y"
    assert parsed.values["CONFIG_CMDLINE"] == f'"quiet{separator}CONFIG_NUMA=n{separator}"'


@pytest.mark.parametrize("number,shown", [("1:30", "'1:30'"), ("1_2", "'1_2'"), ("017", "'017'"), ("1_0.5", "'1_0.5'")])
def test_yaml_1_1_numbers_are_refused(tmp_path, number, shown):
    common = COMMON.replace("      - kind: osrelease\n",
                            f"      - kind: number\n        name: EXAMPLE\n        value: {number}\n"
                            f"        doc: Example.\n      - kind: osrelease\n", 1)
    files = specs_dir(tmp_path, common)
    result = run_cli(["validate", str(tmp_path)])
    check_validate(result, files)
    line = common[:common.index(f"value: {number}")].count("\n") + 1
    assert f"common.yaml:{line}:16: error: {shown} is a YAML 1.1 number" in result.out, result.out


def test_note_from_crlf_text_drops_the_carriage_returns(tmp_path):
    text = tmp_path / "vmcoreinfo.txt"
    text.write_bytes(b"OSRELEASE=6.1.0-99\r\nPAGESIZE=4096\r\n")
    result = run_cli(["note", "--from", str(text), "-o", str(tmp_path / "note.bin")])
    assert result.code == 0, str(result)
    assert (tmp_path / "note.bin").read_bytes() == build_note(b"OSRELEASE=6.1.0-99\nPAGESIZE=4096\n", final=False)


def test_two_different_vmcoreinfo_notes_are_refused(tmp_path):
    first = build_note(b"OSRELEASE=6.1.0-99\nPAGESIZE=4096\n", final=False)
    second = build_note(b"OSRELEASE=6.1.0-98\nPAGESIZE=4096\n")
    doubled = tmp_path / "two.bin"
    doubled.write_bytes(first + second)
    result = run_cli(["show", str(doubled)])
    check_one_line_error(result, "show", str(doubled), "two different VMCOREINFO notes", "0x0 and 0x3c")
    same = tmp_path / "same.bin"
    same.write_bytes(first + build_note(b"OSRELEASE=6.1.0-99\nPAGESIZE=4096\n"))
    result = run_subprocess(["show", str(same)])  # show writes bytes to the real stdout
    assert (result.code, result.out) == (0, "OSRELEASE=6.1.0-99\nPAGESIZE=4096\n"), str(result)
