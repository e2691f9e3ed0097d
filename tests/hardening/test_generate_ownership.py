"""`vmci generate -o DIR` touches only what it wrote: the manifest DIR/.vmci-manifest.json
records each file it wrote with its SHA-256; only those are ever replaced or removed, a
file changed by hand since is left alone with a warning, and a directory it does not own
(no manifest, not empty) is written into only with --force. A file merely quoting
generate's marker phrase is never touched, and no symbolic link under DIR is followed.

The fixture specs (12 files) keep each run short; the real specs' generated/ carries its
manifest too (`generate --check` of the checkout, tests/emit/test_generate.py).
"""
import hashlib
import json
import os
import shutil

import pytest

from hardening_support import FIXTURE_SPECS, ROOT, check_no_traceback, check_one_line_error, run_cli
from vmci.emit.render import MARKER

MANIFEST = ".vmci-manifest.json"
QUOTING = f"The header says \"{MARKER}\"; this note only quotes it.\n".encode()
PATCHED = f"/* {MARKER} from specs/common.yaml */\n/* and then patched by hand */\n".encode()


def generate(directory, *extra, specs=FIXTURE_SPECS):
    return run_cli(["generate", "--specs", str(specs), "-o", str(directory), *extra])


def snapshot(directory):
    """Every entry under `directory` (not following links): path -> bytes, link target or kind."""
    found = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, directory)
            if os.path.islink(path):
                found[relative] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                found[relative] = ("dir",)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    found[relative] = handle.read()
            else:
                found[relative] = ("other", os.lstat(path).st_mode)
    return found


def manifest_of(directory):
    with open(os.path.join(directory, MANIFEST), encoding="utf-8") as handle:
        return json.load(handle)


def warnings(result):
    return [line for line in result.err.splitlines() if ": warning: " in line]


@pytest.fixture
def owned(tmp_path):
    """A directory generate created and owns."""
    directory = tmp_path / "generated"
    result = generate(directory)
    assert result.code == 0, result
    return directory


# --- a directory generate does not own ------------------------------------------------------

def kernel_tree_like(directory):
    (directory / "kernel").mkdir(parents=True)
    (directory / "kernel" / "vmcore_info.c").write_bytes(PATCHED)
    (directory / "notes.txt").write_bytes(QUOTING)
    (directory / "Makefile").write_bytes(b"VERSION = 6\nPATCHLEVEL = 9\n")
    (directory / "c").mkdir()
    (directory / "c" / "vmcoreinfo_note.c").write_bytes(PATCHED)  # at one of generate's own paths


def checkout_like(directory):
    """`vmci generate -o .` at the root of a checkout used to remove 45 files."""
    shutil.copytree(os.path.join(ROOT, "generated"), directory / "generated")
    (directory / "compiler" / "emit").mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "compiler", "emit", "render.py"), directory / "compiler" / "emit" / "render.py")
    assert MARKER.encode() in (directory / "compiler" / "emit" / "render.py").read_bytes()


@pytest.mark.parametrize("make", [kernel_tree_like, checkout_like])
def test_a_directory_it_does_not_own_needs_force(tmp_path, make):
    directory = tmp_path / "tree"
    make(directory)
    before = snapshot(directory)
    result = generate(directory)
    check_one_line_error(result, "generate", str(directory), "--force")
    assert snapshot(directory) == before
    # --force writes the outputs (replacing what is at their paths) and records them; it
    # removes nothing, whatever mentions the marker
    result = generate(directory, "--force")
    assert result.code == 0, result
    after = snapshot(directory)
    for path, data in before.items():
        if path not in manifest_of(directory)["files"]:
            assert after[path] == data, path
    assert set(after) >= set(before)


