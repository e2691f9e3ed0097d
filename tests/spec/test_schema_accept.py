"""The compiled schema (vmci.spec.schema_accept) accepts exactly what jsonschema accepts.

validate_document asks the compiled schema first and jsonschema only for a document it
refuses, so a document the compiled one wrongly accepted would go unchecked. These tests
hold the two to the same answer on the shipped specs and on every single mutation of a
cut-down copy of each (a member dropped, added or replaced by values chosen to cross
each keyword's edge), and on a schema that uses a keyword the compiler lacks.
"""
import copy
import json
import os

import jsonschema
import pytest

from conftest import ROOT
from vmci.spec import schema
from vmci.spec.digest import spec_files
from vmci.spec.schema_accept import UnsupportedSchema, compile_acceptor, json_equal
from vmci.spec.yamlsource import load_document

SPECS = os.path.join(ROOT, "specs")
LEVEL = "vmci-1"


def _jsonschema_accepts(data):
    return not any(True for _ in schema._validator(LEVEL).iter_errors(data))


def _documents():
    return [load_document(path, os.path.relpath(path, SPECS)) for path in spec_files(SPECS)]


def test_the_shipped_schema_is_valid_and_compiles():
    jsonschema.Draft202012Validator.check_schema(schema.schema_for(LEVEL))
    assert schema._acceptor(LEVEL) is not None


def test_every_shipped_spec_is_accepted_by_both():
    accepts = schema._acceptor(LEVEL)
    documents = _documents()
    assert len(documents) >= 11
    for document in documents:
        assert accepts(document.data), document.path
        assert _jsonschema_accepts(document.data), document.path


def _cut_down(data):
    """The document with every list cut to a few members, keeping one entry of each kind
    (the entries' rules differ by kind): small enough to mutate member by member."""
    data = copy.deepcopy(data)
    for function in data.get("functions", []):
        kept, kinds = [], set()
        for entry in function.get("entries", []):
            if entry.get("kind") not in kinds:
                kinds.add(entry.get("kind"))
                kept.append(entry)
        function["entries"] = kept
    data["functions"] = data.get("functions", [])[:2]
    for name, value in data.items():
        if isinstance(value, list) and name != "functions":
            data[name] = value[:3]
    return data


KINDS = ["osrelease", "build-id", "pagesize", "symbol", "symbol-array", "size", "struct-size", "offset",
         "type-offset", "length", "number", "config", "append", "call", "statement"]
# values chosen to cross the keywords' edges: types (true is no integer, 64.0 is one),
# patterns (a trailing newline, which Python's `$` would let through), lengths, enums
REPLACEMENTS = [None, True, False, 0, 1, -1, 64, 64.0, 1.5, 70000, "", "x", "X", "6.1", "6.1\n", "6.1.2.3",
                "CONFIG_X", "CONFIG_X && CONFIG_Y", "a b", "foo.c", "mm/foo.c", "linux/mm.h", "u64", "0x10",
                "y" * 65, "z" * 2001, [], ["x"], [{}], {}, {"name": "x"}, "symbol", "boot", "crash",
                "LINE_TOO_LONG", "little"]


def _mutations(node, path=()):
    """(path, a copy-and-change function) for every single change of the document."""
    if isinstance(node, dict):
        for key in list(node):
            yield path + (key,), ("drop", None)
        yield path + ("unknown-field",), ("set", "x")
        for key, value in node.items():
            if key == "kind":
                for kind in KINDS:
                    yield path + (key,), ("set", kind)
            yield from _mutations(value, path + (key,))
    elif isinstance(node, list):
        if node:
            yield path + (0,), ("drop", None)
            yield path + (len(node),), ("set", copy.deepcopy(node[0]))  # a duplicate member
        for index, value in enumerate(node):
            yield from _mutations(value, path + (index,))
    if path:
        for value in REPLACEMENTS:
            yield path, ("set", value)


def _apply(data, path, change):
    data = copy.deepcopy(data)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    action, value = change
    last = path[-1]
    if action == "drop":
        del parent[last]
    elif isinstance(parent, list) and last == len(parent):
        parent.append(value)
    else:
        parent[last] = value
    return data


def _compare(stride):
    """Every `stride`-th single mutation of every shipped spec file, both schemas asked."""
    accepts = schema._acceptor(LEVEL)
    checked = refused = 0
    for document in _documents():
        base = _cut_down(document.data)
        assert accepts(base) and _jsonschema_accepts(base), document.path
        for number, (path, change) in enumerate(_mutations(base)):
            if number % stride:
                continue
            mutated = _apply(base, path, change)
            expected = _jsonschema_accepts(mutated)
            assert accepts(mutated) == expected, (document.path, path, change)
            checked += 1
            refused += not expected
    return checked, refused


def test_a_sample_of_single_mutations_gets_the_same_answer():
    checked, refused = _compare(stride=37)
    # the mutations reach both answers, many times each
    assert refused > 100 and checked - refused > 100, (checked, refused)


def test_every_single_mutation_gets_the_same_answer():
    """The whole campaign (conftest.FUZZ_CAMPAIGNS: the slow lane and CI run it)."""
    checked, refused = _compare(stride=1)
    assert refused > 5000 and checked - refused > 2000, (checked, refused)


def test_a_keyword_the_compiler_lacks_leaves_the_schema_to_jsonschema():
    with pytest.raises(UnsupportedSchema):
        compile_acceptor({"type": "object", "patternProperties": {"^x": {}}}, schema._compiled)
    with pytest.raises(UnsupportedSchema):
        compile_acceptor({"type": "strnig"}, schema._compiled)
    with pytest.raises(UnsupportedSchema):
        compile_acceptor({"$ref": "https://example.com/other.json"}, schema._compiled)
    with pytest.raises(UnsupportedSchema):
        compile_acceptor({"pattern": "("}, schema._compiled)


def test_json_equality_keeps_booleans_apart_from_numbers():
    assert json_equal(1, 1.0) and json_equal([1, {"a": 2}], [1.0, {"a": 2}])
    assert not json_equal(True, 1) and not json_equal(0, False) and not json_equal([True], [1])
    assert not json_equal({"a": 1}, {"a": 1, "b": 2}) and not json_equal("1", 1)


def test_a_document_the_compiled_schema_refuses_gets_jsonschema_s_errors():
    """The fast path changes no message: a refused document is described by jsonschema."""
    document = _documents()[0]
    broken = copy.deepcopy(document.data)
    broken["functions"][0]["entries"][0]["kind"] = "nonsense"
    document.data = broken
    problems = schema.validate_document(document)
    assert problems and any("'nonsense' is not one of" in problem.message for problem in problems)
    json.dumps([problem.message for problem in problems])  # plain text
