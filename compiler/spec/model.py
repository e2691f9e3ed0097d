"""The typed model of the specs: the one in-memory truth every later stage walks.

Built from schema-valid documents. Names, conditions, versions and C expressions are
parsed once here; emitters, the resolver and the audits never look at raw YAML. Each
entry kind is a class of spec/kinds.py that knows its fields, the key it writes, its
value shape and format, the C the kernel writes for it, and the expression vmci
evaluates for its value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from vmci.lang import cexpr
from vmci.lang.condition import TRUE, Condition, ConditionError
from vmci.spec.yamlsource import Document, Path, Problem
from vmci.runtime import compare_version

if TYPE_CHECKING:
    from vmci.spec.kinds import Entry

Version = Tuple[int, ...]


def parse_version(text: str) -> Version:
    return tuple(int(part) for part in text.split("."))


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


# MAJOR.MINOR[.SUBLEVEL] in ASCII digits, then nothing or a release suffix that starts
# as the kernel's EXTRAVERSION and LOCALVERSION do (`-rc1`, `-57-cloud-amd64`,
# `+deb13-cloud-arm64`, `~bpo12`, `_custom`). `6.1garbage`, `6.1.-1`, `6.1.0.0.0` and
# other scripts' digits (`٦.١`) are no kernel versions. The numbers are bounded: the
# kernel's KERNEL_VERSION() packs each into a byte (the sublevel is clamped to 255, so
# Debian's 4.19.316 has more digits), and Python refuses int() of 4,300 digits.
_RELEASE = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})(?:\.([0-9]{1,6}))?([-+~_][\x21-\x7e]*)?")


def parse_kernel_version(text: str) -> Version:
    """`6.12`, `6.12.117`, or a release string such as `6.1.0-57-cloud-amd64`.

    Debian's release strings carry an ABI number where the sublevel would be
    (6.1.0-57 is 6.1.192), so a third number followed by a `-` suffix is dropped.
    """
    match = _RELEASE.fullmatch(text.strip(" \t\n"))
    if not match:
        shown = text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"
        raise ValueError(f"{shown!r} is not a kernel version (expected e.g. 6.12, 6.12.117 or 6.1.0-57-cloud-amd64)")
    major, minor, sublevel, rest = match.groups()
    rest = rest or ""
    if sublevel is None or (rest.startswith("-") and sublevel == "0"):
        return (int(major), int(minor))
    return (int(major), int(minor), int(sublevel))


def kernel_version_from_banner(banner: Optional[str]) -> Optional[Version]:
    """The real version from linux_banner: Debian's release 6.1.0-57-cloud-amd64 hides
    6.1.192, which the banner names after the build number (`#1 SMP ... Debian 6.1.192-3`).
    None when the banner names no version."""
    if not banner or not banner.startswith("Linux version "):
        return None
    release = banner.split()[2]
    try:
        from_release = parse_kernel_version(release)
    except ValueError:
        return None
    tail = banner.split(" #", 1)[1] if " #" in banner else ""
    for match in re.finditer(r"\b([0-9]{1,4})\.([0-9]{1,4})\.([0-9]{1,6})\b", tail):
        version = tuple(int(part) for part in match.groups())
        if version[:2] == from_release[:2]:
            return version
    return from_release


@dataclass(frozen=True)
class VersionRange:
    since: Optional[Version] = None
    until: Optional[Version] = None

    def contains(self, version: Version) -> bool:
        # a MAJOR.MINOR version stands for its whole series
        if self.since is not None and _cmp(version, self.since) < 0:
            return False
        if self.until is not None and _cmp(version, self.until) >= 0:
            return False
        return True

    def overlaps(self, other: VersionRange) -> bool:
        low = max((v for v in (self.since, other.since) if v is not None), default=None)
        high = min((v for v in (self.until, other.until) if v is not None), default=None)
        return low is None or high is None or low < high

    def __str__(self) -> str:
        if self.since is None and self.until is None:
            return "all versions"
        parts = []
        if self.since is not None:
            parts.append(f"since {format_version(self.since)}")
        if self.until is not None:
            parts.append(f"until {format_version(self.until)}")
        return " ".join(parts)


def _cmp(version: Version, bound: Version) -> int:
    """Compare a version with a range bound; a shorter version compares on its prefix
    (6.1 against 6.1.50: the series straddles the bound; count it in). The runtime's
    comparison, which the generated package uses too."""
    return compare_version(version, bound)


@dataclass(frozen=True)
class SpecLocation:
    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


# --- the rest of a spec file ------------------------------------------------------------

@dataclass
class Helper:
    """The kernel's C of an in-file static inline function (riscv's get_satp_value()):
    `static inline RETURNS NAME(void) { return BODY; }`."""
    returns: cexpr.TypeName
    returns_text: str
    body_text: str
    body: cexpr.Node


@dataclass
class Define:
    name: str
    function_like: bool
    value_text: Optional[str]
    value: Optional[cexpr.Node]  # None for an object define
    where: SpecLocation
    when: Condition = TRUE
    versions: VersionRange = VersionRange()
    in_file: bool = False
    header: Optional[str] = None
    runtime: Optional[str] = None
    doc: str = ""
    emitter: str = ""
    is_object: bool = False  # the name is a global variable of the image in this scope
    helper: Optional[Helper] = None  # the kernel's function; `value` is then resolve's stand-in


@dataclass
class ImageBase:
    """Where an architecture's kernel image runs, relative to its link addresses, when
    booted without KASLR: every symbol of the image is at its vmlinux address plus
    this value (s390 since 6.10 runs at CONFIG_KERNEL_IMAGE_BASE)."""
    value_text: str
    value: cexpr.Node
    where: SpecLocation
    when: Condition = TRUE
    versions: VersionRange = VersionRange()
    doc: str = ""


@dataclass
class Local:
    name: str
    type: cexpr.TypeName
    type_text: str
    init_text: Optional[str]
    init: Optional[cexpr.Node]
    when: Condition = TRUE
    versions: VersionRange = VersionRange()


@dataclass
class Function:
    name: str
    phase: str
    doc: str
    locals: List[Local]
    entries: List[Entry]


@dataclass
class Source:
    file: str
    gate: Condition
    versions: VersionRange
    includes: List[str]
    where: SpecLocation


@dataclass
class Machine:
    name: str
    aliases: List[str]
    elf_machine: int
    elf_class: int
    endianness: str
    config: Condition
    # the memory models and NUMA settings the architecture's Kconfig offers this machine,
    # per kernel version range (empty: every variant)
    kconfig_allows: List[Tuple[VersionRange, Condition]] = field(default_factory=list)

    def allows(self, version) -> Condition:
        """The `kconfig-allows` condition in force at `version` (TRUE when none is)."""
        for versions, condition in self.kconfig_allows:
            if versions.contains(version):
                return condition
        return TRUE


@dataclass
class Target:
    arch: str
    machines: List[Machine]


@dataclass
class Emitter:
    name: str
    doc: str
    path: str
    versions: VersionRange
    target: Optional[Target]
    sources: List[Source]
    defines: List[Define]
    functions: List[Function]
    where: SpecLocation
    choices: List[List[str]] = field(default_factory=list)
    audited: Optional[Version] = None  # the file's `audited:` (common.yaml carries it)
    audited_where: Optional[SpecLocation] = None
    image_bases: List[ImageBase] = field(default_factory=list)

    def source_for(self, version) -> Optional[Source]:
        for source in self.sources:
            if source.versions.contains(version):
                return source
        return None

    def entries(self):
        for function in self.functions:
            yield from function.entries


@dataclass
class ConsumerRead:
    tool: str
    key: str
    required: bool
    machines: List[str]
    where: str
    note: str
    required_when: Condition = TRUE  # the kernels on which `required` holds (a memory model)


@dataclass
class SpecSet:
    emitters: List[Emitter]
    consumers: List[ConsumerRead] = field(default_factory=list)
    tools: Dict[str, dict] = field(default_factory=dict)
    directory: str = ""

    def arch_emitters(self, arch: str) -> List[Emitter]:
        return [e for e in self.emitters if e.target is not None and e.target.arch == arch]

    def general_emitters(self) -> List[Emitter]:
        return [e for e in self.emitters if e.target is None]

    def machines(self) -> List[Tuple[Emitter, Machine]]:
        return [(e, m) for e in self.emitters if e.target for m in e.target.machines]

    def readers_of(self, key: str) -> List[ConsumerRead]:
        return [read for read in self.consumers if read.key == key]

    def all_entries(self):
        for emitter in self.emitters:
            yield from emitter.entries()

    def covered_versions(self) -> List[VersionRange]:
        return [e.versions for e in self.emitters]

    def audited(self) -> Optional[Tuple[Version, SpecLocation]]:
        """The newest version the specs were checked against, and where they say so."""
        found = [(e.audited, e.audited_where) for e in self.emitters
                 if e.audited is not None and e.audited_where is not None]  # set together (build_emitter)
        return max(found, key=lambda item: item[0]) if found else None

    def unaudited(self, version: Version) -> Optional[Tuple[Version, SpecLocation]]:
        """(audited version, its place) when `version`'s series is newer than it, else None."""
        audited = self.audited()
        if audited is None or tuple(version[:2]) <= tuple(audited[0][:2]):
            return None
        return audited


