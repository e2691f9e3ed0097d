"""vmci export: the entry database as JSON and CSV. Every key of every gold note (what
real Debian kernels wrote) is in it for that kernel's version and machine, and the
records, filtered the way docs/export.md says (version range, machine, condition and
file gate under the kernel's real config), give exactly the keys that kernel wrote.
docs/export.md's jq line and Python snippet run here and print what the doc shows."""
import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import GOLD_RELEASES, ROOT, gold, json_document, run_vmci
from vmci.emit.export import CSV_COLUMNS
from vmci.lang.condition import Condition
from vmci.lang.kconfig import KernelConfig
from vmci.spec.model import VersionRange, parse_kernel_version, parse_version

DOC = os.path.join(ROOT, "docs", "export.md")


@pytest.fixture(scope="module")
def database():
    code, out, err = run_vmci("export")
    assert code == 0, err
    return json_document(out, "export")


def version_range(record):
    return VersionRange(parse_version(record["since"]) if record["since"] else None,
                        parse_version(record["until"]) if record["until"] else None)


def emitted(record, machine, version, config):
    """Does a kernel of this machine, version and config write the record's line (docs/export.md)?"""
    if machine not in record["machines"] or not version_range(record).contains(version):
        return False
    if not Condition.parse(record["condition"]).evaluate(config):
        return False
    gates = [f["gate"] for f in record["files"]
             if VersionRange(parse_version(f["since"]) if f["since"] else None,
                             parse_version(f["until"]) if f["until"] else None).contains(version)]
    return any(Condition.parse(gate).evaluate(config) for gate in gates)


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_every_key_of_every_gold_note_is_exported_for_its_kernel(database, release):
    meta, text, config_path = gold(release)
    version = parse_kernel_version(meta["kernel_version"])
    machine = meta["vmci_arch"]
    keys = [line.split("=", 1)[0] for line in text.splitlines()]
    for key in keys:
        records = [r for r in database["entries"] if r["key"] == key]
        assert records, f"{key} is not exported at all"
        assert any(machine in r["machines"] and version_range(r).contains(version) for r in records), \
            (key, [(r["arch"], r["since"], r["until"]) for r in records])
    config = KernelConfig.from_file(config_path)
    boot_records = [r for r in database["entries"] if r["phase"] == "boot"]
    exported = {r["key"] for r in boot_records if emitted(r, machine, version, config)}
    assert exported == set(keys), (sorted(exported - set(keys)), sorted(set(keys) - exported))


def test_records_carry_what_the_specs_say(database):
    [crashtime] = [r for r in database["entries"] if r["key"] == "CRASHTIME"]
    assert crashtime["phase"] == "crash" and crashtime["arch"] is None
    [mem_section] = [r for r in database["entries"] if r["key"] == "SYMBOL(mem_section)"]
    assert mem_section["condition"] == "CONFIG_SPARSEMEM" and mem_section["value_format"] == "%lx"
    [kimage_voffset] = [r for r in database["entries"] if r["key"] == "NUMBER(kimage_voffset)"]
    assert kimage_voffset["runtime"] is True and "KASLR" in kimage_voffset["runtime_reason"]
    assert kimage_voffset["arch"] == "arm64" and "aarch64" in kimage_voffset["machines"]
    assert {"tool": "makedumpfile", "required": True} == \
        {k: v for k, v in next(c for c in mem_section["consumers"] if c["tool"] == "makedumpfile").items()
         if k in ("tool", "required")}
    with open(os.path.join(ROOT, "specs", mem_section["spec"]["file"])) as handle:
        line = handle.read().splitlines()[mem_section["spec"]["line"] - 1]
    assert "mem_section" in line or "symbol" in line, line
    x86_64 = [r for r in database["entries"] if r["spec"]["file"] == "arch/x86_64.yaml"]
    assert x86_64 and all(r["arch"] == "x86" and r["machines"][0] == "x86_64" and "i686" not in r["machines"] for r in x86_64)
    i386 = [r for r in database["entries"] if r["spec"]["file"] == "arch/x86_32.yaml"]
    assert i386 and all(r["arch"] == "x86" and "i686" in r["machines"] and "x86_64" not in r["machines"] for r in i386)
    assert {t["tool"] for t in database["tools"]} >= {"makedumpfile", "crash", "drgn", "libkdumpfile"}


def test_spec_places_are_relative_to_the_specs_directory_from_anywhere(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vmci", "export", "--specs", os.path.join(ROOT, "specs")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    files = {r["spec"]["file"] for r in json.loads(result.stdout)["entries"]}
    assert "common.yaml" in files and "arch/x86_64.yaml" in files and not any(f.startswith(("/", "..")) for f in files)


def test_csv_has_the_documented_header_and_one_row_per_entry(database):
    code, out, err = run_vmci("export", "--format", "csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == CSV_COLUMNS
    with open(DOC) as handle:
        assert ",".join(CSV_COLUMNS) in handle.read().split("\n")
    assert [row[0] for row in rows[1:]] == [r["key"] for r in database["entries"]]
    by_key = {row[0]: dict(zip(CSV_COLUMNS, row)) for row in rows[1:]}
    assert by_key["SYMBOL(mem_section)"]["condition"] == "CONFIG_SPARSEMEM"
    assert "makedumpfile" in by_key["SYMBOL(mem_section)"]["required_by"].split()


def doc_examples():
    """(language, code, shown output) of each example in docs/export.md's last section."""
    with open(DOC) as handle:
        text = handle.read().split("## Which kernels emit key X", 1)[1]
    return re.findall(r"```(sh|python)\n(.*?)```\n\n```text\n(.*?)```", text, re.S)


def test_the_docs_examples_print_what_the_doc_shows():
    examples = doc_examples()
    assert [language for language, _, _ in examples] == ["sh", "python"]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    for language, code, shown in examples:
        command = ["bash", "-c", code] if language == "sh" else [sys.executable, "-c", code]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        assert result.stdout == shown, (result.stdout, shown)


def test_bad_specs_and_unwritable_output(tmp_path):
    code, out, err = run_vmci("export", "--specs", os.path.join(ROOT, "tests", "data", "bad_specs"))
    assert code == 1 and out == "" and err and "Traceback" not in err
    code, out, err = run_vmci("export", "-o", str(tmp_path / "missing" / "entries.json"))
    assert code == 2 and len(err.splitlines()) == 1 and "missing" in err and "cannot write" in err
