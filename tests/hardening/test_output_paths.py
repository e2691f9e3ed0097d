"""`-o PATH` of every command against every kind of path a careful administrator might
give, or be tricked into giving, as root.

Each command's output is first taken from standard output (`-o -`); then, for each kind
of destination, the same command writes to it, and the result must be the contract:
a regular file (new or replaced) holds exactly those bytes, atomically, keeping its
permissions; a symbolic link stays a link and its target gets the bytes; a FIFO's reader
gets them and the FIFO stays a FIFO; a character device is written in place and stays
the device (this test's own device nodes, never the system's); a directory, a block
device, a socket, a link loop or a missing directory is one line and exit 2 with nothing
changed; an output that is one of the command's inputs -- by path, hard link or link --
is refused before anything is read.
"""
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading

import pytest

from hardening_support import (FIXTURE_CONFIG, FIXTURE_SPECS, ROOT, build_fixture, check_no_traceback,
                               check_one_line_error, have_gcc, run_cli)

MINI = os.path.join(ROOT, "tests", "data", "audit")
PREVIOUS = b"the previous contents\n"
TEXT = "OSRELEASE=6.1.0-99-fuzz\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a13a80\n"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="device nodes and other users' links need root (CI runs as root)")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Copies of every input, so that a failure cannot harm the repository's files."""
    base = tmp_path_factory.mktemp("inputs")
    shutil.copy(FIXTURE_CONFIG, base / "config")
    shutil.copytree(FIXTURE_SPECS, base / "specs")
    shutil.copytree(os.path.join(MINI, "mini-tree"), base / "tree")
    (base / "vmcoreinfo.txt").write_text(TEXT)
    (base / "other.txt").write_text(TEXT.replace("6.1.0-99", "6.1.0-98"))
    image = build_fixture(str(base / "image")) if have_gcc() else None
    return base, image


# command name -> (argv without -o, the output option, the input a wrong -o could hit)
def commands(base, image):
    found = {
        "list": (["list", "--specs", f"{base}/specs", "--arch", "x86_64", "--kernel-version", "6.1",
                  "--config", f"{base}/config"], "-o", f"{base}/config"),
        "note": (["note", "--from", f"{base}/vmcoreinfo.txt"], "-o", f"{base}/vmcoreinfo.txt"),
        "note --elf-core": (["note", "--from", f"{base}/vmcoreinfo.txt", "--arch", "x86_64", "--specs", f"{base}/specs"],
                            "--elf-core", f"{base}/vmcoreinfo.txt"),
        "audit consumers": (["audit", "consumers", "--specs", f"{base}/specs", "--arch", "x86_64", "--kernel-version", "6.1",
                             "--config", f"{base}/config"], "-o", f"{base}/config"),
        "audit source": (["audit", "source", f"{base}/tree", "--specs", f"{MINI}/mini-specs"], "-o",
                         f"{base}/tree/Makefile"),
        "coverage": (["coverage", "--specs", f"{base}/specs"], "-o", f"{base}/specs/common.yaml"),
        "export": (["export", "--specs", f"{base}/specs"], "-o", f"{base}/specs/arch/x86_64.yaml"),
        "validate": (["validate", f"{base}/specs", "--format", "json"], "-o", f"{base}/specs/common.yaml"),
        "show": (["show", f"{base}/vmcoreinfo.txt"], "-o", f"{base}/vmcoreinfo.txt"),
        "diff": (["diff", f"{base}/vmcoreinfo.txt", f"{base}/other.txt"], "-o", f"{base}/other.txt"),
    }
    if image:
        found["resolve"] = (["resolve", "--vmlinux", image, "--config", f"{base}/config", "--specs", f"{base}/specs",
                             "--no-cache"], "-o", f"{base}/config")
    return found


COMMANDS = ["list", "note", "note --elf-core", "audit consumers", "audit source", "coverage", "diff", "export", "show",
            "validate", "resolve"]


def command(inputs, name):
    base, image = inputs
    found = commands(base, image)
    if name not in found:
        pytest.skip("gcc is not installed")
    return found[name]


def expected_output(argv, option):
    result = run_cli(argv + [option, "-"])
    check_no_traceback(result)
    assert result.code in (0, 1), result
    return result.out.encode("utf-8", "surrogateescape"), result.code


def snapshot(base):
    found = {}
    for root, dirs, files in os.walk(base):
        for name in files + dirs:
            path = os.path.join(root, name)
            status = os.lstat(path)
            data = open(path, "rb").read() if stat.S_ISREG(status.st_mode) else None
            found[path] = (stat.S_IFMT(status.st_mode), status.st_ino, data)
    return found


# --- the kinds of destination -------------------------------------------------------------------

class Reader(threading.Thread):
    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.data = path, None
        self.start()

    def run(self):
        with open(self.path, "rb") as handle:
            self.data = handle.read()


def regular_new(tmp):
    path = tmp / "out"
    return path, lambda data: path.read_bytes() == data and stat.S_ISREG(os.lstat(path).st_mode)


