"""The spec cache (issue 14, item 8; issue 15) is JSON naming only the model's own classes:
a planted file cannot run code, a damaged or foreign one is ignored and rewritten, and
the model and problems read back are those built from the YAML. It remembers each spec
file by its contents, so an edit reloads that file, and every problem is reported again
from the cache."""
import glob
import json
import os
import pickle
import shutil

import pytest
from hardening_support import FIXTURE_SPECS, run_cli
from vmci.spec import load as spec_load
from vmci.spec.lint import check_specs
from vmci.spec.load import _encode, load_checked_specs, load_specs, load_specs_cached


class Planted:
    """Loading a pickle of this runs code: it creates the file named."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def cache_file(cache_dir):
    [path] = glob.glob(os.path.join(cache_dir, "specs-*"))
    return path


def no_yaml(monkeypatch):
    """Make reading any spec file from YAML fail the test: what follows must come from the cache."""
    def refuse(path, shown, *checked):
        raise AssertionError(f"{shown} was read from YAML")
    monkeypatch.setattr(spec_load, "_load_spec_file", refuse)


def test_the_cache_holds_the_model_built_from_the_specs(tmp_path, monkeypatch):
    built, problems = load_specs(FIXTURE_SPECS)
    assert problems == []
    first, _ = load_specs_cached(FIXTURE_SPECS, str(tmp_path))
    path = cache_file(tmp_path)
    assert path.endswith(".json")
    with open(path, "rb") as handle:
        assert json.load(handle)["format"] == "vmci-specs-cache/2"
    no_yaml(monkeypatch)
    again, problems = load_specs_cached(FIXTURE_SPECS, str(tmp_path))
    assert problems == [] and again == built and _encode(again) == _encode(built)


def test_the_shipped_specs_and_their_checks_come_back_whole(tmp_path, monkeypatch):
    """The embedded specs' model, and the lint warnings they have, read back from the cache."""
    built, problems = load_specs()
    checks = check_specs(built)
    assert any(p.severity == "warning" for p in checks)
    load_checked_specs(None, str(tmp_path))
    no_yaml(monkeypatch)
    monkeypatch.setattr("vmci.spec.lint.check_specs", lambda *a: pytest.fail("the checks ran again"))
    again, again_problems, again_checks, _ = load_checked_specs(None, str(tmp_path))
    assert again == built and again_problems == problems and again_checks == checks


