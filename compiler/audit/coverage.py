"""`vmci coverage`: what the specs make each kind of kernel emit, and what the dump tools
then lack, over architectures x kernel versions x the main config variants.

A cell is one machine (uname -m, from the specs' targets), one kernel version and one
config variant. Its config is, all at once:

- what the machine implies (its `config` in the spec, e.g. CONFIG_X86_64, CONFIG_64BIT)
- the base set: the gate of the common list for that version (CONFIG_CRASH_CORE before
  6.9, CONFIG_VMCORE_INFO from 6.9), CONFIG_KEXEC, CONFIG_KEXEC_CORE, CONFIG_CRASH_DUMP
  (some architectures gate their file on them), CONFIG_PRINTK and CONFIG_MMU
- the variant: NUMA on or off; the memory model, one of SPARSEMEM_VMEMMAP (with
  SPARSEMEM and SPARSEMEM_EXTREME), SPARSEMEM_EXTREME (with SPARSEMEM), plain SPARSEMEM
  or FLATMEM; KALLSYMS on (with KALLSYMS_BASE_RELATIVE, which kernels before 6.11 have)
  or off. Before 5.14, mm/Kconfig derived CONFIG_NEED_MULTIPLE_NODES from NUMA and
  CONFIG_FLAT_NODE_MEM_MAP from FLATMEM (both def_bool y), and the specs test those for
  such kernels: a variant sets them with NUMA and FLATMEM.

Everything else is unset. A machine gets only the variants its architecture's Kconfig
offers: its spec's `kconfig-allows` condition (x86_64: CONFIG_SPARSEMEM &&
CONFIG_SPARSEMEM_EXTREME, so no FLATMEM and no plain SPARSEMEM; a condition may hold
for a range of versions) must hold for the variant's config. The versions are every
version at which a spec says something changes, plus 5.10, 6.1, 6.12 and the newest. A
cell counts the entries emitted (the boot-time note
and CRASHTIME, what a kdump carries) and, per tool, the keys consumers.yaml marks
required on that machine that the cell does not emit (its gaps).
"""
from __future__ import annotations

import itertools
import os
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from vmci.abi import COMMON_FUNCTION, PINNED_VERSIONS
from vmci.lang.condition import Condition
from vmci.lang.kconfig import KernelConfig
from vmci.spec.kinds import CallEntry
from vmci.spec.model import Emitter, Machine, SpecLocation, SpecSet, Version, format_version
from vmci.select import SelectionError, check_version, machine_facts
from vmci.audit.consumers import emitted_keys, gaps_for, is_required, reads_for, version_bounds, vmcoreinfo_facts

TEMPLATE = "html/coverage.html.j2"

BASE_OPTIONS = ("CONFIG_KEXEC", "CONFIG_KEXEC_CORE", "CONFIG_CRASH_DUMP", "CONFIG_PRINTK", "CONFIG_MMU")
MEMORY_MODELS = [
    ("SPARSEMEM_VMEMMAP", ("CONFIG_SPARSEMEM", "CONFIG_SPARSEMEM_EXTREME", "CONFIG_SPARSEMEM_VMEMMAP")),
    ("SPARSEMEM_EXTREME", ("CONFIG_SPARSEMEM", "CONFIG_SPARSEMEM_EXTREME")),
    ("SPARSEMEM", ("CONFIG_SPARSEMEM",)),
    ("FLATMEM", ("CONFIG_FLATMEM", "CONFIG_FLAT_NODE_MEM_MAP")),
]


@dataclass(frozen=True)
class Variant:
    numa: bool
    memory_model: str
    kallsyms: bool

    @property
    def name(self) -> str:
        return f"{'NUMA' if self.numa else 'UMA'} {self.memory_model} {'KALLSYMS' if self.kallsyms else 'no-KALLSYMS'}"

    def options(self) -> Dict[str, str]:
        chosen = {"CONFIG_NUMA": "y", "CONFIG_NEED_MULTIPLE_NODES": "y"} if self.numa else {}
        chosen.update({name: "y" for name in dict(MEMORY_MODELS)[self.memory_model]})
        if self.kallsyms:
            chosen.update({"CONFIG_KALLSYMS": "y", "CONFIG_KALLSYMS_BASE_RELATIVE": "y"})
        return chosen


