"""`vmci coverage` run again with the same specs and vmci says again what it said
(cli/memo.py); any change to a spec file runs it again, and the HTML page, whose links
depend on where it is written, is never replayed.

To tell a replay from a run, a memo's text is replaced by a marker: a run that prints the
marker was replayed, one that prints the coverage was not.
"""
import json
import os
import shutil
import subprocess
import sys

from conftest import ROOT, json_document

MARKER = "REPLAYED FROM THE MEMO"


def run(cache, *args):
    result = subprocess.run([sys.executable, "-m", "vmci", "coverage", *args], cwd=ROOT, capture_output=True,
                            text=True, env=dict(os.environ, XDG_CACHE_HOME=str(cache)), timeout=600)
    return result.returncode, result.stdout, result.stderr


def memos(cache):
    directory = cache / "vmci"
    return sorted(directory.glob("coverage-*.json")) if directory.is_dir() else []


def mark(memo):
    document = json.loads(memo.read_text())
    document["said"] = [["output", MARKER]]
    memo.write_text(json.dumps(document))


def test_a_second_run_says_what_the_first_said(tmp_path):
    for format in ("json", "text"):
        first = run(tmp_path, "--format", format)
        assert first[0] == 0, first[2]
        second = run(tmp_path, "--format", format)
        assert second == first
    assert len(memos(tmp_path)) == 2  # one per format
    json_document(first[1] if format == "json" else run(tmp_path, "--format", "json")[1], "coverage")
    for memo in memos(tmp_path):
        mark(memo)
    assert {run(tmp_path, "--format", format)[1] for format in ("json", "text")} == {MARKER}


def test_an_edited_spec_is_computed_again(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(os.path.join(ROOT, "specs"), specs)
    cache = tmp_path / "cache"
    before = run(cache, "--specs", str(specs), "--format", "json")
    assert before[0] == 0, before[2]
    mark(memos(cache)[0])
    # the same size and modification time, other contents: only the contents tell
    spec = specs / "arch" / "x86_64.yaml"
    text = spec.read_text()
    status = spec.stat()
    gate = "gate: CONFIG_X86_64 && CONFIG_VMCORE_INFO"
    assert gate in text
    spec.write_text(text.replace(gate, gate.replace("X86_64", "X86_46")))
    os.utime(spec, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert spec.stat().st_size == status.st_size
    after = run(cache, "--specs", str(specs), "--format", "json")
    assert after[0] == 0 and MARKER not in after[1], after[2]
    assert after[1] != before[1]  # x86_64's file is no longer built from 6.9 on: its cells change
    # what a cache that never saw these specs computes
    assert after == run(tmp_path / "fresh-cache", "--specs", str(specs), "--format", "json")


def test_the_html_page_is_not_replayed(tmp_path):
    page = tmp_path / "coverage.html"
    assert run(tmp_path, "--format", "html", "-o", str(page))[0] == 0
    assert run(tmp_path, "--format", "html", "-o", str(page))[0] == 0
    assert memos(tmp_path) == [] and "<html" in page.read_text()[:200].lower()


def test_the_coverage_memos_kept_are_bounded(tmp_path):
    """A report is 1.2 MB of JSON: only the newest MAX_MEMOS["coverage"] spec states are
    kept, and no other file of the cache directory is touched."""
    from vmci.cli.memo import MAX_MEMOS

    specs = tmp_path / "specs"
    shutil.copytree(os.path.join(ROOT, "specs"), specs)
    cache = tmp_path / "cache"
    (cache / "vmci").mkdir(parents=True)
    other = cache / "vmci" / f"resolve-{'a' * 32}.json"
    other.write_text("not coverage's")
    for edit in range(MAX_MEMOS["coverage"] + 2):
        with open(specs / "common.yaml", "a") as handle:
            handle.write(f"# edit {edit}\n")
        assert run(cache, "--specs", str(specs))[0] == 0
    assert len(memos(cache)) == MAX_MEMOS["coverage"] == 8
    assert other.read_text() == "not coverage's"
