"""Semantic checks over the model, beyond what the schema can say.

Errors are problems that make the specs wrong (a key emitted twice in one kernel,
overlapping definitions, a value referring to a macro no spec defines for that
architecture); lint warnings are named checks an entry may suppress with
`lint-ignore` (LINE_TOO_LONG, DOC_MISSING, NOT_READ_BY_ANY_TOOL).
"""
from __future__ import annotations

from contextvars import ContextVar
from itertools import combinations
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from vmci.abi import ARCH_FUNCTION, DEFAULT_WIDTH, FORMAT_WIDTH, LINE_BUFFER_BYTES
from vmci.lang import cexpr
from vmci.lang.condition import TRUE, Condition, all_of, any_of
from vmci.spec.yamlsource import Problem
from vmci.spec.kinds import CallEntry, Entry
from vmci.spec.model import Define, Emitter, SpecSet, Version, VersionRange

LINT_CHECKS = ("LINE_TOO_LONG", "DOC_MISSING", "NOT_READ_BY_ANY_TOOL")



# Entries that emit one key, and definitions of one macro, are compared pair by pair;
# beyond this many the specs are refused rather than compared (n^2/2 checks).
MAX_SHARED = 100


def _problem(where, message: str, severity: str = "error", check: str = "") -> Problem:
    return Problem(where.file, where.line, where.col, message, severity, check)


# Kconfig choice groups (exactly one option of each is set), for the overlap checks.
CHOICES: ContextVar[tuple] = ContextVar("CHOICES", default=())


def check_specs(specs: SpecSet, kernel_symbols: Optional[Set[str]] = None,
                kernel_version: Optional[Version] = None) -> List[Problem]:
    CHOICES.set(tuple(tuple(group) for emitter in specs.emitters for group in emitter.choices))
    problems: List[Problem] = []
    problems += _check_names(specs)
    problems += _check_sources(specs)
    problems += _check_calls(specs)
    problems += _check_duplicate_keys(specs)
    problems += _check_define_overlaps(specs)
    problems += _check_image_bases(specs)


    problems += _check_in_file_helpers(specs)
    problems += _check_references(specs)
    if kernel_symbols is not None:
        problems += _check_kconfig_symbols(specs, kernel_symbols, kernel_version)
    problems += _lint(specs)
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.message))


# --- scopes -----------------------------------------------------------------------------

def machine_condition(emitter: Emitter) -> Condition:
    """What an architecture emitter's entries imply: one of its machines' configs."""
    if emitter.target is None or not emitter.target.machines:
        return TRUE
    return any_of(machine.config for machine in emitter.target.machines)


def _arch_scope(emitter: Emitter) -> Optional[str]:
    return emitter.target.arch if emitter.target else None


def _arches_overlap(a: Optional[str], b: Optional[str]) -> bool:
    return a is None or b is None or a == b


def _all_arches(specs: SpecSet) -> List[str]:
    return sorted({e.target.arch for e in specs.emitters if e.target})


# --- structural checks --------------------------------------------------------------------

def _check_names(specs: SpecSet) -> List[Problem]:
    problems = []
    seen: Dict[str, Emitter] = {}
    machines: Dict[str, str] = {}
    for emitter in specs.emitters:
        if emitter.name in seen:
            problems.append(_problem(emitter.where, f"emitter name {emitter.name!r} is also used by {seen[emitter.name].path}"))
        seen[emitter.name] = emitter
        for machine in (emitter.target.machines if emitter.target else []):
            for name in [machine.name] + machine.aliases:
                if name in machines and machines[name] != emitter.path:
                    problems.append(_problem(emitter.where, f"machine name {name!r} is also claimed by {machines[name]}"))
                machines[name] = emitter.path
    # a function of a general spec runs for every architecture: no other spec may define
    # it too (architecture specs may share names, as each is its own kernel's file)
    general: Dict[str, Emitter] = {}
    for emitter in specs.general_emitters():
        for function in emitter.functions:
            general.setdefault(function.name, emitter)
    for emitter in specs.emitters:
        for function in emitter.functions:
            owner = general.get(function.name)
            if owner is not None and owner is not emitter:
                problems.append(_problem(emitter.where, f"function {function.name}() is also defined by "
                                                        f"{owner.path}, which every architecture runs"))
    # the specs as a whole were audited through one version: one file says which
    carriers = [e for e in specs.emitters if e.audited is not None]
    for emitter in carriers[1:]:
        problems.append(_problem(emitter.audited_where, f"audited: {carriers[0].path} already records the "
                                                        f"version the specs were audited against; keep it in one file"))
    return problems


