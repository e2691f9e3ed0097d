"""Build :class:`CType` trees from DWARF type DIEs (decoded by pyelftools)."""

from __future__ import annotations

from typing import Callable, Dict, Optional, Set, Tuple

from vmci.elf import dwarf as D
from vmci.elf.ctype import ARRAY, BASE, ENUM, FUNCTION, POINTER, STRUCT, TYPEDEF, UNION, VOID, CType, Member
from vmci.elf.errors import DwarfError, LookupFailure

MAX_NODES = 200_000       # DIEs decoded while building one type
MAX_DEPTH = 512           # by-value nesting
MAX_MEMO = 400_000        # built types remembered across questions

_QUALIFIERS = frozenset(("DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type",
                         "DW_TAG_atomic_type", "DW_TAG_immutable_type"))
_POINTERS = frozenset(("DW_TAG_pointer_type", "DW_TAG_reference_type",
                       "DW_TAG_rvalue_reference_type", "DW_TAG_ptr_to_member_type"))
_AGGREGATES = frozenset(("DW_TAG_structure_type", "DW_TAG_class_type", "DW_TAG_union_type"))
# DWARF's type entries that C has no use for (Fortran, Pascal, Ada, UPC, C++ templates):
# outside a C unit a reference to one is sound DWARF that vmci does not read.  In a C
# unit, and for any other entry -- a member, a variable, a unit, a tag DWARF does not
# define -- it is damage.
_OTHER_TYPES = frozenset(("DW_TAG_string_type", "DW_TAG_set_type", "DW_TAG_subrange_type",
                          "DW_TAG_file_type", "DW_TAG_packed_type", "DW_TAG_shared_type",
                          "DW_TAG_interface_type", "DW_TAG_thrown_type", "DW_TAG_coarray_type",
                          "DW_TAG_dynamic_type", "DW_TAG_generic_subrange", "DW_TAG_template_alias"))
C_LANGUAGES = frozenset((0x1, 0x2, 0xC, 0x1D, 0x2C))  # DW_LANG_C89, C, C99, C11, C17

VOID_TYPE = CType(VOID)


