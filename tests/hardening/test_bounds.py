"""Resource bounds (docs/limits.md): hostile inputs are refused or handled within
bounded time and memory, with one located line.

Time is bounded with an alarm in this process; memory is measured on a subprocess
(os.wait4 gives that child's own peak RSS).
"""
import gzip
import os
import subprocess
import sys
import time

import pytest

from hardening_support import (FIXTURE_CONFIG, FIXTURE_SPECS, ROOT, check_one_line_error, check_validate,
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


def peak_rss_mib(argv, tmp_path, timeout=120):
    """Run vmci in a subprocess: (exit status, stdout, stderr, its own peak RSS in MiB)."""
    out_path, err_path = tmp_path / "rss.out", tmp_path / "rss.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "compiler.cli", *argv], cwd=ROOT, stdout=out, stderr=err)
        with time_limit(timeout, "vmci " + " ".join(argv)):
            _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return (process.returncode, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"),
            usage.ru_maxrss / 1024)


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
