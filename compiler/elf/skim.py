"""Walking past DIEs without decoding them.

Most of the DIEs a lookup meets are only walked past: the top level of a unit is
scanned for names, a path is followed down to the DIE that holds a raw hit, a raw hit
is checked to sit where a DIE of the wanted tag keeps its name.  For those, this module
reads just the bytes: the abbreviation code, the sizes of the attribute values the
abbreviation lists, and three attributes (DW_AT_sibling, DW_AT_name,
DW_AT_specification).  pyelftools still decodes every DIE whose contents are used.

It is only a shortcut: on anything it does not read plainly -- a form other than the
plain ones GCC and clang write for a linked kernel (no strx/addrx/indirect/supplementary
forms), a read past the end, an abbreviation code that is not in the table, a string
section that is missing -- it answers None and the caller takes the pyelftools path,
which decodes the same bytes and names the damage as before.  Where it answers, the
answer is the one pyelftools would give.

It also reads abbreviation tables for pyelftools (``pyelftools_table``): the same
declarations pyelftools' own parser builds, about fifteen times faster.
"""

from __future__ import annotations

from typing import Dict, Literal, Optional, Tuple, Union

from elftools.construct.lib.container import Container
from elftools.dwarf.abbrevtable import AbbrevDecl, AbbrevTable
from elftools.dwarf.enums import ENUM_DW_AT, ENUM_DW_FORM, ENUM_DW_TAG

DW_AT_sibling = 0x01
DW_AT_name = 0x03
DW_AT_specification = 0x47
WANTED = (DW_AT_sibling, DW_AT_name, DW_AT_specification)

# the names pyelftools' construct Enums give codes (the last name of a code wins there too)
TAG_NAMES = {code: name for name, code in ENUM_DW_TAG.items() if isinstance(code, int)}
AT_NAMES = {code: name for name, code in ENUM_DW_AT.items() if isinstance(code, int)}
FORM_NAMES = {code: name for name, code in ENUM_DW_FORM.items() if isinstance(code, int)}

F = ENUM_DW_FORM
DW_FORM_implicit_const = F["DW_FORM_implicit_const"]
DW_FORM_string = F["DW_FORM_string"]
DW_FORM_strp = F["DW_FORM_strp"]
DW_FORM_line_strp = F["DW_FORM_line_strp"]
DW_FORM_ref_addr = F["DW_FORM_ref_addr"]
# unit-relative references (what DW_AT_sibling and a local DW_AT_specification use)
REF_CODES = frozenset(F[n] for n in ("DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8",
                                     "DW_FORM_ref_udata"))

# How a value of each plain form is laid out: a byte count, or one of these.
ULEB, CSTR, BLOCK1, BLOCK2, BLOCK4, BLOCKU = -1, -2, -3, -4, -5, -6
ADDR, OFFSET, REF_ADDR = -7, -8, -9   # sizes that depend on the unit
_LAYOUT = {
    "DW_FORM_addr": ADDR, "DW_FORM_block1": BLOCK1, "DW_FORM_block2": BLOCK2, "DW_FORM_block4": BLOCK4,
    "DW_FORM_block": BLOCKU, "DW_FORM_exprloc": BLOCKU,
    "DW_FORM_data1": 1, "DW_FORM_data2": 2, "DW_FORM_data4": 4, "DW_FORM_data8": 8, "DW_FORM_data16": 16,
    "DW_FORM_sdata": ULEB, "DW_FORM_udata": ULEB, "DW_FORM_string": CSTR,
    "DW_FORM_strp": OFFSET, "DW_FORM_line_strp": OFFSET, "DW_FORM_sec_offset": OFFSET,
    "DW_FORM_flag": 1, "DW_FORM_flag_present": 0, "DW_FORM_implicit_const": 0,
    "DW_FORM_ref1": 1, "DW_FORM_ref2": 2, "DW_FORM_ref4": 4, "DW_FORM_ref8": 8, "DW_FORM_ref_udata": ULEB,
    "DW_FORM_ref_addr": REF_ADDR, "DW_FORM_ref_sig8": 8,
}
LAYOUT = {F[name]: kind for name, kind in _LAYOUT.items()}

# one abbreviation: tag (name, or the number pyelftools keeps for an unknown tag),
# children flag, and (attribute, form, implicit constant) for each attribute
Abbrev = Tuple[Union[str, int], bool, Tuple[Tuple[int, int, Optional[int]], ...]]
# a skimmed DIE: abbreviation (None for a null entry), end offset, and for the WANTED
# attributes present: attribute -> (form, value, offset of the value)
Skim = Tuple[Optional[Abbrev], int, Dict[int, Tuple[int, object, int]]]