# --- building the model from documents --------------------------------------------------

class _Builder:
    def __init__(self, document: Document, problems: List[Problem]):
        self.document = document
        self.problems = problems

    def loc(self, path) -> SpecLocation:
        line, col = self.document.where(path)
        return SpecLocation(self.document.path, line, col)

    def error(self, path, message: str) -> None:
        self.problems.append(self.document.problem(path, message))

    def condition(self, raw, path) -> Condition:
        try:
            return Condition.parse(raw)
        except ConditionError as error:
            line, col = self.document.where(path)
            offset = _column_in_value(self.document, path, error.column)
            self.problems.append(Problem(self.document.path, line, offset or col, f"bad condition {raw!r}: {error.message}"))
            return TRUE

    def expression(self, raw, path, allow_assign: bool = False) -> Optional[cexpr.Node]:
        text = str(raw)
        try:
            return cexpr.parse_expression(text, allow_assign=allow_assign)
        except cexpr.CExprError as error:
            line, col = self.document.where(path)
            offset = _column_in_value(self.document, path, error.column)
            self.problems.append(Problem(self.document.path, line, offset or col, f"bad C expression {text!r}: {error.message}"))
            return None

    def helper(self, raw: dict, path) -> Optional[Helper]:
        try:
            returns = cexpr.parse_type_name(raw["returns"])
        except cexpr.CExprError as error:
            self.error(path + ("returns",), f"bad C type {raw['returns']!r}: {error.message}")
            return None
        body = self.expression(raw["body"], path + ("body",))
        return None if body is None else Helper(returns, raw["returns"], str(raw["body"]), body)

    def versions(self, raw: dict, path) -> VersionRange:
        since, until = self.version(raw, path, "since"), self.version(raw, path, "until")
        if since is not None and until is not None and since >= until:
            self.error(path + ("until",), f"version range is empty: since {raw['since']} is not before until {raw['until']}")
        return VersionRange(since, until)


    def version(self, raw: dict, path, field: str) -> Optional[Version]:
        if field not in raw:
            return None
        try:
            return parse_version(raw[field])
        except ValueError:  # the schema's pattern admits numbers int() refuses (over 4,300 digits)
            text = str(raw[field])
            shown = text if len(text) <= 40 else text[:20] + "..." + text[-10:]
            self.error(path + (field,), f"{field}: {shown!r} is not a kernel version")
            return None


