"""Atomic outputs: `resolve -o`, `note -o`/`--elf-core` and `generate` write a temporary
file in the destination directory and rename it; an error or Ctrl-C at any point leaves
the previous file intact and no temporary file behind.

Ctrl-C is simulated where it hurts most, in the middle of writing (KeyboardInterrupt
from the write or the fsync of the temporary file), and sent for real (SIGINT) to a
`vmci resolve` reading a real vmlinux.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from vmci.files import output
from vmci.emit.manifest import NAME as MANIFEST, digest, manifest_text
from hardening_support import (FIXTURE_CONFIG, FIXTURE_SPECS, ROOT, build_fixture, check_one_line_error, have_gcc,
                               run_cli)

PREVIOUS = b"the previous contents\n"


@pytest.fixture(scope="module")
def fixture_image(tmp_path_factory):
    if not have_gcc():
        pytest.skip("gcc is not installed")
    return build_fixture(str(tmp_path_factory.mktemp("hardening-fixture")))


def previous_file(directory, name="out"):
    path = directory / name
    path.write_bytes(PREVIOUS)
    return path


def leftovers(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith(".vmci-") and name.endswith(".tmp"))


def resolve_to(path, vmlinux, *extra):
    return ["resolve", "--vmlinux", str(vmlinux), "--config", FIXTURE_CONFIG, "--specs", FIXTURE_SPECS, "--no-cache",
            "-o", str(path), *extra]


class Interrupt:
    """Raise `error` from the n-th call of the patched function (counting from 1)."""

    def __init__(self, real, error, at=1):
        self.real, self.error, self.at, self.calls = real, error, at, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at:
            raise self.error
        return self.real(*args, **kwargs)


def test_resolve_output_replaced_on_success(fixture_image, tmp_path):
    path = previous_file(tmp_path)
    result = run_cli(resolve_to(path, fixture_image))
    assert result.code == 0, result
    assert path.read_bytes().startswith(b"OSRELEASE=6.1.0-99-fuzz\n")
    assert leftovers(tmp_path) == []


def test_resolve_error_leaves_previous_output(fixture_image, tmp_path):
    path = previous_file(tmp_path)
    damaged = tmp_path / "damaged"
    damaged.write_bytes(open(fixture_image, "rb").read()[:5000])
    check_one_line_error(run_cli(resolve_to(path, damaged)), "resolve", str(damaged))
    assert path.read_bytes() == PREVIOUS
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["fsync", "write"])
def test_ctrl_c_while_writing_resolve_output(fixture_image, tmp_path, monkeypatch, where):
    path = previous_file(tmp_path)
    if where == "fsync":
        monkeypatch.setattr(output.os, "fsync", Interrupt(os.fsync, KeyboardInterrupt()))
    else:  # the first write of the temporary file's stream
        real_fdopen = os.fdopen

        def fdopen(*args, **kwargs):
            stream = real_fdopen(*args, **kwargs)
            return _Failing(stream, KeyboardInterrupt())
        monkeypatch.setattr(output.os, "fdopen", fdopen)
    result = run_cli(resolve_to(path, fixture_image))
    assert result.code == 130 and result.err == "vmci resolve: interrupted\n", result
    assert path.read_bytes() == PREVIOUS
    assert leftovers(tmp_path) == []


class _Failing:
    """A file object whose write() raises, as a full disk or a Ctrl-C would."""

    def __init__(self, stream, error):
        self.stream, self.error = stream, error

    def write(self, data):
        self.stream.write(data[: len(data) // 2])  # half of it got out
        raise self.error

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stream.close()


def test_full_disk_while_writing_resolve_output(fixture_image, tmp_path, monkeypatch):
    path = previous_file(tmp_path)
    real_fdopen = os.fdopen
    monkeypatch.setattr(output.os, "fdopen",
                        lambda *a, **k: _Failing(real_fdopen(*a, **k), OSError(28, "No space left on device")))
    check_one_line_error(run_cli(resolve_to(path, fixture_image)), "resolve",
                         f"{path}: cannot write: No space left on device")
    assert path.read_bytes() == PREVIOUS
    assert leftovers(tmp_path) == []


def test_sigint_to_a_running_resolve(tmp_path):
    """A real Ctrl-C while `vmci resolve` reads a real vmlinux (cold, about a second)."""
    from conftest import GOLD, kernel_path

    release = "6.1.0-57-cloud-amd64"
    path = previous_file(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "vmci", "resolve", "--vmlinux", kernel_path(release),
                                "--config", os.path.join(GOLD, release, "config"), "--no-cache", "-o", str(path)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.6)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert "Traceback" not in err
    if process.returncode == 0:  # it finished first: then the new file is whole
        assert path.read_bytes().startswith(b"OSRELEASE=")
    else:
        # (on a loaded machine the signal can land while vmci still imports: vmci.cli.entry's line)
        assert process.returncode == 130 and err in ("vmci resolve: interrupted\n", "vmci: interrupted\n"), err
        assert path.read_bytes() == PREVIOUS
    assert leftovers(tmp_path) == []


# --- note -o, note --elf-core ------------------------------------------------------------

@pytest.mark.parametrize("option", ["-o", "--elf-core"])
def test_note_outputs(tmp_path, monkeypatch, option):
    text = tmp_path / "vmcoreinfo.txt"
    text.write_text("OSRELEASE=6.1.0\nPAGESIZE=4096\n")
    path = previous_file(tmp_path)
    argv = ["note", "--from", str(text), option, str(path), "--arch", "x86_64"]
    # an unusable input: nothing is written
    result = run_cli(["note", "--from", str(tmp_path / "missing.txt"), option, str(path), "--arch", "x86_64"])
    assert result.code == 2 and len(result.err.splitlines()) == 1, result
    assert path.read_bytes() == PREVIOUS
    # Ctrl-C between writing the temporary file and renaming it
    with monkeypatch.context() as patch:
        patch.setattr(output.os, "fsync", Interrupt(os.fsync, KeyboardInterrupt()))
        result = run_cli(argv)
    assert result.code == 130 and result.err == "vmci note: interrupted\n", result
    assert path.read_bytes() == PREVIOUS
    # the disk fills up while writing
    with monkeypatch.context() as patch:
        real_fdopen = os.fdopen
        patch.setattr(output.os, "fdopen",
                      lambda *a, **k: _Failing(real_fdopen(*a, **k), OSError(28, "No space left on device")))
        check_one_line_error(run_cli(argv), "note", f"{path}: cannot write: No space left on device")
    assert path.read_bytes() == PREVIOUS
    assert leftovers(tmp_path) == []
    result = run_cli(argv)
    assert result.code == 0, result
    assert path.read_bytes() != PREVIOUS
    assert leftovers(tmp_path) == []


# --- generate -------------------------------------------------------------------------------

def test_generate_interrupted_leaves_every_file_whole(tmp_path, monkeypatch):
    """Ctrl-C at the third file: the first two are new, every other one is still the
    previous one, none is half written, no temporary file is left, and the next run
    takes both states as generate's own."""
    directory = tmp_path / "generated"
    result = run_cli(["generate", "-o", str(directory)])
    assert result.code == 0, result
    files = sorted(os.path.relpath(os.path.join(root, name), directory)
                   for root, _, names in os.walk(directory) for name in names if name != MANIFEST)
    assert len(files) > 3
    for name in files:  # what an earlier run with other specs wrote
        (directory / name).write_bytes(PREVIOUS)
    (directory / MANIFEST).write_text(manifest_text({name: digest(PREVIOUS) for name in files}))
    with monkeypatch.context() as patch:  # the first fsync is the manifest's, naming the files to come
        patch.setattr(output.os, "fsync", Interrupt(os.fsync, KeyboardInterrupt(), at=4))
        result = run_cli(["generate", "-o", str(directory)])
    assert result.code == 130 and result.err == "vmci generate: interrupted\n", result
    contents = {name: (directory / name).read_bytes() for name in files}
    assert sum(1 for data in contents.values() if data != PREVIOUS) == 2
    for root, _, names in os.walk(directory):
        assert not [name for name in names if name.startswith(".vmci-") and name.endswith(".tmp")], root
    # and a run that is not interrupted makes them all new, with no file taken for one changed by hand
    result = run_cli(["generate", "-o", str(directory)])
    assert result.code == 0 and "warning" not in result.err, result
    assert all((directory / name).read_bytes() != PREVIOUS for name in files)
    assert "pending" not in (directory / MANIFEST).read_text()


def test_generate_into_an_unwritable_place(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(PREVIOUS)
    result = run_cli(["generate", "-o", str(blocker / "generated")])
    check_one_line_error(result, "generate")
    assert blocker.read_bytes() == PREVIOUS


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_follows_the_umask(tmp_path):
    kept = previous_file(tmp_path, "kept")
    os.chmod(kept, 0o640)
    output.write_atomically(str(kept), b"new\n")
    assert (kept.read_bytes(), os.stat(kept).st_mode & 0o777) == (b"new\n", 0o640)
    for umask, name, mode in ((0o027, "fresh", 0o640), (0o002, "shared", 0o664)):
        old_umask = os.umask(umask)
        try:
            output.write_atomically(str(tmp_path / name), b"new\n")
        finally:
            os.umask(old_umask)
        assert os.stat(tmp_path / name).st_mode & 0o777 == mode
    assert leftovers(tmp_path) == []
