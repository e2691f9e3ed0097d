"""Pick the entries that apply to one kernel, in the order the kernel emits them.

A kernel is an architecture (the kernel's ARCH, narrowed to a machine when the name or
the config says which), a version, and optionally a config. The walk starts at the
common boot function and follows `call` entries into printk's hook and the
architecture's arch_crash_save_vmcoreinfo(), exactly as the kernel's calls run. Each
entry's effective condition is the Makefile gate of the file that holds it for that
version, its own `when`, and what the machine implies; with a config it is decided,
without one it is simplified as far as the machine allows and shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from vmci.abi import COMMON_FUNCTION
from vmci.lang.condition import Condition, Not, Symbol
from vmci.lang.kconfig import KernelConfig
from vmci.spec.kinds import CallEntry, Entry
from vmci.spec.model import Define, Emitter, Function, ImageBase, Machine, SpecSet, Version, format_version
from vmci.errors import UnusableInput


class SelectionError(UnusableInput):
    """A request the specs cannot answer (unknown arch, version out of range)."""


@dataclass
class Target:
    """What `--arch` named: the kernel ARCH and, when known, the machine."""

    arch: str
    machine: Optional[Machine]
    emitters: List[Emitter]


@dataclass
class SelectedEntry:
    entry: Entry
    emitter: Emitter
    condition: Union[bool, Condition]  # True, or the residual condition when no config was given

    @property
    def key(self) -> str:
        return self.entry.key


def find_target(specs: SpecSet, name: str, config: Optional[KernelConfig] = None) -> Target:
    """Map an --arch name (kernel ARCH or a machine name/alias) to emitters and machine."""
    for emitter, machine in specs.machines():
        if name == machine.name or name in machine.aliases:
            assert emitter.target is not None  # machines() walks the architectures' emitters
            return Target(emitter.target.arch, machine, [emitter])
    emitters = specs.arch_emitters(name)
    if not emitters:
        known = sorted({e.target.arch for e in specs.emitters if e.target} |
                       {n for _, m in specs.machines() for n in [m.name] + m.aliases})
        raise SelectionError(f"unknown architecture {name!r}; the specs know: {', '.join(known)}")
    if config is not None:
        for emitter in emitters:
            for machine in emitter.target.machines if emitter.target else ():
                if machine.config.evaluate(config):
                    return Target(name, machine, [emitter])
    return Target(name, None, emitters)


def find_target_by_elf(specs: SpecSet, e_machine: int, elf_class: int, endianness: str) -> Target:
    for emitter, machine in specs.machines():
        if (machine.elf_machine, machine.elf_class, machine.endianness) == (e_machine, elf_class, endianness):
            assert emitter.target is not None  # machines() walks the architectures' emitters
            return Target(emitter.target.arch, machine, [emitter])
    raise SelectionError(f"no spec describes ELF machine {e_machine} ({elf_class}-bit {endianness}-endian)")


def check_version(specs: SpecSet, version: Version) -> None:
    if not any(e.versions.contains(version) for e in specs.general_emitters()):
        ranges = ", ".join(sorted({str(e.versions) for e in specs.general_emitters()}))
        raise SelectionError(f"kernel version {format_version(version)} is outside every spec's range ({ranges})")


def unaudited_warning(specs: SpecSet, version: Version) -> Optional[str]:
    """What to tell when `version` is newer than the specs were audited against: the
    answer is still given, but what that kernel changed is not in it."""
    audited = specs.unaudited(version)
    if audited is None:
        return None
    newest, where = audited
    return (f"Linux {format_version(version)} is newer than {format_version(newest)}, the newest version these "
            f"specs were audited against ({where}); entries it added or changed are not described")


def vmcoreinfo_source(specs: SpecSet, version: Version):
    """The source (file and Makefile gate) of the common list for a version, or None.

    Its gate is the option without which a kernel writes no VMCOREINFO at all:
    CONFIG_CRASH_CORE (kernel/crash_core.c) before 6.9, CONFIG_VMCORE_INFO
    (kernel/vmcore_info.c) from 6.9; /proc/kcore and crash-dump support select it."""
    for emitter in specs.general_emitters():
        if emitter.versions.contains(version) and any(f.name == COMMON_FUNCTION for f in emitter.functions):
            return emitter.source_for(version)
    return None


def check_builds_vmcoreinfo(specs: SpecSet, version: Version, config: KernelConfig) -> None:
    """Refuse a config with which the kernel writes no VMCOREINFO: an empty list would
    read as an answer."""
    source = vmcoreinfo_source(specs, version)
    if source is None or source.gate.evaluate(config):
        return
    unset = [name for name in sorted(source.gate.symbols()) if not Condition.parse(name).evaluate(config)]
    raise SelectionError(f"{config.source}: this config builds no VMCOREINFO: {source.file}, which writes it in "
                         f"Linux {format_version(version)}, is built only with {source.gate} ({source.where}); "
                         f"the config does not set {', '.join(unset) or 'it'}")


def machine_facts(machine: Optional[Machine]) -> Dict[str, Optional[str]]:
    """The CONFIG_ values a machine name fixes (its condition's top-level conjuncts)."""
    facts: Dict[str, Optional[str]] = {}
    for atom in machine.config.conjuncts() if machine is not None else ():
        if isinstance(atom, Symbol):
            facts[atom.name] = "y"
        elif isinstance(atom, Not) and isinstance(atom.operand, Symbol):
            facts[atom.operand.name] = None
    return facts


def select_entries(specs: SpecSet, target: Target, version: Version,
                   config: Optional[KernelConfig] = None, phases=("boot",)) -> List[SelectedEntry]:
    check_version(specs, version)
    if config is not None:
        check_builds_vmcoreinfo(specs, version, config)
    facts = machine_facts(target.machine)
    functions: Dict[str, List[Tuple[Emitter, Function]]] = {}
    for emitter in specs.general_emitters() + target.emitters:
        if not emitter.versions.contains(version):
            continue
        for function in emitter.functions:
            functions.setdefault(function.name, []).append((emitter, function))

    selected: List[SelectedEntry] = []

    def decide(condition: Condition):
        if config is not None:
            return condition.evaluate(config)
        return condition.simplify(facts)

    def walk(name: str, inherited: Condition, depth: int, caller=None) -> None:
        if depth > 8:
            where = f"{caller.where}: " if caller is not None else ""
            raise SelectionError(f"{where}calls nest deeper than 8 levels at {name}() (does it call itself?)")
        for emitter, function in functions.get(name, []):
            source = emitter.source_for(version)
            if source is None:
                continue
            for entry in function.entries:
                if not entry.versions.contains(version):
                    continue
                condition = inherited & source.gate & entry.when
                verdict = decide(condition)
                if verdict is False:
                    continue
                if isinstance(entry, CallEntry):
                    walk(entry.callee, condition, depth + 1, entry)
                elif entry.emits and function.phase in phases:
                    selected.append(SelectedEntry(entry, emitter, verdict))

    walk(COMMON_FUNCTION, Condition(None), 0)
    if "crash" in phases:
        for function_name in sorted({f.name for e in specs.general_emitters() for f in e.functions if f.phase == "crash"}):
            walk(function_name, Condition(None), 0)
    return selected


def defines_in_scope(specs: SpecSet, target: Target, version: Version,
                     config: KernelConfig) -> Dict[str, Define]:
    """The one definition of each macro that applies to this kernel."""
    found: Dict[str, Define] = {}
    for emitter in specs.general_emitters() + target.emitters:
        for define in emitter.defines:
            if define.versions.contains(version) and define.when.evaluate(config) and not define.is_object:
                found[define.name] = define
    return found


def image_base_in_scope(target: Target, version: Version, config: KernelConfig) -> Optional[ImageBase]:
    """The architecture's image base for this kernel; None where the image runs where
    it was linked (without KASLR)."""
    for emitter in target.emitters:
        for base in emitter.image_bases:
            if base.versions.contains(version) and base.when.evaluate(config):
                return base
    return None