VARIANTS = [Variant(numa, model, kallsyms)
            for numa, (model, _), kallsyms in itertools.product((True, False), MEMORY_MODELS, (True, False))]


@dataclass
class Cell:
    entries: int
    gaps: Dict[str, List[str]]  # tool -> required keys not emitted
    optional_gaps: Dict[str, int]

    @property
    def gap_count(self) -> int:
        return sum(len(keys) for keys in self.gaps.values())


@dataclass
class Row:
    arch: str
    machine: str
    cells: Dict[Tuple[str, str], Optional[Cell]] = field(default_factory=dict)  # (version, variant) -> cell
    variants: List[str] = field(default_factory=list)  # the variants the machine's Kconfig offers
    kconfig_allows: str = ""
    # version -> the spec place a cell rests on: the architecture's source for that version
    # (the kernel file, its gate and versions); the common list's is the column's
    sources: Dict[str, List[SpecLocation]] = field(default_factory=dict)

    def summary(self, version: str) -> Optional[dict]:
        cells = [cell for cell in (self.cells.get((version, v.name)) for v in VARIANTS) if cell]
        if not cells:
            return None
        with_gaps = [c for c in cells if c.gap_count]
        tools: Dict[str, dict] = {}
        for cell in cells:
            for tool, keys in cell.gaps.items():
                if keys:
                    entry = tools.setdefault(tool, {"variants": 0, "keys": set()})
                    entry["variants"] += 1
                    entry["keys"].update(keys)
        return {"min": min(c.entries for c in cells), "max": max(c.entries for c in cells),
                "variants": len(cells), "variants_with_gaps": len(with_gaps),
                "gaps": {tool: {"variants": e["variants"], "keys": sorted(e["keys"])}
                         for tool, e in sorted(tools.items())}}


@dataclass
class Coverage:
    versions: List[str]
    rows: List[Row]
    tools: List[str]
    # version -> the sources of the architecture-independent spec files (common list, printk)
    general_sources: Dict[str, List[SpecLocation]] = field(default_factory=dict)

    @property
    def size(self) -> Tuple[int, int, int]:
        return len(self.rows), len(self.versions), len(VARIANTS)


def coverage_versions(specs: SpecSet) -> List[Version]:
    bounds = version_bounds(specs)
    chosen = set(bounds) | set(PINNED_VERSIONS) | {max(bounds)}
    return sorted(v for v in chosen if _covered(specs, v))


def _covered(specs: SpecSet, version: Version) -> bool:
    try:
        check_version(specs, version)
        return True
    except SelectionError:
        return False


def cell_config(specs: SpecSet, machine: Machine, version: Version, variant: Variant,
                facts: Optional[Dict[str, Optional[str]]] = None,
                implied: Optional[Dict[str, Optional[str]]] = None) -> KernelConfig:
    """The config of one cell; `facts`: vmcoreinfo_facts(specs, version) and `implied`:
    machine_facts(machine), when known."""
    values = {name: "y" for name in BASE_OPTIONS}
    facts = vmcoreinfo_facts(specs, version) if facts is None else facts
    values.update({k: v for k, v in facts.items() if v is not None})
    values.update(variant.options())
    for name, value in (machine_facts(machine) if implied is None else implied).items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return KernelConfig(values, f"{machine.name} {format_version(version)} {variant.name}")


