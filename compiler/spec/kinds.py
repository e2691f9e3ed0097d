"""The entry kinds: one class per `kind:` of the spec format, and all it takes to add one.

Each kind's class owns
- its YAML fields (`yaml_fields`, `optional_yaml_fields`; the model builds every kind
  from them alike, and `audit source --update-specs` writes them back),
- its one C rendering (`c_call`: the kernel macro or function and its arguments, which
  the C emitter, the rst reference, `vmci list` and `vmci diff` all print),
- its value shape (`value_shape`: an integer printed by one of abi.CONVERSIONS, a
  string, the build ID, the flag `y`, or no line at all: a call or a statement), on
  which resolve and the Python emitter dispatch,
- how the audit recognises it in kernel C (`from_macro`: a macro use with its arguments
  back to the entry).

tests/spec/test_kinds.py checks every registered kind against the schema's `kind` enum
and its if/then branches, and through every stage.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from vmci import abi
from vmci.lang import cexpr
from vmci.lang.condition import TRUE, Condition
from vmci.spec.model import SpecLocation, VersionRange


class ValueShape(enum.Enum):
    """What an entry's line holds, which is what resolve and the emitters do with it."""

    INTEGER = "integer"  # a C integer printed by one of abi.CONVERSIONS (entry.format)
    STRING = "string"  # a C string printed by %s
    BUILD_ID = "build-id"  # the vmlinux's GNU build ID, printed by %20phN
    FLAG = "flag"  # the constant y, written when the entry's condition holds
    CALL = "call"  # no line: a call of another emitting function
    STATEMENT = "statement"  # no line: a C statement the following lines depend on


# --- the C the kernel writes for an entry ----------------------------------------------------

@dataclass(frozen=True)
class Ident:
    """A C identifier (or a dotted path of them) passed as it is, e.g. a macro's `name`."""

    name: str


@dataclass(frozen=True)
class Expr:
    """A C expression the spec gives (parsed; None when the spec's text was unusable)."""

    node: cexpr.Node | None


@dataclass(frozen=True)
class Literal:
    """A C string literal, by its content."""

    text: str


CArg = Ident | Expr | Literal


@dataclass(frozen=True)
class CCall:
    """The kernel's C for an entry: `function(args);`, or the bare expression statement
    `args[0];` when function is empty."""

    function: str
    args: tuple[CArg, ...] = ()


# --- the kinds ---------------------------------------------------------------------------------

# What each YAML field of an entry kind becomes in the entry (`c` also gives `c_node`).
YAML_ATTRIBUTES = {"name": "name", "member": "member", "c": "c", "key": "append_key", "format": "append_format",
                   "function": "callee", "helper": "helper"}