def read_abbrevs(buf, start: int, end: int) -> Optional[Dict[int, Abbrev]]:
    """The abbreviation table at buf[start:end], as pyelftools would read it (a code
    declared twice: the later declaration).  None when it runs past `end` or has a
    children flag other than 0 or 1 (pyelftools' parser then fails on it itself)."""
    table: Dict[int, Abbrev] = {}
    pos = start
    # one-byte ULEB128s are the rule (codes below 128, tags, attributes, forms): read inline
    while True:
        if pos < end and buf[pos] < 0x80:
            code = buf[pos]
            pos += 1
        else:
            code, pos = _uleb(buf, pos, end)
            if code is None:
                return None
        if code == 0:
            return table
        if pos < end and buf[pos] < 0x80:
            tag = buf[pos]
            pos += 1
        else:
            tag, pos = _uleb(buf, pos, end)
            if tag is None:
                return None
        if pos >= end or buf[pos] > 1:
            return None
        children = buf[pos] == 1
        pos += 1
        attrs = []
        while True:
            if pos + 1 < end and buf[pos] < 0x80 and buf[pos + 1] < 0x80:
                at, form = buf[pos], buf[pos + 1]
                pos += 2
            else:
                at, pos = _uleb(buf, pos, end)
                if at is None:
                    return None
                form, pos = _uleb(buf, pos, end)
                if form is None:
                    return None
            if at == 0 and form == 0:
                break
            implicit = None
            if form == DW_FORM_implicit_const:
                implicit, pos = _sleb(buf, pos, end)
                if implicit is None:
                    return None
            attrs.append((at, form, implicit))
        table[code] = (TAG_NAMES.get(tag, tag), children, tuple(attrs))


class _Declarations(dict):
    """pyelftools' code -> AbbrevDecl map, each declaration built when pyelftools
    first asks for it (a unit's table has hundreds; a lookup decodes a few DIEs)."""

    def __init__(self, table: Dict[int, Abbrev]):
        super().__init__()
        self.table = table

    def __missing__(self, code):
        tag, children, attrs = self.table[code]  # KeyError, as pyelftools' own map raises
        specs = [Container(name=AT_NAMES.get(at, at), form=FORM_NAMES.get(form, form), value=implicit)
                 for at, form, implicit in attrs]
        decl = self[code] = AbbrevDecl(code, Container(tag=tag, children_flag="DW_CHILDREN_yes" if children
                                                       else "DW_CHILDREN_no", attr_spec=specs))
        return decl


def pyelftools_table(structs, stream, offset: int, table: Dict[int, Abbrev]) -> AbbrevTable:
    """A pyelftools AbbrevTable holding the declarations of `table` (read by
    read_abbrevs), built without its construct parser."""
    out = AbbrevTable.__new__(AbbrevTable)
    out.structs = structs
    out.stream = stream
    out.offset = offset
    out._abbrev_map = _Declarations(table)
    return out