def test_a_forced_directory_is_owned_afterwards_but_only_for_what_was_written(tmp_path):
    directory = tmp_path / "tree"
    kernel_tree_like(directory)
    assert generate(directory, "--force").code == 0
    assert generate(directory).code == 0  # now it has a manifest: no --force needed
    files = manifest_of(directory)["files"]
    assert "c/vmcoreinfo_note.c" in files and "kernel/vmcore_info.c" not in files
    assert (directory / "kernel" / "vmcore_info.c").read_bytes() == PATCHED
    assert (directory / "notes.txt").read_bytes() == QUOTING


def test_an_empty_or_new_directory_is_taken(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for directory in (empty, tmp_path / "new" / "deeper"):
        result = generate(directory)
        assert result.code == 0, result
        assert set(manifest_of(directory)["files"]) == {p for p in snapshot(directory)
                                                         if os.path.isfile(directory / p) and p != MANIFEST}


# --- the manifest -----------------------------------------------------------------------------

def test_the_manifest_records_every_file_with_its_hash_and_is_deterministic(owned, tmp_path, monkeypatch):
    manifest = manifest_of(owned)
    assert list(manifest) == ["format", "files"] and manifest["format"] == "vmci-manifest/1"
    files = manifest["files"]
    # the fixture's 13 outputs: kernel C, the note builder, the rst reference and the Python
    # package (with its copies of vmci's runtime.py and abi.py)
    assert list(files) == sorted(files) and len(files) == 13 and "python/vmcoreinfo/abi.py" in files
    for path, digest in files.items():
        assert digest == "sha256:" + hashlib.sha256((owned / path).read_bytes()).hexdigest(), path
    other = tmp_path / "elsewhere"
    monkeypatch.chdir(tmp_path)
    assert generate("elsewhere").code == 0
    assert (other / MANIFEST).read_bytes() == (owned / MANIFEST).read_bytes()


def test_the_checked_in_generated_directory_has_its_manifest():
    directory = os.path.join(ROOT, "generated")
    files = manifest_of(directory)["files"]
    on_disk = {os.path.relpath(os.path.join(root, name), directory).replace(os.sep, "/")
               for root, dirs, names in os.walk(directory) for name in names
               if "__pycache__" not in root and name != MANIFEST}
    assert set(files) == on_disk


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not a vmci manifest"),
    ('{"format": "vmci-manifest/9", "files": {}}', "vmci-manifest/9"),
    ('{"format": "vmci-manifest/1", "files": {"../outside.c": "sha256:' + "0" * 64 + '"}}', "../outside.c"),
    ('{"format": "vmci-manifest/1", "files": {"/etc/passwd": "sha256:' + "0" * 64 + '"}}', "/etc/passwd"),
    ('{"format": "vmci-manifest/1", "files": {"c/x.c": "md5:1"}}', "c/x.c"),
    ('{"format": "vmci-manifest/1", "files": []}', "files"),
])
def test_a_damaged_manifest_is_one_line_and_nothing_is_touched(owned, text, fragment):
    (owned / MANIFEST).write_text(text)
    (owned / "rst" / "vmcoreinfo.rst").write_bytes(b"old\n")
    before = snapshot(owned)
    for extra in ((), ("--check",)):
        result = generate(owned, *extra)
        check_one_line_error(result, "generate", str(owned / MANIFEST), fragment)
        assert snapshot(owned) == before