def compute_coverage(specs: SpecSet) -> Coverage:
    """Every cell, computed per machine and variant in one walk of the specs over all
    versions at once (a version set is a bit mask): the cost is linear in the entries
    and in the cells, where a walk per cell was their product (600 entries with ranges
    of their own: 1,200 versions, past 100 s)."""
    versions = coverage_versions(specs)
    names = [format_version(v) for v in versions]
    index = _VersionIndex(versions)
    groups: Dict[tuple, int] = {}  # the facts every kernel of a version has -> its versions
    facts_of = {version: vmcoreinfo_facts(specs, version) for version in versions}
    group_of: Dict[Version, tuple] = {}
    for position, version in enumerate(versions):
        facts = group_of[version] = tuple(sorted(facts_of[version].items(), key=lambda item: item[0]))
        groups[facts] = groups.get(facts, 0) | index.bit(position)
    general = specs.general_emitters()
    general_program = _Program(general, index)
    crash_functions = sorted({f.name for e in general for f in e.functions if f.phase == "crash"})
    rows = []
    for emitter, machine in specs.machines():
        assert emitter.target is not None  # SpecSet.machines() walks the architectures' emitters
        row = Row(emitter.target.arch, machine.name, kconfig_allows="; ".join(
            condition.text + (f" ({versions})" if str(versions) != "all versions" else "")
            for versions, condition in machine.kconfig_allows))
        present = index.mask(emitter.versions) & _first_source_masks(emitter, index)[1]
        functions = general_program.joined(_Program([emitter], index))
        implied = machine_facts(machine)
        # whether a variant is offered depends on the version only through the machine's
        # `kconfig-allows` in force and the version's facts: asked once per such pair
        allowed: Dict[Tuple[Condition, tuple, str], bool] = {}
        by_variant = {variant.name: _variant_cells(specs, machine, variant, index, groups, present, functions,
                                                   crash_functions)
                      for variant in VARIANTS}
        for position, (version, name) in enumerate(zip(versions, names)):
            source = emitter.source_for(version) if emitter.versions.contains(version) else None
            row.sources[name] = [source.where] if source is not None else []
            allows = machine.allows(version)
            for variant in VARIANTS:
                question = (allows, group_of[version], variant.name)
                answer = allowed.get(question)
                if answer is None:
                    answer = allowed[question] = offered(specs, machine, version, variant, facts_of[version], implied)
                if answer:
                    row.cells[(name, variant.name)] = by_variant[variant.name][position]
        row.variants = [v.name for v in VARIANTS if any(name == v.name for _, name in row.cells)]
        rows.append(row)
    general_sources = {name: [source.where for source in (e.source_for(v) for e in general if e.versions.contains(v))
                              if source is not None]
                       for v, name in zip(versions, names)}
    return Coverage(names, rows, sorted(specs.tools), general_sources)


def offered(specs: SpecSet, machine: Machine, version: Version, variant: Variant,
            facts: Optional[Dict[str, Optional[str]]] = None,
            implied: Optional[Dict[str, Optional[str]]] = None) -> bool:
    """Does the machine's Kconfig at `version` let a config choose this variant (its `kconfig-allows`)?"""
    return machine.allows(version).evaluate(cell_config(specs, machine, version, variant, facts, implied))


class _VersionIndex:
    """The coverage versions as bits of an integer, so that the versions a range holds
    are one mask. VersionRange.contains() takes a MAJOR.MINOR version for its whole
    series: against a longer bound 6.1 counts as 6.1.<infinity>; so in the order of
    (major, minor, sublevel or infinity) every range holds a run of versions, found by
    bisection, and bit p is the p-th version in that order."""

    INFINITY = 1 << 62

    def __init__(self, versions: List[Version]):
        self.versions = versions
        order = sorted(range(len(versions)), key=lambda i: self._key(versions[i]))
        self.position_bit = [0] * len(versions)  # position in `versions` -> bit number
        for bit, position in enumerate(order):
            self.position_bit[position] = bit
        self.keys = [self._key(versions[i]) for i in order]
        self.full = (1 << len(versions)) - 1
        self.memo: Dict[object, int] = {}
        self.by_id: Dict[int, Tuple[object, int]] = {}

    @classmethod
    def _key(cls, version: Version) -> tuple:
        return tuple(version) + (cls.INFINITY,) * (3 - len(version))

    def bit(self, position: int) -> int:
        return 1 << self.position_bit[position]

    def _at_least(self, bound: Version) -> int:
        # _cmp(v, bound) >= 0: bound 6.1 is met by 6.1.0 and up; bound 6.1.50 by 6.1.50
        # and up, and by 6.1 itself
        low = tuple(bound) + (-1,) * (3 - len(bound))
        start = bisect_left(self.keys, low)
        return self.full & ~((1 << start) - 1)

    def mask(self, versions) -> int:
        # by identity first (the model's ranges live as long as the index; the range is
        # kept with its mask, so its id is never another's): hashing a range costs more
        # than the walk that asks
        known = self.by_id.get(id(versions))
        if known is not None and known[0] is versions:
            return known[1]
        found = self.memo.get(versions)
        if found is None:
            found = self.full
            if versions.since is not None:
                found &= self._at_least(versions.since)
            if versions.until is not None:
                found &= ~self._at_least(versions.until)
            self.memo[versions] = found
        self.by_id[id(versions)] = (versions, found)
        return found


