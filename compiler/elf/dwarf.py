"""A lazy, random-access DWARF (2-5) reader.

Nothing here parses a whole compilation unit's DIE tree.  The reader
decodes single DIEs at known offsets (a DIE needs only its CU's abbreviation
table), walks the *top level* of a CU using DW_AT_sibling to skip subtrees,
and finds candidate CUs for a name by scanning the raw .debug_info bytes for
the name's .debug_str offset (or its inline spelling).

All decoding errors are raised as :class:`DwarfError` with a place such as
".debug_info CU at 0x1234"; the public layer adds the file path.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from typing import Dict, Iterator, List, Optional, Tuple

from .errors import DwarfError

# ---------------------------------------------------------------- constants
TAG_array_type = 0x01
TAG_class_type = 0x02
TAG_enumeration_type = 0x04
TAG_lexical_block = 0x0B
TAG_member = 0x0D
TAG_pointer_type = 0x0F
TAG_reference_type = 0x10
TAG_compile_unit = 0x11
TAG_structure_type = 0x13
TAG_subroutine_type = 0x15
TAG_typedef = 0x16
TAG_union_type = 0x17
TAG_inheritance = 0x1C
TAG_ptr_to_member_type = 0x1F
TAG_subrange_type = 0x21
TAG_base_type = 0x24
TAG_const_type = 0x26
TAG_enumerator = 0x28
TAG_subprogram = 0x2E
TAG_variable = 0x34
TAG_volatile_type = 0x35
TAG_restrict_type = 0x37
TAG_unspecified_type = 0x3B
TAG_partial_unit = 0x3C
TAG_rvalue_reference_type = 0x42
TAG_atomic_type = 0x47
TAG_immutable_type = 0x4B

AT_sibling = 0x01
AT_location = 0x02
AT_name = 0x03
AT_byte_size = 0x0B
AT_bit_offset = 0x0C
AT_bit_size = 0x0D
AT_lower_bound = 0x22
AT_upper_bound = 0x2F
AT_count = 0x37
AT_data_member_location = 0x38
AT_declaration = 0x3C
AT_encoding = 0x3E
AT_external = 0x3F
AT_specification = 0x47
AT_type = 0x49
AT_data_bit_offset = 0x6B
AT_str_offsets_base = 0x72

FORM_addr = 0x01
FORM_block2 = 0x03
FORM_block4 = 0x04
FORM_data2 = 0x05
FORM_data4 = 0x06
FORM_data8 = 0x07
FORM_string = 0x08
FORM_block = 0x09
FORM_block1 = 0x0A
FORM_data1 = 0x0B
FORM_flag = 0x0C
FORM_sdata = 0x0D
FORM_strp = 0x0E
FORM_udata = 0x0F
FORM_ref_addr = 0x10
FORM_ref1 = 0x11
FORM_ref2 = 0x12
FORM_ref4 = 0x13
FORM_ref8 = 0x14
FORM_ref_udata = 0x15
FORM_indirect = 0x16
FORM_sec_offset = 0x17
FORM_exprloc = 0x18
FORM_flag_present = 0x19
FORM_strx = 0x1A
FORM_addrx = 0x1B
FORM_ref_sup4 = 0x1C
FORM_strp_sup = 0x1D
FORM_data16 = 0x1E
FORM_line_strp = 0x1F
FORM_ref_sig8 = 0x20
FORM_implicit_const = 0x21
FORM_loclistx = 0x22
FORM_rnglistx = 0x23
FORM_ref_sup8 = 0x24
FORM_strx1 = 0x25
FORM_strx2 = 0x26
FORM_strx3 = 0x27
FORM_strx4 = 0x28
FORM_addrx1 = 0x29
FORM_addrx2 = 0x2A
FORM_addrx3 = 0x2B
FORM_addrx4 = 0x2C
FORM_GNU_addr_index = 0x1F01
FORM_GNU_str_index = 0x1F02
FORM_GNU_ref_alt = 0x1F20
FORM_GNU_strp_alt = 0x1F21

ATE_NAMES = {
    0x1: "address", 0x2: "boolean", 0x3: "complex_float", 0x4: "float",
    0x5: "signed", 0x6: "signed_char", 0x7: "unsigned", 0x8: "unsigned_char",
    0x10: "UTF", 0xD: "signed_fixed", 0xE: "unsigned_fixed",
}

# value kinds in decoded attributes: (kind, value)
V_INT = 0      # constant (unsigned unless sdata/implicit_const)
V_SINT = 1     # signed constant
V_STR = 2      # decoded string (str)
V_REF = 3      # reference to a DIE, absolute .debug_info offset
V_BLOCK = 4    # bytes (block / exprloc)
V_FLAG = 5     # bool
V_OTHER = 6    # something we don't interpret (section offsets, indices, sig8)
V_STRX = 7     # string index (resolved on access)

# sizes of fixed forms that do not depend on the CU
_FIXED = {
    FORM_data1: 1, FORM_ref1: 1, FORM_flag: 1, FORM_strx1: 1, FORM_addrx1: 1,
    FORM_data2: 2, FORM_ref2: 2, FORM_strx2: 2, FORM_addrx2: 2,
    FORM_strx3: 3, FORM_addrx3: 3,
    FORM_data4: 4, FORM_ref4: 4, FORM_strx4: 4, FORM_addrx4: 4, FORM_ref_sup4: 4,
    FORM_data8: 8, FORM_ref8: 8, FORM_ref_sig8: 8, FORM_ref_sup8: 8,
    FORM_data16: 16, FORM_flag_present: 0, FORM_implicit_const: 0,
}
_OFFSET_FORMS = (FORM_strp, FORM_sec_offset, FORM_line_strp, FORM_strp_sup,
                 FORM_GNU_ref_alt, FORM_GNU_strp_alt)

MAX_DIE_DEPTH = 4096
MAX_INDEXED_UNITS = 192   # top-level indexes kept (about 0.35 MB each on a kernel)


class Abbrev:
    __slots__ = ("code", "tag", "children", "attrs", "fixed", "skippable")

    def __init__(self, code, tag, children, attrs, fixed):
        self.code = code
        self.tag = tag
        self.children = children
        self.attrs = attrs      # tuple of (at, form, implicit_const)
        self.fixed = fixed      # total size when every form has a fixed size, else None
        # can be skipped by size alone (no DW_AT_sibling needed to skip children)
        self.skippable = fixed is not None and not (
            children and any(a[0] == AT_sibling for a in attrs))


class CU:
    __slots__ = ("index", "offset", "end", "version", "unit_type", "addr_size", "offset_size",
                 "abbrev_offset", "die_offset", "abbrevs", "str_offsets_base", "index_data")

    def __init__(self, index, offset, end, version, unit_type, addr_size, offset_size,
                 abbrev_offset, die_offset):
        self.index = index
        self.offset = offset
        self.end = end
        self.version = version
        self.unit_type = unit_type
        self.addr_size = addr_size
        self.offset_size = offset_size
        self.abbrev_offset = abbrev_offset
        self.die_offset = die_offset
        self.abbrevs: Optional[Dict[int, Abbrev]] = None
        self.str_offsets_base: Optional[int] = None
        self.index_data: Optional["CUIndex"] = None

    @property
    def place(self) -> str:
        return f".debug_info CU at {self.offset:#x}"

    @property
    def size(self) -> int:
        return self.end - self.offset


class Die:
    __slots__ = ("cu", "offset", "tag", "children", "attrs", "end")

    def __init__(self, cu, offset, tag, children, attrs, end):
        self.cu = cu
        self.offset = offset     # absolute .debug_info offset
        self.tag = tag
        self.children = children
        self.attrs = attrs       # dict at -> (kind, value)
        self.end = end           # offset just past this DIE's attributes

    def get(self, at, default=None):
        v = self.attrs.get(at)
        return default if v is None else v[1]


class CUIndex:
    """Names of the top-level DIEs of one CU."""

    __slots__ = ("names", "enums", "specs", "enumerators", "tops")

    def __init__(self):
        self.tops: List[int] = []                            # offsets of all top-level DIEs
        self.names: Dict[str, List[Tuple[int, int]]] = {}   # name -> [(die offset, tag)]
        self.enums: List[int] = []                           # enumeration_type DIE offsets
        self.specs: Dict[int, int] = {}                      # decl DIE -> defining variable DIE
        self.enumerators: Optional[Dict[str, Tuple[int, int]]] = None  # name -> (value, enum DIE)


class Section:
    """A DWARF section's bytes: an object supporting indexing, slicing, find()
    and struct.unpack_from, plus the base position of the section in it."""

    __slots__ = ("buf", "base", "size", "name")

    def __init__(self, name, buf, base, size):
        self.name = name
        self.buf = buf
        self.base = base
        self.size = size

    def cstring(self, off: int, place: str) -> str:
        if off < 0 or off >= self.size:
            raise DwarfError(place, f"string offset {off:#x} outside {self.name} ({self.size:#x} bytes)")
        start = self.base + off
        end = self.buf.find(b"\0", start, self.base + self.size)
        if end < 0:
            raise DwarfError(place, f"unterminated string at {self.name}+{off:#x}")
        return bytes(self.buf[start:end]).decode("utf-8", errors="replace")


class DwarfReader:
    def __init__(self, info: Section, abbrev: Section, strs: Optional[Section],
                 line_strs: Optional[Section], str_offsets: Optional[Section], endian: str,
                 progress=None):
        self.info = info
        self.abbrev = abbrev
        self.strs = strs
        self.line_strs = line_strs
        self.str_offsets = str_offsets
        self.e = "<" if endian == "little" else ">"
        self.little = endian == "little"
        self.progress = progress
        self._cus: Optional[List[CU]] = None
        self._cu_starts: List[int] = []
        self._abbrev_cache: Dict[int, Dict[int, Abbrev]] = {}
        self.indexed: List[CU] = []  # CUs whose top level has been indexed, in order
        self.verify_errors = 0

    # ---------------------------------------------------------------- CUs
    def cus(self) -> List[CU]:
        if self._cus is None:
            self._cus = self._parse_cu_headers()
            self._cu_starts = [c.offset for c in self._cus]
        return self._cus

    def _parse_cu_headers(self) -> List[CU]:
        buf, base, size, e = self.info.buf, self.info.base, self.info.size, self.e
        out: List[CU] = []
        off = 0
        while off < size:
            place = f".debug_info CU at {off:#x}"
            if off + 4 > size:
                raise DwarfError(place, "truncated unit header")
            (length,) = struct.unpack_from(e + "I", buf, base + off)
            p = off + 4
            offset_size = 4
            if length == 0xFFFFFFFF:
                if off + 12 > size:
                    raise DwarfError(place, "truncated 64-bit unit header")
                (length,) = struct.unpack_from(e + "Q", buf, base + p)
                p += 8
                offset_size = 8
            elif length >= 0xFFFFFFF0:
                raise DwarfError(place, f"reserved unit length {length:#x}")
            end = p + length
            if end > size:
                raise DwarfError(place, f"unit length {length:#x} runs past the end of .debug_info "
                                        f"({size:#x} bytes)")
            if length < 2 + 4 + 1 + 1 - (0 if offset_size == 4 else 0):
                raise DwarfError(place, f"unit length {length:#x} too small")
            (version,) = struct.unpack_from(e + "H", buf, base + p)
            p += 2
            ofmt = e + ("I" if offset_size == 4 else "Q")
            unit_type = 1
            try:
                if version >= 5:
                    if version > 5:
                        raise DwarfError(place, f"unsupported DWARF version {version}")
                    unit_type = buf[base + p]
                    addr_size = buf[base + p + 1]
                    (abbrev_off,) = struct.unpack_from(ofmt, buf, base + p + 2)
                    p += 2 + offset_size
                    if unit_type in (4, 5):        # skeleton / split_compile: dwo_id
                        p += 8
                    elif unit_type in (2, 6):      # type units
                        p += 8 + offset_size
                elif version >= 2:
                    (abbrev_off,) = struct.unpack_from(ofmt, buf, base + p)
                    addr_size = buf[base + p + offset_size]
                    p += offset_size + 1
                else:
                    raise DwarfError(place, f"unsupported DWARF version {version}")
            except (IndexError, struct.error):
                raise DwarfError(place, "truncated unit header") from None
            if addr_size not in (2, 4, 8):
                raise DwarfError(place, f"bad address size {addr_size}")
            if abbrev_off >= self.abbrev.size:
                raise DwarfError(place, f"abbreviation offset {abbrev_off:#x} outside .debug_abbrev "
                                        f"({self.abbrev.size:#x} bytes)")
            if p > end:
                raise DwarfError(place, "unit header longer than the unit")
            out.append(CU(len(out), off, end, version, unit_type, addr_size, offset_size,
                          abbrev_off, p))
            off = end
        return out

    def cu_for(self, off: int) -> CU:
        cus = self.cus()
        i = bisect_right(self._cu_starts, off) - 1
        if i < 0 or off >= cus[i].end:
            raise DwarfError(".debug_info", f"offset {off:#x} is not inside any unit")
        return cus[i]

    # ------------------------------------------------------------ abbrevs
    def abbrevs(self, cu: CU) -> Dict[int, Abbrev]:
        if cu.abbrevs is not None:
            return cu.abbrevs
        table = self._abbrev_cache.get(cu.abbrev_offset)
        if table is None:
            table = self._parse_abbrevs(cu.abbrev_offset, cu)
            self._abbrev_cache[cu.abbrev_offset] = table
        cu.abbrevs = table
        return table

    def _parse_abbrevs(self, aoff: int, cu: CU) -> Dict[int, Abbrev]:
        sec = self.abbrev
        buf, base, size = sec.buf, sec.base, sec.size
        place = f".debug_abbrev at {aoff:#x} (for {cu.place})"
        p = base + aoff
        end = base + size
        table: Dict[int, Abbrev] = {}

        def uleb():
            nonlocal p
            result = 0
            shift = 0
            while True:
                if p >= end:
                    raise DwarfError(place, "truncated abbreviation table")
                b = buf[p]
                p += 1
                result |= (b & 0x7F) << shift
                if b < 0x80:
                    return result
                shift += 7
                if shift > 70:
                    raise DwarfError(place, "LEB128 value too long")

        def sleb():
            nonlocal p
            result = 0
            shift = 0
            while True:
                if p >= end:
                    raise DwarfError(place, "truncated abbreviation table")
                b = buf[p]
                p += 1
                result |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    if b & 0x40:
                        result -= 1 << shift
                    return result
                if shift > 70:
                    raise DwarfError(place, "LEB128 value too long")

        while True:
            code = uleb()
            if code == 0:
                break
            tag = uleb()
            if p >= end:
                raise DwarfError(place, "truncated abbreviation table")
            children = buf[p]
            p += 1
            if children > 1:
                raise DwarfError(place, f"bad DW_CHILDREN value {children} in abbreviation {code}")
            attrs = []
            fixed: Optional[int] = 0
            while True:
                at = uleb()
                form = uleb()
                if at == 0 and form == 0:
                    break
                const = None
                if form == FORM_implicit_const:
                    const = sleb()
                attrs.append((at, form, const))
                if fixed is not None:
                    n = _FIXED.get(form)
                    if n is None:
                        if form in _OFFSET_FORMS:
                            n = cu.offset_size
                        elif form == FORM_addr:
                            n = cu.addr_size
                        elif form == FORM_ref_addr:
                            n = cu.offset_size if cu.version >= 3 else cu.addr_size
                    if n is None:
                        fixed = None
                    else:
                        fixed += n
                if len(attrs) > 4096:
                    raise DwarfError(place, "absurd number of attributes")
            if code in table:
                raise DwarfError(place, f"duplicate abbreviation code {code}")
            table[code] = Abbrev(code, tag, bool(children), tuple(attrs), fixed)
            if len(table) > 1 << 20:
                raise DwarfError(place, "absurd number of abbreviations")
        return table

    # ---------------------------------------------------------------- DIEs
    def die(self, off: int, cu: Optional[CU] = None) -> Die:
        """Decode the DIE at absolute .debug_info offset `off`."""
        if cu is None:
            cu = self.cu_for(off)
        elif not (cu.die_offset <= off < cu.end):
            raise DwarfError(cu.place, f"DIE offset {off:#x} outside its unit")
        d = self._decode(cu, off, True)
        if d is None:
            raise DwarfError(cu.place, f"null entry where a DIE was expected at {off:#x}")
        return d

    def _decode(self, cu: CU, off: int, want_attrs: bool):
        """Decode one DIE (or a null entry -> None).  With want_attrs False only
        the abbreviation and end offset are computed (skipping values), except
        DW_AT_sibling which is always decoded.  Returns a Die."""
        abbrevs = cu.abbrevs if cu.abbrevs is not None else self.abbrevs(cu)
        info = self.info
        buf = info.buf
        base = info.base
        cu_end = base + cu.end
        p = base + off
        place = cu.place
        try:
            # abbreviation code (ULEB128)
            b = buf[p]
            p += 1
            if b < 0x80:
                code = b
            else:
                code = b & 0x7F
                shift = 7
                while True:
                    b = buf[p]
                    p += 1
                    code |= (b & 0x7F) << shift
                    if b < 0x80:
                        break
                    shift += 7
                    if shift > 63:
                        raise DwarfError(place, f"bad abbreviation code at {off:#x}")
            if code == 0:
                return None
            ab = abbrevs.get(code)
            if ab is None:
                raise DwarfError(place, f"DIE at {off:#x} uses unknown abbreviation code {code}")
            if not want_attrs and ab.skippable:
                end = p + ab.fixed
                if end > cu_end:
                    raise DwarfError(place, f"DIE at {off:#x} runs past the end of its unit")
                return Die(cu, off, ab.tag, ab.children, _EMPTY, end - base)
            attrs = {}
            e = self.e
            for at, form, const in ab.attrs:
                if form == FORM_indirect:
                    form, p = self._uleb(buf, p, cu_end, place)
                    if form == FORM_indirect or form == FORM_implicit_const:
                        raise DwarfError(place, f"bad indirect form at {off:#x}")
                n = _FIXED.get(form)
                if n is not None:
                    if form == FORM_implicit_const:
                        val = (V_SINT, const)
                    elif form == FORM_flag_present:
                        val = (V_FLAG, True)
                    else:
                        if form in (FORM_ref1, FORM_ref2, FORM_ref4, FORM_ref8):
                            v = int.from_bytes(buf[p:p + n], "little" if self.little else "big")
                            if v >= cu.end - cu.offset:
                                raise DwarfError(place, f"DIE at {off:#x} refers to {v:#x}, "
                                                        f"outside its unit")
                            val = (V_REF, cu.offset + v)
                        elif form == FORM_flag:
                            val = (V_FLAG, buf[p] != 0)
                        elif form in (FORM_data1, FORM_data2, FORM_data4, FORM_data8):
                            val = (V_INT, int.from_bytes(buf[p:p + n], "little" if self.little else "big"))
                        elif form in (FORM_strx1, FORM_strx2, FORM_strx3, FORM_strx4):
                            val = (V_STRX, int.from_bytes(buf[p:p + n], "little" if self.little else "big"))
                        else:
                            val = (V_OTHER, None)
                        p += n
                elif form == FORM_strp or form == FORM_line_strp:
                    if cu.offset_size == 4:
                        (v,) = struct.unpack_from(e + "I", buf, p)
                    else:
                        (v,) = struct.unpack_from(e + "Q", buf, p)
                    p += cu.offset_size
                    if want_attrs:
                        sec = self.strs if form == FORM_strp else self.line_strs
                        if sec is None:
                            raise DwarfError(place, f"DIE at {off:#x} refers to a missing "
                                                    f"{'.debug_str' if form == FORM_strp else '.debug_line_str'}")
                        val = (V_STR, sec.cstring(v, place))
                    else:
                        val = (V_OTHER, v)
                elif form == FORM_string:
                    q = buf.find(b"\0", p, cu_end)
                    if q < 0:
                        raise DwarfError(place, f"unterminated inline string in DIE at {off:#x}")
                    if want_attrs:
                        val = (V_STR, bytes(buf[p:q]).decode("utf-8", errors="replace"))
                    else:
                        val = (V_OTHER, None)
                    p = q + 1
                elif form == FORM_udata or form == FORM_ref_udata or form == FORM_strx \
                        or form == FORM_addrx or form == FORM_loclistx or form == FORM_rnglistx \
                        or form == FORM_GNU_addr_index or form == FORM_GNU_str_index:
                    v, p = self._uleb(buf, p, cu_end, place)
                    if form == FORM_udata:
                        val = (V_INT, v)
                    elif form == FORM_ref_udata:
                        if v >= cu.end - cu.offset:
                            raise DwarfError(place, f"DIE at {off:#x} refers to {v:#x}, outside its unit")
                        val = (V_REF, cu.offset + v)
                    elif form == FORM_strx or form == FORM_GNU_str_index:
                        val = (V_STRX, v)
                    else:
                        val = (V_OTHER, v)
                elif form == FORM_sdata:
                    v, p = self._sleb(buf, p, cu_end, place)
                    val = (V_SINT, v)
                elif form == FORM_addr:
                    n = cu.addr_size
                    v = int.from_bytes(buf[p:p + n], "little" if self.little else "big")
                    p += n
                    val = (V_INT, v)
                elif form == FORM_ref_addr:
                    n = cu.offset_size if cu.version >= 3 else cu.addr_size
                    v = int.from_bytes(buf[p:p + n], "little" if self.little else "big")
                    p += n
                    val = (V_REF, v)
                elif form in _OFFSET_FORMS:
                    p += cu.offset_size
                    val = (V_OTHER, None)
                elif form == FORM_exprloc or form == FORM_block:
                    n, p = self._uleb(buf, p, cu_end, place)
                    if p + n > cu_end:
                        raise DwarfError(place, f"block in DIE at {off:#x} runs past its unit")
                    val = (V_BLOCK, bytes(buf[p:p + n]) if want_attrs else None)
                    p += n
                elif form == FORM_block1 or form == FORM_block2 or form == FORM_block4:
                    w = 1 if form == FORM_block1 else 2 if form == FORM_block2 else 4
                    n = int.from_bytes(buf[p:p + w], "little" if self.little else "big")
                    p += w
                    if p + n > cu_end:
                        raise DwarfError(place, f"block in DIE at {off:#x} runs past its unit")
                    val = (V_BLOCK, bytes(buf[p:p + n]) if want_attrs else None)
                    p += n
                else:
                    raise DwarfError(place, f"DIE at {off:#x} uses unknown form {form:#x}")
                if p > cu_end:
                    raise DwarfError(place, f"DIE at {off:#x} runs past the end of its unit")
                if want_attrs or at == AT_sibling:
                    attrs[at] = val
            return Die(cu, off, ab.tag, ab.children, attrs, p - base)
        except (IndexError, struct.error, ValueError):
            raise DwarfError(place, f"DIE at {off:#x} runs past the end of its unit") from None

    @staticmethod
    def _uleb(buf, p, end, place):
        result = 0
        shift = 0
        while True:
            if p >= end:
                raise DwarfError(place, "truncated LEB128 value")
            b = buf[p]
            p += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result, p
            shift += 7
            if shift > 70:
                raise DwarfError(place, "LEB128 value too long")

    @staticmethod
    def _sleb(buf, p, end, place):
        result = 0
        shift = 0
        while True:
            if p >= end:
                raise DwarfError(place, "truncated LEB128 value")
            b = buf[p]
            p += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                if b & 0x40:
                    result -= 1 << shift
                return result, p
            if shift > 70:
                raise DwarfError(place, "LEB128 value too long")

    def string(self, die: Die, at: int) -> Optional[str]:
        v = die.attrs.get(at)
        if v is None:
            return None
        kind, val = v
        if kind == V_STR:
            return val
        if kind == V_STRX:
            return self._strx(die.cu, val)
        return None

    def _strx(self, cu: CU, index: int) -> str:
        if self.str_offsets is None or self.strs is None:
            raise DwarfError(cu.place, "DW_FORM_strx used without .debug_str_offsets")
        if cu.str_offsets_base is None:
            default = (8 if cu.offset_size == 4 else 16) if cu.version >= 5 else 0
            cu.str_offsets_base = self._decode_raw_offsets(cu).get(AT_str_offsets_base, default)
        pos = cu.str_offsets_base + index * cu.offset_size
        if pos + cu.offset_size > self.str_offsets.size:
            raise DwarfError(cu.place, f"string index {index} outside .debug_str_offsets")
        fmt = self.e + ("I" if cu.offset_size == 4 else "Q")
        (soff,) = struct.unpack_from(fmt, self.str_offsets.buf, self.str_offsets.base + pos)
        return self.strs.cstring(soff, cu.place)

    def _abbrev_code(self, cu: CU, off: int) -> int:
        v, _ = self._uleb(self.info.buf, self.info.base + off, self.info.base + cu.end, cu.place)
        return v

    def _decode_raw_offsets(self, cu: CU) -> Dict[int, int]:
        """sec_offset attributes of the unit DIE (for str_offsets_base)."""
        ab = self.abbrevs(cu)[self._abbrev_code(cu, cu.die_offset)]
        out = {}
        buf, base = self.info.buf, self.info.base
        p = base + cu.die_offset
        _, p = self._uleb(buf, p, base + cu.end, cu.place)
        for at, form, _c in ab.attrs:
            if form == FORM_sec_offset:
                fmt = self.e + ("I" if cu.offset_size == 4 else "Q")
                (v,) = struct.unpack_from(fmt, buf, p)
                out[at] = v
            # reuse the generic decoder to advance
            p = self._skip_form(cu, form, p)
        return out

    def _skip_form(self, cu: CU, form: int, p: int) -> int:
        buf, end = self.info.buf, self.info.base + cu.end
        n = _FIXED.get(form)
        if n is not None:
            return p + n
        if form in _OFFSET_FORMS:
            return p + cu.offset_size
        if form == FORM_addr:
            return p + cu.addr_size
        if form == FORM_ref_addr:
            return p + (cu.offset_size if cu.version >= 3 else cu.addr_size)
        if form == FORM_string:
            q = buf.find(b"\0", p, end)
            if q < 0:
                raise DwarfError(cu.place, "unterminated inline string")
            return q + 1
        if form in (FORM_udata, FORM_ref_udata, FORM_strx, FORM_addrx, FORM_loclistx,
                    FORM_rnglistx, FORM_sdata, FORM_GNU_addr_index, FORM_GNU_str_index):
            return self._uleb(buf, p, end, cu.place)[1]
        if form in (FORM_exprloc, FORM_block):
            n, p = self._uleb(buf, p, end, cu.place)
            return p + n
        if form in (FORM_block1, FORM_block2, FORM_block4):
            w = 1 if form == FORM_block1 else 2 if form == FORM_block2 else 4
            return p + w + int.from_bytes(buf[p:p + w], "little" if self.little else "big")
        if form == FORM_indirect:
            f, p = self._uleb(buf, p, end, cu.place)
            return self._skip_form(cu, f, p)
        raise DwarfError(cu.place, f"unknown form {form:#x}")

    # ----------------------------------------------------------- children
    def children(self, die: Die) -> Iterator[Die]:
        """Yield the direct children of `die` (decoded), skipping grandchildren
        through DW_AT_sibling when present and by walking otherwise."""
        if not die.children:
            return
        cu = die.cu
        off = die.end
        count = 0
        while True:
            if off >= cu.end:
                raise DwarfError(cu.place, f"children of DIE at {die.offset:#x} are not terminated")
            child = self._decode(cu, off, True)
            if child is None:
                return
            yield child
            off = self._next_sibling(child)
            count += 1
            if count > 10_000_000:
                raise DwarfError(cu.place, "absurd number of children")

    def _next_sibling(self, d: Die) -> int:
        """Offset of the DIE after `d` and all of its descendants."""
        cu = d.cu
        if not d.children:
            return d.end
        sib = d.attrs.get(AT_sibling)
        if sib is not None and sib[0] == V_REF:
            s = sib[1]
            if not (d.end <= s <= cu.end):
                raise DwarfError(cu.place, f"DW_AT_sibling of DIE at {d.offset:#x} points to {s:#x}, "
                                           f"outside the unit or backwards")
            return s
        # walk the subtree
        depth = 1
        off = d.end
        while depth:
            if off >= cu.end:
                raise DwarfError(cu.place, f"children of DIE at {d.offset:#x} are not terminated")
            c = self._decode(cu, off, False)
            if c is None:
                depth -= 1
                off += 1  # a null entry is the single byte 0
                continue
            if c.children:
                sib = c.attrs.get(AT_sibling)
                if sib is not None and sib[0] == V_REF and c.end <= sib[1] <= cu.end:
                    off = sib[1]
                    continue
                depth += 1
                if depth > MAX_DIE_DEPTH:
                    raise DwarfError(cu.place, "DIE tree too deep")
            off = c.end
        return off

    # ---------------------------------------------------------- CU index
    def unit_die(self, cu: CU) -> Die:
        return self.die(cu.die_offset, cu)

    def index_cu(self, cu: CU) -> CUIndex:
        """Index the names of the top-level DIEs of `cu` (once)."""
        if cu.index_data is not None:
            return cu.index_data
        idx = CUIndex()
        top = self._decode(cu, cu.die_offset, False)
        if top is None:
            cu.index_data = idx
            return idx
        if top.children:
            # the unit DIE's attributes were skipped; recompute its end
            off = top.end
            names = idx.names
            count = 0
            while True:
                if off >= cu.end:
                    break  # tolerate a missing final null entry
                d = self._decode(cu, off, True)
                if d is None:
                    break
                idx.tops.append(d.offset)
                nm = d.attrs.get(AT_name)
                if nm is not None:
                    if nm[0] == V_STR:
                        name = nm[1]
                    else:
                        name = self.string(d, AT_name)
                    if name is not None:
                        lst = names.get(name)
                        if lst is None:
                            names[name] = [(d.offset, d.tag)]
                        else:
                            lst.append((d.offset, d.tag))
                if d.tag == TAG_enumeration_type and d.children:
                    idx.enums.append(d.offset)
                elif d.tag == TAG_variable:
                    spec = d.attrs.get(AT_specification)
                    if spec is not None and spec[0] == V_REF:
                        idx.specs.setdefault(spec[1], d.offset)
                off = self._next_sibling(d)
                count += 1
                if count > 50_000_000:
                    raise DwarfError(cu.place, "absurd number of DIEs")
        cu.index_data = idx
        self.indexed.append(cu)
        if len(self.indexed) > MAX_INDEXED_UNITS:
            # bounded memory: forget the oldest unit's index and abbreviations
            old = self.indexed.pop(0)
            old.index_data = None
            old.abbrevs = None
            self._abbrev_cache.pop(old.abbrev_offset, None)
        return idx

    def cu_enumerators(self, cu: CU) -> Dict[str, Tuple[int, int]]:
        idx = self.index_cu(cu)
        if idx.enumerators is None:
            out: Dict[str, Tuple[int, int]] = {}
            for eoff in idx.enums:
                edie = self.die(eoff, cu)
                signed = self.enum_is_signed(edie)
                for c in self.children(edie):
                    if c.tag != TAG_enumerator:
                        continue
                    name = self.string(c, AT_name)
                    cv = c.attrs.get(0x1C)  # DW_AT_const_value
                    if name is None or cv is None:
                        continue
                    out.setdefault(name, (self.const_value(c, cv, signed), eoff))
            idx.enumerators = out
        return idx.enumerators

    def enum_is_signed(self, edie: Die) -> Optional[bool]:
        t = edie.attrs.get(AT_type)
        depth = 0
        while t is not None and t[0] == V_REF and depth < 16:
            d = self.die(t[1])
            if d.tag == TAG_base_type:
                enc = d.get(AT_encoding)
                return enc in (0x5, 0x6, 0xD)
            t = d.attrs.get(AT_type)
            depth += 1
        return None

    def const_value(self, die: Die, cv, signed: Optional[bool]) -> int:
        kind, val = cv
        if kind in (V_INT, V_SINT):
            if kind == V_INT and signed:
                # sign-extend fixed-size data forms according to the enum's type
                form_size = self._form_size_of(die, 0x1C)
                if form_size and val >= 1 << (form_size * 8 - 1):
                    val -= 1 << (form_size * 8)
            return val
        if kind == V_BLOCK and isinstance(val, bytes):
            return int.from_bytes(val, "little" if self.little else "big", signed=bool(signed))
        raise DwarfError(die.cu.place, f"enumerator at {die.offset:#x} has no integer value")

    def _form_size_of(self, die: Die, at: int) -> Optional[int]:
        ab = self.abbrevs(die.cu).get(self._abbrev_code(die.cu, die.offset))
        if ab is None:
            return None
        for a, form, _c in ab.attrs:
            if a == at:
                return {FORM_data1: 1, FORM_data2: 2, FORM_data4: 4, FORM_data8: 8}.get(form)
        return None


_EMPTY: Dict[int, tuple] = {}


def locate(reader: DwarfReader, cu: CU, h: int) -> List[Die]:
    """The chain of DIEs, from a top-level DIE of `cu` down to the innermost
    DIE whose *attribute bytes* contain the .debug_info offset `h`; [] when
    `h` is not inside any DIE's attributes (e.g. in the unit header)."""
    idx = reader.index_cu(cu)
    i = bisect_right(idx.tops, h) - 1
    if i < 0:
        return []
    d = reader.die(idx.tops[i], cu)
    path = [d]
    while True:
        if d.offset <= h < d.end:
            return path
        if not d.children or h < d.offset:
            return []
        found = None
        for c in reader.children(d):
            if c.offset > h:
                break
            if h < reader._next_sibling(c):
                found = c
                break
        if found is None:
            return []
        d = found
        path.append(d)
        if len(path) > MAX_DIE_DEPTH:
            raise DwarfError(cu.place, "DIE tree too deep")


