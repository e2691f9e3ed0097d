"""`vmci audit consumers`: the keys each dump tool reads that a kernel does not emit.

The reads come from specs/consumers.yaml (tool, key, required, machines, the source
line that reads it). A kernel is a machine, a version and optionally a config; its
keys are the entries select.py picks. Without a config an entry may still depend on
options, and a read it would satisfy is listed as conditional, with the condition.
A read limited to some machines counts only on those.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Sequence, Tuple, Union

from vmci.abi import COMMON_FUNCTION
from vmci.lang.condition import Condition, any_of
from vmci.lang.kconfig import KernelConfig
from vmci.spec.model import ConsumerRead, Emitter, Machine, SpecSet, Version, format_version
from vmci.select import SelectionError, Target, machine_facts, select_entries

Truth = Union[Literal[True], Condition]  # a key is emitted always, or under a condition


@dataclass
class ToolGaps:
    tool: str
    missing_required: List[ConsumerRead] = field(default_factory=list)
    missing_optional: List[ConsumerRead] = field(default_factory=list)
    conditional: List[Tuple[ConsumerRead, Condition]] = field(default_factory=list)
    satisfied: int = 0

    def as_json(self) -> dict:
        def read(r: ConsumerRead) -> dict:
            return {"key": r.key, "required": r.required, "required_when": r.required_when.text or None,
                    "tool_location": r.where or None, "doc": r.note or None}
        return {"tool": self.tool, "satisfied": self.satisfied,
                "missing_required": [read(r) for r in self.missing_required],
                "missing_optional": [read(r) for r in self.missing_optional],
                "conditional": [dict(read(r), condition=str(c)) for r, c in self.conditional]}


@dataclass
class MachineGaps:
    machine: str
    arch: str
    version: Version
    emitted: int  # keys emitted for certain (all of them, with a config)
    conditional_keys: int  # keys that depend on the config (none with a config)
    tools: List[ToolGaps]

    @property
    def required_missing(self) -> int:
        return sum(len(t.missing_required) for t in self.tools)


def machine_targets(specs: SpecSet, version: Version, arch: Optional[str] = None,
                    config: Optional[KernelConfig] = None) -> List[Tuple[Emitter, Machine]]:
    """The (emitter, machine) pairs to report: one machine, one arch's, or all of them."""
    pairs = [(e, m) for e, m in specs.machines() if e.versions.contains(version)]
    if arch is None:
        return pairs
    for emitter, machine in specs.machines():
        if arch == machine.name or arch in machine.aliases:
            return [(emitter, machine)]
    chosen = [(e, m) for e, m in pairs if e.target is not None and e.target.arch == arch]
    if not chosen:
        from vmci.select import find_target
        find_target(specs, arch, config)  # raises the "unknown architecture" error
        raise SelectionError(f"no {arch} spec covers kernel version {format_version(version)}")
    if config is not None:
        decided = [(e, m) for e, m in chosen if m.config.evaluate(config)]
        return decided or chosen
    return chosen


def vmcoreinfo_facts(specs: SpecSet, version: Version) -> Dict[str, Optional[str]]:
    """What any kernel that writes VMCOREINFO at all has set: the Kconfig gate of the file
    holding the common list (CONFIG_CRASH_CORE before 6.9, CONFIG_VMCORE_INFO after)."""
    facts: Dict[str, Optional[str]] = {}
    for emitter in specs.general_emitters():
        source = emitter.source_for(version)
        if source is None or COMMON_FUNCTION not in {f.name for f in emitter.functions}:
            continue
        for name, value in machine_facts(Machine("", [], 0, 0, "", source.gate)).items():
            facts[name] = value
    return facts


def emitted_keys(specs: SpecSet, emitter: Emitter, machine: Machine, version: Version,
                 config: Optional[KernelConfig], phases=("boot", "crash")) -> Dict[str, Truth]:
    """key -> True (always emitted) or the residual condition under which it is.

    Without a config, conditions are simplified by vmcoreinfo_facts: the question is what
    a kernel that has VMCOREINFO emits, not whether it has VMCOREINFO."""
    assert emitter.target is not None  # an architecture's emitter, from SpecSet.machines()
    selected = select_entries(specs, Target(emitter.target.arch, machine, [emitter]), version, config, phases)
    facts = vmcoreinfo_facts(specs, version) if config is None else {}
    keys: Dict[str, Truth] = {}
    for item in selected:
        condition = item.condition
        if not isinstance(condition, bool) and facts:
            condition = condition.simplify(facts)
        if condition is False:
            continue
        previous = keys.get(item.key)
        if previous is True or condition is True:
            keys[item.key] = True
        elif previous is None:
            keys[item.key] = condition
        else:
            keys[item.key] = any_of([previous, condition])
    return keys


