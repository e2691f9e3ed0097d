"""Build :class:`CType` trees from DWARF type DIEs."""

from __future__ import annotations

from typing import Callable, Dict, Optional, Set, Tuple

from . import dwarf as D
from .ctype import (ARRAY, BASE, ENUM, FUNCTION, POINTER, STRUCT, TYPEDEF, UNION, VOID,
                    CType, Member)
from .errors import DwarfError, LookupFailure

MAX_NODES = 200_000       # DIEs decoded while building one type
MAX_DEPTH = 512           # by-value nesting
MAX_MEMO = 400_000        # built types remembered across questions

_QUALIFIERS = (D.TAG_const_type, D.TAG_volatile_type, D.TAG_restrict_type, D.TAG_atomic_type,
               D.TAG_immutable_type)
_POINTERS = (D.TAG_pointer_type, D.TAG_reference_type, D.TAG_rvalue_reference_type,
             D.TAG_ptr_to_member_type)

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
            cu = self.r.cu_for(off)
            raise DwarfError(cu.place, f"type cycle: the type at {off:#x} contains itself")
        if depth > MAX_DEPTH:
            cu = self.r.cu_for(off)
            raise DwarfError(cu.place, f"type nesting deeper than {MAX_DEPTH} at {off:#x}")
        self._tick()
        die = self.r.die(off)
        stack.add(key)
        try:
            t = self._make(die, shallow, stack, depth)
        finally:
            stack.discard(key)
        self.memo[key] = t
        return t

    def _ref(self, die: D.Die, shallow: bool, stack: Set[Tuple[int, bool]], depth: int) -> CType:
        v = die.attrs.get(D.AT_type)
        if v is None:
            return VOID_TYPE
        if v[0] != D.V_REF:
            raise LookupFailure(f"DW_AT_type of DIE at {die.offset:#x} is not a plain reference "
                                f"(type units / supplementary files are not supported)")
        return self._build(v[1], shallow, stack, depth + 1)

    def _make(self, die: D.Die, shallow: bool, stack: Set[Tuple[int, bool]], depth: int) -> CType:
        tag = die.tag
        r = self.r
        if tag in _QUALIFIERS:
            return self._ref(die, shallow, stack, depth)
        name = r.string(die, D.AT_name)
        size = _uint(die.get(D.AT_byte_size))
        if tag == D.TAG_base_type:
            enc = die.get(D.AT_encoding)
            return CType(BASE, name, size, encoding=D.ATE_NAMES.get(enc, None if enc is None else str(enc)))
        if tag == D.TAG_typedef:
            return CType(TYPEDEF, name, None, target=self._typedef_target(die, shallow, stack, depth))
        if tag in _POINTERS:
            if size is None:
                size = die.cu.addr_size
            # the pointee is shallow and starts a fresh by-value chain
            return CType(POINTER, None, size, target=self._ref(die, True, stack, depth))
        if tag in (D.TAG_structure_type, D.TAG_class_type, D.TAG_union_type):
            kind = UNION if tag == D.TAG_union_type else STRUCT
            if die.get(D.AT_declaration):
                return CType(kind, name, None, None)
            if shallow:
                return CType(kind, name, size, None)
            return CType(kind, name, size, self._members(die, stack, depth))
        if tag == D.TAG_enumeration_type:
            if die.get(D.AT_declaration):
                return CType(ENUM, name, None)
            signed = r.enum_is_signed(die)
            enums = []
            for c in r.children(die):
                self._tick()
                if c.tag != D.TAG_enumerator:
                    continue
                cv = c.attrs.get(0x1C)
                if cv is None:
                    continue
                enums.append((r.string(c, D.AT_name) or "", r.const_value(c, cv, signed)))
            return CType(ENUM, name, size, enumerators=tuple(enums))
        if tag == D.TAG_array_type:
            return self._array(die, shallow, stack, depth)
        if tag == D.TAG_subroutine_type or tag == D.TAG_subprogram:
            return CType(FUNCTION, name, None)
        if tag == D.TAG_unspecified_type:
            return CType(VOID, name, None)
        raise LookupFailure(f"unsupported DWARF tag {tag:#x} used as a type (DIE at {die.offset:#x})")

    def _typedef_target(self, die, shallow, stack, depth) -> CType:
        t = self._ref(die, shallow, stack, depth)
        if not shallow and t.kind in (STRUCT, UNION, ENUM) and t.size is None and t.name \
                and self.resolve_decl is not None:
            full = self.resolve_decl(t.kind, t.name)
            if full is not None:
                return full
        return t

    def _members(self, die: D.Die, stack: Set[Tuple[int, bool]], depth: int):
        r = self.r
        out = []
        for c in r.children(die):
            self._tick()
            if c.tag != D.TAG_member and c.tag != D.TAG_inheritance:
                continue
            mtype = self._ref(c, False, stack, depth)
            mname = r.string(c, D.AT_name) if c.tag == D.TAG_member else None
            loc = c.attrs.get(D.AT_data_member_location)
            byte_off = 0 if loc is None else _member_location(c, loc)
            bit_size = _uint(c.get(D.AT_bit_size))
            if bit_size is None:
                dbo = _uint(c.get(D.AT_data_bit_offset))
                if dbo is not None:
                    byte_off += dbo // 8
                out.append(Member(mname, byte_off, mtype))
                continue
            dbo = _uint(c.get(D.AT_data_bit_offset))
            if dbo is not None:
                total = byte_off * 8 + dbo
            else:
                old = _uint(c.get(D.AT_bit_offset)) or 0
                storage = _uint(c.get(D.AT_byte_size))
                if storage is None:
                    storage = mtype.resolved().size or 0
                if r.little:
                    total = byte_off * 8 + storage * 8 - old - bit_size
                else:
                    total = byte_off * 8 + old
            out.append(Member(mname, total // 8, mtype, total % 8, bit_size))
        return tuple(out)

    def _array(self, die: D.Die, shallow: bool, stack: Set[Tuple[int, bool]], depth: int) -> CType:
        r = self.r
        elem = self._ref(die, shallow, stack, depth)
        dims = []
        for c in r.children(die):
            self._tick()
            if c.tag not in (D.TAG_subrange_type, 0x04):  # subrange (or enumeration index)
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


def _uint(v) -> Optional[int]:
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return v


def _member_location(die: D.Die, loc) -> int:
    kind, val = loc
    if kind in (D.V_INT, D.V_SINT):
        return val
    if kind == D.V_BLOCK and isinstance(val, bytes) and val:
        op = val[0]
        if op == 0x23:  # DW_OP_plus_uconst
            return _leb(val, 1)
        if op == 0x10 and val[-1:] == b"\x22":  # DW_OP_constu n; DW_OP_plus
            return _leb(val, 1)
    raise LookupFailure(f"unsupported member location expression in DIE at {die.offset:#x}")


def _leb(b: bytes, p: int) -> int:
    result = 0
    shift = 0
    while p < len(b):
        x = b[p]
        p += 1
        result |= (x & 0x7F) << shift
        if x < 0x80:
            return result
        shift += 7
    raise LookupFailure("truncated LEB128 in a location expression")


def _subrange_length(r: D.DwarfReader, c: D.Die) -> Optional[int]:
    cnt = c.attrs.get(D.AT_count)
    if cnt is not None:
        if cnt[0] in (D.V_INT, D.V_SINT):
            return max(cnt[1], 0)
        return None  # variable length (expression / reference)
    ub = c.attrs.get(D.AT_upper_bound)
    if ub is None:
        return None
    if ub[0] not in (D.V_INT, D.V_SINT):
        return None
    hi = ub[1]
    lb = c.attrs.get(D.AT_lower_bound)
    lo = lb[1] if lb is not None and lb[0] in (D.V_INT, D.V_SINT) else 0
    if ub[0] == D.V_INT:
        # older GCCs write x[0] as upper bound -1 in a data4/data8 form; all
        # ones in data1/data2 (255, 65535) are ordinary bounds
        size = r._form_size_of(c, D.AT_upper_bound)
        if size in (4, 8) and hi == (1 << (size * 8)) - 1:
            hi = -1
    n = hi - lo + 1
    return max(n, 0)
