"""When the answer cannot be trusted, vmci says so.

- A config with which the kernel writes no VMCOREINFO at all (the common list's file is
  not built: kernel/crash_core.c needs CONFIG_CRASH_CORE before 6.9, kernel/vmcore_info.c
  CONFIG_VMCORE_INFO from 6.9 — kernel/Makefile's obj-$(...) line in Debian's
  linux-source-6.1 and -6.12) is refused with one line and exit status 2, instead of an
  empty list with exit status 0.
- A version newer than the one the specs were audited against (`audited:` in
  common.yaml) gets the usual answer plus one warning line on standard error naming
  both versions.

The configs are the real Debian kernels' configs of tests/data/gold with the one option
turned off, as `make menuconfig` would leave it.
"""
import json
import os
import re

import pytest

from conftest import ROOT, gold, kernel_path, run_vmci
from vmci.spec.model import format_version
from vmci.spec.load import load_specs

AUDITED_LINE = re.compile(r'^audited: "([0-9.]+)"$', re.M)


def without(config_path, option, tmp_path):
    """The config with `option` unset, written the way kconfig writes an unset option."""
    with open(config_path) as handle:
        text = handle.read()
    assert f"\n{option}=y\n" in text, f"{config_path} does not set {option}"
    path = tmp_path / "config"
    path.write_text(text.replace(f"\n{option}=y\n", f"\n# {option} is not set\n"))
    return str(path)


def recorded_audited_version():
    with open(os.path.join(ROOT, "specs", "common.yaml")) as handle:
        found = AUDITED_LINE.findall(handle.read())
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("release, arch, option, file", [
    ("6.1.0-57-cloud-amd64", "x86_64", "CONFIG_CRASH_CORE", "kernel/crash_core.c"),
    ("6.12.117+deb12-cloud-amd64", "x86_64", "CONFIG_VMCORE_INFO", "kernel/vmcore_info.c"),
    ("6.1.0-50-s390x", "s390x", "CONFIG_CRASH_CORE", "kernel/crash_core.c"),
])
def test_list_refuses_a_config_that_builds_no_vmcoreinfo(release, arch, option, file, tmp_path):
    _, _, config = gold(release)
    code, out, _ = run_vmci("list", "--arch", arch, "--kernel-version", release, "--config", config)
    assert code == 0 and out.count("\n") > 90  # the kernel's own config lists its ~100 lines
    code, out, err = run_vmci("list", "--arch", arch, "--kernel-version", release,
                              "--config", without(config, option, tmp_path))
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"vmci list: {tmp_path / 'config'}: this config builds no VMCOREINFO: {file}, ")
    assert f"built only with {option} (specs/common.yaml:" in lines[0]
    assert lines[0].endswith(f"the config does not set {option}")


def test_the_gate_follows_the_version():
    """Debian's 6.12 config has CONFIG_VMCORE_INFO and no CONFIG_CRASH_CORE (6.9 split
    the two): it writes VMCOREINFO as 6.12, and would not as 6.1."""
    _, _, config = gold("6.12.117+deb12-cloud-amd64")
    with open(config) as handle:
        text = handle.read()
    assert "CONFIG_VMCORE_INFO=y\n" in text and "CONFIG_CRASH_CORE" not in text
    code, out, err = run_vmci("list", "--arch", "x86_64", "--kernel-version", "6.12", "--config", config)
    assert code == 0, err
    assert out.splitlines()[0].startswith("OSRELEASE ")
    code, out, err = run_vmci("list", "--arch", "x86_64", "--kernel-version", "6.1", "--config", config)
    assert code == 2 and out == ""
    assert "builds no VMCOREINFO: kernel/crash_core.c, which writes it in Linux 6.1, is built only with " \
           "CONFIG_CRASH_CORE" in err


def test_resolve_refuses_a_config_that_builds_no_vmcoreinfo(tmp_path):
    release = "6.12.117+deb12-cloud-amd64"
    _, _, config = gold(release)
    code, out, err = run_vmci("resolve", "--vmlinux", kernel_path(release), "--no-cache",
                              "--config", without(config, "CONFIG_VMCORE_INFO", tmp_path))
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert "this config builds no VMCOREINFO: kernel/vmcore_info.c, which writes it in Linux 6.12.117" in err


def test_the_specs_record_the_version_they_were_audited_against():
    specs, problems = load_specs(os.path.join(ROOT, "specs"))
    assert not [p for p in problems if p.severity == "error"]
    version, where = specs.audited()
    assert format_version(version) == recorded_audited_version()
    assert where.file.endswith("common.yaml")
    # it is at least every version a spec bound names: those changes were established
    bounds = {v for e in specs.all_entries() for v in (e.versions.since, e.versions.until) if v is not None}
    assert version >= max(bounds), (f"a spec names version {format_version(max(bounds))}, newer than `audited: "
                                    f"{format_version(version)}` in {where}: raise it once that version is checked")


def test_a_newer_version_is_answered_with_one_warning():
    audited = recorded_audited_version()
    major, minor = map(int, audited.split("."))
    newer = f"{major}.{minor + 1}"
    code, out_audited, err = run_vmci("list", "--arch", "x86_64", "--kernel-version", audited)
    assert code == 0 and err == ""
    code, out, err = run_vmci("list", "--arch", "x86_64", "--kernel-version", newer)
    assert code == 0
    assert out == out_audited  # the output as today: no spec says the newer version changed anything
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"vmci list: warning: Linux {newer} is newer than {audited}, the newest version "
                               f"these specs were audited against (specs/common.yaml:")


def test_a_sublevel_of_the_audited_series_is_not_warned_about():
    audited = recorded_audited_version()
    code, _, err = run_vmci("list", "--arch", "arm64", "--kernel-version", audited + ".5")
    assert code == 0 and err == ""


def test_resolve_warns_for_a_newer_version(tmp_path):
    release = "6.12.117+deb12-cloud-amd64"
    _, text, config = gold(release)
    code, out, err = run_vmci("resolve", "--vmlinux", kernel_path(release), "--config", config,
                              "--kernel-version", "7.9", "--format", "json")
    assert code in (0, 1)
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == [line for line in warnings if line.startswith("vmci resolve: warning: Linux 7.9 is newer than ")]
    assert len(warnings) == 1
    # the answer is still given, line by line
    keys = [line["key"] for line in json.loads(out)["lines"]]
    assert keys[:2] == ["OSRELEASE", "BUILD-ID"]
    code, _, err = run_vmci("resolve", "--vmlinux", kernel_path(release), "--config", config)
    assert "warning: Linux" not in err


def test_two_files_recording_the_audited_version_are_an_error(tmp_path):
    import shutil
    specs = tmp_path / "specs"
    shutil.copytree(os.path.join(ROOT, "specs"), specs)
    printk = specs / "printk.yaml"
    printk.write_text(printk.read_text().replace('since: "5.10"\n', 'since: "5.10"\naudited: "6.12"\n', 1))
    code, out, _ = run_vmci("validate", str(specs))
    assert code == 1
    errors = [line for line in out.splitlines() if "error" in line]
    assert len(errors) == 1 and "printk.yaml:" in errors[0] and "keep it in one file" in errors[0]