def reads_for(specs: SpecSet, machine: Machine) -> Dict[str, List[ConsumerRead]]:
    names = {machine.name, *machine.aliases}
    found: Dict[str, List[ConsumerRead]] = {}
    for tool in specs.tools:
        found[tool] = [r for r in specs.consumers if r.tool == tool and (not r.machines or names & set(r.machines))]
    return found


def is_required(read: ConsumerRead, config: Optional[KernelConfig]) -> bool:
    """Required on this kernel: `required`, and its `required-when` holds for the config
    (without a config, a conditional requirement counts)."""
    if not read.required:
        return False
    return config is None or read.required_when.evaluate(config)


def gaps_for(specs: SpecSet, machine: Machine, keys: Dict[str, Truth],
             config: Optional[KernelConfig] = None) -> List[ToolGaps]:
    result = []
    for tool, reads in reads_for(specs, machine).items():
        gaps = ToolGaps(tool)
        for read in reads:
            truth = keys.get(read.key)
            if truth is None:
                (gaps.missing_required if is_required(read, config) else gaps.missing_optional).append(read)
            elif truth is True:
                gaps.satisfied += 1
            else:
                gaps.conditional.append((read, truth))
        result.append(gaps)
    return result


def audit_consumers(specs: SpecSet, version: Version, arch: Optional[str] = None,
                    config: Optional[KernelConfig] = None) -> List[MachineGaps]:
    report = []
    for emitter, machine in machine_targets(specs, version, arch, config):
        keys = emitted_keys(specs, emitter, machine, version, config)
        assert emitter.target is not None  # an architecture's emitter, from SpecSet.machines()
        report.append(MachineGaps(machine.name, emitter.target.arch, version,
                                  sum(1 for t in keys.values() if t is True),
                                  sum(1 for t in keys.values() if t is not True),
                                  gaps_for(specs, machine, keys, config)))
    return report


def newest_version(specs: SpecSet) -> Version:
    return max(version_bounds(specs))


def version_bounds(specs: SpecSet) -> List[Version]:
    """Every version at which the specs say something changes (since/until anywhere)."""
    bounds = set()
    for emitter in specs.emitters:
        ranges = [emitter.versions] + [s.versions for s in emitter.sources] + \
                 [e.versions for e in emitter.entries()] + [d.versions for d in emitter.defines]
        for versions in ranges:
            for bound in (versions.since, versions.until):
                if bound is not None:
                    bounds.add(bound)
    return sorted(bounds)


def render_text(report: Sequence[MachineGaps], config: Optional[KernelConfig]) -> str:
    out = []
    for machine in report:
        how = f"config {config.source}" if config else "no config: keys that depend on options are conditional"
        out.append(f"{machine.machine} ({machine.arch}), Linux {format_version(machine.version)}, {how}: "
                   f"{machine.emitted} keys emitted" + (f", {machine.conditional_keys} conditional" if machine.conditional_keys else ""))
        for tool in machine.tools:
            out.append(f"  {tool.tool}: {len(tool.missing_required)} required keys missing, "
                       f"{len(tool.missing_optional)} optional keys missing, {len(tool.conditional)} conditional, "
                       f"{tool.satisfied} emitted")
            for read in tool.missing_required:
                out.append(f"    missing, required: {read.key}  ({read.where})")
            for read, condition in tool.conditional:
                kind = "required" if read.required else "optional"
                out.append(f"    only if {condition}, {kind}: {read.key}  ({read.where})")
            for read in tool.missing_optional:
                out.append(f"    missing, optional: {read.key}  ({read.where})")
    return "\n".join(out) + "\n"


def render_json(report: Sequence[MachineGaps], config: Optional[KernelConfig]) -> dict:
    return {
        "config": config.source if config else None,
        "machines": [{"machine": m.machine, "arch": m.arch, "kernel_version": format_version(m.version),
                      "emitted_keys": m.emitted, "conditional_keys": m.conditional_keys,
                      "tools": [t.as_json() for t in m.tools]} for m in report],
    }