def _first_source_masks(emitter: Emitter, index: _VersionIndex) -> Tuple[List[int], int]:
    """Per source, the versions it is the one of (Emitter.source_for: the first that
    holds the version), and the versions any source holds."""
    taken, masks = 0, []
    for source in emitter.sources:
        mask = index.mask(source.versions)
        masks.append(mask & ~taken)
        taken |= mask
    return masks, taken


class _Program:
    """The emission program of some emitters as bit masks over the coverage versions:
    per function name, (phase, [(gate, versions it is the source of)], [(versions of the
    entry, its `when`, callee or None, key or None, entry)]). Built once per emitter, so
    the walks per machine, variant and config group only test conditions and masks."""

    def __init__(self, owners: List[Emitter], index: _VersionIndex):
        self.functions: Dict[str, list] = {}
        for owner in owners:
            owner_mask = index.mask(owner.versions)
            sources = [(source.gate, mask & owner_mask)
                       for source, mask in zip(owner.sources, _first_source_masks(owner, index)[0])]
            for function in owner.functions:
                entries = [(index.mask(entry.versions), entry.when, entry.callee if isinstance(entry, CallEntry) else None,
                            entry.key if entry.emits else None, entry) for entry in function.entries]
                self.functions.setdefault(function.name, []).append((function.phase, sources, entries))

    def joined(self, other: _Program) -> Dict[str, list]:
        functions = {name: list(found) for name, found in self.functions.items()}
        for name, found in other.functions.items():
            functions.setdefault(name, []).extend(found)
        return functions


def _emitted_key_masks(functions: Dict[str, list], crash_functions: List[str], config: KernelConfig,
                       versions: int, phases=("boot", "crash")) -> Dict[str, int]:
    """key -> the versions (of `versions`) whose kernel with `config` emits it: select.py's
    walk, done once for a set of versions that share the config."""
    keys: Dict[str, int] = {}
    # A call is walked only where its caller's condition holds, so the condition of an
    # entry (caller's && gate && when) holds exactly where its gate and its `when` do:
    # each condition is evaluated once against this config, no conjunction is built.
    holds: Dict[int, bool] = {}

    def held_by_config(condition: Condition) -> bool:
        found = holds.get(id(condition))
        if found is None:
            found = holds[id(condition)] = condition.evaluate(config)
        return found

    def walk(name: str, mask: int, depth: int, caller=None) -> None:
        if depth > 8:
            where = f"{caller.where}: " if caller is not None else ""
            raise SelectionError(f"{where}calls nest deeper than 8 levels at {name}() (does it call itself?)")
        for phase, sources, entries in functions.get(name, []):
            for gate, source_mask in sources:
                held = mask & source_mask
                if not held or not held_by_config(gate):
                    continue
                for entry_versions, when, callee, key, entry in entries:
                    entry_mask = held & entry_versions
                    if not entry_mask or not held_by_config(when):
                        continue
                    if callee is not None:
                        walk(callee, entry_mask, depth + 1, entry)
                    elif key is not None and phase in phases:
                        keys[key] = keys.get(key, 0) | entry_mask

    walk(COMMON_FUNCTION, versions, 0)
    for name in crash_functions:
        walk(name, versions, 0)
    return keys


def _bit_counts(masks, width: int) -> List[int]:
    """For each bit, how many of the masks have it set: a difference array over the runs
    of set bits, so the cost is in the runs, not in the bits."""
    change = [0] * (width + 1)
    for mask in masks:
        while mask:
            start = (mask & -mask).bit_length() - 1
            shifted = mask >> start
            length = (~shifted & (shifted + 1)).bit_length() - 1
            change[start] += 1
            change[start + length] -= 1
            mask &= ~(((1 << length) - 1) << start)
    counts, running = [], 0
    for delta in change[:width]:
        running += delta
        counts.append(running)
    return counts


