"""Hypothesis strategies for hand-edited spec files: documents, C expressions,
conditions, YAML text, and hostile strings.

Three families of input: (1) the fixture's own spec (data/specs/common.yaml) with a
few fields replaced, deleted, added or retyped, so that many cases stay valid and go
on to `list` and `resolve` with random C expressions and conditions; (2) documents
built from nothing along the schema's shape; (3) YAML text: real spec text with
random edits, and YAML constructs specs must refuse (anchors, aliases, tags, deep
nesting, control characters, invalid UTF-8).
"""
from __future__ import annotations

import copy
import os

import yaml
from hypothesis import strategies as st

from hardening_support import FIXTURE_SPECS

with open(os.path.join(FIXTURE_SPECS, "common.yaml"), encoding="utf-8") as _handle:
    COMMON_TEXT = _handle.read()
COMMON = yaml.safe_load(COMMON_TEXT)
with open(os.path.join(FIXTURE_SPECS, "arch", "x86_64.yaml"), encoding="utf-8") as _handle:
    ARCH_TEXT = _handle.read()

# Strings that would break out of a C string or comment, a Python string, a Jinja
# template, a printf format, a YAML scalar or a terminal line if they got through.
HOSTILE = [
    "", " ", "\n", "\r\n", "\t", "\0", "\x1b[31m", "\u2028", "\u0085", "\ufeff", "\\", "\\n", '"', "'", "'''", '"""',
    "*/", "/*", "//", "#", "#include <stdio.h>", "#define X", "??/", ";", "{", "}", "}; system(\"x\"); {",
    "%n", "%s%s%s", "%20phN", "{{ 7*7 }}", "{% raw %}", "${x}", "`id`", "$(id)", "__import__('os')",
    "\")\nimport os\n#", "x\n#define y", "a\\\nb", "é", "\U0001F600",
    "0x" + "f" * 40, "-1", "1e309", "nan", ".inf", "~", "null", "yes", "no", "on", "0o17", "0b101", "1_000",
]

IDENT_NAMES = ["init_uts_ns", "node_states", "mem_section", "mem_map", "contig_page_data", "swapper_pg_dir",
               "phys_base", "sme_me_mask", "pgtable_levels", "linux_banner", "page", "zone", "free_area",
               "list_head", "pglist_data", "nodemask_t", "uts_namespace", "new_utsname", "PG_head", "PG_lru",
               "N_ONLINE", "NR_FREE_PAGES", "MIGRATE_TYPES", "PAGE_SIZE", "PAGE_SHIFT", "PG_head_mask",
               "node_online_map", "NR_PAGE_ORDERS", "sme_mask", "NULL", "CONFIG_NODES_SHIFT", "CONFIG_SPARSEMEM",
               "x", "_", "no_such_thing"]
MEMBERS = ["flags", "lru", "next", "prev", "name", "release", "free_area", "free_list", "node_zones", "nr_zones",
           "_refcount", "private", "compound_head", "section_mem_map", "bits", "vm_stat", "nope"]
TYPES = ["int", "unsigned int", "long", "unsigned long", "unsigned long long", "u8", "u16", "u32", "u64", "s64",
         "char", "_Bool", "size_t", "phys_addr_t", "void", "struct page", "struct zone", "struct list_head",
         "struct nothing", "union x", "enum pageflags", "atomic_t", "nodemask_t", "pgd_t"]
CONFIGS = ["CONFIG_64BIT", "CONFIG_X86_64", "CONFIG_MMU", "CONFIG_CRASH_CORE", "CONFIG_SPARSEMEM", "CONFIG_NUMA",
           "CONFIG_FLATMEM", "CONFIG_NODES_SHIFT", "CONFIG_VMCORE_INFO", "CONFIG_A", "CONFIG_B", "CONFIG_C",
           "CONFIG_PGTABLE_LEVELS", "CONFIG_X", "CONFIG_" + "Y" * 60]