def _check_sources(specs: SpecSet) -> List[Problem]:
    problems = []
    for emitter in specs.emitters:
        for a, b in combinations(emitter.sources, 2):
            if a.versions.overlaps(b.versions):
                problems.append(_problem(b.where, f"sources {a.file} ({a.versions}) and {b.file} ({b.versions}) overlap in versions"))
        for entry in emitter.entries():
            if not entry.versions.overlaps(emitter.versions) or (
                    entry.versions.until is not None and emitter.versions.since is not None
                    and entry.versions.until <= emitter.versions.since):
                problems.append(_problem(entry.where, f"{entry.key}: its versions ({entry.versions}) lie outside the file's ({emitter.versions})"))
    return problems


def _check_calls(specs: SpecSet) -> List[Problem]:
    defined = {f.name for e in specs.emitters for f in e.functions}
    problems = []
    for emitter in specs.emitters:
        for entry in emitter.entries():
            if isinstance(entry, CallEntry) and entry.callee not in defined and entry.callee != ARCH_FUNCTION:
                problems.append(_problem(entry.where, f"call to {entry.callee}() but no spec defines that function"))
    return problems + _check_call_cycles(specs)


def _check_call_cycles(specs: SpecSet) -> List[Problem]:
    """A function that calls itself, directly or through others (the kernel's never do,
    and the walk in select.py would go round until its depth limit)."""
    calls: Dict[str, list] = {}
    for emitter in specs.emitters:
        for function in emitter.functions:
            calls.setdefault(function.name, []).extend(e for e in function.entries if isinstance(e, CallEntry))
    problems = []
    for start in sorted(calls):
        # depth-first from `start`, iteratively; report a call that leads back to `start`
        stack: List[Tuple[str, Tuple[str, ...]]] = [(start, (start,))]  # (name, the calls that lead to it)
        seen = set()
        while stack:
            name, chain = stack.pop()
            for entry in calls.get(name, ()):
                if entry.callee == start:
                    if name == start or start == min(chain):  # each cycle once, from its first name
                        problems.append(_problem(entry.where, f"call to {entry.callee}() makes a cycle: "
                                                              f"{' -> '.join(c + '()' for c in chain + (start,))}"))
                elif entry.callee not in seen and entry.callee in calls:
                    seen.add(entry.callee)
                    stack.append((entry.callee, chain + (entry.callee,)))
    return problems


def _scoped_entries(specs: SpecSet):
    for emitter in specs.emitters:
        machines = machine_condition(emitter)
        for function in emitter.functions:
            for entry in function.entries:
                if entry.emits:
                    yield emitter, machines, entry


def _check_duplicate_keys(specs: SpecSet) -> List[Problem]:
    problems = []
    by_key: Dict[str, list] = {}
    for item in _scoped_entries(specs):
        by_key.setdefault(item[2].key, []).append(item)
    for key, items in by_key.items():
        if len(items) > MAX_SHARED:
            problems.append(_problem(items[MAX_SHARED][2].where, f"{key}: {len(items)} entries emit this key; at most "
                                                                 f"{MAX_SHARED} may (each pair is checked for overlap)"))
            continue
        for (e1, m1, a), (e2, m2, b) in combinations(items, 2):
            if a.repeats or b.repeats:
                continue  # the kernel really emits it twice, and the spec says why
            if not _arches_overlap(_arch_scope(e1), _arch_scope(e2)):
                continue
            if not a.versions.overlaps(b.versions):
                continue
            if (m1 & a.when).satisfiable_with(m2 & b.when, choices=CHOICES.get()):
                problems.append(_problem(b.where, f"{key} is emitted twice for some kernel: also at {a.where} "
                                                  f"(make their versions or conditions disjoint)"))
    return problems


def _check_define_overlaps(specs: SpecSet) -> List[Problem]:
    problems = []
    by_name: Dict[str, list] = {}
    for emitter in specs.emitters:
        for define in emitter.defines:
            by_name.setdefault(define.name, []).append((emitter, define))
    for name, items in by_name.items():
        if len(items) > MAX_SHARED:
            problems.append(_problem(items[MAX_SHARED][1].where, f"define {name}: {len(items)} definitions; at most "
                                                                 f"{MAX_SHARED} may (each pair is checked for overlap)"))
            continue
        for (e1, a), (e2, b) in combinations(items, 2):
            if not _arches_overlap(_arch_scope(e1), _arch_scope(e2)) or not a.versions.overlaps(b.versions):
                continue
            if (machine_condition(e1) & a.when).satisfiable_with(machine_condition(e2) & b.when,
                                                                 choices=CHOICES.get()):
                problems.append(_problem(b.where, f"define {name} overlaps the one at {a.where}: "
                                                  f"for some kernel both apply (make their conditions or versions disjoint)"))
    return problems