def _column_in_value(document: Document, path, column: int) -> Optional[int]:
    """Point at the offending character when the value is a plain one-line scalar."""
    line, col = document.where(path)
    if column <= 1:
        return None
    return col + column - 1 + (1 if tuple(path) in document.quoted else 0)


def build_emitter(document: Document, problems: List[Problem]) -> Emitter:
    b = _Builder(document, problems)
    data = document.data
    target = None
    path: Path  # where in the document, as document.where takes it
    if "target" in data:
        machines = []
        for i, raw in enumerate(data["target"]["machines"]):
            path = ("target", "machines", i)
            machines.append(Machine(raw["name"], list(raw.get("aliases", [])), raw["elf"]["machine"],
                                    raw["elf"]["class"], raw["elf"]["endianness"],
                                    b.condition(raw["config"], path + ("config",)),
                                    _kconfig_allows(b, raw.get("kconfig-allows"), path + ("kconfig-allows",))))
        target = Target(data["target"]["arch"], machines)
    sources = []
    for i, raw in enumerate(data["sources"]):
        path = ("sources", i)
        for where, text in [(("file",), raw["file"])] + [(("includes", j), h) for j, h in
                                                         enumerate(raw.get("includes", []))]:
            if any(part in ("", ".", "..") for part in str(text).split("/")):
                shown = "sources[%d].%s" % (i, where[0]) + ("[%d]" % where[1] if len(where) > 1 else "")
                b.error(path + where, f"{shown}: {text!r} is not a path inside a kernel tree")
        sources.append(Source(raw["file"], b.condition(raw["gate"], path + ("gate",)), b.versions(raw, path),
                              list(raw.get("includes", [])), b.loc(path)))
    defines = []
    for i, raw in enumerate(data.get("defines", [])):
        path = ("defines", i)
        name = raw["name"]
        is_object = bool(raw.get("object", False))
        node = None if is_object else b.expression(raw["value"], path + ("value",))
        if node is None and not is_object:
            continue
        defines.append(Define(name.rstrip("()"), name.endswith("()"), None if is_object else str(raw["value"]),
                              node, b.loc(path), b.condition(raw.get("when"), path + ("when",)),
                              b.versions(raw, path), bool(raw.get("in-file", False)), raw.get("header"),
                              raw.get("runtime"), raw.get("doc", ""), data["emitter"], is_object,
                              b.helper(raw["helper"], path + ("helper",)) if "helper" in raw else None))
    image_bases = []
    for i, raw in enumerate(data.get("image-base", [])):
        path = ("image-base", i)
        node = b.expression(raw["value"], path + ("value",))
        if node is not None:
            image_bases.append(ImageBase(str(raw["value"]), node, b.loc(path),
                                         b.condition(raw.get("when"), path + ("when",)), b.versions(raw, path),
                                         raw.get("doc", "")))
    functions = []
    first_definition: Dict[str, int] = {}
    for i, raw in enumerate(data["functions"]):
        path = ("functions", i)
        if raw["name"] in first_definition:  # one C file cannot define a function twice
            line, _ = document.where(("functions", first_definition[raw["name"]], "name"))
            b.error(path + ("name",), f"function {raw['name']}() is already defined at line {line} of this file")
            continue
        first_definition[raw["name"]] = i
        locals_ = []
        for j, local in enumerate(raw.get("locals", [])):
            lpath = path + ("locals", j)
            try:
                type_name = cexpr.parse_type_name(local["type"])
            except cexpr.CExprError as error:
                b.error(lpath + ("type",), f"bad C type {local['type']!r}: {error.message}")
                continue
            init = b.expression(local["init"], lpath + ("init",)) if "init" in local else None
            locals_.append(Local(local["name"], type_name, local["type"], local.get("init"), init,
                                 b.condition(local.get("when"), lpath + ("when",)), b.versions(local, lpath)))
        entries = [e for e in (_build_entry(b, raw_entry, path + ("entries", j), data["emitter"], raw["name"])
                               for j, raw_entry in enumerate(raw["entries"])) if e is not None]
        functions.append(Function(raw["name"], raw.get("phase", "boot"), raw.get("doc", ""), locals_, entries))
    audited = b.version(data, (), "audited")
    return Emitter(data["emitter"], data["doc"], document.path, b.versions(data, ()), target, sources, defines,
                   functions, b.loc(()), [list(group) for group in data.get("choices", [])],
                   audited, b.loc(("audited",)) if audited is not None else None, image_bases)