# long strings are built by a map, so that the strategies' reprs stay short
long_strings = st.tuples(st.sampled_from("A9"), st.sampled_from([300, 1001, 5000])).map(lambda t: t[0] * t[1])
hostile = st.one_of(st.sampled_from(HOSTILE), long_strings)

identifiers = st.one_of(st.sampled_from(IDENT_NAMES), st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z"))


def _number():
    return st.one_of(
        st.integers(0, 300).map(str),
        st.integers(0, 2 ** 70).map(lambda n: hex(n)),
        st.integers(0, 2 ** 66).map(str),
        st.sampled_from(["0", "1", "07", "0777", "0x0", "0xffffffff", "0xffffffffffffffff", "4294967296",
                         "2147483648", "9223372036854775808", "18446744073709551616", "1" * 40]),
    ).flatmap(lambda n: st.sampled_from(["", "u", "U", "l", "L", "ul", "UL", "lu", "ll", "ull", "LLU"]).map(
        lambda s: n + s))


def _combine(children):
    unary = st.tuples(st.sampled_from(["-", "+", "~", "!", "&", "*"]), children).map(lambda t: f"{t[0]}{t[1]}")
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "&&", "||",
                                                  "==", "!=", "<", ">", "<=", ">="]), children).map(
        lambda t: f"{t[0]} {t[1]} {t[2]}")
    return st.one_of(
        unary, binary, binary,
        children.map(lambda c: f"({c})"),
        st.tuples(children, children, children).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
        st.tuples(st.sampled_from(TYPES), st.integers(0, 2), children).map(
            lambda t: f"({t[0]}{' ' + '*' * t[1] if t[1] else ''}){t[2]}"),
        st.tuples(children, st.sampled_from(MEMBERS), st.booleans()).map(
            lambda t: f"{t[0]}{'->' if t[2] else '.'}{t[1]}"),
        st.tuples(children, children).map(lambda t: f"{t[0]}[{t[1]}]"),
        children.map(lambda c: f"sizeof({c})"),
        st.tuples(st.sampled_from(["ARRAY_SIZE", "BIT", "BIT_ULL", "GENMASK", "GENMASK_ULL", "DIV_ROUND_UP",
                                   "ALIGN", "min", "max", "pgtable_l5_enabled", "defined", "IS_ENABLED",
                                   "unknown_fn"]),
                  st.lists(children, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
    )


c_expressions = st.recursive(
    st.one_of(_number(), identifiers,
              st.sampled_from(TYPES).map(lambda t: f"sizeof({t})"),
              st.tuples(st.sampled_from(["struct page", "struct zone", "struct uts_namespace", "nodemask_t",
                                         "struct nothing"]), st.sampled_from(MEMBERS)).map(
                  lambda t: f"offsetof({t[0]}, {t[1]})")),
    _combine, max_leaves=12)

conditions = st.recursive(
    st.one_of(st.sampled_from(CONFIGS),
              st.tuples(st.sampled_from(CONFIGS), st.sampled_from(["==", "!=", "<", ">=", ">", "<="]),
                        st.integers(0, 2 ** 33).map(str)).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
              st.sampled_from(CONFIGS).map(lambda c: f"defined({c})"),
              st.sampled_from(CONFIGS).map(lambda c: f"IS_ENABLED({c})"),
              st.sampled_from(["0", "1"])),
    lambda children: st.one_of(
        children.map(lambda c: f"!{c}"), children.map(lambda c: f"({c})"),
        st.tuples(children, st.sampled_from(["&&", "||"]), children).map(lambda t: f"{t[0]} {t[1]} {t[2]}")),
    max_leaves=10)


def _mangle(text_strategy):
    """Text, sometimes with a hostile string spliced in."""
    return st.one_of(
        text_strategy, text_strategy,
        st.tuples(text_strategy, hostile, st.integers(0, 1000)).map(
            lambda t: t[0][:t[2] % (len(t[0]) + 1)] + t[1] + t[0][t[2] % (len(t[0]) + 1):]))


scalars = st.one_of(
    hostile, identifiers, st.text(max_size=30), st.integers(-2 ** 70, 2 ** 70),
    st.floats(allow_nan=True), st.booleans(), st.none(),
    st.from_regex(r"\A[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3})?\Z"))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)), max_leaves=6)