def _check_image_bases(specs: SpecSet) -> List[Problem]:
    """An image base, and the line that carries the KASLR offset, belong to an
    architecture, and at most one of each applies to a kernel."""
    problems = []
    for emitter in specs.emitters:
        if emitter.image_bases and emitter.target is None:
            problems.append(_problem(emitter.image_bases[0].where, "image-base: only an architecture file (one with "
                                                                   "a target) says where its kernel image runs"))
            continue
        marked = [e for e in emitter.entries() if e.kaslr_offset]
        for entry in marked:
            if emitter.target is None or entry.format not in ("%lx", "0x%lx", "%llx", "0x%llx", "%lu", "%ld"):
                problems.append(_problem(entry.where, f"{entry.key}: kaslr-offset marks an architecture's line "
                                                      f"whose value is a machine word (KERNELOFFSET=%lx)"))
        for a, b in combinations(marked, 2):
            if a.versions.overlaps(b.versions) and (machine_condition(emitter) & a.when).satisfiable_with(
                    b.when, choices=CHOICES.get()):
                problems.append(_problem(b.where, f"{b.key}: a second kaslr-offset line for some kernel, besides "
                                                  f"{a.key} at {a.where} (one line carries the KASLR offset)"))
        for a, b in combinations(emitter.image_bases, 2):
            if a.versions.overlaps(b.versions) and (machine_condition(emitter) & a.when).satisfiable_with(
                    b.when, choices=CHOICES.get()):
                problems.append(_problem(b.where, f"image-base overlaps the one at {a.where}: for some kernel "
                                                  f"both apply (make their conditions or versions disjoint)"))
    return problems


def _check_in_file_helpers(specs: SpecSet) -> List[Problem]:
    """An in-file define is kernel C: generated C writes its value as the emitting file's
    own definition. A function-like one with `runtime` stands for a helper the kernel
    computes at run time (riscv's get_satp_value() reads the satp CSR); its value is only
    resolve's stand-in, so it must carry the kernel's real C in `helper`, or generated C
    would #define the helper as the stand-in. (An object-like in-file define is the file's
    #define itself, which `vmci audit source` compares with the tree.) A helper belongs
    only to an in-file function-like define."""
    problems = []
    for emitter in specs.emitters:
        for define in emitter.defines:
            shown = define.name + ("()" if define.function_like else "")
            if define.helper is not None and not (define.in_file and define.function_like):
                problems.append(_problem(define.where, f"define {shown}: `helper` is the C of a static inline "
                                                       f"function of the emitting file; it needs `in-file: true` "
                                                       f"and a name ending in ()"))
            elif define.in_file and define.function_like and define.runtime and define.helper is None:
                problems.append(_problem(define.where, f"define {shown}: in-file with `runtime`, so its value is "
                                                       f"resolve's stand-in, yet generated kernel C would #define "
                                                       f"{shown} as it; give the kernel's C in `helper` "
                                                       f"(returns, body)"))
    return problems


def _check_references(specs: SpecSet) -> List[Problem]:
    """Every define a value uses must be defined wherever the entry applies."""
    check = _References(specs)
    arches = _all_arches(specs)
    problems = []
    for emitter in specs.emitters:
        machines = machine_condition(emitter)
        entry_arches = [emitter.target.arch] if emitter.target else arches
        for entry in emitter.entries():
            expression = entry.value_expression()
            if expression is None or not entry.emits:
                continue
            macros = check.macros_in(expression)
            if not macros:
                continue  # nothing that must be defined
            for arch in entry_arches:
                condition = (machines if emitter.target else check.arch_machines(arch)) & entry.when
                for version in check.probe_versions(_intersect(entry.versions, emitter.versions)):
                    if not entry.versions.contains(version):
                        continue
                    if not check.arch_alive(arch, version):
                        continue  # the architecture is gone (ia64 after 6.7)
                    message = check.undefined_in(macros, arch, check.era(version), condition, frozenset())
                    if message:
                        message = message.replace(_VERSION, ".".join(map(str, version)))
                        problems.append(_problem(entry.where, f"{entry.key}: {message}"))
                        break
                else:
                    continue
                break
    return problems