def _kconfig_allows(b: _Builder, raw, path) -> List[Tuple[VersionRange, Condition]]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [(VersionRange(), b.condition(raw, path))]
    return [(b.versions(item, path + (i,)), b.condition(item["allows"], path + (i, "allows")))
            for i, item in enumerate(raw)]


def _build_entry(b: _Builder, raw: dict, path, emitter: str, function: str) -> Optional[Entry]:
    from vmci.spec.kinds import YAML_ATTRIBUTES, Entry

    cls = Entry.registry[raw["kind"]]
    common = dict(where=b.loc(path), when=b.condition(raw.get("when"), path + ("when",)),
                  versions=b.versions(raw, path), doc=raw.get("doc", ""),
                  runtime=raw.get("runtime"), lint_ignore=tuple(raw.get("lint-ignore", ())),
                  emitter=emitter, function=function, repeats=raw.get("repeats"),
                  kaslr_offset=bool(raw.get("kaslr-offset", False)))
    if "value" in raw:
        common["value_text"] = str(raw["value"])
        common["value"] = b.expression(raw["value"], path + ("value",))
    for field_name in ("name", "member"):
        if field_name in raw and not cexpr.is_c_identifier(str(raw[field_name]).split(".")[0]):
            b.error(path + (field_name,), f"{raw[field_name]!r} is a C keyword, not a name")
    # The kind's own fields (spec/kinds.py), as the schema's branch for the kind has them.
    for field_name in cls.yaml_fields + tuple(f for f in cls.optional_yaml_fields if f in raw):
        if field_name == "c":
            common.update(c=str(raw["c"]), c_node=b.expression(raw["c"], path + ("c",),
                                                              allow_assign=cls.c_is_statement))
        else:
            common[YAML_ATTRIBUTES[field_name]] = raw[field_name]
    return cls(**common)