VERSIONS = st.one_of(st.sampled_from(["6.1", "6.9", "6.12", "7.1", "6.1.50", "5.4", "99.99", "6.10"]),
                     st.from_regex(r"\A[0-9]{1,5}\.[0-9]{1,5}(\.[0-9]{1,5})?\Z"),
                     st.sampled_from(["6.1\n", "6", "6.1.2.3", "v6.1"]),
                     st.sampled_from([5000, 4400]).map(lambda n: "9" * n + ".1"))

KINDS = ["osrelease", "build-id", "pagesize", "symbol", "symbol-array", "size", "struct-size", "offset",
         "type-offset", "length", "number", "config", "append", "call", "statement"]
FORMATS = ["%s", "%d", "%u", "%ld", "%lu", "%lld", "%llu", "%x", "%lx", "%llx", "0x%x", "0x%lx", "0x%llx",
           "%n", "%20phN", "%%", "x%d"]

# field -> strategy of a plausible (often valid) value
FIELD_VALUES = {
    "name": _mangle(identifiers),
    "member": _mangle(st.one_of(st.sampled_from(MEMBERS), st.sampled_from(["name.release", "lru.next"]))),
    "c": _mangle(c_expressions),
    "value": st.one_of(_mangle(c_expressions), st.integers(-2 ** 70, 2 ** 70)),
    "when": _mangle(conditions),
    "since": VERSIONS, "until": VERSIONS,
    "doc": _mangle(st.text(min_size=1, max_size=60)),
    "runtime": _mangle(st.text(min_size=1, max_size=60)),
    "repeats": _mangle(st.text(min_size=1, max_size=40)),
    "key": _mangle(st.one_of(identifiers, identifiers.map(lambda n: f"NUMBER({n})"),
                             identifiers.map(lambda n: f"SYMBOL({n})"))),
    "format": st.sampled_from(FORMATS),
    "kind": st.sampled_from(KINDS + ["bogus", "Symbol"]),
    "function": _mangle(st.sampled_from(["arch_crash_save_vmcoreinfo", "log_buf_vmcoreinfo_setup",
                                         "crash_save_vmcoreinfo_init", "nowhere"])),
    "lint-ignore": st.lists(st.sampled_from(["LINE_TOO_LONG", "DOC_MISSING", "NOT_READ_BY_ANY_TOOL", "X"]),
                            max_size=3),
    "gate": _mangle(conditions),
    "file": _mangle(st.sampled_from(["kernel/crash_core.c", "a.c", "../x.c"])),
    "header": _mangle(st.sampled_from(["include/linux/mm.h", "x.h"])),
    "in-file": st.booleans(), "object": st.booleans(),
    "phase": st.sampled_from(["boot", "crash", "panic"]),
    "type": _mangle(st.sampled_from(TYPES + ["struct page *", "u64 **"])),
    "init": _mangle(c_expressions),
}


