"""`vmci diff A B`: two kernels' VMCOREINFO, entry by entry, in kernel order.

Each side is one of:

- a vmlinux (with its config): the lines vmci resolves, with values
- a captured VMCOREINFO (text, note, vmcore, kdump file, /proc/kcore): its lines
- ARCH@VERSION (x86_64@6.1, aarch64@6.12.3): the entries the specs give that machine
  and version, with the C each one formats and, without a config, the condition it
  still depends on

Keys are aligned in order, occurrence by occurrence. An entry is added (only in B),
removed (only in A), changed (in both, with a different value; or, between two spec
sides, a different condition, C expression or format) or moved (in both, elsewhere in
the order). The output follows the kernel's order: B's, with A's removed entries where
they stood.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional

from vmci.emit.c import c_text
from vmci.files.inputs import STDIN, kind_of, local_file, named, shown
from vmci.spec.model import SpecSet, format_version
from vmci.select import SelectionError, check_version, find_target, select_entries
from vmci.audit.consumers import vmcoreinfo_facts
from vmci.audit.image import ImageError, load_config, parse_version_argument, resolve_image
from vmci.note.read import NoteReadError, read_captured_note
from vmci.errors import UnusableInput

SPEC_SIDE = re.compile(r"^([A-Za-z0-9_]+)@(\d+\.\d+(?:\.\d+)?)$")


@dataclass
class Item:
    key: str
    value: Optional[str] = None  # a vmlinux's or a note's value
    condition: Optional[str] = None  # a spec side's residual condition ("" when unconditional)
    c: Optional[str] = None  # a spec side's macro call
    format: Optional[str] = None

    def shown(self) -> str:
        if self.value is not None:
            return f"{self.key}={self.value}"
        parts = [self.key]
        if self.c:
            parts.append(self.c)
        if self.condition:
            parts.append(f"[if {self.condition}]")
        return " ".join(parts)


@dataclass
class Side:
    label: str
    kind: str  # vmlinux, note, spec
    description: str
    items: List[Item]

    def values(self) -> Dict[str, str]:
        """Each key's first value (a note's or a vmlinux's)."""
        found: Dict[str, str] = {}
        for item in self.items:
            if item.value is not None:
                found.setdefault(item.key, item.value)
        return found


@dataclass
class Change:
    change: str  # added, removed, changed, moved, same
    key: str
    a: Optional[Item]
    b: Optional[Item]

    def as_json(self) -> dict:
        def item(i: Optional[Item]):
            if i is None:
                return None
            return {"value": i.value, "condition": i.condition or None, "c": i.c, "value_format": i.format}
        return {"change": self.change, "key": self.key, "a": item(self.a), "b": item(self.b)}


class DiffInputError(UnusableInput):
    """A side that cannot be read; one line."""


def load_side(specs: SpecSet, text: str, config_path: Optional[str], kernel_version: Optional[str],
              cache_dir: Optional[str], note_values: Optional[Dict[str, str]] = None) -> Side:
    """One side: `text` names a file (`-`: standard input) or ARCH@VERSION; a vmlinux
    with `note_values` (the other side's note) is resolved with the KASLR slide read
    from that note."""
    if text != STDIN:
        return _load_side(specs, text, config_path, kernel_version, cache_dir, note_values)
    with local_file(text) as actual:
        try:
            side = _load_side(specs, actual, config_path, kernel_version, cache_dir, note_values)
        except DiffInputError as error:
            raise DiffInputError(named(str(error), actual, text))
    side.label, side.description = shown(text), side.description.replace(actual, shown(text))
    return side


def _load_side(specs: SpecSet, text: str, config_path: Optional[str], kernel_version: Optional[str],
               cache_dir: Optional[str], note_values: Optional[Dict[str, str]] = None) -> Side:
    match = SPEC_SIDE.match(text)
    if match and not os.path.exists(text):
        return _spec_side(specs, match.group(1), match.group(2), config_path)
    if not os.path.exists(text):
        raise DiffInputError(f"{text}: no such file, and not ARCH@VERSION (such as x86_64@6.1)")
    if not os.path.isfile(text):  # a FIFO would block the first look, and a side is read twice
        raise DiffInputError(f"{text}: not a regular file ({kind_of(os.stat(text).st_mode)}); save it to a file, "
                             f"or give - to read it from standard input")
    if _is_elf_image(text):
        try:
            image = resolve_image(specs, text, config_path, kernel_version, cache_dir=cache_dir,
                                  note_values=note_values)
        except ImageError as error:
            raise DiffInputError(str(error))
        items = [Item(line.key, line.value if line.value is not None else "<unresolved>")
                 for line in image.lines if line.entry.function not in _crash_functions(specs)]
        slid = "" if image.slide is None or not image.slide.slide else \
            f", with the other side's KASLR slide {image.slide.slide:#x} ({image.slide.line.key}={image.slide.offset:x})"
        return Side(text, "vmlinux", f"{image.machine} {format_version(image.version)} resolved from {text} "
                    f"with {image.config.source}{slid}", items)
    try:
        note = read_captured_note(text)
    except NoteReadError as error:
        raise DiffInputError(str(error))
    return Side(text, "note", f"{note.kind}: {note.where}", [Item(line.key, line.value) for line in note.lines])


def _crash_functions(specs: SpecSet) -> set:
    # a vmlinux side is compared as the boot-time note; a dump's CRASHTIME shows as added
    return {f.name for e in specs.emitters for f in e.functions if f.phase == "crash"}


def is_vmlinux_side(text: str) -> bool:
    """Whether a side names a vmlinux file (standard input is not looked at)."""
    return text != STDIN and os.path.isfile(text) and _is_elf_image(text)


