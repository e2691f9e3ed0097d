"""A `vmci resolve` run again with nothing changed says again what it said (cli/memo.py):
the same standard output, -o bytes, standard error and exit status, without importing the
model or the ELF reader; any change to an input runs it again.

Each check runs the real command on a real Debian kernel. To tell a replay from a run,
a memo's text is replaced by a marker: a run that prints the marker was replayed, one that
prints the kernel's text was not.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, gold, kernel_path
from vmci.files.output import forget_oldest
from vmci.resources import specs_dir

RELEASE = "6.1.0-57-cloud-amd64"
MARKER = "REPLAYED FROM THE MEMO"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache directory for the module: the per-vmlinux cache is learned once."""
    return tmp_path_factory.mktemp("cache")


def run(cache, *args, cwd=ROOT):
    result = subprocess.run([sys.executable, "-m", "vmci", "resolve", *args], cwd=cwd, capture_output=True,
                            env=dict(os.environ, XDG_CACHE_HOME=str(cache)), timeout=600)
    return result.returncode, result.stdout, result.stderr


def memos(cache):
    directory = cache / "vmci"
    return sorted(directory.glob("resolve-*.json")) if directory.is_dir() else []


def kernel_args(*extra, config=None):
    return ["--vmlinux", kernel_path(RELEASE), "--config", config or gold(RELEASE)[2], *extra]


def mark(memo):
    """Replace what the memo says by the marker, keeping its key."""
    document = json.loads(memo.read_text())
    document["said"] = [["stderr", MARKER]]
    memo.write_text(json.dumps(document))


def remembered(cache, args, cwd=ROOT):
    """Run `args` twice (the second from the memo), check that the two runs said the same,
    and return what they said and the memo written."""
    before = set(memos(cache))
    first = run(cache, *args, cwd=cwd)
    added = set(memos(cache)) - before
    assert len(added) == 1, first[2]
    second = run(cache, *args, cwd=cwd)
    assert second == first
    return first, added.pop()


@pytest.mark.parametrize("extra", [(), ("--format", "json"), ("--at-crash", "--quiet")],
                         ids=["text", "json", "at-crash-quiet"])
def test_a_second_run_says_the_same_from_the_memo(cache, extra):
    (code, out, err), memo = remembered(cache, kernel_args(*extra))
    assert code == (1 if "--at-crash" in extra else 0)  # CRASHTIME is the time of the crash: unresolved
    if "json" in extra:
        assert json.loads(out)["kernel_version"] == "6.1.192"
    else:
        assert b"OSRELEASE=6.1.0-57-cloud-amd64\n" in out
    assert (b"fixed at boot" in err) == (extra == ())  # JSON gives the reasons, --quiet leaves them out
    assert run(cache, *kernel_args(*extra, "--no-cache")) == (code, out, err)
    mark(memo)
    assert run(cache, *kernel_args(*extra)) == (code, b"", MARKER.encode() + b"\n")  # it was a replay


def test_output_file_is_written_again_from_the_memo(cache, tmp_path):
    target = tmp_path / "vmcoreinfo.txt"
    (code, out, err), memo = remembered(cache, kernel_args("--quiet", "-o", str(target)))
    assert (code, out) == (0, b"")
    written = target.read_bytes()
    assert written.startswith(b"OSRELEASE=6.1.0-57-cloud-amd64\n")
    target.unlink()
    assert run(cache, *kernel_args("--quiet", "-o", str(target))) == (code, out, err)
    assert target.read_bytes() == written
    # where the output goes is not an input: the same memo writes standard output
    assert run(cache, *kernel_args("--quiet")) == (0, written, err)