def _intersect(a: VersionRange, b: VersionRange) -> VersionRange:
    since = max((v for v in (a.since, b.since) if v is not None), default=None)
    until = min((v for v in (a.until, b.until) if v is not None), default=None)
    return VersionRange(since, until)


_VERSION = "\0version\0"  # where a verdict names the version: the same verdict serves an era


class _References:
    """What the reference checks of every entry share, computed once: the version bounds
    the specs mention, each architecture's machines, the macros each expression names,
    and the verdict for each (macros, architecture, era, condition). An era is the
    versions in which the same defines exist: a verdict depends on the version only so."""

    def __init__(self, specs: SpecSet):
        self.specs = specs
        self.defines_by_name: Dict[str, List[Tuple[Emitter, Define]]] = {}
        bounds: Set[Version] = set()
        for emitter in specs.emitters:
            for define in emitter.defines:
                self.defines_by_name.setdefault(define.name, []).append((emitter, define))
            for rng in [emitter.versions] + [s.versions for s in emitter.sources] + \
                    [e.versions for e in emitter.entries()] + [d.versions for d in emitter.defines]:
                bounds.update(v for v in (rng.since, rng.until) if v is not None)
        self.bounds = sorted(bounds)
        defines = [d for e in specs.emitters for d in e.defines]
        self._eras: Dict[Version, Version] = {}
        first: Dict[FrozenSet[int], Version] = {}
        for version in self.bounds:
            alive = frozenset(i for i, d in enumerate(defines) if d.versions.contains(version))
            self._eras[version] = first.setdefault(alive, version)
        self.choices = CHOICES.get()
        self._machines: Dict[str, Condition] = {}
        self._alive: Dict[Tuple[str, Version], bool] = {}
        self._names: Dict[int, Tuple[object, Tuple[str, ...]]] = {}  # id -> (the expression, kept alive; its macros)
        self._verdicts: Dict[tuple, Optional[str]] = {}
        self._defined: Dict[Tuple[str, Version], List[Tuple[Emitter, Define]]] = {}

    def probe_versions(self, window: VersionRange) -> List[Version]:
        """One version inside each stretch between the version bounds the specs mention."""
        return [v for v in self.bounds if window.contains(v)] or ([window.since] if window.since else [(6, 1)])

    def era(self, version: Version) -> Version:
        """The first probed version in which the same defines exist as in `version`."""
        return self._eras.get(version, version)

    def defined_in(self, name: str, version: Version) -> List[Tuple[Emitter, Define]]:
        """The definitions of a macro that exist in `version`."""
        key = (name, version)
        if key not in self._defined:
            self._defined[key] = [(e, d) for e, d in self.defines_by_name[name] if d.versions.contains(version)]
        return self._defined[key]

    def arch_machines(self, arch: str) -> Condition:
        if arch not in self._machines:
            emitters = self.specs.arch_emitters(arch)
            self._machines[arch] = any_of(machine_condition(e) for e in emitters) if emitters else TRUE
        return self._machines[arch]

    def arch_alive(self, arch: str, version: Version) -> bool:
        key = (arch, version)
        if key not in self._alive:
            self._alive[key] = any(e.versions.contains(version) for e in self.specs.arch_emitters(arch))
        return self._alive[key]

    def macros_in(self, expression) -> Tuple[str, ...]:
        """The names of macros the specs define that the expression uses, sorted."""
        known = self._names.get(id(expression))
        if known is None:
            names = cexpr.names_in(expression) | {c for c in cexpr.calls_in(expression) if c in self.defines_by_name}
            # not a macro the specs know (a DWARF or symbol-table name), or refused above
            macros = tuple(sorted(n for n in names
                                  if n in self.defines_by_name and len(self.defines_by_name[n]) <= MAX_SHARED))
            known = self._names[id(expression)] = (expression, macros)
        return known[1]

    def undefined_in(self, macros: Tuple[str, ...], arch: str, version: Version, condition: Condition,
                     active: FrozenSet[str]) -> Optional[str]:
        """Why a value that uses `macros` is not defined everywhere `condition` holds on
        `arch` in `version` (None when it is)."""
        key = (macros, arch, version, condition, active)
        if key not in self._verdicts:
            self._verdicts[key] = self._undefined_in(macros, arch, version, condition, active)
        return self._verdicts[key]

    def _undefined_in(self, macros: Tuple[str, ...], arch: str, version: Version, condition: Condition,
                      active: FrozenSet[str]) -> Optional[str]:
        for name in macros:
            if name in active:
                return f"define {name} refers to itself"
            in_version = self.defined_in(name, version)
            if not in_version:
                continue  # not a macro in this version (PG_slab is an enumerator before 6.10)
            if not name.isupper():
                # a lower-case macro is an alias of an object on some machines (swapper_pg_dir is
                # init_top_pgt on x86_64); where no spec defines it, it is the object itself
                continue
            candidates = [(e, d) for e, d in in_version if e.target is None or e.target.arch == arch]
            uncovered = all_of([condition] + [d.when.negate() for _, d in candidates])  # no candidate's condition
            if uncovered.satisfiable_with(choices=self.choices):
                where = sorted({e.target.arch if e.target else "all arches" for e, _ in in_version})
                return (f"uses {name}, which no define covers on {arch} in {_VERSION} "
                        f"under {condition} (it is defined for: {', '.join(where)})")
            for _, define in candidates:
                if define.value is None:
                    continue  # an object: read from the image, nothing further to define
                if not (condition & define.when).satisfiable_with(choices=self.choices):
                    continue
                deeper = self.undefined_in(self.macros_in(define.value), arch, version, condition & define.when,
                                           active | {name})
                if deeper:
                    return deeper
        return None


