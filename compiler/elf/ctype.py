"""C types as read from DWARF, in a small immutable, JSON-serialisable form.

A :class:`CType` tree is built by value: a struct holds its members' types,
a typedef its target, an array its element.  Pointers break the tree: the
target of a pointer is *shallow* -- a struct or union reached through a
pointer carries its name and size but ``members`` is ``None`` (look the type
up by name to expand it).  This keeps self-referential kernel types such as
``struct list_head`` finite.

const/volatile/restrict qualifiers are dropped while building, so they never
appear as kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from vmci.elf.errors import LookupFailure

STRUCT = "struct"
UNION = "union"
ENUM = "enum"
TYPEDEF = "typedef"
BASE = "base"
POINTER = "pointer"
ARRAY = "array"
FUNCTION = "function"
VOID = "void"

KINDS = frozenset({STRUCT, UNION, ENUM, TYPEDEF, BASE, POINTER, ARRAY, FUNCTION, VOID})


@dataclass(frozen=True)
class Member:
    """One member of a struct or union.

    ``offset`` is the byte offset from the start of the enclosing type.  For a
    bitfield, ``bit_size`` is its width and ``bit_offset`` the position of its
    first bit counted from bit 0 of the byte at ``offset`` (so the absolute bit
    position is ``offset * 8 + bit_offset``, in DWARF's DW_AT_data_bit_offset
    numbering); both are ``None`` for ordinary members.
    """

    name: Optional[str]
    offset: int
    type: CType
    bit_offset: Optional[int] = None
    bit_size: Optional[int] = None

    @property
    def is_bitfield(self) -> bool:
        return self.bit_size is not None


@dataclass(frozen=True)
class CType:
    """A C type.

    kind         one of KINDS
    name         tag name (struct/union/enum), typedef name, base type name as
                 DWARF spells it (e.g. "long unsigned int"), or None
    size         size in bytes; None when unknown or incomplete
    members      struct/union: tuple of Member (None when the type is only a
                 declaration or was reached through a pointer)
    target       typedef: the aliased type; pointer: the pointee (shallow);
                 array: the element type
    length       array: number of elements, None when DWARF has no bound
    enumerators  enum: tuple of (name, value)
    encoding     base: "signed", "unsigned", "signed_char", "unsigned_char",
                 "boolean", "float", ... (DW_ATE_* without the prefix)
    """

    kind: str
    name: Optional[str] = None
    size: Optional[int] = None
    members: Optional[Tuple[Member, ...]] = None
    target: Optional[CType] = None
    length: Optional[int] = None
    enumerators: Optional[Tuple[Tuple[str, int], ...]] = None
    encoding: Optional[str] = None

    # ------------------------------------------------------------------ views
    @property
    def element(self) -> Optional[CType]:
        """Alias of ``target`` (reads better for arrays)."""
        return self.target

    @property
    def is_complete(self) -> bool:
        if self.kind in (STRUCT, UNION):
            return self.members is not None and self.size is not None
        return self.size is not None or self.kind in (FUNCTION, VOID)

    def spelling(self) -> str:
        """A short C-like spelling, for messages."""
        if self.kind in (STRUCT, UNION, ENUM):
            return f"{self.kind} {self.name}" if self.name else f"{self.kind} <anonymous>"
        if self.kind == POINTER:
            return (self.target.spelling() if self.target else "void") + " *"
        if self.kind == ARRAY:
            dims = ""
            t: Optional[CType] = self
            while t is not None and t.kind == ARRAY:
                dims += f"[{'' if t.length is None else t.length}]"
                t = t.target
            return (t.spelling() if t is not None else "?") + dims
        if self.kind == FUNCTION:
            return "function"
        if self.kind == VOID:
            return "void"
        return self.name or self.kind

    def resolved(self) -> CType:
        """This type with typedefs stripped (qualifiers are never present)."""
        t = self
        for _ in range(256):
            if t.kind != TYPEDEF:
                return t
            if t.target is None:
                return CType(VOID)
            t = t.target
        raise LookupFailure(f"typedef chain too long at '{self.spelling()}'")

    def array_length(self) -> int:
        """Number of elements of an array type (typedefs stripped).
        LookupFailure when this is not an array or DWARF gives it no bound
        (``extern T x[]`` / flexible array member); ``length`` is None then."""
        t = self.resolved()
        if t.kind != ARRAY:
            raise LookupFailure(f"'{self.spelling()}' is not an array")
        if t.length is None:
            raise LookupFailure(f"array '{self.spelling()}' has no bound in DWARF")
        return t.length

    def member(self, path: str) -> Tuple[int, CType]:
        """Resolve a dotted member path such as ``"a.b.c"`` to
        ``(byte offset from the start of this type, member type)``.

        Anonymous struct/union members are searched transparently and typedefs
        are walked through at every step.  Array subscripts ``a[3]`` are
        accepted and add ``3 * sizeof(element)``.
        """
        if not isinstance(path, str) or not path:
            raise LookupFailure("empty member path")
        offset = 0
        cur: CType = self
        for comp in path.split("."):
            index = None
            if comp.endswith("]") and "[" in comp:
                comp, _, idx = comp[:-1].partition("[")
                try:
                    index = int(idx, 0)
                except ValueError:
                    raise LookupFailure(f"bad array index in member path '{path}'") from None
            if not comp:
                raise LookupFailure(f"empty component in member path '{path}'")
            agg = cur.resolved()
            if agg.kind not in (STRUCT, UNION):
                raise LookupFailure(
                    f"member '{comp}' not found: '{cur.spelling()}' is not a struct or union")
            if agg.members is None:
                raise LookupFailure(
                    f"member '{comp}' not found: {agg.spelling()} is incomplete here")
            found = _find_member(agg, comp, 0)
            if found is None:
                raise LookupFailure(f"member '{comp}' not found in {agg.spelling()}")
            offset += found[0]
            cur = found[1]
            if index is not None:
                arr = cur.resolved()
                if arr.kind != ARRAY or arr.target is None:
                    raise LookupFailure(f"member '{comp}' of {agg.spelling()} is not an array")
                esize = arr.target.resolved().size
                if esize is None:
                    raise LookupFailure(f"element size of '{comp}' is unknown")
                offset += index * esize
                cur = arr.target
        return offset, cur

    def find_member(self, path: str) -> Member:
        """Like :meth:`member` but returns the last :class:`Member` (with
        bitfield details) with its offset made absolute."""
        head, _, last = path.rpartition(".")
        base_off, base = self.member(head) if head else (0, self)
        agg = base.resolved()
        if agg.kind not in (STRUCT, UNION) or agg.members is None:
            raise LookupFailure(f"member '{last}' not found: '{base.spelling()}' is not a complete struct or union")
        found = _find_member_obj(agg, last, 0)
        if found is None:
            raise LookupFailure(f"member '{last}' not found in {agg.spelling()}")
        off, m = found
        return Member(m.name, base_off + off, m.type, m.bit_offset, m.bit_size)

    # ---------------------------------------------------------------- JSON
    def to_json(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"kind": self.kind}
        if self.name is not None:
            d["name"] = self.name
        if self.size is not None:
            d["size"] = self.size
        if self.members is not None:
            ms: List[Any] = []
            for m in self.members:
                md: Dict[str, Any] = {"name": m.name, "offset": m.offset, "type": m.type.to_json()}
                if m.bit_size is not None:
                    md["bit_offset"] = m.bit_offset
                    md["bit_size"] = m.bit_size
                ms.append(md)
            d["members"] = ms
        if self.target is not None:
            d["target"] = self.target.to_json()
        if self.length is not None:
            d["length"] = self.length
        if self.enumerators is not None:
            d["enumerators"] = [[n, v] for n, v in self.enumerators]
        if self.encoding is not None:
            d["encoding"] = self.encoding
        return d

    @staticmethod
    def from_json(d: Dict[str, Any]) -> CType:
        try:
            return _from_json(d, 0)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise LookupFailure(f"malformed cached type: {e}") from None


def _find_member(agg: CType, name: str, depth: int) -> Optional[Tuple[int, CType]]:
    r = _find_member_obj(agg, name, depth)
    if r is None:
        return None
    return r[0], r[1].type


def _find_member_obj(agg: CType, name: str, depth: int) -> Optional[Tuple[int, Member]]:
    if depth > 64 or not agg.members:
        return None
    for m in agg.members:
        if m.name == name:
            return m.offset, m
    for m in agg.members:
        if m.name is None:
            sub = m.type.resolved()
            if sub.kind in (STRUCT, UNION) and sub.members:
                r = _find_member_obj(sub, name, depth + 1)
                if r is not None:
                    return m.offset + r[0], r[1]
    return None


def _from_json(d: Dict[str, Any], depth: int) -> CType:
    if depth > 512:
        raise ValueError("type nesting too deep")
    kind = d["kind"]
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    members = None
    if "members" in d:
        members = tuple(
            Member(m["name"], int(m["offset"]), _from_json(m["type"], depth + 1),
                   m.get("bit_offset"), m.get("bit_size"))
            for m in d["members"])
    target = _from_json(d["target"], depth + 1) if "target" in d else None
    enumerators = None
    if "enumerators" in d:
        enumerators = tuple((str(n), int(v)) for n, v in d["enumerators"])
    return CType(kind, d.get("name"), d.get("size"), members, target,
                 d.get("length"), enumerators, d.get("encoding"))


VOID_TYPE = CType(VOID)
