"""The stable JSON (docs/json.md): every document names its format and validates against
its schema; spec places are relative to the specs directory whatever the working
directory; `vmci list`'s C is the statement the generated kernel file holds."""
import os
import re
import subprocess
import sys

import pytest

from conftest import DATA, ROOT, gold, json_document, run_vmci
from vmci.jsonformat import FORMAT_VERSIONS, check, schema

AMD64 = "6.1.0-57-cloud-amd64"


def test_every_format_has_a_schema_that_is_itself_valid():
    import jsonschema

    for command in FORMAT_VERSIONS:
        document_schema = schema(command)
        jsonschema.Draft202012Validator.check_schema(document_schema)
        assert document_schema["properties"]["format"] == {"const": f"vmci-{command}/1"}


def test_a_document_of_another_format_or_with_a_wrong_member_is_refused():
    import jsonschema

    code, out, _ = run_vmci("validate", "--format", "json")
    payload = json_document(out, "validate")
    with pytest.raises(jsonschema.ValidationError):
        check(dict(payload, format="vmci-validate/2"))
    with pytest.raises(jsonschema.ValidationError):
        check(dict(payload, errors="none"))


def test_validate_gives_its_problems_as_data():
    code, out, err = run_vmci("validate", "--format", "json")
    assert code == 0, err
    payload = json_document(out, "validate")
    assert payload["errors"] == 0 and payload["spec_files"] >= 10 and payload["entries"] > 150
    assert payload["warnings"] == len(payload["problems"])
    code, out, _ = run_vmci("validate", os.path.join(DATA, "bad_specs"), "--format", "json")
    assert code == 1
    payload = json_document(out, "validate")
    errors = [p for p in payload["problems"] if p["severity"] == "error"]
    assert len(errors) == payload["errors"] > 20
    yaml_syntax = [p for p in errors if p["spec"]["file"] == "01-yaml-syntax.yaml"]
    assert yaml_syntax and yaml_syntax[0]["message"].startswith("YAML syntax")
    # the text output says the same, one problem a line
    _, text, _ = run_vmci("validate", os.path.join(DATA, "bad_specs"))
    assert len(text.splitlines()) == len(payload["problems"])


def run_in(cwd, *args):
    result = subprocess.run([sys.executable, "-m", "vmci", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


@pytest.mark.parametrize("specs", ["embedded", "checkout"])
def test_spec_places_do_not_depend_on_the_working_directory(tmp_path, specs):
    config = os.path.abspath(gold(AMD64)[2])
    extra = [] if specs == "embedded" else ["--specs", os.path.join(ROOT, "specs")]
    args = ["list", "--arch", "x86_64", "--kernel-version", "6.1", "--config", config, "--format", "json", *extra]
    here, elsewhere = run_in(ROOT, *args), run_in(str(tmp_path), *args)
    assert here == elsewhere
    entries = json_document(here, "list")["entries"]
    files = {entry["spec"]["file"] for entry in entries}
    assert files == {"common.yaml", "printk.yaml", "arch/x86_64.yaml"}


def normalized(text):
    return re.sub(r"\s+", "", text)


def test_list_gives_the_c_the_generated_file_holds():
    code, out, err = run_vmci("list", "--arch", "x86_64", "--kernel-version", "6.1", "--format", "json")
    assert code == 0, err
    entries = json_document(out, "list")["entries"]
    generated = ""
    for path in ("generated/c/6.1/kernel/crash_core.c", "generated/c/6.1/kernel/printk/printk.c",
                 "generated/c/6.1/arch/x86/kernel/crash_core_64.c"):
        with open(os.path.join(ROOT, path)) as handle:
            generated += normalized(handle.read())
    for entry in entries:
        assert normalized(entry["c"]) + ";" in generated, entry["c"]
    appended = [e for e in entries if e["kind"] == "append"]
    # the kernel's own words (arch/x86/kernel/crash_core_64.c in 6.1)
    assert any(e["c"] == 'vmcoreinfo_append_str("KERNELOFFSET=%lx\\n", kaslr_offset())' for e in appended)


def test_documents_are_written_as_json_dumps_writes_them():
    """jsonformat writes indented JSON by its own one-pass writer: the text is json.dumps'
    (indent=2, ensure_ascii=False) byte for byte, for a whole real document and for the
    values it leaves to json.dumps (floats that are no number, non-string keys, subclasses)."""
    import enum
    import json

    from vmci.jsonformat import dumps_indented

    code, out, _ = run_vmci("coverage", "--format", "json")
    assert code in (0, 1)
    coverage = json.loads(out)
    assert len(coverage["machines"]) > 10
    assert dumps_indented(coverage) + "\n" == out == json.dumps(coverage, indent=2, ensure_ascii=False) + "\n"

    class Flag(int, enum.Enum):
        ON = 1

    values = [{}, [], [[]], {"a": {}}, "x", ["é\u2028\x00\"\\", "b"], {"k\n": [1, -2, 0.1, 1e300, True, None]},
              (1, "t"), {"inf": float("inf")}, [float("nan")], {1: "non-string key"}, [Flag.ON], {"a": [{"b": ["c"]}]}]
    for value in values:
        assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False), value
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_indented(cycle)