def copy_of_fixture(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(FIXTURE_SPECS, specs)
    return specs


def test_an_edit_reloads_that_file_only_and_its_error_is_shown(tmp_path, monkeypatch):
    """validate, warm, right after a spec file was edited: the new error is reported (and
    again on the next, fully warm, run), and the other files come from the cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    specs = copy_of_fixture(tmp_path)
    first = run_cli(["validate", "--specs", str(specs)])
    assert first.code == 0, first
    common = specs / "common.yaml"
    text = common.read_text()
    assert "\nemitter:" in text
    common.write_text(text.replace("\nemitter:", "\nemitter:\n  bogus-field: 1\nx:", 1))
    built, problems = load_specs(str(specs))  # what an uncached validate reports
    expected = "".join(f"{problem}\n" for problem in problems + check_specs(built))
    assert "common.yaml:" in expected and "error" in expected
    loaded = []
    original = spec_load._load_spec_file
    monkeypatch.setattr(spec_load, "_load_spec_file",
                        lambda path, shown, *checked: loaded.append(shown) or original(path, shown, *checked))
    for _ in range(2):
        result = run_cli(["validate", "--specs", str(specs)])
        assert result.code == 1 and result.out == expected, result
    assert [os.path.basename(shown) for shown in loaded] == ["common.yaml"]
    common.write_text(text)
    assert run_cli(["validate", "--specs", str(specs)]).code == 0


def test_a_planted_pickle_is_never_loaded(tmp_path):
    load_specs_cached(FIXTURE_SPECS, str(tmp_path))
    path = cache_file(tmp_path)
    marker = tmp_path / "code-ran"
    for name in (path, path[:-len(".json")] + ".pickle"):
        with open(name, "wb") as handle:
            pickle.dump(Planted(str(marker)), handle)
    specs, problems = load_specs_cached(FIXTURE_SPECS, str(tmp_path))
    assert not marker.exists()
    assert problems == [] and specs == load_specs(FIXTURE_SPECS)[0]


def first_file(text, change):
    """The cache text with the first spec file entry changed by change(entry)."""
    document = json.loads(text)
    shown = sorted(document["files"])[0]
    change(document["files"][shown])
    return json.dumps(document)


@pytest.mark.parametrize("damage", [
    lambda text: text[:len(text) // 2],                       # cut short
    lambda text: "\0" * 100,                                  # not JSON
    lambda text: text.replace('"c":"model.', '"c":"os.', 1),  # a class outside the model
    lambda text: text.replace('"c":"model.Emitter"', '"c":"model.Machine"', 1),  # the wrong root
    lambda text: first_file(text, lambda entry: entry.__setitem__(1, {"c": "subprocess.Popen",
                                                                      "a": {"args": ["touch", "x"]}})),
    lambda text: first_file(text, lambda entry: entry.__setitem__(1, {"t": [1, 2]})),  # not an Emitter
    lambda text: first_file(text, lambda entry: entry.__setitem__(2, [["x.yaml", "1", 1, "m", "error", ""]])),
    lambda text: first_file(text, lambda entry: entry.__setitem__(2, [["x.yaml", 1, 1, "m", "error"]])),
    lambda text: "[" * 100000 + "]" * 100000,                 # nesting past the recursion limit
    lambda text: text.replace(json.loads(text)["key"], "0" * 64),  # another key
    lambda text: text.replace(json.loads(text)["code"], "0" * 64),  # another vmci
])
def test_a_damaged_or_foreign_cache_is_ignored_and_rewritten(tmp_path, damage):
    load_specs_cached(FIXTURE_SPECS, str(tmp_path))
    path = cache_file(tmp_path)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(damage(text))
    specs, problems = load_specs_cached(FIXTURE_SPECS, str(tmp_path))
    assert problems == [] and specs == load_specs(FIXTURE_SPECS)[0]
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == text  # rebuilt and written again


def test_the_spec_caches_stay_bounded(tmp_path, monkeypatch):
    """Every new specs directory adds a cache file; beyond MAX_REMEMBERED_PLACES the
    least recently written go, and nothing else in the cache directory is touched."""
    monkeypatch.setattr(spec_load, "MAX_REMEMBERED_PLACES", 3)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "specs-not-ours.json").write_text("{}")
    (cache / "image-cache.json").write_text("{}")
    for i in range(5):
        directory = tmp_path / f"specs{i}"
        shutil.copytree(FIXTURE_SPECS, directory)
        load_specs_cached(str(directory), str(cache))
    names = sorted(p.name for p in cache.iterdir())
    ours = [n for n in names if n.startswith("specs-") and n != "specs-not-ours.json"]
    assert len(ours) == 3
    assert "specs-not-ours.json" in names and "image-cache.json" in names


def test_the_generate_caches_stay_bounded(tmp_path, monkeypatch):
    """`generate --check` remembers its outputs' digests per specs directory and working
    directory (emit/generate.py output_digests): as many as the spec caches are kept, and
    nothing else in the cache directory is touched."""
    from vmci.emit.generate import default_versions, load_checked_specs as load_for_generate, output_digests

    monkeypatch.setattr(spec_load, "MAX_REMEMBERED_PLACES", 3)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = tmp_path / "xdg" / "vmci"
    cache.mkdir(parents=True)
    (cache / "generate-not-ours.json").write_text("{}")
    answers = []
    for i in range(5):
        directory = tmp_path / f"specs{i}"
        shutil.copytree(FIXTURE_SPECS, directory)
        specs, key = load_for_generate(str(directory))
        answers.append(output_digests(specs, key, default_versions(specs)))
    ours = [p.name for p in cache.iterdir() if p.name.startswith("generate-") and p.name != "generate-not-ours.json"]
    assert len(ours) == 3 and (cache / "generate-not-ours.json").read_text() == "{}"
    assert answers[0] and all(answer == answers[0] for answer in answers)  # the same specs, the same outputs