class TypeBuilder:
    """Turns DIE offsets into CTypes.  `resolve_decl(kind, name)` is called
    for a struct/union/enum that is only declared where it was referenced by
    value-context (e.g. through a typedef); it returns a complete CType or
    None."""

    def __init__(self, reader: D.DwarfReader,
                 resolve_decl: Optional[Callable[[str, str], Optional[CType]]] = None) -> None:
        self.r = reader
        self.resolve_decl = resolve_decl
        self.memo: Dict[Tuple[int, bool], CType] = {}
        self._budget = 0

    def build(self, off: int) -> CType:
        self._budget = 0
        if len(self.memo) > MAX_MEMO:
            self.memo.clear()
        return self._build(off, False, set(), 0)

    def _tick(self) -> None:
        self._budget += 1
        if self._budget > MAX_NODES:
            raise LookupFailure("type is too large (more than %d DWARF entries)" % MAX_NODES)

    def _build(self, off: int, shallow: bool, stack: Set[Tuple[int, bool]], depth: int) -> CType:
        key = (off, shallow)
        got = self.memo.get(key)
        if got is not None:
            return got
        if key in stack:
            raise DwarfError(self.r.cu_for(off).place, f"type cycle: the type at {off:#x} contains itself")
        if depth > MAX_DEPTH:
            raise DwarfError(self.r.cu_for(off).place, f"type nesting deeper than {MAX_DEPTH} at {off:#x}")
        self._tick()
        die = self.r.die(off)
        stack.add(key)
        try:
            t = self._make(die, shallow, stack, depth)
        finally:
            stack.discard(key)
        self.memo[key] = t
        return t

    def _ref(self, die, shallow: bool, stack: Set[Tuple[int, bool]], depth: int) -> CType:
        off = self.r.ref(die, "DW_AT_type", strict=True)
        if off is None:
            return VOID_TYPE
        return self._build(off, shallow, stack, depth + 1)

    def _make(self, die, shallow: bool, stack: Set[Tuple[int, bool]], depth: int) -> CType:
        tag = die.tag
        r = self.r
        if tag in _QUALIFIERS:
            return self._ref(die, shallow, stack, depth)
        name = r.name(die)
        size = r.uint(die, "DW_AT_byte_size")
        if tag == "DW_TAG_base_type":
            enc = r.uint(die, "DW_AT_encoding")
            encoding = None if enc is None else D.ATE_NAMES.get(enc, str(enc))
            return CType(BASE, name, size, encoding=encoding)
        if tag == "DW_TAG_typedef":
            return CType(TYPEDEF, name, None, target=self._typedef_target(die, shallow, stack, depth))
        if tag in _POINTERS:
            if size is None:
                size = r.unit_of(die).addr_size
            # the pointee is shallow and starts a fresh by-value chain
            return CType(POINTER, None, size, target=self._ref(die, True, stack, depth))
        if tag in _AGGREGATES:
            kind = UNION if tag == "DW_TAG_union_type" else STRUCT
            if r.flag(die, "DW_AT_declaration"):
                return CType(kind, name, None, None)
            if shallow:
                return CType(kind, name, size, None)
            return CType(kind, name, size, self._members(die, stack, depth))
        if tag == "DW_TAG_enumeration_type":
            if r.flag(die, "DW_AT_declaration"):
                return CType(ENUM, name, None)
            signed = r.enum_is_signed(die)
            enums = []
            for c in r.children(die):
                self._tick()
                if c.tag != "DW_TAG_enumerator":
                    continue
                v = r.const_value(c, signed)
                if v is not None:
                    enums.append((r.name(c) or "", v))
            return CType(ENUM, name, size, enumerators=tuple(enums))
        if tag == "DW_TAG_array_type":
            return self._array(die, shallow, stack, depth)
        if tag in ("DW_TAG_subroutine_type", "DW_TAG_subprogram"):
            return CType(FUNCTION, name, None)
        if tag == "DW_TAG_unspecified_type":
            return CType(VOID, name, None)
        cu = r.unit_of(die)
        if tag in _OTHER_TYPES and r.uint(r.unit_die(cu), "DW_AT_language") not in C_LANGUAGES:
            raise LookupFailure(f"unsupported DWARF tag {tag} used as a type (DIE at {die.offset:#x})")
        shown = tag if isinstance(tag, str) else f"tag {tag:#x}" if isinstance(tag, int) else "an unknown tag"
        raise DwarfError(cu.place, f"a type reference leads to the DIE at {die.offset:#x}, a {shown}, which is "
                                   f"not a type{' in C' if tag in _OTHER_TYPES else ''}")

    def _typedef_target(self, die, shallow, stack, depth) -> CType:
        t = self._ref(die, shallow, stack, depth)
        if not shallow and t.kind in (STRUCT, UNION, ENUM) and t.size is None and t.name \
                and self.resolve_decl is not None:
            full = self.resolve_decl(t.kind, t.name)
            if full is not None:
                return full
        return t

    def _members(self, die, stack: Set[Tuple[int, bool]], depth: int):
        r = self.r
        out = []
        for c in r.children(die):
            self._tick()
            if c.tag != "DW_TAG_member" and c.tag != "DW_TAG_inheritance":
                continue
            mtype = self._ref(c, False, stack, depth)
            mname = r.name(c) if c.tag == "DW_TAG_member" else None
            byte_off = _member_location(r, c)
            bit_size = r.uint(c, "DW_AT_bit_size")
            dbo = r.uint(c, "DW_AT_data_bit_offset")
            if bit_size is None:
                if dbo is not None:
                    byte_off += dbo // 8
                out.append(Member(mname, byte_off, mtype))
                continue
            if dbo is not None:
                total = byte_off * 8 + dbo
            else:
                old = r.uint(c, "DW_AT_bit_offset") or 0
                storage = r.uint(c, "DW_AT_byte_size")
                if storage is None:
                    storage = mtype.resolved().size or 0
                if r.little:
                    total = byte_off * 8 + storage * 8 - old - bit_size
                else:
                    total = byte_off * 8 + old
            out.append(Member(mname, total // 8, mtype, total % 8, bit_size))
        return tuple(out)

    def _array(self, die, shallow: bool, stack: Set[Tuple[int, bool]], depth: int) -> CType:
        r = self.r
        elem = self._ref(die, shallow, stack, depth)
        dims = []
        for c in r.children(die):
            self._tick()
            if c.tag not in ("DW_TAG_subrange_type", "DW_TAG_enumeration_type"):
                continue
            dims.append(_subrange_length(r, c))
        if not dims:
            dims = [None]
        t = elem
        for n in reversed(dims):
            esize = t.resolved().size if t.kind != VOID else None
            total = esize * n if (esize is not None and n is not None) else None
            t = CType(ARRAY, None, total, target=t, length=n)
        return t


def _member_location(r: D.DwarfReader, c) -> int:
    if "DW_AT_data_member_location" not in c.attributes:
        return 0
    v = r.uint(c, "DW_AT_data_member_location")
    if v is not None:
        return v
    ops = r.expression(c, "DW_AT_data_member_location")
    if ops:
        names = [op.op_name for op in ops]
        if names == ["DW_OP_plus_uconst"]:
            return ops[0].args[0]
        if names == ["DW_OP_constu", "DW_OP_plus"]:
            return ops[0].args[0]
    raise LookupFailure(f"unsupported member location expression in DIE at {c.offset:#x}")


def _subrange_length(r: D.DwarfReader, c) -> Optional[int]:
    if "DW_AT_count" in c.attributes:
        cnt = r.uint(c, "DW_AT_count")
        return None if cnt is None else max(cnt, 0)  # None: variable length
    hi = r.uint(c, "DW_AT_upper_bound")
    if hi is None:
        return None
    lo = r.uint(c, "DW_AT_lower_bound") or 0
    # older GCCs write x[0] as upper bound -1 in a data4/data8 form; all ones
    # in data1/data2 (255, 65535) are ordinary bounds
    size = r.form_size(c, "DW_AT_upper_bound")
    if size in (4, 8) and hi == (1 << (size * 8)) - 1:
        hi = -1
    return max(hi - lo + 1, 0)
