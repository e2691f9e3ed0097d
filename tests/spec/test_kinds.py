"""The entry kinds (spec/kinds.py): every registered kind is known to the schema with the
fields its class reads, and is handled by every stage: the C emitter (whose C the audit
reads back as the same entry), the Python emitter, lint's line widths and resolve's
value shapes. `vmci list` shows for each entry the very statement of the generated C."""
import dataclasses
import json
import os
import re

import pytest
from conftest import ROOT, json_document, run_vmci
from vmci import abi
from vmci.audit.csource import scan_c_file
from vmci.audit.source import entry_for
from vmci.emit import c as emit_c
from vmci.emit import python as emit_python
from vmci.emit.generate import outputs
from vmci.spec.kinds import Entry, ValueShape
from vmci.spec.load import load_specs

SCHEMA = os.path.join(ROOT, "specs", "schema", "vmci-1.json")
LINE_SHAPES = {ValueShape.INTEGER, ValueShape.STRING, ValueShape.BUILD_ID, ValueShape.FLAG}


@pytest.fixture(scope="module")
def specs():
    specs, problems = load_specs(os.path.join(ROOT, "specs"))
    assert not [p for p in problems if p.severity == "error"]
    return specs


@pytest.fixture(scope="module")
def entry_schema():
    with open(SCHEMA, encoding="utf-8") as handle:
        return json.load(handle)["$defs"]["entry"]


def _branches(entry_schema, kind):
    """The schema's if/then branches that apply to entries of one kind."""
    for branch in entry_schema["allOf"]:
        condition = branch["if"]["properties"]["kind"]
        if kind in condition.get("enum", [condition.get("const")]):
            yield branch["then"]


def test_the_schemas_kind_enum_is_the_registry(entry_schema):
    assert sorted(entry_schema["properties"]["kind"]["enum"]) == sorted(Entry.registry)


@pytest.mark.parametrize("kind", sorted(Entry.registry))
def test_the_schema_gives_each_kind_the_fields_its_class_reads(entry_schema, kind):
    cls = Entry.registry[kind]
    branches = list(_branches(entry_schema, kind))
    required = {name for then in branches for name in then.get("required", ())}
    allowed = {name for then in branches for name in then.get("properties", {})}
    assert required == set(cls.yaml_fields)
    assert allowed == set(cls.yaml_fields) | set(cls.optional_yaml_fields)


def _entries(specs):
    return [entry for emitter in specs.emitters for entry in emitter.entries()]


def test_every_kind_is_used_by_a_shipped_spec(specs):
    """So the stage checks below see each kind at least once."""
    assert {entry.kind for entry in _entries(specs)} == set(Entry.registry)


def _audited(text):
    """What the audit reads from one statement of kernel C."""
    scanned = scan_c_file("kinds.c", f"void kinds(void)\n{{\n\t{text};\n}}\n")
    assert len(scanned.emissions) == 1, text
    found, why = entry_for(scanned.emissions[0])
    assert found is not None, f"{text}: {why}"
    return found


def test_every_entry_goes_through_every_stage(specs):
    for entry in _entries(specs):
        shape = entry.value_shape
        assert isinstance(shape, ValueShape), entry.where
        assert (shape in LINE_SHAPES) == entry.emits, entry.where
        if shape is ValueShape.INTEGER:  # resolve converts the value to the conversion's C type
            assert entry.format in abi.CONVERSIONS, entry.where
        if entry.emits:  # lint knows how long the line can get
            assert entry.format in abi.FORMAT_WIDTH, entry.where
        text = emit_c.c_text(entry)
        assert emit_python.entry_call(entry)
        if entry.calls():  # a call, or the static helper that appends the line before 5.14
            assert text == f"{entry.calls()}()"
            entry = dataclasses.replace(entry, helper="") if entry.emits else None
            if entry is None:
                continue
            text = emit_c.c_text(entry)
        if not entry.emits:
            continue
        found = _audited(text)
        assert (found.kind, found.key, found.format) == (entry.kind, entry.key, entry.format), text
        assert len(found.c_macro_args()) == len(entry.c_macro_args()), text


def test_the_audit_refuses_a_macro_with_the_wrong_number_of_arguments():
    scanned = scan_c_file("kinds.c", "void kinds(void)\n{\n\tVMCOREINFO_OFFSET(page);\n}\n")
    assert entry_for(scanned.emissions[0]) == (None, "VMCOREINFO_OFFSET takes 2 arguments, the tree passes 1")


def test_list_shows_the_statement_of_the_generated_c_for_every_entry(specs):
    """One C rendering: `vmci list`'s "c" is, for every entry of 6.1 x86_64, a statement
    of the C that generate writes for 6.1 (wrapped lines joined)."""
    code, out, err = run_vmci("list", "--arch", "x86_64", "--kernel-version", "6.1", "--format", "json")
    assert code == 0, err
    listed = json_document(out, "list")["entries"]
    statements = set()
    for output in outputs(specs, [(6, 1)]):
        if output.path.startswith("c/6.1/"):
            joined = re.sub(r",\n[\t ]+", ", ", output.text)
            statements |= {line.strip() for line in joined.splitlines()}
    assert len(listed) > 100
    missing = [(e["key"], e["c"]) for e in listed if e["c"] + ";" not in statements]
    assert not missing
    assert 'vmcoreinfo_append_str("KERNELOFFSET=%lx\\n", kaslr_offset());' in statements