def _variant_cells(specs: SpecSet, machine: Machine, variant: Variant, index: _VersionIndex,
                   groups: Dict[tuple, int], present: int, functions: Dict[str, list],
                   crash_functions: List[str]) -> List[Optional[Cell]]:
    """The cells of one machine and variant, one per coverage version (None where the
    machine's spec does not cover it); `functions`: the program of the general emitters
    and the machine's (_Program)."""
    width = len(index.position_bit)
    cells: List[Optional[Cell]] = [None] * width
    reads = reads_for(specs, machine)
    for group_mask in groups.values():
        versions = group_mask & present
        if not versions:
            continue
        positions = [p for p in range(width) if versions >> index.position_bit[p] & 1]
        config = cell_config(specs, machine, index.versions[positions[0]], variant)
        keys = _emitted_key_masks(functions, crash_functions, config, versions)
        counts = _bit_counts(keys.values(), width)
        # per tool, the reads some version of the group misses: (key, required, versions emitting it)
        missable = {tool: [(r.key, is_required(r, config), keys.get(r.key, 0)) for r in tool_reads
                           if keys.get(r.key, 0) & versions != versions]
                    for tool, tool_reads in reads.items()}
        # per tool, the reads no version of the group emits (the same gaps in every cell:
        # most reads are of that kind) and those some versions emit, in the reads' order
        never: Dict[str, Tuple[List[Tuple[int, str]], List[str], int]] = {}
        partly: Dict[str, List[Tuple[int, str, bool, int]]] = {}
        for tool, tool_reads in missable.items():
            required = [(i, key) for i, (key, needed, emitted) in enumerate(tool_reads)
                        if needed and not emitted & versions]
            optional = sum(1 for _, needed, emitted in tool_reads if not needed and not emitted & versions)
            never[tool] = (required, [key for _, key in required], optional)
            partly[tool] = [(i, key, needed, emitted) for i, (key, needed, emitted) in enumerate(tool_reads)
                            if emitted & versions]
        for position in positions:
            bit = index.position_bit[position]
            gaps: Dict[str, List[str]] = {}
            optional_gaps: Dict[str, int] = {}
            for tool, (required, required_keys, optional) in never.items():
                gone = [(i, key, needed) for i, key, needed, emitted in partly[tool] if not emitted >> bit & 1]
                if not gone:
                    gaps[tool], optional_gaps[tool] = list(required_keys), optional
                    continue
                gaps[tool] = [key for _, key in sorted(required + [(i, key) for i, key, needed in gone if needed])]
                optional_gaps[tool] = optional + sum(1 for _, _, needed in gone if not needed)
            cells[position] = Cell(counts[bit], gaps, optional_gaps)
    return cells


def _cell(specs: SpecSet, emitter: Emitter, machine: Machine, version: Version, variant: Variant) -> Optional[Cell]:
    if not emitter.versions.contains(version) or emitter.source_for(version) is None:
        return None
    config = cell_config(specs, machine, version, variant)
    keys = emitted_keys(specs, emitter, machine, version, config)
    gaps = gaps_for(specs, machine, keys, config)
    return Cell(len(keys), {g.tool: [r.key for r in g.missing_required] for g in gaps},
                {g.tool: len(g.missing_optional) for g in gaps})


# --- output ------------------------------------------------------------------------------------

def render_text(coverage: Coverage) -> str:
    width = max(len(row.machine) for row in coverage.rows) + 2
    header = " " * width + "".join(f"{v:>11}" for v in coverage.versions)
    out = [f"vmci coverage: {len(coverage.rows)} machines x {len(coverage.versions)} versions x the config "
           f"variants (of {len(VARIANTS)}) each machine's Kconfig offers; a cell is entries min-max over the variants, "
           f"then !N when N variants leave a required key of some tool unemitted", header]
    for row in coverage.rows:
        cells = []
        for version in coverage.versions:
            summary = row.summary(version)
            if summary is None:
                cells.append(f"{'-':>11}")
                continue
            span = f"{summary['min']}-{summary['max']}"
            mark = f"!{summary['variants_with_gaps']}" if summary["variants_with_gaps"] else ""  # noqa
            cells.append(f"{span + mark:>11}")
        out.append(f"{row.machine:<{width}}" + "".join(cells))
    return "\n".join(out) + "\n"