@dataclass
class Entry:
    """One thing a function does, in order: usually one VMCOREINFO line."""

    kind: ClassVar[str] = ""
    macro: ClassVar[str] = ""
    format: ClassVar[str] = ""
    yaml_fields: ClassVar[tuple[str, ...]] = ()  # the fields this kind requires
    optional_yaml_fields: ClassVar[tuple[str, ...]] = ()
    c_is_statement: ClassVar[bool] = False  # its `c` may assign (a statement, not a value)
    # The value is the kernel's even where the spec says it is set at run time: the
    # release string is in the image (init_uts_ns) however writable its section.
    fixed_in_image: ClassVar[bool] = False
    address_from_symtab: ClassVar[bool] = False  # the value is a symbol's address

    where: SpecLocation
    when: Condition = TRUE
    versions: VersionRange = VersionRange()  # noqa: RUF009 (frozen: one shared value is safe)
    doc: str = ""
    value_text: str | None = None
    value: cexpr.Node | None = None
    runtime: str | None = None
    lint_ignore: tuple[str, ...] = ()
    emitter: str = ""
    function: str = ""
    repeats: str | None = None  # why the kernel emits this key twice
    kaslr_offset: bool = False  # the line is the kernel's KASLR offset (KERNELOFFSET)

    registry: ClassVar[dict[str, type[Entry]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Entry.registry[cls.kind] = cls

    @property
    def emits(self) -> bool:
        return True

    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def value_shape(self) -> ValueShape | None:
        """What the line holds; None for a format that is no printf conversion vmci knows."""
        if self.format in abi.CONVERSIONS:
            return ValueShape.INTEGER
        if self.format == abi.STRING_CONVERSION:
            return ValueShape.STRING
        return None

    def c_call(self) -> CCall:
        """The C the kernel writes for this entry."""
        return CCall(self.macro, tuple(Ident(arg) for arg in self.c_macro_args()))

    def c_value(self) -> cexpr.Node | None:
        """The C expression the kernel formats (None when it is not an expression)."""
        return None

    def value_expression(self) -> cexpr.Node | None:
        """What vmci evaluates to resolve the value: the spec's `value`, else the kernel's C."""
        return self.value if self.value is not None else self.c_value()

    def c_macro_args(self) -> list[str]:
        """The arguments of the kernel macro call, as C text."""
        return []

    def calls(self) -> str:
        """The kernel function called where this entry stands, "" for none: a call
        entry's callee, or the static helper that appends the entry's line."""
        return ""

    def c_names(self) -> set[str]:
        """The names the entry's kernel C mentions (macros and functions included)."""
        node = getattr(self, "c_node", None)
        return cexpr.names_in(node) | cexpr.calls_in(node) if node is not None else set()

    @classmethod
    def macro_fields(cls, argument_count: int) -> tuple[str, ...]:
        """The fields the kernel macro's arguments give, in order."""
        return cls.yaml_fields

    @classmethod
    def from_macro(cls, where: SpecLocation, args: Sequence[str],
                   literal: str | None) -> tuple[Entry | None, str | None]:
        """The entry a use of this kind's macro in kernel C stands for (its arguments as
        C text; `literal` the first one's content when it is a string literal), or why
        it cannot be read."""
        names = cls.macro_fields(len(args))
        if len(args) != len(names):
            return None, f"{cls.macro} takes {len(names)} arguments, the tree passes {len(args)}"
        fields: dict[str, Any] = {YAML_ATTRIBUTES[name]: arg for name, arg in zip(names, args)}
        return cls(where=where, **fields), None

    def yaml_values(self) -> list[tuple[str, str]]:
        """This kind's fields as the spec writes them (for `--update-specs`)."""
        return [(name, str(getattr(self, YAML_ATTRIBUTES[name]))) for name in self.yaml_fields]

    @property
    def value_source(self) -> str:
        """How the value is obtained, for `vmci list`."""
        if self.value_text is not None:
            return f"expression {self.value_text}"
        return self.default_source()

    def default_source(self) -> str:
        return "expression"


@dataclass
class NamedEntry(Entry):
    yaml_fields: ClassVar[tuple[str, ...]] = ("name",)
    name: str = ""

    def c_macro_args(self):
        return [self.name]

    def c_names(self) -> set[str]:
        return {self.name} | super().c_names()


@dataclass
class OsreleaseEntry(Entry):
    kind: ClassVar[str] = "osrelease"
    macro: ClassVar[str] = "VMCOREINFO_OSRELEASE"
    format: ClassVar[str] = abi.STRING_CONVERSION
    yaml_fields: ClassVar[tuple[str, ...]] = ("c",)
    fixed_in_image: ClassVar[bool] = True
    c: str = ""
    c_node: cexpr.Node | None = None

    @property
    def key(self) -> str:
        return "OSRELEASE"

    def c_call(self) -> CCall:
        return CCall(self.macro, (Expr(self.c_node),))

    def c_value(self):
        return self.c_node

    def c_macro_args(self):
        return [self.c]

    def default_source(self):
        return f"image string {self.c}"


@dataclass
class BuildIdEntry(Entry):
    kind: ClassVar[str] = "build-id"
    macro: ClassVar[str] = "VMCOREINFO_BUILD_ID"
    format: ClassVar[str] = abi.BUILD_ID_CONVERSION
    optional_yaml_fields: ClassVar[tuple[str, ...]] = ("c", "helper")
    # Before 5.14 the macro took the hex string (VMCOREINFO_BUILD_ID(build_id)) and a
    # static helper of the common file, add_build_id_vmcoreinfo(), found it and appended it.
    c: str = ""
    c_node: cexpr.Node | None = None
    helper: str = ""

    @property
    def key(self) -> str:
        return "BUILD-ID"

    @property
    def value_shape(self) -> ValueShape | None:
        return ValueShape.BUILD_ID

    def calls(self) -> str:
        return self.helper

    def c_call(self) -> CCall:
        if self.helper:  # the frame's helper appends it
            return CCall(self.helper)
        return CCall(self.macro, (Expr(self.c_node),) if self.c else ())

    @classmethod
    def macro_fields(cls, argument_count: int) -> tuple[str, ...]:
        return ("c",) if argument_count == 1 else ()  # VMCOREINFO_BUILD_ID(value) before 5.14

    def c_macro_args(self):
        return [self.c] if self.c else []

    def default_source(self):
        return "ELF note NT_GNU_BUILD_ID"


@dataclass
class PagesizeEntry(OsreleaseEntry):
    kind: ClassVar[str] = "pagesize"
    macro: ClassVar[str] = "VMCOREINFO_PAGESIZE"
    format: ClassVar[str] = "%ld"
    fixed_in_image: ClassVar[bool] = False

    @property
    def key(self) -> str:
        return "PAGESIZE"

    def default_source(self):
        return f"expression {self.c}"


@dataclass
class SymbolEntry(NamedEntry):
    kind: ClassVar[str] = "symbol"
    macro: ClassVar[str] = "VMCOREINFO_SYMBOL"
    format: ClassVar[str] = "%lx"
    address_from_symtab: ClassVar[bool] = True

    @property
    def key(self) -> str:
        return f"SYMBOL({self.name})"

    def c_value(self):
        return cexpr.Unary("&", cexpr.Name(self.name))

    def default_source(self):
        return f"symbol table: &{self.name}"


@dataclass
class SymbolArrayEntry(SymbolEntry):
    kind: ClassVar[str] = "symbol-array"
    macro: ClassVar[str] = "VMCOREINFO_SYMBOL_ARRAY"

    def c_value(self):
        return cexpr.Name(self.name)

    def default_source(self):
        return f"symbol table: {self.name} (array address, or pointer value)"


@dataclass
class SizeEntry(NamedEntry):
    kind: ClassVar[str] = "size"
    macro: ClassVar[str] = "VMCOREINFO_SIZE"
    format: ClassVar[str] = "%lu"

    @property
    def type_name(self) -> str:
        return self.name

    @property
    def key(self) -> str:
        return f"SIZE({self.name})"

    def c_value(self):
        return cexpr.SizeofType(cexpr.TypeName(self.type_name))

    def default_source(self):
        return f"DWARF: sizeof({self.type_name})"


@dataclass
class StructSizeEntry(SizeEntry):
    kind: ClassVar[str] = "struct-size"
    macro: ClassVar[str] = "VMCOREINFO_STRUCT_SIZE"

    @property
    def type_name(self) -> str:
        return f"struct {self.name}"


@dataclass
class OffsetEntry(NamedEntry):
    kind: ClassVar[str] = "offset"
    macro: ClassVar[str] = "VMCOREINFO_OFFSET"
    format: ClassVar[str] = "%lu"
    yaml_fields: ClassVar[tuple[str, ...]] = ("name", "member")
    member: str = ""

    @property
    def type_name(self) -> str:
        return f"struct {self.name}"

    @property
    def key(self) -> str:
        return f"OFFSET({self.name}.{self.member})"

    def c_value(self):
        return cexpr.Offsetof(cexpr.TypeName(self.type_name), self.member)

    def c_macro_args(self):
        return [self.name, self.member]

    def c_names(self) -> set[str]:
        return Entry.c_names(self)  # a type and its member, no name of the C scope

    def default_source(self):
        return f"DWARF: offsetof({self.type_name}, {self.member})"


@dataclass
class TypeOffsetEntry(OffsetEntry):
    kind: ClassVar[str] = "type-offset"
    macro: ClassVar[str] = "VMCOREINFO_TYPE_OFFSET"

    @property
    def type_name(self) -> str:
        return self.name


@dataclass
class LengthEntry(NamedEntry):
    kind: ClassVar[str] = "length"
    macro: ClassVar[str] = "VMCOREINFO_LENGTH"
    format: ClassVar[str] = "%lu"
    yaml_fields: ClassVar[tuple[str, ...]] = ("name", "c")
    c: str = ""
    c_node: cexpr.Node | None = None

    @property
    def key(self) -> str:
        return f"LENGTH({self.name})"

    def c_call(self) -> CCall:
        return CCall(self.macro, (Ident(self.name), Expr(self.c_node)))

    def c_value(self):
        return self.c_node

    def c_macro_args(self):
        return [self.name, self.c]

    def c_names(self) -> set[str]:
        return Entry.c_names(self)  # the name only labels the line

    def default_source(self):
        return f"expression {self.c}"


@dataclass
class NumberEntry(NamedEntry):
    kind: ClassVar[str] = "number"
    macro: ClassVar[str] = "VMCOREINFO_NUMBER"
    format: ClassVar[str] = "%ld"

    @property
    def key(self) -> str:
        return f"NUMBER({self.name})"

    def c_value(self):
        return cexpr.Name(self.name)

    def default_source(self):
        return f"expression {self.name}"


@dataclass
class ConfigEntry(NamedEntry):
    kind: ClassVar[str] = "config"
    macro: ClassVar[str] = "VMCOREINFO_CONFIG"
    format: ClassVar[str] = abi.FLAG_VALUE

    @property
    def key(self) -> str:
        return f"CONFIG_{self.name}"

    @property
    def value_shape(self) -> ValueShape | None:
        return ValueShape.FLAG

    def default_source(self):
        return "constant y (emitted when the condition holds)"


@dataclass
class AppendEntry(Entry):
    kind: ClassVar[str] = "append"
    macro: ClassVar[str] = "vmcoreinfo_append_str"
    yaml_fields: ClassVar[tuple[str, ...]] = ("key", "format", "c")
    append_key: str = ""
    append_format: str = ""
    c: str = ""
    c_node: cexpr.Node | None = None

    @property
    def key(self) -> str:
        return self.append_key

    @property
    def format(self) -> str:  # type: ignore[override]
        return self.append_format

    def c_call(self) -> CCall:
        return CCall(self.macro, (Literal(self.key.replace("%", "%%") + "=" + self.format + "\n"), Expr(self.c_node)))

    @classmethod
    def from_macro(cls, where: SpecLocation, args: Sequence[str],
                   literal: str | None) -> tuple[Entry | None, str | None]:
        if literal is None:
            return None, "the format is not a string literal"
        match = re.fullmatch(r"([^=\n]+)=([^\n]*)\n", literal, re.DOTALL)
        if not match:
            return None, f"format {literal!r} is not KEY=FORMAT\\n"
        return cls(where=where, append_key=match.group(1), append_format=match.group(2), c=", ".join(args[1:])), None

    def c_value(self):
        return self.c_node

    def c_macro_args(self):
        return [self.c]

    def default_source(self):
        return f"expression {self.c}"


@dataclass
class CallEntry(Entry):
    kind: ClassVar[str] = "call"
    yaml_fields: ClassVar[tuple[str, ...]] = ("function",)
    callee: str = ""

    @property
    def emits(self) -> bool:
        return False

    @property
    def key(self) -> str:
        return f"{self.callee}()"

    @property
    def value_shape(self) -> ValueShape | None:
        return ValueShape.CALL

    def calls(self) -> str:
        return self.callee

    def c_call(self) -> CCall:
        return CCall(self.callee)


@dataclass
class StatementEntry(Entry):
    kind: ClassVar[str] = "statement"
    yaml_fields: ClassVar[tuple[str, ...]] = ("c",)
    c_is_statement: ClassVar[bool] = True
    c: str = ""
    c_node: cexpr.Node | None = None

    @property
    def emits(self) -> bool:
        return False

    @property
    def key(self) -> str:
        return self.c

    @property
    def value_shape(self) -> ValueShape | None:
        return ValueShape.STATEMENT

    def c_call(self) -> CCall:
        return CCall("", (Expr(self.c_node),))