def _paths(node, prefix=()):
    """Every (path, value) in a document."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _get(node, path):
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated_common(draw):
    """The fixture's common.yaml with 1-4 edits: the C-carrying fields most often."""
    document = copy.deepcopy(COMMON)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p, _ in _paths(document)]
        action = draw(st.sampled_from(["set", "set", "set", "expr", "expr", "expr", "delete", "add", "retype",
                                       "duplicate"]))
        if action in ("expr", "set"):
            containers = [(p, v) for p, v in _paths(document) if isinstance(v, dict)]
            path, container = draw(st.sampled_from(containers))
            if action == "expr":
                field = draw(st.sampled_from(["value", "c", "when", "value", "c"]))
                if "kind" not in container and "value" not in container:
                    continue
            else:
                field = draw(st.sampled_from(sorted(container) or ["doc"]))
            container[field] = draw(FIELD_VALUES.get(field, values))
        elif action == "delete":
            path = draw(st.sampled_from([p for p in paths if p]))
            parent = _get(document, path[:-1])
            del parent[path[-1]]
        elif action == "add":
            containers = [v for _, v in _paths(document) if isinstance(v, dict)]
            container = draw(st.sampled_from(containers))
            field = draw(st.sampled_from(sorted(FIELD_VALUES) + ["bogus"]))
            container[field] = draw(FIELD_VALUES.get(field, values))
        elif action == "retype":
            path = draw(st.sampled_from([p for p in paths if p]))
            _get(document, path[:-1])[path[-1]] = draw(values)
        else:
            lists = [v for _, v in _paths(document) if isinstance(v, list) and v]
            target = draw(st.sampled_from(lists))
            target.insert(draw(st.integers(0, len(target))), copy.deepcopy(draw(st.sampled_from(target))))
    return document


CLEAN_VALUES = {
    "name": st.sampled_from(IDENT_NAMES[:24]), "member": st.sampled_from(MEMBERS), "c": c_expressions,
    "value": c_expressions, "when": conditions, "since": st.sampled_from(["6.1", "6.3", "6.9"]),
    "until": st.sampled_from(["6.10", "6.12", "7.1"]), "doc": st.text(alphabet="abc xyz.", min_size=1, max_size=20),
    "runtime": st.just("set at boot"), "repeats": st.just("twice on purpose"),
    "key": identifiers.map(lambda n: f"NUMBER({n})"), "format": st.sampled_from(FORMATS[:13]),
    "function": st.sampled_from(["arch_crash_save_vmcoreinfo"]), "lint-ignore": st.just(["DOC_MISSING"]),
    "gate": st.just("CONFIG_CRASH_CORE"), "type": st.sampled_from(["u64", "unsigned long", "struct page *"]),
    "init": c_expressions,
}


@st.composite
def entries(draw, clean=False):
    pool = CLEAN_VALUES if clean else FIELD_VALUES
    kind = draw(st.sampled_from(KINDS))
    entry = {"kind": kind}
    needs = {"build-id": [], "osrelease": ["c"], "pagesize": ["c"], "symbol": ["name"], "symbol-array": ["name"],
             "size": ["name"], "struct-size": ["name"], "offset": ["name", "member"],
             "type-offset": ["name", "member"], "length": ["name", "c"], "number": ["name"], "config": ["name"],
             "append": ["key", "format", "c"], "call": ["function"], "statement": ["c"]}[kind]
    optional = draw(st.lists(st.sampled_from(["when", "since", "until", "doc", "value", "runtime", "repeats",
                                              "lint-ignore"]), max_size=3, unique=True))
    for field in needs + optional:
        entry[field] = draw(pool[field])
    if kind == "statement" and draw(st.booleans()):
        entry["c"] = f"{draw(identifiers)} = {draw(c_expressions)}"
    return entry


