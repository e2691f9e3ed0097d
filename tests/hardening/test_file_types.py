"""A FIFO, device, socket or broken link where vmci expects a regular file: never a hang,
never a traceback, one line naming it.

Where vmci finds the file itself -- the spec files of a specs directory, a kernel tree's
C files, Makefiles, Kbuild and Kconfig files (`audit source`, `validate --kernel-src`) --
and for `--vmlinux`, which it maps, anything but a regular file is refused without being
opened: a FIFO with no writer would block the open forever, /dev/zero never ends. The
audit is refused rather than the file skipped: an audit that silently left out a file
would report a tree without drift that has some. generate's output directory is
test_generate_ownership.py's. A FIFO does not hang the test either: each case runs under
a time limit (hardening_support.run_cli).
"""
import os
import shutil
import socket
import stat

import pytest

from hardening_support import (FIXTURE_CONFIG, FIXTURE_SPECS, ROOT, build_fixture, check_no_traceback,
                               check_one_line_error, have_gcc, run_cli)

MINI = os.path.join(ROOT, "tests", "data", "audit")
SECONDS = 20


def fifo(path):
    os.mkfifo(path)
    return "not a regular file (a FIFO)"


def zero_device(path):
    os.mknod(path, stat.S_IFCHR | 0o444, os.makedev(1, 5))  # this test's own /dev/zero, only ever read
    return "not a regular file (a character device)"


def unix_socket(path):
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    unix_socket.keep = server
    return "not a regular file (a socket)"


def dangling_link(path):
    os.symlink("nowhere", path)
    return "No such file or directory"


def link_loop(path):
    os.symlink(os.path.basename(path), path)
    return "symbolic links"


KINDS = {"FIFO": fifo, "socket": unix_socket, "dangling link": dangling_link, "link loop": link_loop}
if os.geteuid() == 0:
    KINDS["character device"] = zero_device
# In a kernel tree a broken link is a file that is not there, as before (the audit reads
# what make would read); what is there must be a regular file.
TREE_KINDS = [kind for kind in KINDS if "link" not in kind]


def replace(path, kind):
    if os.path.lexists(path):
        os.unlink(path)
    return KINDS[kind](path)


# --- the specs directory ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["extra.yaml", "arch/extra.yml", "consumers.yaml"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_spec_file_that_is_not_a_regular_file(tmp_path, kind, name):
    specs = tmp_path / "specs"
    shutil.copytree(FIXTURE_SPECS, specs)
    path = specs / name
    fragment = replace(path, kind)
    for argv in (["validate", str(specs)], ["list", "--specs", str(specs), "--arch", "x86_64", "--kernel-version", "6.1"],
                 ["generate", "--specs", str(specs), "-o", str(tmp_path / "out")]):
        result = run_cli(argv, seconds=SECONDS)
        check_no_traceback(result)
        assert result.code == 1, result
        lines = [line for line in (result.out + result.err).splitlines()
                 if os.path.abspath(line.split(":", 1)[0]) == str(path)]
        assert len(lines) == 1 and ":1:1: error: " in lines[0] and lines[0].endswith(fragment), result


@pytest.mark.skipif(not have_gcc(), reason="gcc is not installed")
def test_a_fifo_spec_file_through_the_spec_cache(tmp_path, monkeypatch):
    """resolve hashes every spec file to find its cache before it loads them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    specs = tmp_path / "specs"
    shutil.copytree(FIXTURE_SPECS, specs)
    os.mkfifo(specs / "extra.yaml")
    image = build_fixture(str(tmp_path / "image"))
    result = run_cli(["resolve", "--vmlinux", image, "--config", FIXTURE_CONFIG, "--specs", str(specs)],
                     seconds=SECONDS)
    check_no_traceback(result)
    assert result.code == 1 and f"{specs}/extra.yaml:1:1: error: not a regular file (a FIFO)" in result.err, result


def test_a_fifo_where_the_spec_cache_is(tmp_path, monkeypatch):
    """A FIFO planted where the cache file goes is not waited on; the cache is rebuilt."""
    from vmci.spec.load import load_specs_cached

    cache = tmp_path / "cache"
    cache.mkdir()
    load_specs_cached(FIXTURE_SPECS, str(cache))
    (cached,) = os.listdir(cache)
    os.unlink(cache / cached)
    os.mkfifo(cache / cached)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    from hardening_support import time_limit
    with time_limit(SECONDS, "load_specs_cached with a FIFO as its cache file"):
        specs, problems = load_specs_cached(FIXTURE_SPECS, str(cache))
    assert problems == [] and specs.emitters


# --- kernel trees ---------------------------------------------------------------------------------

TREE_FILES = ["Makefile", "Kconfig", "Kbuild", "kernel/vmcore_info.c", "kernel/extra.c", "arch/demo/Kconfig",
              "arch/demo/kernel/Makefile"]


@pytest.fixture
def tree(tmp_path):
    shutil.copytree(os.path.join(MINI, "mini-tree"), tmp_path / "tree")
    return tmp_path / "tree"


@pytest.mark.parametrize("name", TREE_FILES)
@pytest.mark.parametrize("kind", TREE_KINDS)
def test_audit_source_refuses_a_tree_file_that_is_not_a_regular_file(tree, kind, name):
    fragment = replace(tree / name, kind)
    result = run_cli(["audit", "source", str(tree), "--specs", os.path.join(MINI, "mini-specs")], seconds=SECONDS)
    check_one_line_error(result, "audit source", str(tree / name), fragment)


@pytest.mark.parametrize("name", ["Kconfig", "arch/demo/Kconfig", "kernel/Kconfig.extra", "Makefile"])
@pytest.mark.parametrize("kind", TREE_KINDS)
def test_validate_kernel_src_refuses_a_kconfig_that_is_not_a_regular_file(tree, kind, name):
    fragment = replace(tree / name, kind)
    result = run_cli(["validate", "--specs", os.path.join(MINI, "mini-specs"), "--kernel-src", str(tree)],
                     seconds=SECONDS)
    check_one_line_error(result, "validate", str(tree / name), fragment)


def test_a_tree_that_is_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "tree")
    result = run_cli(["audit", "source", str(tmp_path / "tree"), "--specs", os.path.join(MINI, "mini-specs")],
                     seconds=SECONDS)
    check_one_line_error(result, "audit source", str(tmp_path / "tree"), "a FIFO")


# --- --vmlinux --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_a_vmlinux_that_is_not_a_regular_file(tmp_path, kind):
    path = tmp_path / "vmlinux"
    fragment = replace(path, kind)
    note = tmp_path / "vmcoreinfo.txt"
    note.write_text("OSRELEASE=6.1.0\nPAGESIZE=4096\n")
    for argv, name in ((["resolve", "--vmlinux", str(path), "--config", FIXTURE_CONFIG, "--specs", FIXTURE_SPECS],
                        "resolve"),
                       (["audit", "note", str(note), "--vmlinux", str(path), "--config", FIXTURE_CONFIG,
                         "--specs", FIXTURE_SPECS], "audit note")):
        result = run_cli(argv + ["--no-cache"], seconds=SECONDS)
        check_one_line_error(result, name, str(path), fragment if "regular" in fragment else "")


@pytest.mark.parametrize("kind", [kind for kind in KINDS if "link" not in kind])
def test_a_diff_side_that_is_not_a_regular_file(tmp_path, kind):
    path = tmp_path / "side"
    fragment = replace(path, kind)
    result = run_cli(["diff", str(path), "x86_64@6.1", "--specs", FIXTURE_SPECS], seconds=SECONDS)
    check_one_line_error(result, "diff", str(path), fragment)