def _is_elf_image(path: str) -> bool:
    """An ELF executable (a vmlinux), not an ELF core."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(18)
    except OSError as error:
        raise DiffInputError(f"{path}: cannot read ({error.strerror or error})")
    if len(head) < 18 or head[:4] != b"\x7fELF":
        return False
    e_type = int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")
    return e_type in (2, 3)  # ET_EXEC, ET_DYN


def _spec_side(specs: SpecSet, arch: str, version_text: str, config_path: Optional[str]) -> Side:
    try:
        config = load_config(config_path)
        version = parse_version_argument(version_text)
        check_version(specs, version)
        target = find_target(specs, arch, config)
    except (ImageError, SelectionError) as error:
        raise DiffInputError(f"{arch}@{version_text}: {error}")
    machines = [m for e in target.emitters if e.target is not None for m in e.target.machines]
    if target.machine is None and len({m.name for m in machines}) > 1:
        names = ", ".join(m.name for m in machines)
        raise DiffInputError(f"{arch}@{version_text}: {arch} has several machines ({names}); name one, "
                             f"or give a config that decides")
    try:
        selected = select_entries(specs, target, version, config)
    except SelectionError as error:
        raise DiffInputError(f"{arch}@{version_text}: {error}")
    facts = vmcoreinfo_facts(specs, version) if config is None else {}
    items = []
    for entry in selected:
        condition = entry.condition
        if not isinstance(condition, bool) and facts:
            condition = condition.simplify(facts)
        if condition is False:
            continue
        e = entry.entry
        items.append(Item(e.key, None, "" if condition is True else str(condition), c_text(e), e.format))
    machine = target.machine.name if target.machine else target.arch
    how = f"config {config.source}" if config else "no config"
    return Side(f"{arch}@{version_text}", "spec", f"the specs for {machine} {format_version(version)}, {how}", items)


def diff_sides(a: Side, b: Side) -> List[Change]:
    keys_a = [i.key for i in a.items]
    keys_b = [i.key for i in b.items]
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    slots: List[tuple] = []  # ("both", i, j), ("a", i) or ("b", j)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            slots += [("both", i, j) for i, j in zip(range(i1, i2), range(j1, j2))]
        else:
            slots += [("a", i) for i in range(i1, i2)] + [("b", j) for j in range(j1, j2)]
    unpaired_b = [s[1] for s in slots if s[0] == "b"]
    partner = {}  # b index -> a index
    for slot in slots:
        if slot[0] == "a":
            j = next((j for j in unpaired_b if keys_b[j] == keys_a[slot[1]]), None)
            if j is not None:
                unpaired_b.remove(j)
                partner[j] = slot[1]
    moved_a = set(partner.values())
    changes = []
    for slot in slots:
        if slot[0] == "both":
            x, y = a.items[slot[1]], b.items[slot[2]]
            changes.append(Change("changed" if _differ(x, y) else "same", x.key, x, y))
        elif slot[0] == "a" and slot[1] not in moved_a:
            changes.append(Change("removed", keys_a[slot[1]], a.items[slot[1]], None))
        elif slot[0] == "b" and slot[1] in partner:
            x, y = a.items[partner[slot[1]]], b.items[slot[1]]
            changes.append(Change("moved", y.key, x, y))
        elif slot[0] == "b":
            changes.append(Change("added", keys_b[slot[1]], None, b.items[slot[1]]))
    return changes


def _differ(x: Item, y: Item) -> bool:
    if x.value is not None and y.value is not None:
        return x.value != y.value
    if x.value is None and y.value is None:
        return (x.condition, x.c, x.format) != (y.condition, y.c, y.format)
    return False  # values against a spec side: only presence and order are comparable


MARKS = {"added": "+", "removed": "-", "changed": "~", "moved": ">", "same": " "}


def describe_change(x: Item, y: Item) -> str:
    """What differs between two items of one key, old -> new."""
    if x.value is not None and y.value is not None:
        return f"{x.key}: {x.value} -> {y.value}"
    parts = []
    for label, old, new in (("condition", x.condition, y.condition), ("C", x.c, y.c), ("format", x.format, y.format)):
        if x.value is None and y.value is None and old != new:
            parts.append(f"{label} {old or 'always'} -> {new or 'always'}")
    return f"{x.key}: " + "; ".join(parts) if parts else y.shown()


def render_text(a: Side, b: Side, changes: List[Change], show_all: bool = False) -> str:
    out = [f"--- A: {a.label} ({a.description})", f"+++ B: {b.label} ({b.description})"]
    for change in changes:
        mark, a_item, b_item = MARKS[change.change], change.a, change.b
        if change.change == "removed":
            assert a_item is not None  # a removed key is on side A only
            out.append(f"{mark} {a_item.shown()}")
            continue
        assert b_item is not None  # every other change has side B
        if change.change == "added":
            out.append(f"{mark} {b_item.shown()}")
        elif change.change in ("changed", "moved"):
            assert a_item is not None  # a key on both sides
            if change.change == "changed":
                out.append(f"{mark} {describe_change(a_item, b_item)}")
            else:
                detail = describe_change(a_item, b_item) if _differ(a_item, b_item) else b_item.shown()
                out.append(f"{mark} {detail} (moved)")
        elif show_all:
            out.append(f"{mark} {b_item.shown()}")
    counts = {kind: sum(1 for c in changes if c.change == kind) for kind in ("added", "removed", "changed", "moved")}
    out.append(", ".join(f"{n} {kind}" for kind, n in counts.items())
               + f", {sum(1 for c in changes if c.change == 'same')} the same")
    return "\n".join(out) + "\n"
