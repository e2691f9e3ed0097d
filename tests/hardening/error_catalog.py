"""The catalog of vmci's error messages behind docs/errors.md: for each message, what it
means and an input that produces it.

Every case runs in a scratch directory holding `specs/` (the hardening fixture's specs,
edited), `config`, `vmlinux` (the kernel-shaped fixture, possibly damaged) and whatever
else it needs, with relative paths, so the output is the same wherever it runs.
`python tests/hardening/error_catalog.py > docs/errors.md` writes the document from the
real outputs; tests/hardening/test_errors_doc.py checks that every example in it is
still what vmci prints.
"""
from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import struct
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from hardening_support import FIXTURE_CONFIG, FIXTURE_SPECS, build_fixture, run_cli  # noqa: E402

with open(os.path.join(FIXTURE_SPECS, "common.yaml"), encoding="utf-8") as _handle:
    COMMON = _handle.read()
with open(os.path.join(FIXTURE_SPECS, "arch", "x86_64.yaml"), encoding="utf-8") as _handle:
    ARCH = _handle.read()

RESOLVE = ["resolve", "--vmlinux", "vmlinux", "--config", "config", "--specs", "specs", "--no-cache"]
VALIDATE = ["validate", "specs"]
LIST = ["list", "--specs", "specs", "--arch", "x86_64", "--kernel-version", "6.1"]


@dataclass
class Case:
    section: str
    meaning: str
    command: List[str]
    pick: str  # the output line that contains this is the example
    common: Optional[Callable[[str], str]] = None  # edits specs/common.yaml
    arch: Optional[Callable[[str], str]] = None  # edits specs/arch/x86_64.yaml
    files: Dict[str, object] = field(default_factory=dict)  # name -> text, bytes, or fn(vmlinux bytes) -> bytes
    expect_code: int = 1
    setup: Optional[Callable[[str], None]] = None  # makes what files cannot (FIFOs), given the case's directory


def swap(old, new, count=1):
    def edit(text):
        assert old in text, old
        return text.replace(old, new, count)
    return edit


def entry(yaml_text):
    """Insert an entry before the osrelease entry of common.yaml."""
    return swap("      - kind: osrelease\n", yaml_text + "      - kind: osrelease\n")


def append_value(c, extra=""):
    return entry(f"      - kind: append\n        key: NUMBER(example)\n        format: \"%lu\"\n        c: {c}\n"
                 f"        doc: Example.\n{extra}")


def fifo(name):
    """A setup that puts a FIFO (no writer) at `name`, replacing what is there."""
    def make(directory):
        path = os.path.join(directory, name)
        if os.path.lexists(path):
            os.unlink(path)
        os.mkfifo(path)
    return make


def _manifest(files):
    import hashlib
    import json
    return json.dumps({"format": "vmci-manifest/1", "files": {
        path: "sha256:" + hashlib.sha256(data.encode()).hexdigest() for path, data in files.items()}})


# --- damaged images -----------------------------------------------------------------------

def _sections(data):
    from elf_mutations import Mutator
    return Mutator(bytes(data), dwarf=False).sections


def _patch_section(name, field_offset, value, fmt="<Q"):
    def damage(data):
        data = bytearray(data)
        struct.pack_into(fmt, data, _sections(data)[name].header + field_offset, value)
        return bytes(data)
    return damage


def _symbol_name(data):
    data = bytearray(data)
    sections = _sections(data)
    symtab, strtab = sections[".symtab"], sections[".strtab"]
    for pos in range(symtab.offset, symtab.offset + symtab.size, 24):
        st_name, = struct.unpack_from("<I", data, pos)
        start = strtab.offset + st_name
        if st_name and data[start:data.index(b"\0", start)] == b"linux_banner":
            struct.pack_into("<I", data, pos, 0x0FFFFFFF)
    return bytes(data)


def _type_to_member(data):
    from test_bounds import dies_by_name
    data = bytearray(data)
    dies = dies_by_name(bytes(data))
    _, cu, position = dies["nodemask_t"]
    member, _, _ = dies["page.flags"]
    struct.pack_into("<I", data, position, member - cu)
    return bytes(data)


def _unknown_abbreviation(data):
    from test_bounds import dies_by_name
    data = bytearray(data)
    die, _, _ = dies_by_name(bytes(data))["nodemask_t"]
    data[_sections(data)[".debug_info"].offset + die] = 0x7F  # one ULEB128 byte: code 127
    return bytes(data)


def _type_cycle(data):
    from test_bounds import dies_by_name
    data = bytearray(data)
    die, cu, position = dies_by_name(bytes(data))["nodemask_t"]
    struct.pack_into("<I", data, position, die - cu)
    return bytes(data)


def _cut_unit(data):
    data = bytearray(data)
    info = _sections(data)[".debug_info"]
    struct.pack_into("<I", data, info.offset, info.size + 100)  # unit_length past the section
    return bytes(data)


def _no_banner(data):
    return bytes(data).replace(b"Linux version 6.1.0-99-fuzz", b"Xinux version 6.1.0-99-fuzz")


def _strip_debug(data):
    data = bytearray(data)
    struct.pack_into("<I", data, _sections(data)[".debug_info"].header, 0)  # its name: ""
    return bytes(data)


CONFIG_TEXT = open(FIXTURE_CONFIG, encoding="utf-8").read()

