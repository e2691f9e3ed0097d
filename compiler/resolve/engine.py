"""Resolve the selected entries against a vmlinux: the exact VMCOREINFO text.

For each entry that applies to the kernel (select.py), evaluate its value expression
(evaluate.py) with the defines, locals and config in scope, convert it to the type the
kernel's printf conversion takes, and format it exactly as the kernel does (vmci.runtime,
which the generated Python package runs too: formatting, the build ID's check, cutting
the text). Nothing is dropped silently: an entry that applies but cannot be resolved stays
in the result with the reason, and the caller's exit status says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple, Union

from vmci.abi import FLAG_VALUE
from vmci.resolve.evaluate import Evaluator, Unresolved
from vmci.runtime import build_id_value, c_type, format_value, parse_value
from vmci.lang.kconfig import KernelConfig
from vmci.spec.kinds import Entry, ValueShape
from vmci.spec.model import SpecSet, Version
from vmci.select import SelectedEntry, Target, defines_in_scope, image_base_in_scope, select_entries


@dataclass
class ResolvedLine:
    entry: Entry
    value: Optional[str]  # the formatted value; None when unresolved
    source: str  # dwarf, symtab, expr, runtime, image, elf-note, config
    runtime: Optional[str] = None  # why the value is fixed only at run time
    reason: Optional[str] = None  # why it could not be resolved

    @property
    def key(self) -> str:
        return self.entry.key

    @property
    def text(self) -> str:
        return f"{self.key}={self.value}\n"


def resolve(specs: SpecSet, vm, target: Target, version: Version, config: KernelConfig,
            phases=("boot",), slide: int = 0,
            progress: Optional[Callable[[int, int, str], None]] = None) -> List[ResolvedLine]:
    """The lines of this kernel booted without KASLR, or, with `slide`, with its image
    moved that far from there (what KASLR does); `progress(done, total, key)` is told
    before each entry is resolved."""
    selected = select_entries(specs, target, version, config, phases)
    defines = defines_in_scope(specs, target, version, config)
    functions = {(e.name, f.name): f for e in specs.emitters for f in e.functions}
    load_offset: Union[int, Unresolved]
    try:
        load_offset = image_base(vm, target, version, config, defines) + slide
    except Unresolved as error:  # then only the lines that hold an address of the image fail
        load_offset = error
    lines = []
    for done, item in enumerate(selected):
        if progress is not None:
            progress(done, len(selected), item.entry.key)
        function = functions[(item.emitter.name, item.entry.function)]
        locals_ = {local.name: local for local in function.locals
                   if local.versions.contains(version) and local.when.evaluate(config)}
        evaluator = Evaluator(vm, config, defines, locals_, load_offset)
        lines.append(resolve_entry(item, evaluator, vm))
    return lines


def image_base(vm, target: Target, version: Version, config: KernelConfig, defines) -> int:
    """How far from its link addresses the image runs without KASLR (the spec's
    image-base; 0 where none applies)."""
    base = image_base_in_scope(target, version, config)
    if base is None:
        return 0
    evaluator = Evaluator(vm, config, defines)
    try:
        number, _ = evaluator.integer(base.value, evaluator.ULONG)
    except Unresolved as error:
        raise Unresolved(f"{base.where}: the image base {base.value_text}: {error.reason}")
    return number


def resolve_entry(item: SelectedEntry, evaluator: Evaluator, vm) -> ResolvedLine:
    entry = item.entry
    try:
        shape = entry.value_shape  # spec/kinds.py
        if shape is ValueShape.BUILD_ID:
            return ResolvedLine(entry, build_id_value(vm.build_id), "elf-note")
        if shape is ValueShape.FLAG:
            return ResolvedLine(entry, FLAG_VALUE, "config")
        expression = entry.value_expression()
        if expression is None:
            raise Unresolved("the spec gives no expression for the value")
        if shape is ValueShape.STRING:
            text, runtime = evaluator.string(expression)
            if entry.fixed_in_image:
                return ResolvedLine(entry, text, "image")
            reasons = ([entry.runtime] if entry.runtime else []) + runtime
            return ResolvedLine(entry, text, "runtime" if reasons else "image",
                                runtime="; ".join(dict.fromkeys(reasons)) if reasons else None)
        itype = evaluator.int_type(c_type(entry.format))
        assert itype is not None, entry.format  # every conversion reads a base type
        number, runtime = evaluator.integer(expression, itype)
    except Unresolved as error:
        return ResolvedLine(entry, None, "unresolved", reason=error.reason)
    reasons = ([entry.runtime] if entry.runtime else []) + runtime
    if reasons:
        source = "runtime"
    elif entry.address_from_symtab:
        source = "symtab"
    elif evaluator.facts.dwarf:
        source = "dwarf"
    else:
        source = "expr"
    return ResolvedLine(entry, format_value(entry.format, number), source,
                        runtime="; ".join(dict.fromkeys(reasons)) if reasons else None)


# --- KASLR ------------------------------------------------------------------------------------

@dataclass
class Slide:
    """A KASLR slide: how far every address of the image moved from where the image
    runs without KASLR, and the line it was read from (KERNELOFFSET)."""
    offset: int  # the kernel's KASLR offset as its line reports it
    slide: int  # offset minus the line's value without KASLR: what every image address moves by
    line: ResolvedLine  # the spec's kaslr-offset line, resolved without KASLR

    def describe(self, word_bits: int) -> str:
        mask = (1 << word_bits) - 1
        return (f"{self.line.key}={format_value(self.line.entry.format, self.offset)}: every address of the image "
                f"moved by {self.slide & mask:#x} from where it runs without KASLR ({self.line.key}={self.line.value})")


def kaslr_offset_line(lines: List[ResolvedLine]) -> Optional[ResolvedLine]:
    """The line the specs mark as the kernel's KASLR offset (KERNELOFFSET)."""
    for line in lines:
        if line.entry.kaslr_offset:
            return line
    return None


def slide_from(lines: List[ResolvedLine], offset: int, word_bits: int) -> Optional[Slide]:
    """The slide of a kernel whose KASLR offset line says `offset`, given the lines
    resolved without KASLR; None when this kernel has no such line (or it is unresolved)."""
    line = kaslr_offset_line(lines)
    if line is None or line.value is None:
        return None
    base = parse_value(line.entry.format, line.value)
    if base is None:
        return None
    return Slide(offset, (offset - base) & ((1 << word_bits) - 1), line)


def resolve_with_kaslr_offset(specs: SpecSet, vm, target: Target, version: Version, config: KernelConfig,
                              offset: int, phases=("boot",), progress=None) -> Tuple[List[ResolvedLine], Optional[Slide]]:
    """The lines this kernel writes when its KASLR offset line says `offset`: resolved
    without KASLR to learn that line's own value, then again with the difference as the
    slide. The Slide is None when the kernel reports no KASLR offset (nothing moves)."""
    lines = resolve(specs, vm, target, version, config, phases)
    slide = slide_from(lines, offset, vm.elf_class)
    if slide is None or slide.slide == 0:
        return lines, slide
    return resolve(specs, vm, target, version, config, phases, slide.slide, progress), slide


def line_json(line: ResolvedLine, specs_directory: Optional[str]) -> dict:
    """One resolved line in the shared vocabulary (resolve, and the API's users)."""
    from vmci.jsonformat import spec_location

    return {"key": line.key, "value": line.value, "kind": line.entry.kind, "value_format": line.entry.format or None,
            "source": line.source, "runtime": line.runtime is not None, "runtime_reason": line.runtime,
            "reason": line.reason, "spec": spec_location(line.entry.where, specs_directory)}