def render_json(coverage: Coverage) -> dict:
    return {
        "definition": __doc__.split("\n\n", 1)[1].strip(),
        "base_options": list(BASE_OPTIONS),
        "variants": [{"name": v.name, "options": v.options()} for v in VARIANTS],
        "versions": coverage.versions,
        "tools": coverage.tools,
        "machines": [{
            "arch": row.arch, "machine": row.machine, "kconfig_allows": row.kconfig_allows or None,
            "variants": row.variants,
            "summary": {version: row.summary(version) for version in coverage.versions},
            "cells": [{"kernel_version": version, "variant": variant.name,
                       "entries": cell.entries, "gaps": cell.gaps, "optional_gaps": cell.optional_gaps}
                      for (version, variant_name), cell in row.cells.items() if cell is not None
                      for variant in [next(v for v in VARIANTS if v.name == variant_name)]],
        } for row in coverage.rows],
    }


def render_html(coverage: Coverage, specs_directory: str, page_directory: str) -> str:
    """The self-contained page, to be written in `page_directory`: each cell links to the
    spec lines behind it, relative to there; the page names no absolute path."""
    from vmci.emit.render import environment

    template = environment().get_template(TEMPLATE)
    base = os.path.relpath(os.path.abspath(specs_directory), os.path.abspath(page_directory)).replace(os.sep, "/")

    def link(where: SpecLocation) -> dict:
        relative = os.path.relpath(os.path.abspath(where.file), os.path.abspath(specs_directory)).replace(os.sep, "/")
        return {"href": f"{base}/{relative}#L{where.line}", "label": f"{relative}:{where.line}"}

    return template.render(
        coverage=coverage, variants=VARIANTS, base_options=BASE_OPTIONS, memory_models=MEMORY_MODELS,
        summary_of=lambda row, version: row.summary(version),
        cell_of=lambda row, version, variant: row.cells.get((version, variant.name)),
        offered=lambda row: [v for v in VARIANTS if v.name in row.variants],
        spec_links=lambda row, version: [link(where) for where in row.sources.get(version, [])],
        general_links=lambda version: [link(where) for where in coverage.general_sources.get(version, [])],
        specs_href=base + "/", short=short_names(coverage.tools), size=coverage.size,
        gap_index=gap_index(coverage))


def short_names(tools: List[str]) -> Dict[str, str]:
    """The shortest prefix that tells each tool from the others (makedumpfile: m), for
    marks that must fit a narrow cell; the page's legend spells them out."""
    shorts = {}
    for tool in tools:
        for length in range(1, len(tool) + 1):
            prefix = tool[:length]
            if not any(other != tool and other.startswith(prefix) for other in tools):
                shorts[tool] = prefix
                break
    return shorts


def gap_index(coverage: Coverage) -> List[dict]:
    """Per tool and required key: the machines and versions where some variant lacks it."""
    found: Dict[Tuple[str, str], Dict[str, List[str]]] = {}
    for row in coverage.rows:
        for version in coverage.versions:
            summary = row.summary(version)
            for tool, gap in (summary or {}).get("gaps", {}).items():
                for key in gap["keys"]:
                    found.setdefault((tool, key), {}).setdefault(row.machine, []).append(version)
    return [{"tool": tool, "key": key,
             "where": [{"machine": machine, "versions": _ranges(versions, coverage.versions)}
                       for machine, versions in machines.items()]}
            for (tool, key), machines in sorted(found.items())]


def _ranges(chosen: List[str], ordered: List[str]) -> str:
    """"6.1-6.8, 7.0" from a subset of the ordered versions."""
    runs, current = [], []
    for version in ordered:
        if version in chosen:
            current.append(version)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return ", ".join(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
