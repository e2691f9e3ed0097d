"""`vmci audit note`: a VMCOREINFO a kernel wrote against the one vmci resolves.

Each line gets one status:

- match: same key, same value
- runtime: the values differ, and the spec says the value is fixed only at run time
  (KASLR, boot-time allocations); both values are shown with the reason
- differs: the values differ and nothing explains it; both values are shown
- missing: vmci expects the key, the note lacks it
- unexpected: the note has a key vmci does not expect
- unresolved: vmci expects the key but could not compute its value

Keys are matched in order, occurrence by occurrence (a key the kernel emits twice is
matched twice). Lines appended only at panic (CRASHTIME) are expected when the note
has one of them or with --at-crash: /proc/kcore and the boot-time note never carry them.
A key present on both sides at different places is flagged `moved`.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from vmci.jsonformat import spec_location
from vmci.spec.model import SpecLocation, SpecSet
from vmci.resolve.engine import ResolvedLine
from vmci.note.read import CapturedNote, NoteLine

STATUSES = ("match", "runtime", "differs", "missing", "unexpected", "unresolved")
FAILING = ("differs", "missing", "unexpected", "unresolved")


@dataclass
class NoteVerdict:
    key: str
    status: str
    found: Optional[str]  # the note's value
    expected: Optional[str]  # vmci's value
    note_line: Optional[int] = None
    spec: Optional[SpecLocation] = None
    runtime_reason: Optional[str] = None  # why the value is fixed only at run time
    reason: Optional[str] = None  # why vmci could not resolve it
    moved: bool = False

    def as_json(self, specs_directory: Optional[str]) -> dict:
        return {"key": self.key, "status": self.status, "value": self.found, "expected": self.expected,
                "note_line": self.note_line, "spec": spec_location(self.spec, specs_directory),
                "runtime": self.runtime_reason is not None, "runtime_reason": self.runtime_reason,
                "reason": self.reason, "moved": self.moved}


def crash_phase_functions(specs: SpecSet) -> set:
    return {f.name for e in specs.emitters for f in e.functions if f.phase == "crash"}


def compare_note(note: CapturedNote, lines: Sequence[ResolvedLine], specs: SpecSet,
                 at_crash: Optional[bool] = None) -> List[NoteVerdict]:
    crash_functions = crash_phase_functions(specs)
    crash_keys = {line.key for line in lines if line.entry.function in crash_functions}
    if at_crash is None:
        at_crash = any(key in crash_keys for key in note.keys())
    expected = [line for line in lines if at_crash or line.entry.function not in crash_functions]
    theirs: List[NoteLine] = note.lines
    matcher = difflib.SequenceMatcher(None, [line.key for line in expected], [line.key for line in theirs], autojunk=False)
    slots: List[tuple] = []  # ("both", i, j), ("vmci", i) or ("note", j), in the note's order
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            slots += [("both", i, j) for i, j in zip(range(i1, i2), range(j1, j2))]
        else:
            slots += [("vmci", i) for i in range(i1, i2)] + [("note", j) for j in range(j1, j2)]
    # a key on both sides but at different places: compare the values, mark it moved
    unpaired = [slot[1] for slot in slots if slot[0] == "note"]
    partner: Dict[int, int] = {}  # note index -> vmci index
    for slot in slots:
        if slot[0] == "vmci":
            j = next((j for j in unpaired if theirs[j].key == expected[slot[1]].key), None)
            if j is not None:
                unpaired.remove(j)
                partner[j] = slot[1]
    paired = set(partner.values())
    verdicts: List[NoteVerdict] = []
    for slot in slots:
        if slot[0] == "both":
            verdicts.append(_verdict(expected[slot[1]], theirs[slot[2]]))
        elif slot[0] == "vmci" and slot[1] not in paired:
            ours = expected[slot[1]]
            verdicts.append(NoteVerdict(ours.key, "missing", None, ours.value, None, ours.entry.where,
                                        ours.runtime, ours.reason))
        elif slot[0] == "note" and slot[1] in partner:
            verdict = _verdict(expected[partner[slot[1]]], theirs[slot[1]])
            verdict.moved = True
            verdicts.append(verdict)
        elif slot[0] == "note":
            found = theirs[slot[1]]
            verdicts.append(NoteVerdict(found.key, "unexpected", found.value, None, found.line))
    return verdicts


def _verdict(ours: ResolvedLine, found: NoteLine) -> NoteVerdict:
    spec = ours.entry.where
    if ours.value is None:
        if ours.entry.runtime:
            # only the running kernel knows it (CRASHTIME, the time of the crash)
            return NoteVerdict(ours.key, "runtime", found.value, None, found.line, spec, ours.entry.runtime)
        return NoteVerdict(ours.key, "unresolved", found.value, None, found.line, spec, reason=ours.reason)
    if ours.value == found.value:
        return NoteVerdict(ours.key, "match", found.value, ours.value, found.line, spec, ours.runtime)
    if ours.runtime:
        return NoteVerdict(ours.key, "runtime", found.value, ours.value, found.line, spec, ours.runtime)
    return NoteVerdict(ours.key, "differs", found.value, ours.value, found.line, spec)


def summary(verdicts: Sequence[NoteVerdict]) -> Dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for verdict in verdicts:
        counts[verdict.status] += 1
    counts["moved"] = sum(1 for v in verdicts if v.moved)
    return counts


def failed(verdicts: Sequence[NoteVerdict]) -> bool:
    return any(v.status in FAILING or v.moved for v in verdicts)


def render_text(note: CapturedNote, verdicts: Sequence[NoteVerdict], kaslr: Optional[str] = None) -> str:
    out = [f"vmci audit note: {note.path}: {note.where}"] + ([kaslr] if kaslr else [])
    for v in verdicts:
        moved = " (moved)" if v.moved else ""
        if v.status == "match":
            out.append(f"match       {v.key}={v.found}{moved}")
        elif v.status == "runtime":
            known = f"vmci: {v.expected}" if v.expected is not None else "known only at run time"
            out.append(f"runtime     {v.key}={v.found} ({known}; {v.runtime_reason}){moved}")
        elif v.status == "differs":
            out.append(f"differs     {v.key}={v.found} (vmci: {v.expected}; {v.spec}){moved}")
        elif v.status == "missing":
            out.append(f"missing     {v.key} (vmci: {v.expected}; {v.spec})")
        elif v.status == "unexpected":
            out.append(f"unexpected  {v.key}={v.found} (note line {v.note_line})")
        else:
            out.append(f"unresolved  {v.key}={v.found} (vmci cannot resolve it: {v.reason}; {v.spec}){moved}")
    counts = summary(verdicts)
    out.append(f"{len(verdicts)} lines: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES)
               + (f", {counts['moved']} moved" if counts["moved"] else ""))
    return "\n".join(out) + "\n"
