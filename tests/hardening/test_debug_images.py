"""Images as distributions ship their debug info (issue 14, item 9): a debug-only vmlinux
(`objcopy --only-keep-debug`, Fedora's and RHEL's debuginfo `vmlinux`) has DWARF and
symbols but no code or data, so a value read from its data is not in it and is never
made up; GNU `.zdebug_*` sections and zstd-compressed (ELFCOMPRESS_ZSTD) sections are
read like plain ones."""
import os
import subprocess

import pytest

from conftest import gold, kernel_path
from hardening_support import FIXTURE_CONFIG, FIXTURE_SPECS, build_fixture, check_one_line_error, run_cli

RELEASE = "6.1.0-57-cloud-amd64"


def objcopy(source, target, *flags):
    subprocess.run(["objcopy", *flags, source, str(target)], check=True, capture_output=True)
    return str(target)


def resolve(vmlinux, config, *extra, specs=None):
    argv = ["resolve", "--no-cache", "--vmlinux", vmlinux, "--config", config, *extra]
    return run_cli(argv + (["--specs", specs] if specs else []), seconds=300)


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return build_fixture(str(tmp_path_factory.mktemp("fixture")))


@pytest.mark.parametrize("flag", ["--compress-debug-sections=zlib-gnu", "--compress-debug-sections=zlib",
                                  "--compress-debug-sections=zstd"])
def test_compressed_debug_sections_resolve_as_plain_ones(tmp_path, fixture, flag):
    plain = resolve(fixture, FIXTURE_CONFIG, specs=FIXTURE_SPECS)
    assert plain.code == 0, str(plain)
    packed = objcopy(fixture, tmp_path / "packed", flag)
    names = subprocess.run(["readelf", "-S", "-W", packed], capture_output=True, text=True).stdout
    assert (".zdebug_info" in names) == flag.endswith("zlib-gnu")
    result = resolve(packed, FIXTURE_CONFIG, specs=FIXTURE_SPECS)
    assert (result.code, result.out) == (0, plain.out), str(result)


def test_zstd_without_the_package_is_refused_in_words(tmp_path, fixture, monkeypatch):
    import builtins
    packed = objcopy(fixture, tmp_path / "packed", "--compress-debug-sections=zstd")
    real_import = builtins.__import__

    def no_zstandard(name, *args, **kwargs):
        if name == "zstandard":
            raise ImportError("No module named 'zstandard'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_zstandard)
    result = resolve(packed, FIXTURE_CONFIG, specs=FIXTURE_SPECS)
    check_one_line_error(result, "resolve", packed, "zstd-compressed", "python3-zstandard")


def test_a_debug_only_fixture_leaves_its_data_unresolved(tmp_path, fixture):
    debug = objcopy(fixture, tmp_path / "debug", "--only-keep-debug")
    result = resolve(debug, FIXTURE_CONFIG, specs=FIXTURE_SPECS)
    check_one_line_error(result, "resolve", debug, "a debug-only image", "pass --kernel-version")
    result = resolve(debug, FIXTURE_CONFIG, "--kernel-version", "6.1.0-99-fuzz", specs=FIXTURE_SPECS)
    assert result.code == 1, str(result)
    assert "OSRELEASE=" not in result.out
    assert "OSRELEASE not resolved: init_uts_ns.name.release: the image holds no contents for .data " \
           "(a debug-only file" in result.err


def test_a_debug_only_debian_kernel(tmp_path):
    """Debian's 6.1 amd64 vmlinux made debug-only as Fedora ships it: every line whose
    value is in the DWARF or the symbol table is the gold value; OSRELEASE and the two
    numbers read from .data are unresolved with the reason; nothing is made up."""
    meta, text, config = gold(RELEASE)
    debug = objcopy(kernel_path(RELEASE), tmp_path / "vmlinux.debug", "--only-keep-debug")
    result = resolve(debug, config)
    check_one_line_error(result, "resolve", "a debug-only image", "pass --kernel-version")
    result = resolve(debug, config, "--kernel-version", RELEASE)
    assert result.code == 1, result.err[-2000:]
    unresolved = sorted(line.split(": ")[1].split(" not resolved")[0] for line in result.err.splitlines()
                        if " not resolved: " in line)
    assert unresolved == ["NUMBER(phys_base)", "NUMBER(sme_mask)", "OSRELEASE"], result.err
    assert result.err.count("the image holds no contents for .data (a debug-only file") == 3
    full = resolve(kernel_path(RELEASE), config)
    assert full.code == 0, full.err[-2000:]
    kept = [line for line in full.out.splitlines()
            if not line.startswith(("OSRELEASE=", "NUMBER(phys_base)=", "NUMBER(sme_mask)="))]
    assert result.out.splitlines() == kept
    assert os.path.getsize(debug) < os.path.getsize(kernel_path(RELEASE))