def test_a_manifest_that_is_not_a_regular_file(owned, tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_bytes((owned / MANIFEST).read_bytes())
    (owned / MANIFEST).unlink()
    os.symlink(victim, owned / MANIFEST)
    check_one_line_error(generate(owned), "generate", str(owned / MANIFEST), "symbolic link")
    assert os.path.islink(owned / MANIFEST)
    (owned / MANIFEST).unlink()
    os.mkfifo(owned / MANIFEST)
    check_one_line_error(generate(owned), "generate", str(owned / MANIFEST), "FIFO")


# --- files changed by hand, files no longer generated -----------------------------------------

def test_a_file_changed_by_hand_is_left_alone_with_a_warning(owned):
    edited = owned / "rst" / "vmcoreinfo.rst"
    edited.write_bytes(b"my notes\n")
    (owned / "c" / "vmcoreinfo_note.c").unlink()  # a deleted file of its own is written again
    result = generate(owned)
    check_no_traceback(result)
    assert result.code == 1, result
    assert warnings(result) == [f"vmci generate: warning: {edited}: changed since vmci generate wrote it; "
                                f"left alone (--force overwrites it)"], result
    assert edited.read_bytes() == b"my notes\n"
    assert (owned / "c" / "vmcoreinfo_note.c").exists()
    # the warning stays until the user decides
    assert generate(owned).code == 1
    result = generate(owned, "--force")
    assert result.code == 0 and warnings(result) == [], result
    assert edited.read_bytes() != b"my notes\n"
    assert generate(owned, "--check").code == 0


def test_only_files_it_wrote_are_removed(owned):
    """A file generate wrote and no longer generates is removed; one changed by hand
    since is kept (and is the user's from then on); anything else is never looked at."""
    manifest = manifest_of(owned)
    old = {"c/5.0/kernel/vmcore_info.c": PATCHED, "c/5.0/kernel/edited.c": PATCHED}
    for path, data in old.items():
        (owned / path).parent.mkdir(parents=True, exist_ok=True)
        (owned / path).write_bytes(data)
        manifest["files"][path] = "sha256:" + hashlib.sha256(data).hexdigest()
    (owned / MANIFEST).write_text(json.dumps(manifest))
    (owned / "c" / "5.0" / "kernel" / "edited.c").write_bytes(b"changed by hand\n")
    (owned / "c" / "stray.c").write_bytes(PATCHED)  # carries the marker, never written by generate
    (owned / "NOTES").write_bytes(QUOTING)
    result = generate(owned, "--check")
    assert result.code == 1
    assert f"{owned}/c/5.0/kernel/vmcore_info.c: no longer generated" in result.out.splitlines(), result
    assert "stray" not in result.out and "NOTES" not in result.out
    result = generate(owned)
    assert result.code == 1, result
    assert warnings(result) == [f"vmci generate: warning: {owned}/c/5.0/kernel/edited.c: changed since vmci generate "
                                f"wrote it; not removed, and no longer generate's"], result
    assert not (owned / "c" / "5.0" / "kernel" / "vmcore_info.c").exists()
    assert (owned / "c" / "5.0" / "kernel" / "edited.c").read_bytes() == b"changed by hand\n"
    assert (owned / "c" / "stray.c").read_bytes() == PATCHED and (owned / "NOTES").read_bytes() == QUOTING
    assert "c/5.0/kernel/edited.c" not in manifest_of(owned)["files"]
    assert generate(owned).code == 0  # said once


def test_a_file_at_a_new_output_path_that_it_did_not_write(owned):
    """An owned directory, but the file at one of the paths is not in the manifest (the
    user put it there): left alone like a file changed by hand."""
    manifest = manifest_of(owned)
    del manifest["files"]["rst/vmcoreinfo.rst"]
    (owned / MANIFEST).write_text(json.dumps(manifest))
    (owned / "rst" / "vmcoreinfo.rst").write_bytes(b"the user's\n")
    result = generate(owned)
    assert result.code == 1 and warnings(result) == [
        f"vmci generate: warning: {owned}/rst/vmcoreinfo.rst: not written by vmci generate; "
        f"left alone (--force overwrites it)"], result
    assert (owned / "rst" / "vmcoreinfo.rst").read_bytes() == b"the user's\n"


def test_a_file_already_as_generated_is_taken_without_a_word(owned):
    """What an interrupted run leaves: a file written but not yet recorded."""
    manifest = manifest_of(owned)
    del manifest["files"]["rst/vmcoreinfo.rst"]
    (owned / MANIFEST).write_text(json.dumps(manifest))
    result = generate(owned)
    assert result.code == 0 and warnings(result) == [], result
    assert "rst/vmcoreinfo.rst" in manifest_of(owned)["files"]


def test_a_chosen_kernel_version_keeps_the_other_records(owned):
    before = manifest_of(owned)
    result = generate(owned, "--kernel-version", "6.9")
    assert result.code == 0, result
    assert manifest_of(owned) == before


# --- links and other files under DIR ---------------------------------------------------------

def test_a_symlinked_subdirectory_is_not_followed(owned, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(owned / "c", outside)
    (outside / "vmcoreinfo_note.c").write_bytes(b"someone else's file\n")
    shutil.rmtree(owned / "c")
    os.symlink(outside, owned / "c")
    before = snapshot(outside)
    manifest = manifest_of(owned)
    manifest["files"]["c/5.0/gone.c"] = "sha256:" + hashlib.sha256(PATCHED).hexdigest()
    (outside / "5.0").mkdir()
    (outside / "5.0" / "gone.c").write_bytes(PATCHED)
    before = snapshot(outside)
    (owned / MANIFEST).write_text(json.dumps(manifest))
    result = generate(owned)
    check_no_traceback(result)
    assert result.code == 1, result
    assert snapshot(outside) == before
    assert warnings(result) and all(f"{owned}/c: a symbolic link" in line for line in warnings(result)), result
    assert os.path.islink(owned / "c")


def test_a_symlinked_file_is_not_followed(owned, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes((owned / "rst" / "vmcoreinfo.rst").read_bytes() + b"edited\n")
    (owned / "rst" / "vmcoreinfo.rst").unlink()
    os.symlink(victim, owned / "rst" / "vmcoreinfo.rst")
    before = victim.read_bytes()
    for extra in ((), ("--force",)):
        result = generate(owned, *extra)
        assert result.code == 1, result
        assert warnings(result) == [f"vmci generate: warning: {owned}/rst/vmcoreinfo.rst: a symbolic link; "
                                    f"generate does not write through links; left alone"], result
        assert victim.read_bytes() == before and os.path.islink(owned / "rst" / "vmcoreinfo.rst")
    result = generate(owned, "--check")
    assert f"{owned}/rst/vmcoreinfo.rst: a symbolic link" in result.out, result


@pytest.mark.parametrize("check", [False, True])
def test_a_fifo_at_an_output_path_does_not_hang(owned, check):
    path = owned / "python" / "vmcoreinfo" / "x86_64.py"
    path.unlink()
    os.mkfifo(path)
    result = run_cli(["generate", "--specs", FIXTURE_SPECS, "-o", str(owned)] + (["--check"] if check else []),
                     seconds=20)
    check_no_traceback(result)
    assert result.code == 1, result
    if check:
        assert f"{path}: not a regular file (a FIFO)" in result.out.splitlines(), result
    else:
        assert warnings(result) == [f"vmci generate: warning: {path}: not a regular file (a FIFO); left alone"], result
    assert os.path.exists(path) and not os.path.isfile(path)


def test_the_output_directory_itself_may_be_a_link(tmp_path):
    """DIR is what the user named: a link to it is followed (only links under it are not)."""
    real = tmp_path / "real"
    os.symlink(real, tmp_path / "link")
    real.mkdir()
    assert generate(tmp_path / "link").code == 0
    assert (real / MANIFEST).exists() and os.path.islink(tmp_path / "link")


def test_the_manifest_is_valid_for_its_schema_and_the_schema_refuses_what_generate_refuses(owned):
    import jsonschema
    from vmci.jsonformat import check

    check(manifest_of(owned))
    digest = "sha256:" + "0" * 64
    for path in ("../outside.c", "/etc/passwd", "c//x.c", "c/./x.c", "c/"):
        bad = {"format": "vmci-manifest/1", "files": {path: digest}}
        with pytest.raises(jsonschema.ValidationError):
            check(bad)
        (owned / MANIFEST).write_text(json.dumps(bad))
        check_one_line_error(generate(owned), "generate", str(owned / MANIFEST), "not a path inside")
