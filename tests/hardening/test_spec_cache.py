"""The spec cache (issue 14, item 8) is JSON naming only the model's own classes: a
planted file cannot run code, a damaged or foreign one is ignored and rewritten, and the
model read back is the model built from the YAML."""
import glob
import json
import os
import pickle

import pytest

from hardening_support import FIXTURE_SPECS

from vmci.spec.load import _encode, load_specs, load_specs_cached


class Planted:
    """Loading a pickle of this runs code: it creates the file named."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def cache_file(cache_dir):
    [path] = glob.glob(os.path.join(cache_dir, "specs-*"))
    return path


def test_the_cache_holds_the_model_built_from_the_specs(tmp_path):
    built, problems = load_specs(FIXTURE_SPECS)
    assert problems == []
    first, _ = load_specs_cached(FIXTURE_SPECS, str(tmp_path))
    path = cache_file(tmp_path)
    assert path.endswith(".json")
    with open(path, "rb") as handle:
        assert json.load(handle)["format"] == "vmci-specs-cache/1"
    again, problems = load_specs_cached(FIXTURE_SPECS, str(tmp_path))
    assert problems == [] and again == built and _encode(again) == _encode(built)


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


@pytest.mark.parametrize("damage", [
    lambda text: text[:len(text) // 2],                       # cut short
    lambda text: "\0" * 100,                                  # not JSON
    lambda text: text.replace('"c":"model.', '"c":"os.', 1),  # a class outside the model
    lambda text: text.replace('"c":"model.SpecSet"', '"c":"model.Emitter"', 1),  # the wrong root
    lambda text: json.dumps({"format": "vmci-specs-cache/1", "key": json.loads(text)["key"],
                             "model": {"c": "subprocess.Popen", "a": {"args": ["touch", "x"]}}}),
    lambda text: json.dumps({"format": "vmci-specs-cache/1", "key": json.loads(text)["key"],
                             "model": {"t": [1, 2]}}),  # valid JSON, not a SpecSet
    lambda text: "[" * 100000 + "]" * 100000,                 # nesting past the recursion limit
    lambda text: text.replace(json.loads(text)["key"], "0" * 64),  # another key
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