def build_consumers(document: Document, problems: List[Problem]) -> Tuple[List[ConsumerRead], Dict[str, dict]]:
    reads: List[ConsumerRead] = []
    tools: Dict[str, dict] = {}
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("tools"), list):
        problems.append(document.problem((), "consumers.yaml must have a `tools` list"))
        return reads, tools
    for i, tool in enumerate(data["tools"]):
        if not isinstance(tool, dict) or "name" not in tool:
            problems.append(document.problem(("tools", i), "each tool needs a name"))
            continue
        tools[tool["name"]] = {k: v for k, v in tool.items() if k != "reads"}
        for j, read in enumerate(tool.get("reads", []) or []):
            if not isinstance(read, dict) or not isinstance(read.get("key"), str):
                problems.append(document.problem(("tools", i, "reads", j), "each read needs a key"))
                continue
            required_when = TRUE
            if "required-when" in read:
                try:
                    required_when = Condition.parse(str(read["required-when"]))
                except ConditionError as error:
                    problems.append(document.problem(("tools", i, "reads", j, "required-when"),
                                                     f"bad condition: {error}"))
                    continue
            reads.append(ConsumerRead(tool["name"], read["key"], bool(read.get("required", False)),
                                      list(read.get("machines", []) or []), str(read.get("where", "")),
                                      str(read.get("note", "")), required_when))
    return reads, tools