def _uleb_bytes(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def name_prefixes(reader: DwarfReader, cu: CU, tags) -> Optional[List[Tuple[bytes, int]]]:
    """For the abbreviations of `cu` with a tag in `tags` (None: any tag) that
    carry a DW_AT_name: (encoded abbreviation code, byte distance from the
    start of the DIE to its name value).  A needle hit at offset h can only
    be the name of such a DIE if the code sits at h - distance.  None when
    some abbreviation places its name after a variable-size attribute (or uses
    an indexed string form), i.e. when hits cannot be pre-filtered."""
    table = reader.abbrevs(cu)
    out: List[Tuple[bytes, int]] = []
    for ab in table.values():
        if tags is not None and ab.tag not in tags:
            continue
        pre = 0
        for at, form, _c in ab.attrs:
            if at == AT_name:
                # other string forms (line_strp, strx) cannot be what a
                # .debug_str-offset or inline needle hit
                if form in (FORM_strp, FORM_string):
                    out.append((_uleb_bytes(ab.code), pre))
                break
            n = _FIXED.get(form)
            if n is None:
                if form in _OFFSET_FORMS:
                    n = cu.offset_size
                elif form == FORM_addr:
                    n = cu.addr_size
                elif form == FORM_ref_addr:
                    n = cu.offset_size if cu.version >= 3 else cu.addr_size
                elif any(a == AT_name and f in (FORM_strp, FORM_string) for a, f, _c in ab.attrs):
                    return None  # a name after a variable-size attribute
                else:
                    break
            pre += n
    return out


def plausible_name_hit(reader: DwarfReader, cu: CU, h: int, prefixes) -> bool:
    if prefixes is None:
        return True
    buf, base = reader.info.buf, reader.info.base
    for code, pre in prefixes:
        s = h - pre - len(code)
        if s >= cu.die_offset and buf[base + s:base + s + len(code)] == code:
            return True
    return False


def verify_name_hit(reader: DwarfReader, cu: CU, h: int, prefixes, tags, name: str) -> Optional[Die]:
    """The DIE whose DW_AT_name value sits at offset `h` -- if decoding the
    bytes before `h` as a DIE of one of `tags` gives that name -- else None.
    Cheap: no unit index is needed.  `prefixes` must not be None."""
    buf, base = reader.info.buf, reader.info.base
    for code, pre in prefixes:
        s = h - pre - len(code)
        if s < cu.die_offset or buf[base + s:base + s + len(code)] != code:
            continue
        try:
            d = reader._decode(cu, s, True)
        except DwarfError:
            reader.verify_errors += 1  # garbage look-alike, or a damaged DIE
            continue
        if d is None or (tags is not None and d.tag not in tags):
            continue
        if reader.string(d, AT_name) == name:
            return d
    return None


def is_top_level(reader: DwarfReader, cu: CU, off: int) -> bool:
    idx = reader.index_cu(cu)
    i = bisect_right(idx.tops, off) - 1
    return i >= 0 and idx.tops[i] == off
