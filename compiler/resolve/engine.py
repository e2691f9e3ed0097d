"""Resolve the selected entries against a vmlinux: the exact VMCOREINFO text.

For each entry that applies to the kernel (select.py), evaluate its value expression
(evaluate.py) with the defines, locals and config in scope, convert it to the type the
kernel's printf conversion takes, and format it exactly as the kernel does. Nothing is
dropped silently: an entry that applies but cannot be resolved stays in the result with
the reason, and the caller's exit status says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from vmci.abi import CONVERSIONS, LINE_BUFFER_BYTES
from vmci.resolve.evaluate import Evaluator, Unresolved
from vmci.lang.kconfig import KernelConfig
from vmci.spec.model import Entry, SpecSet, Version
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


def format_value(conversion: str, number: int) -> str:
    if conversion.endswith("x"):
        return ("0x" if conversion.startswith("0x") else "") + format(number, "x")
    return str(number)


def resolve(specs: SpecSet, vm, target: Target, version: Version, config: KernelConfig,
            phases=("boot",), slide: int = 0,
            progress: Optional[Callable[[int, int, str], None]] = None) -> List[ResolvedLine]:
    """The lines of this kernel booted without KASLR, or, with `slide`, with its image
    moved that far from there (what KASLR does); `progress(done, total, key)` is told
    before each entry is resolved."""
    selected = select_entries(specs, target, version, config, phases)
    defines = defines_in_scope(specs, target, version, config)
    functions = {(e.name, f.name): f for e in specs.emitters for f in e.functions}
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
        if entry.kind == "build-id":
            if not vm.build_id:
                raise Unresolved("the vmlinux has no NT_GNU_BUILD_ID note")
            if len(vm.build_id) != 40:
                raise Unresolved(f"the build ID has {len(vm.build_id) // 2} bytes; the kernel prints 20 (%20phN)")
            return ResolvedLine(entry, vm.build_id, "elf-note")
        if entry.kind == "config":
            return ResolvedLine(entry, "y", "config")
        if entry.kind == "osrelease" or entry.format == "%s":
            text, runtime = evaluator.string(entry.value_expression())
            if entry.kind == "osrelease":
                return ResolvedLine(entry, text, "image")
            reasons = ([entry.runtime] if entry.runtime else []) + runtime
            return ResolvedLine(entry, text, "runtime" if reasons else "image",
                                runtime="; ".join(dict.fromkeys(reasons)) if reasons else None)
        expression = entry.value_expression()
        if expression is None:
            raise Unresolved("the spec gives no expression for the value")
        itype = evaluator.int_type(CONVERSIONS[entry.format].c_type)
        assert itype is not None, entry.format  # every conversion's C type is a base type
        number, runtime = evaluator.integer(expression, itype)
    except Unresolved as error:
        return ResolvedLine(entry, None, "unresolved", reason=error.reason)
    reasons = ([entry.runtime] if entry.runtime else []) + runtime
    if reasons:
        source = "runtime"
    elif entry.kind in ("symbol", "symbol-array"):
        source = "symtab"
    elif evaluator.facts.dwarf:
        source = "dwarf"
    else:
        source = "expr"
    return ResolvedLine(entry, format_value(entry.format, number), source,
                        runtime="; ".join(dict.fromkeys(reasons)) if reasons else None)


# kernel/vmcore_info.c vmcoreinfo_append_str(): each line is formatted into
# `char buf[0x50]` by vscnprintf (abi.LINE_BUFFER_BYTES: a longer line loses its end and
# its newline), and the text stops at VMCOREINFO_BYTES (PAGE_SIZE) with a WARN_ONCE.


def kernel_bytes(lines: List[ResolvedLine], vmcoreinfo_bytes: Optional[int] = None) -> Tuple[bytes, bool]:
    """The bytes vmcoreinfo_append_str() leaves for these lines, and whether the text
    reached VMCOREINFO_BYTES (the kernel's "exceeds allocated size, truncating")."""
    data = bytearray()
    for line in lines:
        if line.value is None:
            continue
        text = line.text.encode("utf-8", "replace")
        size = min(len(text), LINE_BUFFER_BYTES - 1)
        if vmcoreinfo_bytes is not None:
            size = min(size, vmcoreinfo_bytes - len(data))
        data += text[:size]
    return bytes(data), vmcoreinfo_bytes is not None and len(data) >= vmcoreinfo_bytes


def render_text(lines: List[ResolvedLine], vmcoreinfo_bytes: Optional[int] = None) -> str:
    """The VMCOREINFO text, cut as the kernel cuts it (see kernel_bytes)."""
    return kernel_bytes(lines, vmcoreinfo_bytes)[0].decode("utf-8", "replace")


def vmcoreinfo_bytes_of(lines: List[ResolvedLine]) -> Optional[int]:
    """VMCOREINFO_BYTES is PAGE_SIZE, which the PAGESIZE line gives."""
    for line in lines:
        if line.entry.kind == "pagesize" and line.value is not None:
            try:
                size = int(line.value)
            except ValueError:
                return None
            return size if size > 0 else None
    return None


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


def parse_value(conversion: str, text: str) -> Optional[int]:
    """The number a line's value prints, read back by its printf conversion; None when
    the text is not such a number."""
    try:
        return int(text, 16) if conversion.endswith("x") else int(text, 10)
    except (TypeError, ValueError):
        return None


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
