"""`vmci audit source`: compare the specs with what a kernel tree really emits.

The tree side of every emission is read from the C (csource), its file's Kbuild gate
(kbuild) and the call that leads to its function; the spec side is the entries the
specs give that version, selected by version only (never by config). Per emitting file
and function, the two ordered lists of (key, condition) are aligned, and each
difference is a drift item:

- `specs-lack`: the tree emits a key the specs do not have there
- `tree-lacks`: a spec entry for this version that the tree does not emit
- `order`: both have the key, at different places in the sequence
- `condition`: the conditions differ in some config (with an example config)
- `argument` / `format`: the macro's C arguments or an append's format differ
- `arch`: an arch file the specs give to another architecture
- `define`: a value the emitting file #defines differs from the spec's in-file define
- `unreadable`: an emission, condition or gate vmci cannot read

Conditions are compared semantically. The effective condition of an emission is the
condition of the call that reaches its function, AND the gate of its file, AND its #if
nesting (tree) or `when` (spec). For an architecture's file it is compared under each
of the spec's machines of that architecture, for a common file under every
architecture the specs describe, always with that architecture's Kconfig rules
(kconfig_rules), so `CONFIG_KEXEC` and `CONFIG_KEXEC && CONFIG_CRASH_CORE` agree
where KEXEC selects KEXEC_CORE, which selects CRASH_CORE.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from vmci.lang import cexpr
from vmci.jsonformat import kernel_location, spec_location
from vmci.lang.condition import TRUE, Condition, any_of
from vmci.spec.kinds import Entry, ValueShape
from vmci.spec.model import Emitter, Source, SpecLocation, SpecSet, Version, format_version
from vmci.audit.csource import CallSite, Emission, PreprocessorCondition, ScannedFile, scan_c_file
from vmci.audit.kbuild import Gate, Kbuild
from vmci.audit.kconfig_rules import KconfigTree
from vmci.audit.logic import describe, differing_config, satisfying_config
from vmci.audit.tree import KernelTree


@dataclass
class Drift:
    kind: str
    key: str
    message: str
    tree_place: Optional[str] = None  # file:line in the tree
    spec_place: Optional[SpecLocation] = None
    # what the drift is about, for `--update-specs` (not part of the output)
    tree_item: Optional[TreeItem] = field(default=None, repr=False, compare=False)
    spec_item: Optional[SpecItem] = field(default=None, repr=False, compare=False)
    defines: Optional[tuple] = field(default=None, repr=False, compare=False)  # (tree's, spec's, emitter)

    def as_json(self, specs_directory: Optional[str]) -> dict:
        return {"category": self.kind, "key": self.key, "kernel_location": kernel_location(self.tree_place),
                "spec": spec_location(self.spec_place, specs_directory), "message": self.message}

    def __str__(self) -> str:
        place = self.tree_place or self.spec_place or "-"
        other = f" [{self.spec_place}]" if self.tree_place and self.spec_place else ""
        return f"{place}: {self.kind}: {self.key}: {self.message}{other}"


@dataclass
class TreeItem:
    """An emission or a call, as one element of a function's ordered sequence."""

    key: str
    function: str
    file: str
    line: int
    condition: PreprocessorCondition
    emission: Optional[Emission] = None
    entry: Optional[Entry] = None  # the model entry the macro use stands for
    callee: Optional[str] = None

    @property
    def place(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class SpecItem:
    key: str
    entry: Entry
    emitter: Emitter

    @property
    def place(self) -> str:
        return str(self.entry.where)


@dataclass
class Alignment:
    """One function's tree sequence against its spec sequence for the tree's version:
    `matched` maps a tree index to the spec index it lines up with in kernel order."""

    file: str
    emitter: Emitter
    function: str
    tree: List[TreeItem]
    spec: List[SpecItem]
    matched: Dict[int, int]


@dataclass
class FileReport:
    file: str
    gate: Optional[Gate]
    emitter: Optional[str]
    functions: Dict[str, List[TreeItem]] = field(default_factory=dict)


@dataclass
class SourceAudit:
    tree: str
    version: Version
    files: List[FileReport]
    drift: List[Drift]
    emissions: int
    alignments: List[Alignment] = field(default_factory=list)


# --- from a macro use to the model's entry ------------------------------------------------

_MACRO_KINDS = {cls.macro: cls for cls in Entry.registry.values() if cls.macro}


def entry_for(emission: Emission) -> Tuple[Optional[Entry], Optional[str]]:
    """The model Entry a macro use stands for (so the key comes from the model), or why not:
    the kind whose macro it is reads its arguments (spec/kinds.py)."""
    cls = _MACRO_KINDS.get(emission.macro)
    if cls is None:
        return None, f"{emission.macro} is no VMCOREINFO macro the spec format knows"
    return cls.from_macro(SpecLocation(emission.file, emission.line), emission.args, emission.literal)


def _never(condition: PreprocessorCondition) -> bool:
    """True under `#if 0` and the like: no config at all satisfies the nesting."""
    if condition.opaque or condition.condition.node is None:
        return False
    return satisfying_config([condition.condition]) is None


def _under(condition: PreprocessorCondition) -> str:
    return "unconditionally" if condition == PreprocessorCondition() else f"if {condition}"


def _same_c(a: str, b: str) -> bool:
    if " ".join(a.split()) == " ".join(b.split()):
        return True
    try:
        return cexpr.parse_expression(a) == cexpr.parse_expression(b)
    except cexpr.CExprError:
        return False


# --- the audit --------------------------------------------------------------------------

class _Auditor:
    def __init__(self, specs: SpecSet, tree: KernelTree, progress: Optional[Progress] = None):
        self.progress = progress or Progress(lambda done, total, what: None)
        self.specs = specs
        self.tree = tree
        self.version = tree.version
        self.kbuild = Kbuild(tree.read)
        self.kconfig = KconfigTree(tree.read, tree.kconfig_files)
        self.drift: List[Drift] = []
        self.alignments: List[Alignment] = []
        self._gates: Dict[str, Gate] = {}
        self._verdicts: Dict[tuple, Optional[str]] = {}

    # tree side ----------------------------------------------------------------
    def gate(self, file: str) -> Gate:
        if file not in self._gates:
            self._gates[file] = self.kbuild.gate(file)
        return self._gates[file]

    def scan(self) -> List[ScannedFile]:
        scanned = []
        for done, path in enumerate(self.tree.c_files):
            self.progress.scanning(done, len(self.tree.c_files), path)
            text = self.tree.read(path)
            if text is None:
                continue
            result = scan_c_file(path, text)
            for problem in result.problems:
                place, _, message = problem.rpartition(": ")
                self.drift.append(Drift("unreadable", path, message, tree_place=place))
            if result.emissions:
                scanned.append(result)
        return scanned

    # spec side ----------------------------------------------------------------
    def spec_emitters(self) -> List[Emitter]:
        return [e for e in self.specs.emitters if e.versions.contains(self.version) and e.source_for(self.version)]

    def source_of(self, emitter: Emitter) -> Source:
        """The emitter's source for the audited version (spec_emitters keeps only those with one)."""
        source = emitter.source_for(self.version)
        assert source is not None, emitter.name
        return source

    def spec_items(self, emitter: Emitter) -> Dict[str, List[SpecItem]]:
        functions: Dict[str, List[SpecItem]] = {}
        for function in emitter.functions:
            items = functions.setdefault(function.name, [])
            for entry in function.entries:
                if not entry.versions.contains(self.version):
                    continue
                if entry.calls():  # a call, or a line that a static helper called here appends
                    items.append(SpecItem(f"{entry.calls()}()", entry, emitter))
                    if entry.emits:  # the helper's line
                        functions.setdefault(entry.calls(), []).append(SpecItem(entry.key, entry, emitter))
                elif entry.emits:
                    items.append(SpecItem(entry.key, entry, emitter))
        return functions

    # contexts: what must hold for a function to run at all -----------------------
    def tree_contexts(self, scanned: List[ScannedFile], tracked: set) -> Dict[str, Condition]:
        sites: Dict[str, List[CallSite]] = {}
        for result in scanned:
            for call in result.calls:
                if call.callee in tracked and call.function != call.callee:
                    sites.setdefault(call.callee, []).append(call)
        memo: Dict[str, Condition] = {}

        def context(name: str, depth: int = 0) -> Condition:
            if name in memo:
                return memo[name]
            if name not in sites or depth > 8:
                return TRUE
            memo[name] = TRUE  # a cycle counts as unconditional
            parts = [context(site.function, depth + 1) & self.gate(site.file).condition & site.condition.condition
                     for site in sites[name]]
            memo[name] = any_of(parts)
            return memo[name]

        return {name: context(name) for name in tracked}

    def spec_contexts(self, emitters: List[Emitter]) -> Dict[str, Condition]:
        sites: Dict[str, List[Tuple[Emitter, str, Entry]]] = {}
        for emitter in emitters:
            for function in emitter.functions:
                for entry in function.entries:
                    callee = entry.calls()
                    if callee and entry.versions.contains(self.version):
                        sites.setdefault(callee, []).append((emitter, function.name, entry))
        memo: Dict[str, Condition] = {}

        def context(name: str, depth: int = 0) -> Condition:
            if name in memo:
                return memo[name]
            if name not in sites or depth > 8:
                return TRUE
            memo[name] = TRUE
            parts = [context(caller, depth + 1) & self.source_of(emitter).gate & entry.when
                     for emitter, caller, entry in sites[name]]
            memo[name] = any_of(parts)
            return memo[name]

        names = {f.name for e in emitters for f in e.functions} | set(sites)
        return {name: context(name) for name in names}

    # comparing conditions ------------------------------------------------------------
    def scopes(self, file: str, emitter: Optional[Emitter]) -> List[Tuple[str, str, Condition]]:
        """(label, kernel ARCH, machine condition) under which a file's conditions are compared."""
        arch = file.split("/")[1] if file.startswith("arch/") else None
        if emitter is not None and emitter.target is not None:
            return [(machine.name, emitter.target.arch, machine.config) for machine in emitter.target.machines]
        if arch is not None:
            return [(arch, arch, TRUE)]
        in_tree = set(self.tree.arches())
        arches = sorted({e.target.arch for e in self.spec_emitters() if e.target} & in_tree)
        return [(a, a, TRUE) for a in arches]

    def compare(self, tree_condition: Condition, spec_condition: Condition, scopes) -> Optional[str]:
        """None when the conditions agree in every scope, else where they differ."""
        key = (tree_condition.text, spec_condition.text, tuple((label, arch, machine.text) for label, arch, machine in scopes))
        if key in self._verdicts:
            return self._verdicts[key]
        verdict = None
        for label, arch, machine in scopes:
            rules = self.kconfig.rules(arch)
            try:
                example = differing_config(tree_condition, spec_condition, machine, rules)
            except ValueError as error:
                verdict = f"cannot decide on {label}: {error}"
                break
            if example is not None:
                verdict = f"on {label}, e.g. {describe(example)}"
                break
        self._verdicts[key] = verdict
        return verdict

    # the walk ------------------------------------------------------------------------
    def run(self) -> SourceAudit:
        scanned = self.scan()
        emitters = self.spec_emitters()
        by_file: Dict[str, Emitter] = {}
        emitter: Optional[Emitter]  # below: the spec of each file, if any
        for emitter in emitters:
            source = self.source_of(emitter)
            if source.file in by_file:
                self.drift.append(Drift("unreadable", source.file, f"both {by_file[source.file].name} and "
                                        f"{emitter.name} claim this file for {format_version(self.version)}",
                                        spec_place=source.where))
            by_file.setdefault(source.file, emitter)

        tree_items: Dict[str, Dict[str, List[TreeItem]]] = {}
        emitting_functions = {e.function for result in scanned for e in result.emissions}
        spec_callees = {entry.calls() for e in emitters for entry in e.entries() if entry.calls()}
        tracked = emitting_functions | spec_callees
        count = 0
        for result in scanned:
            functions = tree_items.setdefault(result.path, {})
            events = [(e.line, 0, e) for e in result.emissions] + \
                     [(c.line, 1, c) for c in result.calls if c.callee in tracked]
            for _, _, event in sorted(events, key=lambda item: (item[0], item[1])):
                if isinstance(event, Emission):
                    if _never(event.condition):
                        continue  # under #if 0: not an emission of any kernel
                    count += 1
                    entry, problem = entry_for(event)
                    if entry is None:
                        assert problem is not None  # entry_for says why it gives no entry
                        self.drift.append(Drift("unreadable", event.macro, problem, tree_place=event.place))
                        continue
                    functions.setdefault(event.function, []).append(
                        TreeItem(entry.key, event.function, event.file, event.line, event.condition, event, entry))
                else:
                    functions.setdefault(event.function, []).append(
                        TreeItem(f"{event.callee}()", event.function, event.file, event.line, event.condition,
                                 callee=event.callee))
            # calls are kept only in functions that emit or are spec functions
            for name in list(functions):
                if name not in emitting_functions and name not in {f.name for e in emitters for f in e.functions}:
                    del functions[name]

        tree_context = self.tree_contexts(scanned, tracked | {n for fs in tree_items.values() for n in fs})
        spec_context = self.spec_contexts(emitters)
        reports: List[FileReport] = []
        files = sorted(set(tree_items) | set(by_file))
        comparing = self.progress.comparing or self.progress.scanning
        for done, file in enumerate(files):
            comparing(done, len(files), file)
            emitter = by_file.get(file)
            gate = self.gate(file) if file in tree_items else None
            report = FileReport(file, gate, emitter.name if emitter else None, tree_items.get(file, {}))
            reports.append(report)
            if emitter is None:
                for function, items in sorted(tree_items[file].items()):
                    for item in items:
                        if item.callee is None:
                            self.drift.append(Drift("specs-lack", item.key, f"emitted by {function}() "
                                                    f"{_under(item.condition)}; no spec names {file} for "
                                                    f"{format_version(self.version)}", tree_place=item.place))
                continue
            self._check_arch(file, emitter)
            if file not in tree_items:
                for _function, spec_items in self.spec_items(emitter).items():
                    for spec_item in spec_items:
                        if spec_item.entry.value_shape is not ValueShape.CALL:
                            self.drift.append(Drift("tree-lacks", spec_item.key, f"{file} does not exist or emits "
                                                    f"nothing in this tree", spec_place=spec_item.entry.where))
                continue
            assert gate is not None  # the file is in the tree (handled above when not)
            if gate.unknown:
                for unknown in gate.unknown:
                    self.drift.append(Drift("unreadable", file, f"its Kbuild gate: {unknown}", tree_place=file))
            self._compare_file(file, emitter, gate, tree_items[file], tree_context, spec_context)
            self._check_defines(file, emitter, next(r for r in scanned if r.path == file))
        return SourceAudit(self.tree.name, self.version, reports, self.drift, count, self.alignments)

    def _check_arch(self, file: str, emitter: Emitter) -> None:
        arch = file.split("/")[1] if file.startswith("arch/") else None
        spec_arch = emitter.target.arch if emitter.target else None
        if arch != spec_arch:
            source = self.source_of(emitter)
            self.drift.append(Drift("arch", file, f"the tree builds it for {arch or 'every architecture'}, "
                                    f"the spec {emitter.name} for {spec_arch or 'every architecture'}",
                                    tree_place=file, spec_place=source.where))

    def _compare_file(self, file, emitter, gate: Gate, tree_functions, tree_context, spec_context) -> None:
        spec_functions = self.spec_items(emitter)
        source = emitter.source_for(self.version)
        scopes = self.scopes(file, emitter)
        for function in sorted(set(tree_functions) | set(spec_functions)):
            tree_list = tree_functions.get(function, [])
            spec_list = spec_functions.get(function, [])
            matcher = difflib.SequenceMatcher(None, [t.key for t in tree_list], [s.key for s in spec_list],
                                              autojunk=False)
            only_tree: List[TreeItem] = []
            only_spec: List[SpecItem] = []
            matched: Dict[int, int] = {}
            self.alignments.append(Alignment(file, emitter, function, tree_list, spec_list, matched))
            for tag, i1, i2, j1, j2 in matcher.get_opcodes():
                if tag == "equal":
                    matched.update(zip(range(i1, i2), range(j1, j2)))
                    for t, s in zip(tree_list[i1:i2], spec_list[j1:j2]):
                        self._compare_pair(t, s, gate, source.gate, tree_context.get(function, TRUE),
                                           spec_context.get(function, TRUE), scopes)
                else:
                    only_tree += tree_list[i1:i2]
                    only_spec += spec_list[j1:j2]
            moved = {t.key for t in only_tree} & {s.key for s in only_spec}
            for t in only_tree:
                if t.key in moved:
                    s = next(s for s in only_spec if s.key == t.key)
                    position_tree = tree_list.index(t) + 1
                    position_spec = spec_list.index(s) + 1
                    self.drift.append(Drift("order", t.key, f"item {position_tree} of {function}() in the tree, "
                                            f"item {position_spec} in the spec", tree_place=t.place,
                                            spec_place=s.entry.where, tree_item=t, spec_item=s))
                    self._compare_pair(t, s, gate, source.gate, tree_context.get(function, TRUE),
                                       spec_context.get(function, TRUE), scopes)
                elif t.callee is None or function in spec_functions:
                    what = "calls" if t.callee else "emits"
                    self.drift.append(Drift("specs-lack", t.key, f"{function}() {what} it {_under(t.condition)}; "
                                            f"the spec {emitter.name} has no such entry", tree_place=t.place,
                                            tree_item=t))
            for s in only_spec:
                if s.key not in moved:
                    self.drift.append(Drift("tree-lacks", s.key, f"not in {function}() of {file} "
                                            f"({format_version(self.version)})", spec_place=s.entry.where,
                                            spec_item=s))

    def _compare_pair(self, t: TreeItem, s: SpecItem, gate: Gate, spec_gate: Condition,
                      tree_context: Condition, spec_context: Condition, scopes) -> None:
        if t.condition.opaque:
            self.drift.append(Drift("unreadable", t.key, f"its condition is not a Kconfig condition: "
                                    f"{'; '.join(t.condition.opaque)}", tree_place=t.place, spec_place=s.entry.where))
        else:
            tree_condition = tree_context & gate.condition & t.condition.condition
            spec_condition = spec_context & spec_gate & s.entry.when
            verdict = self.compare(tree_condition, spec_condition, scopes)
            if verdict is not None:
                self.drift.append(Drift("condition", t.key, f"tree: {tree_condition}; spec: {spec_condition}; "
                                        f"they differ {verdict}", tree_place=t.place, spec_place=s.entry.where,
                                        tree_item=t, spec_item=s))
        if t.entry is None or s.entry.value_shape is ValueShape.CALL:
            return
        if t.entry.kind != s.entry.kind:
            self.drift.append(Drift("argument", t.key, f"the tree uses {t.entry.macro}, the spec kind "
                                    f"{s.entry.kind} ({s.entry.macro})", tree_place=t.place, spec_place=s.entry.where,
                                    tree_item=t, spec_item=s))
            return
        if t.entry.format != s.entry.format:
            self.drift.append(Drift("format", t.key, f"tree {t.entry.format!r}, spec {s.entry.format!r}",
                                    tree_place=t.place, spec_place=s.entry.where, tree_item=t, spec_item=s))
        for mine, theirs in zip(t.entry.c_macro_args(), s.entry.c_macro_args()):
            if not _same_c(mine, theirs):
                self.drift.append(Drift("argument", t.key, f"tree {t.entry.macro}({', '.join(t.entry.c_macro_args())}), "
                                        f"spec {s.entry.macro}({', '.join(s.entry.c_macro_args())})",
                                        tree_place=t.place, spec_place=s.entry.where, tree_item=t, spec_item=s))
                break

    def _check_defines(self, file: str, emitter: Emitter, scanned: ScannedFile) -> None:
        """Macros the emitting file defines for its emissions against the spec's in-file defines.

        A function-like one may be a static function of the file as well (arm64's
        get_tcr_el1_t1sz()); its presence is checked, and for a spec `helper` its
        `return` expression against the helper's body."""
        used = set()
        for emission in scanned.emissions:
            for arg in emission.args:
                used |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", arg))
        tree_defines: Dict[str, list] = {}
        for define in scanned.defines:
            if define.name in used and not define.function_like:
                tree_defines.setdefault(define.name, []).append(define)
        spec_defines: Dict[str, list] = {}
        for spec_define in emitter.defines:
            if spec_define.in_file and spec_define.versions.contains(self.version):
                spec_defines.setdefault(spec_define.name, []).append(spec_define)
        for name in sorted(set(tree_defines) | set(spec_defines)):
            mine, theirs = tree_defines.get(name, []), spec_defines.get(name, [])
            if theirs and all(d.function_like for d in theirs):
                if name not in scanned.function_lines and not any(d.name == name for d in scanned.defines):
                    self.drift.append(Drift("define", name, f"an in-file function-like define, but {file} neither "
                                            f"defines nor #defines {name}()", spec_place=theirs[0].where,
                                            defines=(mine, theirs, emitter)))
                    continue
                helpers = [d.helper for d in theirs if d.helper is not None]
                returns = scanned.function_returns.get(name, [])
                if helpers and name in scanned.function_lines and not any(
                        _same_c(r, h.body_text) for r in returns for h in helpers):
                    shown = "; ".join(f"return {r}" for r in returns) or "no return statement"
                    self.drift.append(Drift("define", name, f"tree {name}() has {shown}, spec helper returns "
                                            f"{helpers[0].body_text}",
                                            tree_place=f"{file}:{scanned.function_lines[name]}",
                                            spec_place=theirs[0].where))
                continue
            if mine and not theirs:
                self.drift.append(Drift("define", name, f"{file} #defines it as {mine[0].value}; the spec has no "
                                        f"in-file define", tree_place=f"{file}:{mine[0].line}",
                                        defines=(mine, theirs, emitter)))
            elif theirs and not mine:
                self.drift.append(Drift("define", name, f"an in-file define, but {file} does not #define it",
                                        spec_place=theirs[0].where, defines=(mine, theirs, emitter)))
            elif not any(s.value_text is not None and _same_c(d.value, s.value_text) for d in mine for s in theirs):
                self.drift.append(Drift("define", name, f"tree {mine[0].value}, spec {theirs[0].value_text}",
                                        tree_place=f"{file}:{mine[0].line}", spec_place=theirs[0].where,
                                        defines=(mine, theirs, emitter)))


@dataclass
class Progress:
    """Where an audit reports how far it is: (done, total, what) for each C file scanned,
    then for each emitting file compared."""
    scanning: Callable[[int, int, str], None]
    comparing: Optional[Callable[[int, int, str], None]] = None

    def __post_init__(self):
        self.comparing = self.comparing or self.scanning


def audit_source(specs: SpecSet, tree: KernelTree, progress: Optional[Progress] = None) -> SourceAudit:
    return _Auditor(specs, tree, progress).run()


def render_text(audit: SourceAudit) -> str:
    lines = [f"vmci audit source: {audit.tree} (Linux {format_version(audit.version)}): "
             f"{len(audit.files)} files, {audit.emissions} emissions"]
    for report in audit.files:
        items = sum(1 for items in report.functions.values() for item in items if item.callee is None)
        gate = report.gate.condition if report.gate else "-"
        lines.append(f"  {report.file}: {items} emissions, gate {gate}, spec {report.emitter or '(none)'}")
    for drift in audit.drift:
        lines.append(str(drift))
    lines.append(f"{len(audit.drift)} drift items" if audit.drift else "no drift")
    return "\n".join(lines) + "\n"


def render_json(audit: SourceAudit, specs_directory: Optional[str]) -> dict:
    return {
        "tree": audit.tree,
        "kernel_version": format_version(audit.version),
        "emissions": audit.emissions,
        "files": [{
            "file": report.file,
            "gate": str(report.gate.condition) if report.gate else None,
            "gate_from": [kernel_location(place) for place in report.gate.places] if report.gate else [],
            "emitter": report.emitter,
            "functions": {name: [
                {"key": item.key, "kind": item.entry.kind if item.entry else "call",
                 "condition": None if item.condition == PreprocessorCondition() else str(item.condition),
                 "kernel_location": {"file": item.file, "line": item.line},
                 "spec": spec_location(item.entry.where if item.entry else None, specs_directory)}
                for item in items] for name, items in report.functions.items()},
        } for report in audit.files],
        "drift": [d.as_json(specs_directory) for d in audit.drift],
    }