def _debug_only(data):
    """The image as `objcopy --only-keep-debug` leaves it: DWARF and symbols, no contents."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        full, debug = os.path.join(scratch, "full"), os.path.join(scratch, "debug")
        with open(full, "wb") as handle:
            handle.write(data)
        subprocess.run(["objcopy", "--only-keep-debug", full, debug], check=True, capture_output=True)
        with open(debug, "rb") as handle:
            return handle.read()


def _tar_header(name: bytes, size: int = 0, checksum_delta: int = 0) -> bytes:
    block = bytearray(512)
    block[:len(name)] = name
    block[100:108] = b"0000644\0"
    block[124:136] = b"%011o\0" % size
    block[156:157] = b"0"
    block[257:263] = b"ustar\0"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % (sum(block) + checksum_delta)
    return bytes(block)


def _many_kconfigs(_):
    return gzip.compress(b"".join(_tar_header(b"linux/x/Kconfig.%d" % i) for i in range(50_001)) + bytes(1024), 1)


def _two_notes(_):
    from vmci.note.build import build_note
    return build_note(b"OSRELEASE=6.1.0-99\n", final=False) + build_note(b"OSRELEASE=6.1.0-98\n")


CASES: List[Case] = [
    # --- reading a spec file ---
    Case("Reading a spec file (validate, list, resolve, generate)",
         "The file is not YAML. The place is where the parser gave up; the context, when there is one, says what "
         "it was reading.", VALIDATE, "YAML syntax",
         common=swap("      - kind: pagesize\n", "      - kind: pagesize\n     bad indent: [\n")),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "A character YAML does not allow in a file (NUL and other control characters).", VALIDATE,
         "control characters are not allowed", common=swap("emitter: common", "emitter: com\x01mon")),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "A control character written as a YAML escape (\"\\0\", \"\\e\", \"\\N\", \"\\L\"): specs are plain text.",
         VALIDATE, "control character U+", common=swap("doc: The hardening fixture's common list.",
                                                       'doc: "The list\\e[31m."')),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "Anchors and aliases are refused: specs have no use for them, and they are how a few lines of YAML "
         "expand to gigabytes (\"billion laughs\").", VALIDATE, "YAML anchors",
         common=swap("emitter: common", "emitter: &name common")),
    Case("Reading a spec file (validate, list, resolve, generate)", "See anchors.", VALIDATE, "YAML aliases",
         common=swap("since: \"6.1\"", "since: \"6.1\"\ny: *a")),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "Mappings and lists nested deeper than 32 levels (see docs/limits.md).", VALIDATE, "nested deeper than 32",
         common=swap("emitter: common", "emitter: common\ndeep: " + "[" * 40 + "]" * 40)),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "A key given twice in one mapping; YAML would silently keep the last.", VALIDATE, "duplicate key",
         common=swap("emitter: common", "emitter: common\nemitter: again")),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "Only plain scalar keys.", VALIDATE, "mapping keys must be plain strings",
         common=swap("emitter: common", "emitter: common\n[a, b]: 1")),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "YAML tags (`!!python/object`, `!custom`) are never honoured.", VALIDATE, "YAML tag",
         common=swap("emitter: common", "emitter: !!python/object:os.system common")),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "A spec file is at most 1 MiB (docs/limits.md); it is refused before it is read.", VALIDATE,
         "specs are limited to", files={"specs/huge.yaml": "#" * ((1 << 20) + 1) + "\n"}),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "The file's bytes are not UTF-8; the line is the first one with a bad byte.", VALIDATE, "not valid UTF-8",
         files={"specs/latin1.yaml": "schema: vmci-1\ndoc: caf\xe9\n".encode("latin-1")}),
    Case("Reading a spec file (validate, list, resolve, generate)", "An empty file (or only comments).", VALIDATE,
         "the file is empty", files={"specs/empty.yaml": "# nothing\n"}),
    Case("Reading a spec file (validate, list, resolve, generate)", "The directory has no spec files.",
         ["validate", "empty-dir"], "no spec files", files={"empty-dir/README": "x\n"}),
    Case("Reading a spec file (validate, list, resolve, generate)", "The specs directory does not exist.",
         ["validate", "no-such-dir"], "no such specs directory"),
    # --- schema ---
    Case("Reading a spec file (validate, list, resolve, generate)",
         "A YAML 1.1 number: base 60 (`1:30` is 90), a digit separator (`1_2` is 12) or a leading-zero octal "
         "(`017` is 15), which YAML 1.2 reads otherwise.", VALIDATE, "is a YAML 1.1 number",
         common=entry("      - kind: number\n        name: EXAMPLE\n        value: 1:30\n        doc: Example.\n")),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "A Unicode direction control (U+202A-U+202E, U+2066-U+2069; \"Trojan Source\") in a string, located "
         "where it stands.", VALIDATE, "Unicode direction control",
         common=swap("        doc: The release.\n", "        doc: The \u202erelease.\n")),
    Case("Reading a spec file (validate, list, resolve, generate)",
         "A spec file name that is not UTF-8 (generated files name their spec).", VALIDATE, "not valid UTF-8",
         files={"specs/arch/x\udcff.yaml": "schema: vmci-1\n"}),
    Case("The schema (specs/schema/vmci-1.json)", "The document is not a mapping.", VALIDATE,
         "a spec file must be a mapping", files={"specs/list.yaml": "- a\n- b\n"}),
    Case("The schema (specs/schema/vmci-1.json)", "The first thing a spec says is its schema level.", VALIDATE,
         "unknown schema level", common=swap("schema: vmci-1", "schema: vmci-9")),
    Case("The schema (specs/schema/vmci-1.json)",
         "A field the schema does not have at that place, with the fields it does have.", VALIDATE,
         "unknown field", common=swap("        name: init_uts_ns\n", "        nam: init_uts_ns\n")),
    Case("The schema (specs/schema/vmci-1.json)", "A required field is missing.", VALIDATE,
         "lacks the required field", common=swap("        name: uts_namespace\n        member: name\n",
                                                "        name: uts_namespace\n")),
    Case("The schema (specs/schema/vmci-1.json)",
         "A value does not have the form the field needs (identifiers, versions, paths); the schema's description "
         "of the field follows. JSON Schema patterns match the whole value (a trailing newline does not pass).",
         VALIDATE, "does not match", common=swap("        name: init_uts_ns\n", "        name: init_uts_ns()\n")),
    Case("The schema (specs/schema/vmci-1.json)", "Versions are quoted strings; unquoted, YAML reads 6.10 as 6.1.",
         VALIDATE, "YAML read this as the number", common=swap('since: "6.1"', "since: 6.10")),
    Case("The schema (specs/schema/vmci-1.json)", "A value outside the field's list.", VALIDATE, "is not one of",
         common=swap("      - kind: pagesize\n", "      - kind: page-size\n")),
    Case("The schema (specs/schema/vmci-1.json)", "A value of the wrong type.", VALIDATE, "is not of type",
         common=swap("        doc: The page size.\n", "        doc: [The page size.]\n")),
    # --- building the model ---
    Case("C expressions and conditions",
         "A `c`, `value`, `init` or define value that is not one C expression of the accepted subset (no "
         "statements, strings, comments or braces); the column points at the first problem.", VALIDATE,
         "bad C expression", common=swap("        c: PAGE_SIZE\n", "        c: PAGE_SIZE; x = 1\n")),
    Case("C expressions and conditions", "Strings and other characters outside C's expression syntax.", VALIDATE,
         "unexpected character", common=swap("        c: PAGE_SIZE\n", "        c: '\"PAGE_SIZE\"'\n")),
    Case("C expressions and conditions", "Keywords are not names.", VALIDATE, "C keyword",
         common=swap("        c: PAGE_SIZE\n", "        c: return + 1\n")),
    Case("C expressions and conditions",
         "Parentheses, unary operators and casts nest at most 48 deep; a chain of binary operators counts one "
         "level per operator, at most 200 (docs/limits.md).", VALIDATE, "nested deeper than 48",
         common=swap("        c: PAGE_SIZE\n", "        c: " + "(" * 50 + "1" + ")" * 50 + "\n")),
    Case("C expressions and conditions", "See above.", VALIDATE, "nested deeper than 200",
         common=swap("        c: PAGE_SIZE\n", "        c: " + "+".join(["1"] * 250) + "\n")),
    Case("C expressions and conditions", "A `when`, `gate` or machine `config` that is not a Kconfig condition.",
         VALIDATE, "bad condition", common=swap("        when: CONFIG_MMU\n", "        when: MMU\n")),
    Case("C expressions and conditions", "Conditions call only defined(), IS_ENABLED() and IS_BUILTIN().",
         VALIDATE, "is not allowed in a condition", common=swap("        when: CONFIG_MMU\n",
                                                               "        when: IS_MODULE(CONFIG_MMU)\n")),
    Case("C expressions and conditions", "Comparisons are `CONFIG_X <op> number`.", VALIDATE,
         "a comparison must be", common=swap("        when: CONFIG_MMU\n", "        when: 4 == CONFIG_MMU\n")),
    Case("C expressions and conditions", "Only !, &&, || and comparisons.", VALIDATE,
         "conditions may use only", common=swap("        when: CONFIG_MMU\n", "        when: CONFIG_MMU + 1\n")),
    Case("The model", "A name or member that is a C keyword.", VALIDATE, "is a C keyword, not a name",
         common=swap("        name: init_uts_ns\n", "        name: int\n")),
    Case("The model", "`since` is not before `until`.", VALIDATE, "version range is empty",
         common=swap("        when: CONFIG_MMU\n", '        when: CONFIG_MMU\n        since: "6.9"\n'
                                                  '        until: "6.2"\n')),
    Case("The model", "A version the pattern admits but Python's int() refuses (over 4,300 digits).", VALIDATE,
         "is not a kernel version", common=swap('since: "6.1"', 'since: "' + "9" * 4400 + '.1"')),
    Case("The model", "An include outside the kernel tree (`..`, `.`, empty parts); a source file's schema "
         "pattern already refuses them.", VALIDATE,
         "is not a path inside a kernel tree", common=swap("  - file: kernel/crash_core.c\n",
                                                           "  - file: kernel/crash_core.c\n"
                                                           "    includes: [linux/../../x.h]\n")),
    Case("The model", "A local's type is not a C type name.", VALIDATE, "bad C type",
         arch=swap("type: u64", "type: struct")),
    # --- semantic checks ---
    Case("Semantic checks (validate)",
         "Two entries that emit one key for some kernel; give one `repeats:` only if the kernel really emits the "
         "key twice.", VALIDATE, "is emitted twice",
         common=entry("      - kind: symbol\n        name: init_uts_ns\n        doc: Twice.\n")),
    Case("Semantic checks (validate)", "Two definitions of one macro apply to one kernel.", VALIDATE,
         "overlaps the one at", common=swap("  - name: NR_PAGE_ORDERS\n    value: 11\n",
                                            "  - name: NR_PAGE_ORDERS\n    value: 11\n"
                                            "  - name: NR_PAGE_ORDERS\n    value: 12\n")),
    Case("Semantic checks (validate)",
         "A value uses a macro that some spec defines, but not for every kernel the entry applies to.", VALIDATE,
         "which no define covers", common=swap("    value: (~0x00000080)\n", "    value: (~0x00000080)\n    when: CONFIG_NUMA\n")),
    Case("Semantic checks (validate)", "A define whose value uses itself.", VALIDATE, "refers to itself",
         common=swap("    value: (1UL << PAGE_SHIFT)\n", "    value: (1UL << PAGE_SIZE)\n")),
    Case("Semantic checks (validate)", "A `call` to a function no spec has.", VALIDATE,
         "but no spec defines that function", common=entry("      - kind: call\n        function: nowhere\n")),
    Case("Semantic checks (validate)", "A function that calls itself, directly or through others.", VALIDATE,
         "makes a cycle", arch=swap("      - kind: symbol\n        name: phys_base\n",
                                    "      - kind: call\n        function: crash_save_vmcoreinfo_init\n"
                                    "      - kind: symbol\n        name: phys_base\n")),
    Case("Semantic checks (validate)", "More than 100 entries emit one key (each pair is checked; docs/limits.md).",
         VALIDATE, "entries emit this key",
         common=entry("".join(f"      - kind: symbol\n        name: linux_banner\n        when: CONFIG_NODES_SHIFT == {i}"
                              f"\n        doc: Many.\n" for i in range(101)))),
    Case("Semantic checks (validate)", "More than 100 definitions of one macro.", VALIDATE, "definitions; at most",
         common=swap("defines:\n", "defines:\n" + "".join(f"  - name: MANY\n    value: {i}\n    when: CONFIG_NODES_SHIFT"
                                                          f" == {i}\n" for i in range(101)))),
    Case("Semantic checks (validate)", "Two files give one emitter name.", VALIDATE, "is also used by",
         files={"specs/arch/other.yaml": ARCH.replace("emitter: x86_64", "emitter: common")
                .replace("name: x86_64", "name: other").replace("aliases: [amd64]", "aliases: []")}),
    Case("Semantic checks (validate)", "Two architecture files claim one machine name.", VALIDATE,
         "is also claimed by", files={"specs/arch/other.yaml": ARCH.replace("emitter: x86_64", "emitter: other")}),
    Case("Semantic checks (validate)", "A file's sources overlap in versions.", VALIDATE, "overlap in versions",
         common=swap('    until: "6.9"\n    gate: CONFIG_CRASH_CORE', '    until: "6.10"\n    gate: CONFIG_CRASH_CORE')),
    Case("Semantic checks (validate)", "An entry's versions outside its file's.", VALIDATE,
         "lie outside the file's", common=swap("        when: CONFIG_MMU\n",
                                               '        when: CONFIG_MMU\n        until: "5.10"\n')),
    Case("Semantic checks (validate)", "With --kernel-src, a CONFIG_ symbol no Kconfig file of the tree declares.",
         ["validate", "specs", "--kernel-src", "linux"], "which no Kconfig file",
         files={"linux/Kconfig": "config MMU\n\tbool\n", "linux/Makefile": "VERSION = 6\nPATCHLEVEL = 1\n"}),
    Case("Lints (warnings; --werror makes them errors; an entry's lint-ignore silences one)",
         "LINE_TOO_LONG: the kernel formats each line into 80 bytes, so a longer line is cut.", VALIDATE,
         "LINE_TOO_LONG", common=entry("      - kind: append\n        key: NUMBER(" + "k" * 56 + ")\n        format: "
                                       "\"%lu\"\n        c: 1UL\n        doc: Long.\n"), expect_code=0),
    Case("Lints (warnings; --werror makes them errors; an entry's lint-ignore silences one)",
         "DOC_MISSING: every entry has a doc line for the generated reference.", VALIDATE, "DOC_MISSING",
         common=swap("        doc: The page size.\n", ""), expect_code=0),
    Case("Lints (warnings; --werror makes them errors; an entry's lint-ignore silences one)",
         "NOT_READ_BY_ANY_TOOL: no dump tool in consumers.yaml reads the key.", VALIDATE, "NOT_READ_BY_ANY_TOOL",
         files={"specs/consumers.yaml": "tools:\n  - name: crash\n    reads:\n      - key: OSRELEASE\n"},
         expect_code=0),
    # --- command line ---
    Case("Command line (exit status 2)", "--arch names no architecture or machine of the specs.",
         ["list", "--specs", "specs", "--arch", "vax", "--kernel-version", "6.1"], "unknown architecture",
         expect_code=2),
    Case("Command line (exit status 2)", "--kernel-version is not a version.",
         ["list", "--specs", "specs", "--arch", "x86_64", "--kernel-version", "six"], "is not a kernel version",
         expect_code=2),
    Case("Command line (exit status 2)", "A version with more than a release suffix after it (`6.1garbage`, "
         "`6.1.-1`, `6.1.0.0.0`), other digits than ASCII (`\u0666.\u0661`), or more digits than a kernel's.",
         ["list", "--specs", "specs", "--arch", "x86_64", "--kernel-version", "6.1garbage"],
         "is not a kernel version", expect_code=2),
    Case("Command line (exit status 2)", "The version is outside every spec's range.",
         ["list", "--specs", "specs", "--arch", "x86_64", "--kernel-version", "4.19"], "outside every spec's range",
         expect_code=2),
    Case("Command line (exit status 2)", "--kernel-src is not a directory.",
         ["validate", "specs", "--kernel-src", "nowhere"], "not a directory", expect_code=2),
    Case("Command line (exit status 2)", "An output that cannot be written (atomically: the previous file stays).",
         LIST + ["-o", "no-dir/out.txt"], "cannot write", expect_code=2),
    Case("Command line (exit status 2)", "A file named on the command line does not exist.",
         ["resolve", "--vmlinux", "no-such-vmlinux"], "no such file", expect_code=2),
    # --- config ---
    Case("Kernel configs (--config, IKCONFIG)", "A line that is neither `CONFIG_X=value` nor a comment.",
         LIST + ["--config", "bad-config"], "not a config line", files={"bad-config": "CONFIG_A=y\nhello\n"},
         expect_code=2),
    Case("Kernel configs (--config, IKCONFIG)", "No CONFIG_ lines at all.", LIST + ["--config", "empty-config"],
         "no CONFIG_ options", files={"empty-config": "# only a comment\n"}, expect_code=2),
    Case("Kernel configs (--config, IKCONFIG)", "Not text.", LIST + ["--config", "binary-config"],
         "not a text config", files={"binary-config": b"CONFIG_A=y\n\xff\xfe\n"}, expect_code=2),
    Case("Kernel configs (--config, IKCONFIG)", "A config is at most 16 MiB (docs/limits.md).",
         LIST + ["--config", "huge-config"], "larger than 16777216", files={"huge-config": b"#" * ((16 << 20) + 1)},
         expect_code=2),
    Case("Kernel configs (--config, IKCONFIG)", "A config.gz that inflates past 16 MiB is refused without "
         "inflating the rest.", LIST + ["--config", "bomb.gz"], "inflates to more than",
         files={"bomb.gz": gzip.compress(bytes(17 << 20), 9)}, expect_code=2),
    Case("Kernel configs (--config, IKCONFIG)", "A damaged config.gz.", LIST + ["--config", "cut.gz"],
         "damaged gzip data", files={"cut.gz": gzip.compress(b"CONFIG_A=y\n")[:20]}, expect_code=2),
    Case("Kernel configs (--config, IKCONFIG)", "The config file cannot be read.", LIST + ["--config", "nowhere"],
         "cannot read the config", expect_code=2),
    Case("Kernel configs (--config, IKCONFIG)", "A config with which the kernel writes no VMCOREINFO: the "
         "common list's file is not built (CONFIG_CRASH_CORE before 6.9, CONFIG_VMCORE_INFO from 6.9). An empty "
         "list would read as an answer; `list`, `resolve` and every command that selects entries refuse it.",
         LIST + ["--config", "no-kexec-config"], "builds no VMCOREINFO",
         files={"no-kexec-config": "CONFIG_64BIT=y\nCONFIG_X86_64=y\nCONFIG_MMU=y\n# CONFIG_CRASH_CORE is not set\n"},
         expect_code=2),
    Case("Kernel configs (--config, IKCONFIG)", "See above, for `resolve`.",
         RESOLVE[:4] + ["no-kexec-config"] + RESOLVE[5:], "builds no VMCOREINFO",
         files={"no-kexec-config": "CONFIG_64BIT=y\nCONFIG_X86_64=y\nCONFIG_MMU=y\n# CONFIG_CRASH_CORE is not set\n"},
         expect_code=2),
    # --- resolve: the image ---
    Case("vmci resolve: the image (exit status 2)", "The file does not exist.",
         ["resolve", "--vmlinux", "nowhere", "--config", "config", "--specs", "specs"], "no such file",
         expect_code=2),
    Case("vmci resolve: the image (exit status 2)",
         "Damage found by the reader: `FILE: PLACE: message`, PLACE being the ELF header, a section header, a "
         "section, a note or a DWARF unit. Some of the reader's messages follow; all have this form.", RESOLVE,
         "bad magic", files={"vmlinux": lambda data: b"MZ" + data[2:]}, expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "The section header table is cut off (a truncated file).",
         RESOLVE, "truncated?", files={"vmlinux": lambda data: data[:len(data) - 100]},
         expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "A section header points past the end of the file.", RESOLVE,
         "contents 0x", files={"vmlinux": _patch_section(".debug_str", 32, 1 << 40)}, expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "A symbol's name is outside the string table.", RESOLVE,
         "symbol name offset", files={"vmlinux": _symbol_name}, expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "A DWARF unit longer than its section.", RESOLVE,
         "runs past the end of .debug_info", files={"vmlinux": _cut_unit}, expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "A DWARF type that contains itself (a cycle of type references).",
         RESOLVE, "type cycle", files={"vmlinux": _type_cycle}, expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "A type reference that leads to a DIE that is no type "
         "(here a struct member).", RESOLVE, "which is not a type", files={"vmlinux": _type_to_member},
         expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "A DIE whose abbreviation code its unit's table lacks.",
         RESOLVE, "is not in the unit's", files={"vmlinux": _unknown_abbreviation}, expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "No .debug_info: a stripped image or a boot image.", RESOLVE,
         "no DWARF", files={"vmlinux": _strip_debug}, expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "A debug-only image (`objcopy --only-keep-debug`, Fedora's "
         "and RHEL's debuginfo vmlinux): no code or data, so no version; say which.", RESOLVE,
         "a debug-only image", files={"vmlinux": _debug_only}, expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "No `Linux version` banner; say which version.", RESOLVE,
         "no linux_banner", files={"vmlinux": _no_banner}, expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "No spec describes the image's machine.", RESOLVE,
         "no spec describes ELF machine", files={"vmlinux": lambda data: data[:18] + b"\x03\x00" + data[20:]},
         expect_code=2),
    Case("vmci resolve: the image (exit status 2)", "Without --config, the image must embed its config.",
         ["resolve", "--vmlinux", "vmlinux", "--specs", "specs", "--no-cache"], "embeds no config", expect_code=2),
    # --- resolve: entries ---
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "A value read from the image's data, in a debug-only image: it is not in the file.",
         RESOLVE + ["--kernel-version", "6.1.0-99"], "holds no contents", files={"vmlinux": _debug_only}),
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "A name that is no define, symbol or enumerator.", RESOLVE, "is not a define in the specs",
         common=append_value("no_such_name")),
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "A type or member DWARF does not have.", RESOLVE, "no DWARF type named",
         common=entry("      - kind: struct-size\n        name: no_such_struct\n        doc: Missing.\n")),
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "See above.", RESOLVE, "member 'no_such_member' not found",
         common=entry("      - kind: offset\n        name: page\n        member: no_such_member\n        doc: Missing.\n")),
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "A call of a kernel function vmci cannot run; give the entry a `value` or the function a define.", RESOLVE,
         "is a function the kernel runs at boot", common=append_value("some_function()")),
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "Undefined C: division by zero, shifts by the width or more.", RESOLVE, "division by zero",
         common=append_value("1 / 0")),
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "See above.", RESOLVE, "is undefined in C", common=append_value("1 << 40")),
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "Reading a variable that has no DWARF type (a linker symbol); its address (&x) is fine.", RESOLVE,
         "has no DWARF type, so its value cannot be read", common=append_value("main")),
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "A struct where a number is needed.", RESOLVE, "not a number", common=append_value("contig_page_data")),
    Case("vmci resolve: entries that cannot be resolved (exit status 1; the other lines are printed)",
         "Evaluation nests deeper than 64 levels (defines that expand into each other).", RESOLVE,
         "nests too deeply", common=lambda text: append_value("DEEP0")(swap("defines:\n", "defines:\n" + "".join(
             f"  - name: DEEP{i}\n    value: DEEP{i + 1} + 1\n" for i in range(40)) + "  - name: DEEP40\n    value: 1\n")(
             text))),
    Case("vmci resolve: warnings (exit status 0)",
         "The text reaches VMCOREINFO_BYTES (PAGE_SIZE): the kernel stops there with a WARN_ONCE, and vmci "
         "prints the same bytes.", RESOLVE, "reaches VMCOREINFO_BYTES",
         common=entry("".join(f"      - kind: append\n        key: NUMBER(filler_{i:03d})\n        format: \"%lu\"\n"
                              f"        c: 18446744073709551615UL\n        doc: Filler.\n" for i in range(150))),
         expect_code=0),
    Case("vmci list and vmci resolve: warnings (exit status 0)",
         "The kernel is newer than the version the specs were audited against (`audited:` in common.yaml): the "
         "output is what the specs say, but what that kernel added or changed is not in it. "
         "`vmci audit source TREE --update-specs` brings the specs to a new kernel.",
         ["list", "--specs", "specs", "--arch", "x86_64", "--kernel-version", "7.9"], "newer than",
         common=swap('since: "6.1"\n', 'since: "6.1"\naudited: "7.1"\n'), expect_code=0),
    Case("vmci list and vmci resolve: warnings (exit status 0)", "See above, for `resolve`.",
         RESOLVE + ["--kernel-version", "7.9"], "newer than",
         common=swap('since: "6.1"\n', 'since: "6.1"\naudited: "7.1"\n'),
         files={"config": lambda _: (CONFIG_TEXT + "CONFIG_VMCORE_INFO=y\n").encode()}, expect_code=0),
    Case("vmci audit source", "--update-specs edits YAML and prints what it changed as text.",
         ["audit", "source", "tree", "--specs", "specs", "--update-specs", "--format", "json"],
         "--update-specs prints the changes as text", files={"tree/Makefile": "VERSION = 6\nPATCHLEVEL = 1\n"},
         expect_code=2),
    # --- generate, note ---
    Case("vmci generate", "The specs have errors; nothing is written (each problem is printed first).",
         ["generate", "--specs", "specs", "-o", "out"], "errors in the specs; nothing generated",
         common=swap("emitter: common", "emitter: Common")),
    Case("vmci generate", "--kernel-version outside the specs.",
         ["generate", "--specs", "specs", "-o", "out", "--kernel-version", "4.19"], "outside the specs' versions",
         expect_code=2),
    Case("vmci generate", "DIR is not empty and has no manifest (`.vmci-manifest.json`): generate did not write "
         "it and touches nothing there unless told to.", ["generate", "--specs", "specs", "-o", "tree"],
         "not a directory vmci generate wrote", files={"tree/Makefile": "VERSION = 6\n"}, expect_code=2),
    Case("vmci generate", "The manifest is damaged: nothing is touched.", ["generate", "--specs", "specs", "-o", "out"],
         "not a vmci manifest", files={"out/.vmci-manifest.json": "{"}, expect_code=2),
    Case("vmci generate", "The manifest names a path outside DIR.", ["generate", "--specs", "specs", "-o", "out"],
         "not a path inside the directory", files={"out/.vmci-manifest.json": _manifest({"../etc/passwd": ""})},
         expect_code=2),
    Case("vmci generate: warnings (exit status 1; every other file is written)",
         "A file generate wrote was changed since: it is left alone (`--force` overwrites it).",
         ["generate", "--specs", "specs", "-o", "out"], "changed since vmci generate wrote it",
         files={"out/.vmci-manifest.json": _manifest({"rst/vmcoreinfo.rst": "old\n"}),
                "out/rst/vmcoreinfo.rst": "mine\n"}),
    Case("vmci generate: warnings (exit status 1; every other file is written)",
         "A file at one of generate's paths that generate did not write.",
         ["generate", "--specs", "specs", "-o", "out"], "not written by vmci generate",
         files={"out/.vmci-manifest.json": _manifest({}), "out/rst/vmcoreinfo.rst": "mine\n"}),
    Case("vmci generate: warnings (exit status 1; every other file is written)",
         "A FIFO, device or link at one of generate's paths is never opened or followed.",
         ["generate", "--specs", "specs", "-o", "out"], "not a regular file (a FIFO)",
         files={"out/.vmci-manifest.json": _manifest({}), "out/rst/README": "the FIFO's directory\n"},
         setup=fifo("out/rst/vmcoreinfo.rst")),
    # --- outputs, and files that must be regular files ---
    Case("any command with -o", "The output is one of the command's inputs (by path, hard link or link).",
         LIST + ["--config", "config", "-o", "config"], "does not write over its input", expect_code=2),
    Case("any command with -o", "The output cannot be written: a directory, a disk (block device), a socket, a "
         "missing directory, a full disk.", LIST + ["-o", "specs"], "cannot write: a directory", expect_code=2),
    Case("validate, list, resolve, generate: problems in the specs",
         "A spec file that is not a regular file (a FIFO would never end).", VALIDATE, "not a regular file (a FIFO)",
         setup=fifo("specs/extra.yaml")),
    Case("vmci validate", "--kernel-src: a Kconfig file (or the top Makefile) that is not a regular file.",
         ["validate", "specs", "--kernel-src", "tree"], "not a regular file (a FIFO)",
         files={"tree/Makefile": "VERSION = 6\nPATCHLEVEL = 1\n", "tree/Kconfig": "config X86\n\tbool\n"},
         setup=fifo("tree/Kconfig.debug"), expect_code=2),
    Case("vmci resolve: the image is not a file (exit status 2)",
         "The vmlinux is a FIFO, device or socket: the image is mapped, so it must be a file.", RESOLVE,
         "not a regular file (a FIFO)", setup=fifo("vmlinux"), expect_code=2),
    Case("vmci note", "The text is not KEY=VALUE lines.", ["note", "--from", "text", "-o", "note"],
         "not a KEY=VALUE line", files={"text": "OSRELEASE=6.1\nhello\n"}, expect_code=2),
    Case("vmci note", "The last line has no newline.", ["note", "--from", "text", "-o", "note"],
         "the last line has no newline", files={"text": "OSRELEASE=6.1"}, expect_code=2),
    Case("vmci note", "The text is longer than VMCOREINFO_BYTES (PAGE_SIZE, from the PAGESIZE line or "
         "--page-size): no kernel writes that much.", ["note", "--from", "text", "-o", "note"],
         "bytes of text; the kernel holds at most VMCOREINFO_BYTES",
         files={"text": "OSRELEASE=6.1\nPAGESIZE=4096\n" + "NUMBER(filler)=18446744073709551615\n" * 120},
         expect_code=2),
    Case("vmci note", "The PAGESIZE line and --page-size disagree.",
         ["note", "--from", "text", "-o", "note", "--page-size", "16384"], "but --page-size says",
         files={"text": "OSRELEASE=6.1\nPAGESIZE=4096\n"}, expect_code=2),
    Case("vmci note", "Nothing to write.", ["note", "--from", "text"], "give -o NOTE",
         files={"text": "OSRELEASE=6.1\n"}, expect_code=2),
    Case("vmci note", "An ELF core needs the machine.", ["note", "--from", "text", "--elf-core", "core"],
         "--elf-core needs --arch", files={"text": "OSRELEASE=6.1\n"}, expect_code=2),
    Case("vmci note", "A PAGESIZE of more digits than any page size has (Python's int() refuses 4,300).",
         ["note", "--from", "text", "-o", "note"], "-digit number",
         files={"text": "OSRELEASE=6.1\nPAGESIZE=" + "4" * 5000 + "\n"}, expect_code=2),
    Case("vmci note: warnings (exit status 0)",
         "The text fills VMCOREINFO_BYTES: the kernel that wrote it (or --truncate) cut it there.",
         ["note", "--from", "text", "-o", "note", "--truncate"], "the text fills VMCOREINFO_BYTES",
         files={"text": "OSRELEASE=6.1\nPAGESIZE=4096\n" + "NUMBER(filler)=18446744073709551615\n" * 120},
         expect_code=0),
    # --- audit source, show ---
    Case("vmci audit source (exit status 2)", "The top Makefile's VERSION, PATCHLEVEL or SUBLEVEL has more digits "
         "than a kernel's.", ["audit", "source", "tree", "--specs", "specs"], "-digit number",
         files={"tree/Makefile": "VERSION = " + "6" * 5000 + "\nPATCHLEVEL = 1\n"}, expect_code=2),
    Case("vmci audit source (exit status 2)", "A tarball that keeps more Kconfig, Makefile and VMCOREINFO C files "
         "than any kernel tree (docs/limits.md).", ["audit", "source", "linux.tar.gz", "--specs", "specs"],
         "more than 50000", files={"linux.tar.gz": _many_kconfigs}, expect_code=2),
    Case("vmci audit source (exit status 2)", "A tarball cut short inside a member.",
         ["audit", "source", "linux.tar", "--specs", "specs"], "cut short",
         files={"linux.tar": lambda _: _tar_header(b"linux/Makefile", 3000) + b"VERSION = 6\n" * 10},
         expect_code=2),
    Case("vmci audit source (exit status 2)", "A member header whose checksum is wrong.",
         ["audit", "source", "linux.tar", "--specs", "specs"], "bad header checksum",
         files={"linux.tar": lambda _: _tar_header(b"linux/a") + _tar_header(b"linux/b", 0, 1) + bytes(1024)},
         expect_code=2),
    Case("vmci show and vmci audit note (exit status 2)", "Two VMCOREINFO notes with different text in one file.",
         ["show", "two.bin"], "two different VMCOREINFO notes", files={"two.bin": _two_notes}, expect_code=2),
]


def prepare(case: Case, directory: str, image: bytes) -> None:
    shutil.copytree(FIXTURE_SPECS, os.path.join(directory, "specs"))
    with open(os.path.join(directory, "config"), "w", encoding="utf-8") as handle:
        handle.write(CONFIG_TEXT)
    with open(os.path.join(directory, "vmlinux"), "wb") as handle:
        handle.write(image)
    for name, edit in (("common.yaml", case.common), ("arch/x86_64.yaml", case.arch)):
        if edit is not None:
            path = os.path.join(directory, "specs", name)
            with open(path, encoding="utf-8") as handle:
                text = edit(handle.read())
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
    for name, content in case.files.items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if callable(content):
            content = content(image)
        with open(path, "wb" if isinstance(content, bytes) else "w") as handle:
            handle.write(content)
    if case.setup is not None:
        case.setup(directory)


def example(case: Case, directory: str, image: bytes):
    """(exit status, the example line) of one case, run in `directory`."""
    prepare(case, directory, image)
    with contextlib.ExitStack() as stack:
        old = os.getcwd()
        os.chdir(directory)
        stack.callback(os.chdir, old)
        result = run_cli(case.command)
    lines = [line for line in result.out.splitlines() + result.err.splitlines() if case.pick in line]
    assert lines, f"{case.pick!r} not in the output of vmci {' '.join(case.command)}:\n{result}"
    return result.code, lines[0]


def shorten(line: str, limit: int = 300) -> str:
    return line if len(line) <= limit else line[:limit] + " ..."


def fixture_bytes(directory: str) -> bytes:
    with open(build_fixture(directory), "rb") as handle:
        return handle.read()


def document(results) -> str:
    out = [HEADER]
    section = None
    for case, (_code, line) in results:
        if case.section != section:
            section = case.section
            out.append(f"\n## {section}\n\n")
        command = " ".join(case.command)
        out.append(f"- {case.meaning}\n\n  ```\n  $ vmci {command}\n  {shorten(line)}\n  ```\n")
    return "".join(out)


HEADER = """# vmci's error messages