def regular_existing(tmp):
    path = tmp / "out"
    path.write_bytes(PREVIOUS)
    os.chmod(path, 0o640)
    return path, lambda data: path.read_bytes() == data and stat.S_IMODE(os.stat(path).st_mode) == 0o640


def symlink_to_file(tmp):
    (tmp / "real").mkdir()
    target = tmp / "real" / "target"
    target.write_bytes(PREVIOUS)
    os.symlink(target, tmp / "link")
    return tmp / "link", lambda data: os.path.islink(tmp / "link") and target.read_bytes() == data


def relative_symlink_chain(tmp):
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    target = tmp / "b" / "target"
    target.write_bytes(PREVIOUS)
    os.symlink("../b/target", tmp / "a" / "second")
    os.symlink("a/second", tmp / "first")
    return tmp / "first", lambda data: (os.path.islink(tmp / "first") and os.path.islink(tmp / "a" / "second")
                                        and target.read_bytes() == data)


def dangling_symlink(tmp):
    os.symlink("made-by-vmci", tmp / "link")
    return tmp / "link", lambda data: os.path.islink(tmp / "link") and (tmp / "made-by-vmci").read_bytes() == data


def fifo_with_reader(tmp):
    path = tmp / "fifo"
    os.mkfifo(path)
    reader = Reader(path)

    def check(data):
        reader.join(20)
        return reader.data == data and stat.S_ISFIFO(os.lstat(path).st_mode)
    return path, check


def own_null_device(tmp):
    path = tmp / "null"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path, lambda data: stat.S_ISCHR(os.lstat(path).st_mode) and os.lstat(path).st_rdev == os.makedev(1, 3)


OK_KINDS = {"new file": regular_new, "existing file": regular_existing, "symbolic link": symlink_to_file,
            "relative link chain": relative_symlink_chain, "dangling link": dangling_symlink,
            "FIFO with a reader": fifo_with_reader}


def own_full_device(tmp):
    path = tmp / "full"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    return path, "No space left on device", lambda: stat.S_ISCHR(os.lstat(path).st_mode)


def own_block_device(tmp):
    path = tmp / "disk"
    os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(7, 0))  # a loop device's numbers; it is never opened
    return path, "a block device", lambda: stat.S_ISBLK(os.lstat(path).st_mode)


def directory(tmp):
    (tmp / "dir").mkdir()
    return tmp / "dir", "a directory", lambda: os.path.isdir(tmp / "dir") and not os.listdir(tmp / "dir")


def unix_socket(tmp):
    path = tmp / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    return path, "a socket", lambda: stat.S_ISSOCK(os.lstat(path).st_mode)


def link_loop(tmp):
    os.symlink("b", tmp / "a")
    os.symlink("a", tmp / "b")
    return tmp / "a", "symbolic links", lambda: os.path.islink(tmp / "a")


def missing_directory(tmp):
    return tmp / "no" / "out", "No such file or directory", lambda: not (tmp / "no").exists()


def other_users_link_in_sticky_directory(tmp):
    shared = tmp / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    victim = tmp / "victim"
    victim.write_bytes(PREVIOUS)
    os.symlink(victim, shared / "report")
    os.lchown(shared / "report", 65534, 65534)
    return shared / "report", "not followed", lambda: victim.read_bytes() == PREVIOUS


REFUSED_KINDS = {"directory": directory, "socket": unix_socket, "link loop": link_loop,
                 "missing directory": missing_directory}
ROOT_OK_KINDS = {"own null device": own_null_device}
ROOT_REFUSED_KINDS = {"own full device": own_full_device, "own block device": own_block_device,
                      "another user's link in /tmp": other_users_link_in_sticky_directory}


def make(kind, everyone, root_only, tmp_path):
    if kind in root_only and os.geteuid() != 0:
        pytest.skip("device nodes and other users' links need root (CI runs as root)")
    return {**everyone, **root_only}[kind](tmp_path)


@pytest.mark.parametrize("kind", list(OK_KINDS) + list(ROOT_OK_KINDS))
@pytest.mark.parametrize("name", COMMANDS)
def test_every_output_kind_gets_the_exact_bytes(inputs, tmp_path, name, kind):
    argv, option, _ = command(inputs, name)
    data, code = expected_output(argv, option)
    path, check = make(kind, OK_KINDS, ROOT_OK_KINDS, tmp_path)
    result = run_cli(argv + [option, str(path)], seconds=30)
    check_no_traceback(result)
    assert result.code == code and result.out == "", result
    assert check(data), kind
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


@pytest.mark.parametrize("kind", list(REFUSED_KINDS) + list(ROOT_REFUSED_KINDS))
@pytest.mark.parametrize("name", COMMANDS)
def test_an_output_that_cannot_be_written_is_one_line(inputs, tmp_path, name, kind):
    argv, option, _ = command(inputs, name)
    path, fragment, unchanged = make(kind, REFUSED_KINDS, ROOT_REFUSED_KINDS, tmp_path)
    result = run_cli(argv + [option, str(path)], seconds=30)
    check_one_line_error(result, name.split(" --")[0], str(path), fragment)
    assert unchanged(), kind