def test_unresolved_entries_are_said_again_with_exit_1(cache, tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(specs_dir(), specs)
    printk = specs / "printk.yaml"
    printk.write_text(printk.read_text().replace("name: latched_seq\n        member: val",
                                                 "name: latched_seq\n        member: no_such_member"))
    (code, out, err), _ = remembered(cache, kernel_args("--specs", str(specs)))
    assert code == 1
    assert b"OFFSET(latched_seq.no_such_member) not resolved" in err
    assert b"OSRELEASE=6.1.0-57-cloud-amd64\n" in out


def missed(cache, args, cwd=ROOT):
    """What `args` said, checked to come from a run, not from the marked memo."""
    said = run(cache, *args, cwd=cwd)
    assert MARKER.encode() not in said[2] and said[0] in (0, 1), said[2]
    return said


def test_every_input_changed_runs_again(cache, tmp_path):
    specs, config = tmp_path / "specs", tmp_path / "config"
    shutil.copytree(specs_dir(), specs)
    shutil.copy(gold(RELEASE)[2], config)
    args = kernel_args("--specs", str(specs), config=str(config))
    (code, out, err), memo = remembered(cache, args)
    assert code == 0
    mark(memo)
    assert run(cache, *args)[2] == MARKER.encode() + b"\n"

    # a spec file's contents (a comment: the output stays), its size and modification time as they were
    common = specs / "common.yaml"
    status = os.stat(common)
    text = common.read_bytes()
    edited = text.replace(b"# SPDX-License-Identifier", b"# SPDX-License-Identifieq", 1)
    assert len(edited) == len(text) and edited != text
    common.write_bytes(edited)
    os.utime(common, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert missed(cache, args) == (code, out, err)
    common.write_bytes(text)
    os.utime(common, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert run(cache, *args)[2] == MARKER.encode() + b"\n"  # as it was: the memo again

    # a new file in the specs directory
    (specs / "arch" / "extra.yaml").write_text((specs / "arch" / "sh.yaml").read_text())
    missed(cache, args)
    (specs / "arch" / "extra.yaml").unlink()

    # the config's contents
    config.write_bytes(config.read_bytes() + b"# an edit\n")
    assert missed(cache, args) == (code, out, err)

    # the working directory (messages name files relative to it), and an option
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert missed(cache, args, cwd=elsewhere)[1] == out
    assert missed(cache, [*args, "--kernel-version", "6.1.150"])[0] == 0


def test_a_touched_or_copied_vmlinux_runs_again(cache, tmp_path):
    release = "6.1.0-50-s390x"  # the smallest real image: it is copied
    vmlinux = tmp_path / "vmlinux"
    shutil.copy(kernel_path(release), vmlinux)
    args = ["--vmlinux", str(vmlinux), "--config", gold(release)[2]]
    (code, out, err), memo = remembered(cache, args)
    assert code == 0 and b"OSRELEASE=6.1.0-50-s390x\n" in out
    mark(memo)
    status = os.stat(vmlinux)
    os.utime(vmlinux, ns=(status.st_atime_ns, status.st_mtime_ns))  # only its ctime moves
    assert missed(cache, args) == (code, out, err)
    moved = tmp_path / "vmlinux-copy"
    shutil.copy(vmlinux, moved)
    copied = ["--vmlinux", str(moved), "--config", gold(release)[2]]
    assert missed(cache, copied)[1] == out.replace(str(vmlinux).encode(), str(moved).encode())


def test_a_damaged_memo_is_ignored_and_rewritten(cache):
    args = kernel_args("--kernel-version", "6.1.140")
    (code, out, err), memo = remembered(cache, args)
    for damage in (b"", b"{not json", b'{"format": "vmci-resolve-memo/1"}', b"[1, 2]",
                   json.dumps({**json.loads(memo.read_text()), "exit": 7}).encode()):
        memo.write_bytes(damage)
        assert run(cache, *args) == (code, out, err)
        document = json.loads(memo.read_text())
        assert document["format"] == "vmci-resolve-memo/1" and document["exit"] == code
    memo.unlink()
    memo.mkdir()  # planted: not a file vmci can read or replace
    assert run(cache, *args) == (code, out, err)
    assert memo.is_dir() and not os.listdir(memo)


def test_no_cache_neither_reads_nor_writes_a_memo(tmp_path, cache):
    fresh = tmp_path / "fresh"
    said = run(fresh, *kernel_args("--format", "json", "--no-cache"))
    assert said[0] == 0 and not memos(fresh)
    (_, out, err), memo = remembered(cache, kernel_args("--format", "json", "--quiet"))
    mark(memo)
    assert run(cache, *kernel_args("--format", "json", "--quiet", "--no-cache")) == (0, out, err)


def test_standard_input_is_never_remembered(tmp_path):
    with open(gold(RELEASE)[2], "rb") as config:
        result = subprocess.run([sys.executable, "-m", "vmci", "resolve", "--vmlinux", kernel_path(RELEASE),
                                 "--config", "-"], cwd=ROOT, stdin=config, capture_output=True,
                                env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path)), timeout=600)
    assert result.returncode == 0 and b"OSRELEASE=6.1.0-57-cloud-amd64\n" in result.stdout
    assert not memos(tmp_path)


def test_a_remembered_resolve_imports_no_stage(cache, tmp_path):
    """The point of the memo: a replay imports the command line, not the model, the ELF
    reader or the resolver."""
    args = kernel_args("--format", "json", "--kernel-version", "6.1.192")  # a memo of its own
    remembered(cache, args)
    listing = tmp_path / "modules.json"
    program = ("import json, sys; from vmci.cli.main import main; code = main(sys.argv[2:]); "
               "json.dump(sorted(m for m in sys.modules if m.startswith('vmci')), open(sys.argv[1], 'w')); "
               "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", program, str(listing), "resolve", *args], cwd=ROOT,
                            capture_output=True, env=dict(os.environ, XDG_CACHE_HOME=str(cache)), timeout=600)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(listing.read_text())
    assert "vmci.cli.memo" in loaded and "vmci.spec.digest" in loaded
    heavy = [m for m in loaded if m.startswith(("vmci.elf", "vmci.resolve", "vmci.lang", "vmci.select"))
             or m in ("vmci.spec.model", "vmci.spec.kinds", "vmci.spec.load", "vmci.spec.yamlsource", "vmci.runtime")]
    assert heavy == []


def test_the_memos_are_bounded_and_only_their_own_files_go(tmp_path):
    for number in range(6):
        path = tmp_path / f"resolve-{number:032x}.json"
        path.write_text("{}")
        os.utime(path, (1000 + number, 1000 + number))
    foreign = [tmp_path / "resolve-notes.json", tmp_path / "specs-0.json", tmp_path / f"resolve-{'a' * 32}.json.tmp"]
    for path in foreign:
        path.write_text("{}")
        os.utime(path, (1, 1))
    forget_oldest(str(tmp_path), r"resolve-[0-9a-f]{32}\.json", 4)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == sorted([f"resolve-{n:032x}.json" for n in range(2, 6)] + [p.name for p in foreign])
