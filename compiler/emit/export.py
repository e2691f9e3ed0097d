"""`vmci export`: the whole entry database, for other tools (docs/export.md).

One record per spec entry that writes a VMCOREINFO line: its key, kind and value format;
the kernel versions it is emitted in (the entry's range within its spec file's); the
architecture (none: every architecture) and the machines of that architecture; its
Kconfig condition and, per kernel file that emits it, the file's Kbuild gate; the
function that appends it and when it runs (boot, or crash for CRASHTIME); the value's
runtime reason when the kernel fixes it only at boot; which dump tools read it
(specs/consumers.yaml) and its place in the specs, relative to the specs directory.
JSON (`vmci-export/1`) or CSV with a fixed header (CSV_COLUMNS).
"""
from __future__ import annotations

import csv
import io
from typing import List, Optional

from vmci.jsonformat import document, spec_location
from vmci.spec.kinds import Entry
from vmci.spec.model import Emitter, SpecSet, VersionRange, format_version

# The CSV header, in order. Lists are joined with spaces (machines, consumers) or "; "
# (files); an empty field is "none" for since/until/arch/condition.
CSV_COLUMNS = ["key", "kind", "value_format", "since", "until", "arch", "machines", "condition", "files",
               "function", "phase", "runtime_reason", "consumers", "required_by", "spec"]


def _version(version) -> Optional[str]:
    return format_version(version) if version is not None else None


def _intersect(a: VersionRange, b: VersionRange) -> VersionRange:
    since = max((v for v in (a.since, b.since) if v is not None), default=None)
    until = min((v for v in (a.until, b.until) if v is not None), default=None)
    return VersionRange(since, until)


def _condition(condition) -> Optional[str]:
    return condition.text or None


def _files(emitter: Emitter, versions: VersionRange) -> List[dict]:
    """The kernel files (with their gates) the entry is written from, within its versions."""
    found = []
    for source in emitter.sources:
        if not source.versions.overlaps(versions):
            continue
        span = _intersect(source.versions, versions)
        found.append({"file": source.file, "gate": _condition(source.gate),
                      "since": _version(span.since), "until": _version(span.until)})
    return found


def export_records(specs: SpecSet) -> List[dict]:
    every_machine = [name for _, machine in specs.machines() for name in _names(machine)]
    records = []
    for emitter in specs.emitters:
        phases = {function.name: function.phase for function in emitter.functions}
        for entry in emitter.entries():
            if not entry.emits:
                continue
            versions = _intersect(entry.versions, emitter.versions)
            reads = specs.readers_of(entry.key)
            records.append({
                "key": entry.key,
                "kind": entry.kind,
                "value_format": _value_format(entry),
                "since": _version(versions.since),
                "until": _version(versions.until),
                "arch": emitter.target.arch if emitter.target else None,
                "machines": [n for m in emitter.target.machines for n in _names(m)] if emitter.target else every_machine,
                "condition": _condition(entry.when),
                "files": _files(emitter, versions),
                "function": entry.function,
                "phase": phases.get(entry.function, "boot"),
                "runtime": entry.runtime is not None,
                "runtime_reason": entry.runtime,
                "consumers": [{"tool": read.tool, "required": read.required,
                               "required_when": _condition(read.required_when), "machines": read.machines,
                               "tool_location": read.where} for read in reads],
                "spec": spec_location(entry.where, specs.directory),
            })
    return records


def _names(machine) -> List[str]:
    """A machine's uname -m name and its aliases (i386: i486, i586, i686)."""
    return [machine.name] + [alias for alias in machine.aliases if alias != machine.name]


def _value_format(entry: Entry) -> str:
    return getattr(entry, "append_format", "") or entry.format


def render_json(specs: SpecSet, records: List[dict]) -> str:
    tools = [{"tool": name, "repository": info.get("repository"), "commit": info.get("commit")}
             for name, info in specs.tools.items()]
    return document("export", {"tools": tools, "entries": records})


def render_csv(records: List[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        files = "; ".join(
            f"{f['file']} [{f['gate'] or 'always'}]" + (f" since {f['since']}" if f["since"] else "")
            + (f" until {f['until']}" if f["until"] else "") for f in record["files"])
        tools = sorted({read["tool"] for read in record["consumers"]})
        required = sorted({read["tool"] for read in record["consumers"] if read["required"]})
        spec = record["spec"]
        writer.writerow([record["key"], record["kind"], record["value_format"], record["since"] or "none",
                         record["until"] or "none", record["arch"] or "none", " ".join(record["machines"]),
                         record["condition"] or "none", files, record["function"], record["phase"],
                         record["runtime_reason"] or "", " ".join(tools), " ".join(required),
                         f"{spec['file']}:{spec['line']}"])
    return out.getvalue()