Every problem vmci finds is one line. Spec problems name the file, line and column
(`file:line:col: error: message`, or `warning [CHECK]` for a lint); problems with other
inputs name the command, the file and the place in it (`vmci COMMAND: FILE: PLACE:
message`); an entry `vmci resolve` cannot resolve names its spec line
(`file:line: KEY not resolved: reason`). No traceback reaches the user.

Exit status: 0 success; 1 the input was understood and found wanting (spec errors,
unresolved entries, stale generated files); 2 the input could not be used at all
(missing or damaged file, bad arguments); 130 interrupted (Ctrl-C; no output file is
left half written).

Each message below comes with one example, produced by the input in
`tests/hardening/error_catalog.py` from the hardening fixture's specs, config and
kernel-shaped image, run in a directory holding `specs/`, `config` and `vmlinux`;
`tests/hardening/test_errors_doc.py` checks that vmci still prints each of them.
Long lines are shortened with ` ...`. Limits are in `docs/limits.md`.
"""


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        image = fixture_bytes(os.path.join(scratch, "fixture"))
        results = []
        for index, case in enumerate(CASES):
            directory = os.path.join(scratch, f"case-{index}")
            os.makedirs(directory)
            results.append((case, example(case, directory, image)))
    sys.stdout.write(document(results))


if __name__ == "__main__":
    main()