# --- outputs that are inputs ---------------------------------------------------------------------

def same_path(source, tmp):
    return source


def dotted_path(source, tmp):
    return os.path.join(os.path.dirname(source), ".", os.path.basename(source))


def hard_link(source, tmp):
    os.link(source, tmp / "hard")
    return str(tmp / "hard")


def symbolic_link(source, tmp):
    os.symlink(source, tmp / "soft")
    return str(tmp / "soft")


@pytest.mark.parametrize("alias", [same_path, dotted_path, hard_link, symbolic_link])
@pytest.mark.parametrize("name", COMMANDS)
def test_an_output_that_is_an_input_is_refused(inputs, tmp_path, name, alias):
    argv, option, source = command(inputs, name)
    before = snapshot(inputs[0])
    path = alias(source, tmp_path)
    result = run_cli(argv + [option, path])
    check_one_line_error(result, name.split(" --")[0], path, "does not write over its input")
    assert snapshot(inputs[0]) == before


def test_two_outputs_that_are_one_file(inputs, tmp_path):
    base, _ = inputs
    argv = ["note", "--from", f"{base}/vmcoreinfo.txt", "--arch", "x86_64", "--specs", f"{base}/specs"]
    for first, second in ((tmp_path / "x", tmp_path / "x"), (tmp_path / "y", tmp_path / "." / "y")):
        result = run_cli(argv + ["-o", str(first), "--elf-core", str(second)])
        check_one_line_error(result, "note", str(second), "the same file as -o")
        assert not first.exists()
    check_one_line_error(run_cli(argv + ["-o", "-", "--elf-core", "-"]), "note", "both standard output")


# --- through the shell: /dev/stdout, >(cmd), appending ----------------------------------------------
# The system's /dev/stdout is never given to vmci here: a vmci that replaced it (as root)
# would break the machine. These links are the same as /dev/stdout and /dev/stderr, and
# a vmci that replaced one would replace only the test's link; /dev/fd/N leads into
# /proc, where no file can be created.

def shell(script, *args, **kwargs):
    return subprocess.run(["bash", "-c", script, "bash", *args], cwd=ROOT, capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT}, **kwargs)


LIST = ["list", "--specs", FIXTURE_SPECS, "--arch", "x86_64", "--kernel-version", "6.1", "--config", FIXTURE_CONFIG]


def standard_links(tmp_path):
    os.symlink("/proc/self/fd/1", tmp_path / "stdout")
    os.symlink("/proc/self/fd/2", tmp_path / "stderr")
    return tmp_path / "stdout", tmp_path / "stderr"


def test_dev_stdout_process_substitution_and_appending(tmp_path):
    stdout, stderr = standard_links(tmp_path)
    vmci = [sys.executable, "-m", "vmci"] + LIST
    expected = subprocess.run(vmci, cwd=ROOT, capture_output=True, check=True).stdout
    assert expected.count(b"\n") > 20
    for path in (stdout, "/dev/fd/1", "/proc/self/fd/1"):
        piped = shell(f'"$@" -o {path} | cat', *vmci)
        assert (piped.returncode, piped.stdout, piped.stderr) == (0, expected, b""), path
    substituted = tmp_path / "substituted"
    result = shell(f'"$@" -o >(cat > {substituted}); wait', *vmci)
    assert result.returncode == 0 and result.stderr == b"", result
    assert substituted.read_bytes() == expected
    log = tmp_path / "log"  # -o /dev/stdout on a file opened for appending appends, to the same file
    log.write_bytes(b"earlier\n")
    inode = os.stat(log).st_ino
    result = shell(f'"$@" -o {stdout} >> {log}', *vmci)
    assert result.returncode == 0, result
    assert log.read_bytes() == b"earlier\n" + expected and os.stat(log).st_ino == inode
    assert os.path.islink(stdout)
    stderr_copy = shell(f'"$@" -o {stderr} 2>&1 >/dev/null', *vmci)
    assert stderr_copy.stdout == expected


def test_note_to_standard_output_is_the_same_bytes(tmp_path):
    text = tmp_path / "vmcoreinfo.txt"
    text.write_text(TEXT)
    argv = [sys.executable, "-m", "vmci", "note", "--from", str(text), "--arch", "x86_64"]
    to_stdout = subprocess.run(argv + ["--elf-core", "-"], cwd=ROOT, capture_output=True)
    assert to_stdout.returncode == 0, to_stdout
    subprocess.run(argv + ["--elf-core", str(tmp_path / "core")], cwd=ROOT, check=True)
    assert to_stdout.stdout == (tmp_path / "core").read_bytes() and to_stdout.stdout[:4] == b"\x7fELF"