class Skimmer:
    """Skims the DIEs of one unit: `buf[base:]` is .debug_info, offsets are section
    offsets.  `strs` / `line_strs` are (buf, base, size) of .debug_str and
    .debug_line_str, or None when the image has none."""

    __slots__ = ("buf", "base", "table", "sizes", "missing", "plans", "little", "unit_offset", "unit_die",
                 "unit_end", "strs", "line_strs")

    def __init__(self, buf, base: int, table: Dict[int, Abbrev], little: bool, offset_size: int,
                 addr_size: int, version: int, unit: Tuple[int, int, int], strs, line_strs):
        self.buf = buf
        self.base = base
        self.little = little
        self.unit_offset, self.unit_die, self.unit_end = unit
        self.strs = strs
        self.line_strs = line_strs
        self.table = table
        self.sizes = {ADDR: addr_size, OFFSET: offset_size, REF_ADDR: addr_size if version == 2 else offset_size}
        # pyelftools fails on a string form whose section is missing: those are not plain here
        self.missing = {form for form, sec in ((DW_FORM_strp, strs), (DW_FORM_line_strp, line_strs)) if sec is None}
        # abbreviation code -> (abbreviation, (attribute, form, size or layout, implicit constant)...),
        # made when first met; None for an abbreviation with a form that is not plain
        self.plans: Dict[int, Optional[Tuple[Abbrev, Tuple[Tuple[int, int, int, Optional[int]], ...]]]] = {}

    def _plan(self, code: int):
        abbrev = self.table.get(code)
        plan = None
        if abbrev is not None:
            steps = []
            for at, form, implicit in abbrev[2]:
                kind = LAYOUT.get(form)
                if kind is None or form in self.missing:
                    break
                steps.append((at, form, self.sizes.get(kind, kind), implicit))
            else:
                plan = (abbrev, tuple(steps))
        self.plans[code] = plan
        return plan

    def skim(self, off: int, stop: int) -> Optional[Skim]:
        """The DIE at `off`, read no further than `stop`; None when it cannot be
        read plainly."""
        buf, base = self.buf, self.base
        p, lim = base + off, base + stop
        code = shift = 0
        while True:
            if p >= lim:
                return None
            b = buf[p]
            p += 1
            code |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
        if code == 0:
            return None, p - base, {}
        plan = self.plans[code] if code in self.plans else self._plan(code)
        if plan is None:
            return None
        wanted: Dict[int, Tuple[int, object, int]] = {}
        order: Literal["little", "big"] = "little" if self.little else "big"
        for at, form, kind, implicit in plan[1]:
            start = p
            if kind >= 0:
                p += kind
                if p > lim:
                    return None
                if at in WANTED:
                    wanted[at] = (form, implicit if form == DW_FORM_implicit_const
                                  else int.from_bytes(buf[start:p], order), start - base)
                continue
            if kind == CSTR:
                nul = buf.find(b"\0", p, lim)
                if nul < 0:
                    return None
                p = nul + 1
                if at in WANTED:
                    wanted[at] = (form, bytes(buf[start:nul]), start - base)
                continue
            if kind == BLOCK1 or kind == BLOCK2 or kind == BLOCK4:
                n = 1 if kind == BLOCK1 else 2 if kind == BLOCK2 else 4
                if p + n > lim:
                    return None
                length = int.from_bytes(buf[p:p + n], order)
                p += n
            else:  # ULEB or BLOCKU
                value = shift = 0
                while True:
                    if p >= lim:
                        return None
                    b = buf[p]
                    p += 1
                    value |= (b & 0x7F) << shift
                    if b < 0x80:
                        break
                    shift += 7
                if kind == ULEB:
                    if at in WANTED:
                        wanted[at] = (form, value, start - base)
                    continue
                length = value
            p += length
            if p > lim:
                return None
        return plan[0], p - base, wanted

    def name(self, wanted) -> Optional[str]:
        """DW_AT_name of a skimmed DIE as pyelftools' value decodes to text; None
        when there is none or it cannot be read plainly (the caller cannot tell
        the two apart: use has_plain_name first)."""
        got = wanted.get(DW_AT_name)
        if got is None:
            return None
        form, value, _ = got
        if form == DW_FORM_string:
            return value.decode("utf-8", errors="replace")
        sec = self.strs if form == DW_FORM_strp else self.line_strs if form == DW_FORM_line_strp else None
        if sec is None:
            return None
        buf, base, size = sec
        if not isinstance(value, int) or value >= size:
            return None
        nul = buf.find(b"\0", base + value, base + size)
        if nul < 0:
            return None
        return bytes(buf[base + value:nul]).decode("utf-8", errors="replace")

    def has_plain_name(self, wanted) -> bool:
        """No DW_AT_name, or one that `name` reads as pyelftools would."""
        got = wanted.get(DW_AT_name)
        if got is None:
            return True
        form = got[0]
        return form == DW_FORM_string or self.name(wanted) is not None

    def ref(self, wanted, at: int) -> Tuple[bool, Optional[int]]:
        """(plain, the absolute offset a reference attribute points to or None):
        as DwarfReader.ref reads it; plain is False where it would raise."""
        got = wanted.get(at)
        if got is None:
            return True, None
        form, value, _ = got
        if form in REF_CODES:
            if not isinstance(value, int) or not self._inside(value):
                return False, None
            return True, self.unit_offset + value
        if form == DW_FORM_ref_addr:
            return True, value
        return True, None

    def _inside(self, rel: int) -> bool:
        # DwarfReader.ref: a unit-relative reference lies between the unit's first DIE and its end
        return self.unit_die - self.unit_offset <= rel < self.unit_end - self.unit_offset

    def sibling(self, wanted, off: int, end: int) -> Tuple[bool, Optional[int]]:
        """(plain, DW_AT_sibling's target or None), as DwarfReader._sibling reads it."""
        got = wanted.get(DW_AT_sibling)
        if got is None:
            return True, None
        form, value, _ = got
        if form not in REF_CODES or not isinstance(value, int):
            return True, None
        s = self.unit_offset + value
        if not (end <= s <= self.unit_end):
            return False, None
        return True, s


def _uleb(buf, pos: int, end: int) -> Tuple[Optional[int], int]:
    value = shift = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
    return None, pos


def _sleb(buf, pos: int, end: int) -> Tuple[Optional[int], int]:
    value = shift = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                value -= 1 << shift
            return value, pos
    return None, pos