def _check_kconfig_symbols(specs: SpecSet, known: Set[str], version: Optional[Version]) -> List[Problem]:
    problems: List[Problem] = []

    def check(condition: Condition, versions: VersionRange, where, what: str):
        # the emitter's own range bounds everything in it: ia64's file ended at 6.7, so
        # none of its sources, defines or entries is checked against a 7.2 tree
        if version is not None and not (versions.contains(version) and emitter.versions.contains(version)):
            return
        for symbol in sorted(condition.symbols()):
            if symbol not in known:
                problems.append(_problem(where, f"{what} uses {symbol}, which no Kconfig file of the kernel tree declares"))

    for emitter in specs.emitters:
        for source in emitter.sources:
            check(source.gate, source.versions, source.where, f"the gate of {source.file}")
        for machine in (emitter.target.machines if emitter.target else []):
            check(machine.config, emitter.versions, emitter.where, f"machine {machine.name}")
        for define in emitter.defines:
            check(define.when, define.versions, define.where, f"define {define.name}")
            config_names = {n for n in cexpr.names_in(define.value) if n.startswith("CONFIG_")} \
                if define.value is not None else set()
            check(Condition.parse(" && ".join(sorted(config_names))) if config_names else TRUE,
                  define.versions, define.where, f"define {define.name}")
        for entry in emitter.entries():
            check(entry.when, entry.versions, entry.where, entry.key)
    return problems


# --- named lint checks ----------------------------------------------------------------------

def max_line_bytes(entry: Entry) -> int:
    return len(entry.key) + 1 + FORMAT_WIDTH.get(entry.format, DEFAULT_WIDTH) + 1


def _lint(specs: SpecSet) -> List[Problem]:
    problems = []
    read_keys = {read.key for read in specs.consumers}
    for emitter in specs.emitters:
        for entry in emitter.entries():
            if not entry.emits:
                continue
            ignored = set(entry.lint_ignore)
            if "LINE_TOO_LONG" not in ignored and max_line_bytes(entry) > LINE_BUFFER_BYTES - 1:
                problems.append(_problem(entry.where, f"{entry.key}: the line can be {max_line_bytes(entry)} bytes; the kernel "
                                                      f"cuts lines at {LINE_BUFFER_BYTES - 1} bytes including the newline",
                                         "warning", "LINE_TOO_LONG"))
            if "DOC_MISSING" not in ignored and not entry.doc.strip():
                problems.append(_problem(entry.where, f"{entry.key}: no doc line for the generated reference",
                                         "warning", "DOC_MISSING"))
            if specs.consumers and "NOT_READ_BY_ANY_TOOL" not in ignored and entry.key not in read_keys:
                problems.append(_problem(entry.where, f"{entry.key}: no known dump tool reads it "
                                                      f"(specs/consumers.yaml)", "warning", "NOT_READ_BY_ANY_TOOL"))
    return problems


def errors_in(problems: Iterable[Problem]) -> List[Problem]:
    return [p for p in problems if p.severity == "error"]
