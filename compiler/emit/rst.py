"""The reference of every entry, generated from the specs' descriptions, in the format of
the kernel's Documentation/admin-guide/kdump/vmcoreinfo.rst: a section for the common
entries (kernel/vmcore_info.c and printk's hook) and one per architecture, a heading per
key, its description, then for each way a kernel emits it the kernel C, the condition,
the versions and whether the value is fixed only at run time; then who reads it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

from vmci.emit.c import call_text, statement
from vmci.spec.kinds import Entry
from vmci.spec.model import Emitter, SpecSet


@dataclass
class Variant:
    doc: str
    c: str
    format: str
    condition: str
    versions: str
    runtime: str
    spec: str


@dataclass
class KeyView:
    key: str
    variants: List[Variant]
    consumers: str


@dataclass
class SectionView:
    title: str
    doc: str
    arches: str
    specs: List[str]
    keys: List[KeyView] = field(default_factory=list)


def _consumers(specs: SpecSet, key: str) -> str:
    tools: Dict[str, List[str]] = {}
    for read in specs.readers_of(key):
        notes = tools.setdefault(read.tool, [])
        required = "required" + (f" when {read.required_when.text}" if read.required_when.text else "")
        if read.required and required not in notes:
            notes.append(required)
        if read.machines:
            notes.append("on " + ", ".join(read.machines))
    if not tools:
        return "no known dump tool"
    return ", ".join(f"{tool} ({'; '.join(notes)})" if notes else tool for tool, notes in sorted(tools.items()))


def _variant(entry: Entry, spec_path: str) -> Variant:
    return Variant(entry.doc or "(The spec gives no description.)", call_text(*statement(entry)),
                   entry.format, entry.when.text or "always", str(entry.versions), entry.runtime or "", spec_path)


def section(specs: SpecSet, title: str, doc: str, arches: str, emitters: List[Emitter],
            spec_paths: Dict[str, str]) -> SectionView:
    view = SectionView(title, doc, arches, [spec_paths[e.path] for e in emitters])
    by_key: Dict[str, KeyView] = {}
    for emitter in emitters:
        for entry in emitter.entries():
            if not entry.emits:
                continue
            spec = f"{spec_paths[emitter.path]}:{entry.where.line}"
            if entry.key not in by_key:
                by_key[entry.key] = KeyView(entry.key, [], _consumers(specs, entry.key))
                view.keys.append(by_key[entry.key])
            by_key[entry.key].variants.append(_variant(entry, spec))
    return view


def reference_view(specs: SpecSet, spec_paths: Dict[str, str]) -> List[SectionView]:
    general = specs.general_emitters()
    sections = [section(specs, "Common variables", "Appended by every kernel, whatever its architecture.",
                        "all", general, spec_paths)]
    for emitter in specs.emitters:
        if emitter.target is None:
            continue
        machines = ", ".join(m.name for m in emitter.target.machines)
        sections.append(section(specs, emitter.name, emitter.doc, f"{emitter.target.arch} ({machines})",
                                [emitter], spec_paths))
    return sections