@st.composite
def fresh_document(draw):
    """A document built along the schema's shape: half of them from valid parts only
    (so that they get past the schema to the model, the lints and resolve), half with
    arbitrary values and a few wrong fields anywhere."""
    clean = draw(st.booleans())
    pool = CLEAN_VALUES if clean else FIELD_VALUES
    document = {
        "schema": "vmci-1" if clean else draw(st.sampled_from(["vmci-1", "vmci-1", "vmci-2", 1])),
        "emitter": "fuzz" if clean else draw(st.sampled_from(["fuzz", "common", "x86_64", "Fuzz!", ""])),
        "doc": draw(pool["doc"]),
        "since": "6.1" if clean else draw(VERSIONS),
        "sources": [{"file": "kernel/fuzz.c", "gate": draw(pool["gate"])}
                    for _ in range(draw(st.integers(1 if clean else 0, 1 if clean else 2)))],
        "defines": [{"name": draw(st.one_of(identifiers, identifiers.map(lambda n: n + "()"))),
                     "value": draw(pool["value"]),
                     **({"when": draw(pool["when"])} if draw(st.booleans()) else {})}
                    for _ in range(draw(st.integers(0, 4)))],
        "functions": [{"name": draw(st.sampled_from(["crash_save_vmcoreinfo_init", "arch_crash_save_vmcoreinfo",
                                                     "other"])),
                       "locals": [{"name": draw(identifiers), "type": draw(pool["type"]),
                                   "init": draw(pool["init"])} for _ in range(draw(st.integers(0, 2)))],
                       "entries": draw(st.lists(entries(clean), min_size=1 if clean else 0, max_size=6))}
                      for _ in range(draw(st.integers(1 if clean else 0, 2)))],
    }
    if clean:
        document["functions"][0]["name"] = "crash_save_vmcoreinfo_init"
    if draw(st.booleans()):
        document["choices"] = [draw(st.lists(st.sampled_from(CONFIGS), min_size=2, max_size=4, unique=clean))]
    if not clean and draw(st.integers(0, 3)) == 0:
        document["target"] = {"arch": draw(st.sampled_from(["x86", "arm64", "X"])),
                              "machines": [{"name": "fuzzmachine", "elf": {"machine": draw(st.integers(-1, 70000)),
                                                                            "class": draw(st.sampled_from([32, 64, 16])),
                                                                            "endianness": "little"},
                                            "config": draw(FIELD_VALUES["when"])}]}
    for _ in range(0 if clean else draw(st.integers(0, 2))):  # a few wrong fields anywhere
        paths = [p for p, v in _paths(document) if p]
        path = draw(st.sampled_from(paths))
        _get(document, path[:-1])[path[-1]] = draw(values)
    return document


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):  # a value drawn twice is written twice, not as &id001/*id001
        return True


def dump(document, draw_style: int = 0) -> str:
    """YAML text of a document, in block or flow style."""
    try:
        return yaml.dump(document, Dumper=_Dumper, default_flow_style=bool(draw_style & 1),
                         allow_unicode=bool(draw_style & 2), sort_keys=False, width=10 ** 6)
    except yaml.YAMLError:
        return yaml.safe_dump(repr(document))


YAML_NOISE = ["&a ", "*a", "<<: *a\n", "!!python/object:os.system ", "!!binary ", "!!timestamp ", "!custom ",
              "? ", ": ", "- ", "[", "]", "{", "}", ",", "\t", "\n", "  ", "---\n", "...\n", "%YAML 1.1\n",
              "'", '"', "|\n", ">-\n", "#", "\0", "\x07", "\ufeff", "\u2028", "\x85", "é", "\\", "!!str ",
              "!!int ", "!!float ", "!!set ", "!!omap ", "!!map ", "!!seq ", "0x", "1e1000", "[" * 40, "{a: " * 40]


COMMON_FLOW = dump(COMMON, 1)


@st.composite
def yaml_text(draw):
    """Spec text (real or generated) with random edits."""
    base = (COMMON_TEXT, ARCH_TEXT, COMMON_FLOW)[draw(st.integers(0, 2))]
    text = base
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "insert", "delete", "replace", "duplicate"]))
        if action == "insert":
            text = text[:position] + draw(st.one_of(st.sampled_from(YAML_NOISE), st.text(max_size=8))) + \
                text[position:]
        elif action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 200)):]
        elif action == "replace":
            end = position + draw(st.integers(1, 40))
            text = text[:position] + draw(st.one_of(hostile, st.sampled_from(YAML_NOISE))) + text[end:]
        else:
            end = position + draw(st.integers(1, 400))
            text = text[:end] + text[position:end] + text[end:]
    return text
