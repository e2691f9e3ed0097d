"""DWARF through pyelftools, lazily and with bounded work.

pyelftools decodes everything here: unit headers, abbreviation tables, DIEs,
attribute forms and values, strings (strp, line_strp, strx, inline),
references and location expressions.  This module adds what answering single
questions about a 600 MB vmlinux needs:

* The sections are windows on the caller's mmap (or on decompressed bytes):
  nothing is copied and nothing is relocated -- a linked vmlinux is already
  relocated, and applying its ~10 M .rela.debug_info entries would take
  minutes.  (``ELFFile.get_dwarf_info()`` would copy nine whole sections into
  memory, about 1 s and 330 MB on an amd64 kernel before the first question.)
* Only the DIEs asked for are decoded: single DIEs at known offsets, the
  children of a DIE, the top level of a unit (DW_AT_sibling skips subtrees).
* A raw hit in .debug_info (the .debug_str offset or inline spelling of a
  name, found by vmlinux.py) is verified by letting pyelftools decode the DIE
  that would hold the name at exactly that place.
* Damaged input cannot escape as a foreign exception, hang or recurse: unit
  headers and reference targets are checked before pyelftools sees them, and
  the exceptions pyelftools and its construct library raise on bad bytes
  (DECODE_ERRORS) become :class:`DwarfError` with a place (".debug_info CU at
  0x...") and a plain account of the damage, which ``_undecodable`` finds by
  reading the bytes again (the abbreviation code, the abbreviation table, the
  forms); reads stop at the end of the unit being decoded; tree walks here are
  iterative and must move forward (pyelftools' own ``iter_children`` follows
  a backward DW_AT_sibling forever).
* pyelftools caches the DIEs it decodes; those caches are dropped wholesale
  once MAX_LIVE_DIES decodes have accumulated (bounded memory).
"""

from __future__ import annotations

import inspect
import struct
from bisect import bisect_right
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple, Union, cast

from elftools.common.exceptions import DWARFError, ELFError
from elftools.construct.core import ConstructError
from elftools.dwarf.die import DIE
from elftools.dwarf.dwarf_expr import DWARFExprParser
from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DwarfConfig, DWARFInfo
from elftools.dwarf.enums import ENUM_DW_FORM, ENUM_DW_TAG

from vmci.elf.errors import DwarfError, LookupFailure
from vmci.elf.skim import AT_NAMES, DW_AT_name, DW_AT_specification, Skimmer, pyelftools_table, read_abbrevs

MAX_DIE_DEPTH = 4096
MAX_INDEXED_UNITS = 192   # top-level indexes kept (about 0.35 MB each on a kernel)
MAX_LIVE_DIES = 100_000   # DIE decodes (~1.3 KB each, cached) before the caches go
MAX_SKIMMERS = 256        # units whose abbreviation plans are kept for skimming
LOOKALIKE_SPAN = 4096     # bytes a would-be DIE may extend past the verified hit

# the sections handed to pyelftools (DWARFInfo keyword -> ELF section)
SECTIONS = {
    "debug_info_sec": ".debug_info",
    "debug_abbrev_sec": ".debug_abbrev",
    "debug_str_sec": ".debug_str",
    "debug_line_str_sec": ".debug_line_str",
    "debug_str_offsets_sec": ".debug_str_offsets",
    "debug_addr_sec": ".debug_addr",
    "debug_loclists_sec": ".debug_loclists",
    "debug_rnglists_sec": ".debug_rnglists",
}

REF_FORMS = frozenset(("DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8",
                       "DW_FORM_ref_udata"))
DATA_SIZES = {"DW_FORM_data1": 1, "DW_FORM_data2": 2, "DW_FORM_data4": 4, "DW_FORM_data8": 8}
CONST_FORMS = frozenset(list(DATA_SIZES) + ["DW_FORM_udata", "DW_FORM_sdata",
                                            "DW_FORM_implicit_const"])
BLOCK_FORMS = frozenset(("DW_FORM_block", "DW_FORM_block1", "DW_FORM_block2", "DW_FORM_block4",
                         "DW_FORM_exprloc", "DW_FORM_data16"))
NAME_FORMS = ("DW_FORM_strp", "DW_FORM_string")   # what a raw needle can hit
STRING_OFFSET_FORMS = frozenset(("DW_FORM_strp", "DW_FORM_line_strp", "DW_FORM_strx",
                                 "DW_FORM_strx1", "DW_FORM_strx2", "DW_FORM_strx3",
                                 "DW_FORM_strx4"))

ATE_NAMES = {
    0x1: "address", 0x2: "boolean", 0x3: "complex_float", 0x4: "float",
    0x5: "signed", 0x6: "signed_char", 0x7: "unsigned", 0x8: "unsigned_char",
    0x10: "UTF", 0xD: "signed_fixed", 0xE: "unsigned_fixed",
}
SIGNED_ATES = (0x5, 0x6, 0xD)


# What pyelftools and construct raise on bad bytes: their own errors, and lookups and
# assertions over values read from the file (an abbreviation code missing from its
# table, a form that is no form, a string form with no string section).  Anything else
# is a bug here and must not be mistaken for damage.
DECODE_ERRORS = (ELFError, DWARFError, ConstructError, KeyError, IndexError, AssertionError, ValueError,
                 struct.error, UnicodeDecodeError, NotImplementedError, OverflowError)

FORM_NAMES = {code: name for name, code in ENUM_DW_FORM.items() if isinstance(code, int)}
TAG_NAMES = {code: name for name, code in ENUM_DW_TAG.items() if isinstance(code, int)}
DW_FORM_implicit_const = ENUM_DW_FORM["DW_FORM_implicit_const"]
# forms whose value is read from another section, and the section each needs
FORM_SECTIONS = {"DW_FORM_strp": ".debug_str", "DW_FORM_line_strp": ".debug_line_str",
                 "DW_FORM_strx": ".debug_str_offsets", "DW_FORM_strx1": ".debug_str_offsets",
                 "DW_FORM_strx2": ".debug_str_offsets", "DW_FORM_strx3": ".debug_str_offsets",
                 "DW_FORM_strx4": ".debug_str_offsets", "DW_FORM_addrx": ".debug_addr",
                 "DW_FORM_addrx1": ".debug_addr", "DW_FORM_addrx2": ".debug_addr",
                 "DW_FORM_addrx3": ".debug_addr", "DW_FORM_addrx4": ".debug_addr",
                 "DW_FORM_loclistx": ".debug_loclists", "DW_FORM_rnglistx": ".debug_rnglists"}
# DWARF 5 unit types pyelftools decodes: compile, type, partial, skeleton, split compile, split type
UNIT_TYPES = (1, 2, 3, 4, 5, 6)


class Section:
    """A DWARF section's bytes -- an mmap (indexable, sliceable, find()) with
    the section at `base`, or bytes of a decompressed section at base 0."""

    __slots__ = ("buf", "base", "size", "name")

    def __init__(self, name, buf, base, size):
        self.name = name
        self.buf = buf
        self.base = base
        self.size = size


class _Window:
    """The file object pyelftools reads a section through: section-relative
    offsets over Section bytes, no copy.  Reads end at `stop` (the end of the
    unit being decoded) so a damaged length meets a short read there."""

    __slots__ = ("buf", "base", "size", "pos", "stop")

    def __init__(self, sec: Section):
        self.buf = sec.buf
        self.base = sec.base
        self.size = sec.size
        self.pos = 0
        self.stop = sec.size

    def seek(self, off, whence=0):
        if whence == 1:
            off += self.pos
        elif whence == 2:
            off += self.size
        if off < 0:
            raise ValueError("negative seek position")
        self.pos = off
        return off

    def tell(self):
        return self.pos

    def read(self, n=-1):
        p = self.pos
        end = self.stop
        if n is not None and 0 <= n < end - p:
            end = p + n
        if end <= p:
            return b""
        self.pos = end
        return self.buf[self.base + p:self.base + end]


class Unit:
    """A compilation unit: header facts, and pyelftools' CompileUnit (made when
    a DIE of the unit is first decoded)."""

    __slots__ = ("index", "offset", "end", "version", "addr_size", "offset_size", "die_offset",
                 "abbrev_offset", "index_data", "cu", "gen")

    def __init__(self, index: int, offset: int, header: Tuple[int, int, int, int, int, int]):
        self.index = index
        self.offset = offset
        self.end, self.version, self.addr_size, self.offset_size, self.die_offset, self.abbrev_offset = header
        self.index_data: Optional[CUIndex] = None
        self.cu: Any = None
        self.gen = 0  # no DWARFInfo generation: the CompileUnit is not made yet

    @property
    def place(self) -> str:
        return f".debug_info CU at {self.offset:#x}"

    @property
    def size(self) -> int:
        return self.end - self.offset


class CUIndex:
    """Names of the top-level DIEs of one CU."""

    __slots__ = ("names", "specs", "tops")

    def __init__(self):
        self.tops: List[int] = []                            # offsets of all top-level DIEs
        self.names: Dict[str, List[Tuple[int, Union[str, int, None]]]] = {}  # name -> [(die offset, tag)]
        self.specs: Dict[int, int] = {}                      # decl DIE -> defining variable DIE


class DwarfReader:
    def __init__(self, sections: Dict[str, Optional[Section]], endian: str, addr_size: int):
        self.sections = sections
        info = sections[".debug_info"]
        if info is None:
            raise DwarfError(".debug_info", "section missing or empty")
        self.info: Section = info
        self.strs = sections.get(".debug_str")
        self.little = endian == "little"
        self._config = DwarfConfig(little_endian=self.little, machine_arch="",
                                   default_address_size=addr_size)
        self._units: Optional[List[Unit]] = None
        self._starts: List[int] = []
        self._gen = 0
        self._live = 0
        self._prefix_cache: Dict[tuple, Optional[List[Tuple[bytes, int]]]] = {}
        self._form_sizes: Dict[tuple, Optional[int]] = {}
        self._expr_parsers: Dict[int, DWARFExprParser] = {}
        self._skimmers: Dict[int, Optional[Skimmer]] = {}  # unit offset -> its skimmer (None: none)
        self._tables: Dict[int, Optional[dict]] = {}  # .debug_abbrev offset -> skim.read_abbrevs
        self.indexed: List[Unit] = []  # CUs whose top level has been indexed, in order
        self.verify_errors = 0
        self._new_dwarfinfo()

    # ------------------------------------------------------- pyelftools state
    def _new_dwarfinfo(self) -> None:
        """A fresh pyelftools DWARFInfo over the same windows (empty caches)."""
        params = inspect.signature(DWARFInfo.__init__).parameters
        kwargs: Dict[str, Optional[DebugSectionDescriptor]] = {p: None for p in params if p.endswith("_sec")}
        windows: Dict[str, _Window] = {}
        for key, name in SECTIONS.items():
            sec = self.sections.get(name)
            if sec is not None and key in kwargs:
                windows[key] = _Window(sec)
                kwargs[key] = DebugSectionDescriptor(stream=_as_stream(windows[key]), name=name,
                                                     global_offset=None, size=sec.size, address=0)
        self._di = DWARFInfo(config=self._config, **kwargs)
        self._stream: _Window = windows["debug_info_sec"]
        self._gen += 1
        self._live = 0
        self._prefix_cache.clear()
        for u in self._units or ():
            u.cu = None  # the old CompileUnits hold pyelftools' DIE caches

    def trim(self) -> None:
        """Drop pyelftools' DIE and abbreviation caches when they have grown
        large.  Safe at any time: DIEs already decoded stay usable (offsets
        are absolute), later decodes go to the fresh DWARFInfo."""
        if self._live > MAX_LIVE_DIES:
            self._new_dwarfinfo()

    def _cu(self, u: Unit, pyelftools_abbrevs: bool = True):
        """pyelftools' CompileUnit of `u`; unless pyelftools_abbrevs is False, with
        the abbreviation table read here handed to pyelftools (the DIEs it is
        about to decode need it)."""
        if u.gen != self._gen:
            self._stream.stop = self.info.size
            try:
                u.cu = self._di.get_CU_at(u.offset)
            except DECODE_ERRORS:  # it was decoded before, from the same bytes
                raise DwarfError(u.place, "bad unit header: it cannot be decoded") from None
            u.gen = self._gen
        tables = self._di._abbrevtable_cache  # pyelftools keeps no public way to add one
        if pyelftools_abbrevs and u.abbrev_offset not in tables:
            table = self._abbrev_table(u)
            sec = self._di.debug_abbrev_sec
            if table is not None and sec is not None:
                tables[u.abbrev_offset] = pyelftools_table(u.cu.structs, sec.stream, u.abbrev_offset, table)
        return u.cu

    def _abbrev_table(self, u: Unit):
        """The unit's abbreviation table read by skim.read_abbrevs (pyelftools' own
        parser is slow); None when pyelftools must read it (it then fails on it)."""
        if u.abbrev_offset in self._tables:
            return self._tables[u.abbrev_offset]
        sec = self.sections[".debug_abbrev"]
        table = None
        if sec is not None and u.abbrev_offset < sec.size:
            table = read_abbrevs(sec.buf, sec.base + u.abbrev_offset, sec.base + sec.size)
        if len(self._tables) >= MAX_SKIMMERS:
            self._tables.pop(next(iter(self._tables)))
        self._tables[u.abbrev_offset] = table
        return table

    def skimmer(self, u: Unit) -> Optional[Skimmer]:
        """What walks past the unit's DIEs without decoding them (skim.py); None
        when its abbreviation table is not read plainly."""
        if u.offset in self._skimmers:
            return self._skimmers[u.offset]
        table = self._abbrev_table(u)
        sk = None
        if table is not None:
            def sec(name):
                s = self.sections.get(name)
                return None if s is None else (s.buf, s.base, s.size)
            sk = Skimmer(self.info.buf, self.info.base, table, self.little, u.offset_size, u.addr_size, u.version,
                         (u.offset, u.die_offset, u.end), sec(".debug_str"), sec(".debug_line_str"))
        if len(self._skimmers) >= MAX_SKIMMERS:
            self._skimmers.pop(next(iter(self._skimmers)))  # bounded memory: forget the oldest
        self._skimmers[u.offset] = sk
        return sk

    # ---------------------------------------------------------------- CUs
    def cus(self) -> List[Unit]:
        if self._units is None:
            self._units = self._read_units()
            self._starts = [u.offset for u in self._units]
        return self._units

    def _read_units(self) -> List[Unit]:
        size = self.info.size
        abbrev = self.sections[".debug_abbrev"]
        out: List[Unit] = []
        off = 0
        while off < size:
            place = f".debug_info CU at {off:#x}"
            if size - off < 11:
                raise DwarfError(place, "truncated unit header")
            problem = self._unit_header_problem(off)
            if problem is not None:
                raise DwarfError(place, f"bad unit header: {problem}")
            header = self._unit_header(off)
            if header is None:
                raise DwarfError(place, "bad unit header: it cannot be decoded")
            u = Unit(len(out), off, header)
            if u.end > size:
                raise DwarfError(place, f"unit length {u.size:#x} runs past the end of .debug_info "
                                        f"({size:#x} bytes)")
            if u.die_offset >= u.end:
                raise DwarfError(place, "unit header longer than the unit")
            if u.addr_size not in (4, 8):
                raise DwarfError(place, f"bad address size {u.addr_size}")
            if abbrev is None or u.abbrev_offset >= abbrev.size:
                raise DwarfError(place, f"abbreviation offset {u.abbrev_offset:#x} outside "
                                        f".debug_abbrev")
            out.append(u)
            off = u.end
        return out

    def _unit_header(self, off: int) -> Optional[Tuple[int, int, int, int, int, int]]:
        """(end, version, address size, offset size, first DIE offset, abbreviation
        offset) of the unit header at `off`, read as pyelftools reads it (making
        its CompileUnits for the 2,000-odd units of a kernel took a tenth of a
        second); None where it runs past the end of .debug_info.  Called after
        _unit_header_problem found nothing wrong."""
        buf, base, size = self.info.buf, self.info.base, self.info.size
        e = "<" if self.little else ">"
        length = struct.unpack_from(e + "I", buf, base + off)[0]
        pos, offset_size = off + 4, 4
        if length == 0xFFFFFFFF:
            if off + 12 > size:
                return None
            length = struct.unpack_from(e + "Q", buf, base + off + 4)[0]
            pos, offset_size = off + 12, 8
        end = pos + length
        version = struct.unpack_from(e + "H", buf, base + pos)[0]
        pos += 2
        word = e + ("I" if offset_size == 4 else "Q")
        if version >= 5:
            unit_type, addr_size = buf[base + pos], buf[base + pos + 1]
            abbrev_offset = struct.unpack_from(word, buf, base + pos + 2)[0]
            pos += 2 + offset_size
            if unit_type in (4, 5):      # skeleton, split compile: dwo_id
                pos += 8
            elif unit_type in (2, 6):    # type, split type: signature, type offset
                pos += 8 + offset_size
        else:
            abbrev_offset = struct.unpack_from(word, buf, base + pos)[0]
            addr_size = buf[base + pos + offset_size]
            pos += offset_size + 1
        if pos > size:
            return None
        return end, version, addr_size, offset_size, pos, abbrev_offset

    def _unit_header_problem(self, off: int) -> Optional[str]:
        """What is wrong with the unit header at `off`, in words, before pyelftools
        reads it (it asserts on an address size, fails on a unit type); None when
        it looks sound."""
        buf, base, size = self.info.buf, self.info.base, self.info.size
        e = "<" if self.little else ">"
        length = struct.unpack_from(e + "I", buf, base + off)[0]
        pos, offset_size = off + 4, 4
        if length == 0xFFFFFFFF:
            pos, offset_size = off + 12, 8
        elif length >= 0xFFFFFFF0:
            return f"unit length {length:#x} is a reserved value"
        v5_end = pos + 2 + 2 + offset_size  # version, unit type, address size, abbreviation offset
        if v5_end > size:
            return "the header runs past the end of .debug_info"
        version = struct.unpack_from(e + "H", buf, base + pos)[0]
        if not 2 <= version <= 5:
            return f"DWARF version {version} (vmci reads versions 2 to 5)"
        if version == 5:
            unit_type, address_size = buf[base + pos + 2], buf[base + pos + 3]
            if unit_type not in UNIT_TYPES:
                return f"unit type {unit_type:#x} is not a DWARF 5 unit type"
        else:
            address_size = buf[base + pos + 2 + offset_size]
        if address_size not in (4, 8):
            return f"address size {address_size} (must be 4 or 8)"
        return None

    def cu_for(self, off: int) -> Unit:
        cus = self.cus()
        i = bisect_right(self._starts, off) - 1
        if i < 0 or off >= cus[i].end:
            raise DwarfError(".debug_info", f"offset {off:#x} is not inside any unit")
        return cus[i]

    def unit_of(self, die: DIE) -> Unit:
        return self.cu_for(die.cu.cu_offset)

    # ---------------------------------------------------------------- DIEs
    def die(self, off: int, cu: Optional[Unit] = None) -> DIE:
        """The DIE at absolute .debug_info offset `off` (decoded once, cached)."""
        if cu is None:
            cu = self.cu_for(off)
        if not (cu.die_offset <= off < cu.end):
            raise DwarfError(cu.place, f"DIE offset {off:#x} outside its unit's entries "
                                       f"({cu.die_offset:#x} to {cu.end:#x})")
        d = self._decode(cu, off)
        if d.is_null():
            raise DwarfError(cu.place, f"null entry where a DIE was expected at {off:#x}")
        return d

    def unit_die(self, cu: Unit) -> DIE:
        return self.die(cu.die_offset, cu)

    def _decode(self, cu: Unit, off: int) -> DIE:
        pcu = self._cu(cu)
        self._stream.stop = cu.end
        try:
            d = pcu.get_DIE_from_refaddr(off)
        except DECODE_ERRORS:
            raise self._undecodable(cu, off) from None
        self._live += 1
        return d

    def _undecodable(self, cu: Unit, off: int) -> DwarfError:
        """The DIE at `off` failed to decode: find out why from its bytes (its
        abbreviation code, the unit's abbreviation table, the forms it names) and
        say it in words.  Called only on failure."""
        place = cu.place
        buf, base, end = self.info.buf, self.info.base, self.info.base + cu.end
        code, _ = _read_uleb(buf, base + off, end)
        if code is None:
            return DwarfError(place, f"DIE at {off:#x} runs past the end of its unit")
        decls = self.abbreviations(cu)
        decl = decls.get(code)
        if decl is None:
            return DwarfError(place, f"DIE at {off:#x}: abbreviation code {code} is not in the unit's "
                                     f"abbreviation table (.debug_abbrev offset {cu.abbrev_offset:#x})")
        tag, forms = decl
        for form in forms:
            need = FORM_SECTIONS.get(form)
            if need is not None and self.sections.get(need) is None:
                return DwarfError(place, f"DIE at {off:#x} ({tag}) has a {form} attribute, but the image has "
                                         f"no {need}")
        return DwarfError(place, f"DIE at {off:#x} ({tag}): its attribute values run past the end of "
                                 f"its unit or do not match their forms")

    def abbreviations(self, cu: Unit) -> Dict[int, Tuple[str, List[str]]]:
        """The abbreviation table of `cu`, read here rather than by pyelftools
        (so that damage is named): code -> (tag name, attribute form names).
        Raises DwarfError naming the declaration that is damaged."""
        sec = self.sections[".debug_abbrev"]
        assert sec is not None  # the reader is not made without it (vmlinux._dwarf)
        buf, base, end = sec.buf, sec.base, sec.base + sec.size
        place = f"{cu.place}: abbreviation table at .debug_abbrev offset {cu.abbrev_offset:#x}"
        pos = base + cu.abbrev_offset
        table: Dict[int, Tuple[str, List[str]]] = {}
        while True:
            start = pos - base
            code, after = _read_uleb(buf, pos, end)
            if code == 0:
                return table
            tag, after = (None, None) if after is None else _read_uleb(buf, after, end)
            if code is None or tag is None or after is None or after >= end:
                raise DwarfError(place, "it runs past the end of .debug_abbrev")
            pos = after
            children = buf[pos]
            pos += 1
            if children > 1:
                raise DwarfError(place, f"abbreviation {code} (at {start:#x}) has children flag {children}, "
                                        f"not 0 or 1")
            forms = []
            while True:
                at, after = _read_uleb(buf, pos, end)
                form, after = (None, None) if after is None else _read_uleb(buf, after, end)
                if at is None or form is None or after is None:
                    raise DwarfError(place, "it runs past the end of .debug_abbrev")
                pos = after
                if at == 0 and form == 0:
                    break
                name = FORM_NAMES.get(form)
                if name is None or form == 0:
                    raise DwarfError(place, f"abbreviation {code} (at {start:#x}) gives attribute {at:#x} "
                                            f"the form {form:#x}, which is no DWARF form vmci reads")
                if form == DW_FORM_implicit_const:
                    _, after = _read_uleb(buf, pos, end)  # the constant (SLEB128: same length)
                    if after is None:
                        raise DwarfError(place, "it runs past the end of .debug_abbrev")
                    pos = after
                forms.append(name)
            table.setdefault(code, (TAG_NAMES.get(tag, f"tag {tag:#x}"), forms))

    def _top_die(self, cu: Unit):
        """pyelftools' CU of `cu`, its top DIE decoded (pyelftools needs it before
        other DIEs: str_offsets_base); a damaged top DIE is named."""
        pcu = self._cu(cu)
        self._stream.stop = cu.end
        try:
            pcu.get_top_DIE()
        except DECODE_ERRORS:
            raise self._undecodable(cu, cu.die_offset) from None
        return pcu

    def _lookalike(self, cu: Unit, start: int, hit: int) -> Optional[DIE]:
        """Decode a DIE at `start`, which may be garbage: not cached, reads
        end shortly after `hit`, failures are counted, not raised."""
        pcu = self._top_die(cu)
        self._stream.stop = min(cu.end, hit + LOOKALIKE_SPAN)
        try:
            return DIE(cu=pcu, stream=_as_stream(self._stream), offset=start)
        except DECODE_ERRORS:  # a garbage look-alike, or a damaged DIE
            self.verify_errors += 1
            return None
        finally:
            self._stream.stop = cu.end

    # ---------------------------------------------------------- attributes
    def name(self, die: DIE) -> Optional[str]:
        return self.string(die, "DW_AT_name")

    def string(self, die: DIE, at: str) -> Optional[str]:
        a = die.attributes.get(at)
        if a is None:
            return None
        v = a.value
        if isinstance(v, bytes):
            return v.decode("utf-8", errors="replace")
        if a.form == "DW_FORM_string" and isinstance(v, str):
            return v
        if a.form in STRING_OFFSET_FORMS and v is None:
            raise DwarfError(_place(die), f"DIE at {die.offset:#x}: string offset {a.raw_value:#x} is "
                                          f"outside {FORM_SECTIONS.get(a.form, 'its section')}")
        return None

    def flag(self, die: DIE, at: str) -> bool:
        a = die.attributes.get(at)
        return a is not None and a.value is True

    def uint(self, die: DIE, at: str) -> Optional[int]:
        """A constant-class value (as the form gives it), else None."""
        a = die.attributes.get(at)
        if a is None or a.form not in CONST_FORMS:
            return None
        v = a.value
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    def ref(self, die: DIE, at: str, strict: bool = False) -> Optional[int]:
        """Absolute .debug_info offset a reference attribute points to; None
        when absent (or, unless strict, in a form we cannot follow)."""
        a = die.attributes.get(at)
        if a is None:
            return None
        if a.form in REF_FORMS:
            cu = die.cu
            if not isinstance(a.raw_value, int) \
                    or not cu.cu_die_offset - cu.cu_offset <= a.raw_value < cu.size:
                raise DwarfError(_place(die), f"DIE at {die.offset:#x} refers to {a.raw_value:#x}, "
                                              f"outside its unit")
            return cu.cu_offset + a.raw_value
        if a.form == "DW_FORM_ref_addr":
            return a.raw_value
        if strict:
            raise LookupFailure(f"{at} of DIE at {die.offset:#x} is not a plain reference "
                                f"(type units / supplementary files are not supported)")
        return None

    def block(self, die: DIE, at: str) -> Optional[bytes]:
        a = die.attributes.get(at)
        if a is None or a.form not in BLOCK_FORMS:
            return None
        try:
            return bytes(a.value)
        except (TypeError, ValueError):
            return None

    def expression(self, die: DIE, at: str):
        """The location expression of `at` as pyelftools DWARFExprOps, or None
        when it is not an expression (a constant, a location list)."""
        raw = self.block(die, at)
        if raw is None:
            return None
        structs = die.cu.structs
        parser = self._expr_parsers.get(id(structs))
        if parser is None:
            parser = self._expr_parsers[id(structs)] = DWARFExprParser(structs)
        try:
            return parser.parse_expr(list(raw))
        except DECODE_ERRORS:
            raise DwarfError(_place(die), f"DIE at {die.offset:#x}: its {at} is not a DWARF expression "
                                          f"(an unknown operation, or one cut short)") from None

    def form_size(self, die: DIE, at: str) -> Optional[int]:
        a = die.attributes.get(at)
        return None if a is None else DATA_SIZES.get(a.form)

    def enum_is_signed(self, edie: DIE) -> Optional[bool]:
        t = self.ref(edie, "DW_AT_type")
        depth = 0
        while t is not None and depth < 16:
            d = self.die(t)
            if d.tag == "DW_TAG_base_type":
                return self.uint(d, "DW_AT_encoding") in SIGNED_ATES
            t = self.ref(d, "DW_AT_type")
            depth += 1
        return None

    def const_value(self, die: DIE, signed: Optional[bool]) -> Optional[int]:
        """DW_AT_const_value of an enumerator, sign-extended for signed enums
        when given in a fixed-size data form; None when absent."""
        a = die.attributes.get("DW_AT_const_value")
        if a is None:
            return None
        if a.form in CONST_FORMS and isinstance(a.value, int):
            val = a.value
            size = DATA_SIZES.get(a.form)
            if signed and size and val >= 1 << (size * 8 - 1):
                val -= 1 << (size * 8)
            return val
        raw = self.block(die, "DW_AT_const_value")
        if raw is not None:
            return int.from_bytes(raw, "little" if self.little else "big", signed=bool(signed))
        raise DwarfError(_place(die), f"enumerator at {die.offset:#x} has no integer value")

    # ----------------------------------------------------------- children
    def children(self, die: DIE, cu: Optional[Unit] = None) -> Iterator[DIE]:
        """The direct children of `die`, skipping grandchildren through
        DW_AT_sibling when present and by walking otherwise."""
        if not die.has_children:
            return
        if cu is None:
            cu = self.unit_of(die)
        off = die.offset + die.size
        while True:
            if off >= cu.end:
                raise DwarfError(cu.place, f"children of DIE at {die.offset:#x} are not terminated")
            child = self._decode(cu, off)
            if child.is_null():
                return
            yield child
            off = self._after(cu, child)

    def _sibling(self, cu: Unit, d: DIE) -> Optional[int]:
        a = d.attributes.get("DW_AT_sibling")
        if a is None or a.form not in REF_FORMS or not isinstance(a.raw_value, int):
            return None
        s = cu.offset + a.raw_value
        if not (d.offset + d.size <= s <= cu.end):
            raise DwarfError(cu.place, f"DW_AT_sibling of DIE at {d.offset:#x} points to {s:#x}, "
                                       f"outside the unit or backwards")
        return s

    def _after(self, cu: Unit, d: DIE) -> int:
        """Offset of the entry after `d` and all of its descendants."""
        end = d.offset + d.size
        if not d.has_children:
            return end
        s = self._sibling(cu, d)
        if s is not None:
            return s
        depth = 1
        off = end
        while depth:
            if off >= cu.end:
                raise DwarfError(cu.place, f"children of DIE at {d.offset:#x} are not terminated")
            c = self._decode(cu, off)
            off = c.offset + c.size
            if c.is_null():
                depth -= 1
            elif c.has_children:
                s = self._sibling(cu, c)
                if s is not None:
                    off = s
                    continue
                depth += 1
                if depth > MAX_DIE_DEPTH:
                    raise DwarfError(cu.place, "DIE tree too deep")
        return off

    # ---------------------------------------------------------- CU index
    def index_cu(self, cu: Unit) -> CUIndex:
        """Index the names of the top-level DIEs of `cu` (once; a whole
        index is what lets later questions skip scanning)."""
        if cu.index_data is not None:
            return cu.index_data
        idx = self._index_skimmed(cu)
        if idx is None:
            idx = self._index_decoded(cu)
        cu.index_data = idx
        self.indexed.append(cu)
        if len(self.indexed) > MAX_INDEXED_UNITS:
            self.indexed.pop(0).index_data = None  # bounded memory: forget the oldest
        return idx

    def _index_skimmed(self, cu: Unit) -> Optional[CUIndex]:
        """index_cu without decoding a DIE (skim.py); None where the skimmer
        cannot read the unit plainly (_index_decoded then reads it, and names
        any damage)."""
        sk = self.skimmer(cu)
        if sk is None:
            return None
        end = cu.end
        top = sk.skim(cu.die_offset, end)
        if top is None or top[0] is None:
            return None
        idx = CUIndex()
        if not top[0][1]:  # a unit DIE without children
            return idx
        names, tops, specs = idx.names, idx.tops, idx.specs
        off = top[1]
        while True:
            got = sk.skim(off, end)  # None at or past the end of the unit: not terminated
            if got is None:
                return None
            abbrev, after, wanted = got
            if abbrev is None:
                return idx
            tops.append(off)
            tag = abbrev[0]
            if DW_AT_name in wanted:
                name = sk.name(wanted)
                if name is None:
                    return None
                lst = names.get(name)
                if lst is None:
                    names[name] = [(off, tag)]
                else:
                    lst.append((off, tag))
            if tag == "DW_TAG_variable" and DW_AT_specification in wanted:
                plain, spec = sk.ref(wanted, DW_AT_specification)
                if not plain:
                    return None
                if spec is not None:
                    specs.setdefault(spec, off)
            if abbrev[1]:
                nxt = self._skip_children(sk, off, after, wanted)
                if nxt is None:
                    return None
                after = nxt
            off = after

    def _skip_children(self, sk: Skimmer, off: int, end: int, wanted) -> Optional[int]:
        """Offset after the children of the skimmed DIE at `off` (which has
        children and ends at `end`), as _after finds it; None where it cannot
        be skimmed."""
        plain, s = sk.sibling(wanted, off, end)
        if not plain:
            return None
        if s is not None:
            return s
        depth = 1
        pos = end
        unit_end = sk.unit_end
        while depth:
            got = sk.skim(pos, unit_end)
            if got is None:
                return None
            abbrev, after, w = got
            if abbrev is None:
                depth -= 1
            elif abbrev[1]:
                plain, s = sk.sibling(w, pos, after)
                if not plain:
                    return None
                if s is not None:
                    pos = s
                    continue
                depth += 1
                if depth > MAX_DIE_DEPTH:
                    return None
            pos = after
        return pos

    def _index_decoded(self, cu: Unit) -> CUIndex:
        idx = CUIndex()
        names = idx.names
        for d in self.children(self.unit_die(cu), cu):
            idx.tops.append(d.offset)
            name = self.name(d)
            if name is not None:
                lst = names.get(name)
                if lst is None:
                    names[name] = [(d.offset, d.tag)]
                else:
                    lst.append((d.offset, d.tag))
            if d.tag == "DW_TAG_variable":
                spec = self.ref(d, "DW_AT_specification")
                if spec is not None:
                    idx.specs.setdefault(spec, d.offset)
        return idx

    def is_top_level(self, cu: Unit, off: int) -> bool:
        idx = self.index_cu(cu)
        i = bisect_right(idx.tops, off) - 1
        return i >= 0 and idx.tops[i] == off

    def locate(self, cu: Unit, h: int) -> List[DIE]:
        """The chain of DIEs, from a top-level DIE of `cu` down to the
        innermost DIE whose *attribute bytes* contain the .debug_info offset
        `h`; [] when `h` is not inside any DIE's attributes."""
        idx = self.index_cu(cu)
        i = bisect_right(idx.tops, h) - 1
        if i < 0:
            return []
        offsets = self._locate_skimmed(cu, idx.tops[i], h)
        if offsets is not None:
            return [self.die(off, cu) for off in offsets]
        d = self.die(idx.tops[i], cu)
        path = [d]
        while True:
            if d.offset <= h < d.offset + d.size:
                return path
            if not d.has_children or h < d.offset:
                return []
            found = None
            for c in self.children(d, cu):
                if c.offset > h:
                    break
                if h < self._after(cu, c):
                    found = c
                    break
            if found is None:
                return []
            d = found
            path.append(d)
            if len(path) > MAX_DIE_DEPTH:
                raise DwarfError(cu.place, "DIE tree too deep")

    def _locate_skimmed(self, cu: Unit, top: int, h: int) -> Optional[List[int]]:
        """locate's walk from the top-level DIE at `top`, skimming (skim.py):
        the offsets of the path; None where the skimmer cannot read plainly."""
        sk = self.skimmer(cu)
        if sk is None:
            return None
        end = cu.end
        got = sk.skim(top, end)
        if got is None or got[0] is None:
            return None
        d = top
        path = [d]
        while True:
            abbrev, d_end, wanted = got
            if d <= h < d_end:
                return path
            if abbrev is None or not abbrev[1] or h < d:
                return []
            found = None
            off = d_end
            while True:  # the children of d
                c = sk.skim(off, end)
                if c is None:
                    return None
                if c[0] is None or off > h:
                    break
                after = c[1] if not c[0][1] else self._skip_children(sk, off, c[1], c[2])
                if after is None:
                    return None
                if h < after:
                    found = (off, c)
                    break
                off = after
            if found is None:
                return []
            d, got = found
            path.append(d)
            if len(path) > MAX_DIE_DEPTH:
                return None

    # ------------------------------------------------ verifying raw hits
    def name_prefixes(self, cu: Unit, tags) -> Optional[List[Tuple[bytes, int]]]:
        """For the abbreviations of `cu` with a tag in `tags` (None: any tag)
        whose DW_AT_name is a .debug_str offset or an inline string:
        (encoded abbreviation code, byte distance from the end of the code to
        the name value).  A raw hit at h can only be such a name if the code
        sits just before h - distance.  None when some abbreviation places its
        name after a variable-size attribute (hits cannot be pre-filtered)."""
        key = (cu.abbrev_offset, cu.offset_size, cu.addr_size, cu.version, tags)
        if key in self._prefix_cache:
            return self._prefix_cache[key]
        pcu = self._cu(cu, pyelftools_abbrevs=False)
        raw = self._abbrev_table(cu)
        decls: Optional[Dict[int, Tuple[Any, List[Tuple[Any, Any]]]]]
        if raw is not None:  # the declarations pyelftools would read, without building them
            decls = {code: (tag, [(AT_NAMES.get(at, at), FORM_NAMES.get(form, form)) for at, form, _ in attrs])
                     for code, (tag, _children, attrs) in raw.items() if tags is None or tag in tags}
        else:
            try:
                table = pcu.get_abbrev_table()
            except DECODE_ERRORS:
                self.abbreviations(cu)  # names the damaged declaration
                raise DwarfError(cu.place, f"abbreviation table at .debug_abbrev offset {cu.abbrev_offset:#x} "
                                           f"cannot be decoded") from None
            pydecls = getattr(table, "_abbrev_map", None)  # pyelftools keeps no public list
            decls = {code: (decl["tag"], list(decl.iter_attr_specs())) for code, decl in pydecls.items()} \
                if isinstance(pydecls, dict) else None
        out: Optional[List[Tuple[bytes, int]]] = None
        if decls is not None:
            out = []
            for code, (tag, specs) in decls.items():
                if tags is not None and tag not in tags:
                    continue
                pre = 0
                for at, form in specs:
                    if at == "DW_AT_name":
                        if form in NAME_FORMS:
                            out.append((_uleb(code), pre))
                        break
                    n = self._fixed_size(pcu.structs, form)
                    if n is None:
                        if any(a == "DW_AT_name" and f in NAME_FORMS for a, f in specs):
                            out = None  # a name after a variable-size attribute
                        break
                    pre += n
                if out is None:
                    break
        if len(self._prefix_cache) > 4096:
            self._prefix_cache.clear()
        self._prefix_cache[key] = out
        return out

    def _fixed_size(self, structs, form) -> Optional[int]:
        key = (id(structs), form)
        if key not in self._form_sizes:
            if form == "DW_FORM_implicit_const":
                n = 0
            else:
                try:
                    n = structs.Dwarf_dw_form[form].sizeof()
                except (ConstructError, KeyError):  # variable size, or unknown form
                    n = None
            self._form_sizes[key] = n
        return self._form_sizes[key]

    def verify_name_hit(self, cu: Unit, h: int, prefixes, tags, name: str) -> Optional[DIE]:
        """The DIE whose DW_AT_name value sits at offset `h` -- if pyelftools,
        decoding the bytes before `h` as a DIE of one of `tags`, finds that
        name there -- else None.  No unit index is needed."""
        buf, base = self.info.buf, self.info.base
        sk = self.skimmer(cu)
        for code, pre in prefixes:
            s = h - pre - len(code)
            if s < cu.die_offset or buf[base + s:base + s + len(code)] != code:
                continue
            if sk is not None:
                if sk.skim(cu.die_offset, cu.end) is None:
                    self._top_die(cu)  # pyelftools decodes the top DIE, and names damage
                got = sk.skim(s, min(cu.end, h + LOOKALIKE_SPAN))
                # what the skimmer reads plainly and rules out, pyelftools would decode and rule out
                if got is not None and (got[0] is None or (tags is not None and got[0][0] not in tags)
                                        or DW_AT_name not in got[2] or got[2][DW_AT_name][2] != h):
                    continue
            d = self._lookalike(cu, s, h)
            if d is None or d.is_null() or (tags is not None and d.tag not in tags):
                continue
            a = d.attributes.get("DW_AT_name")
            if a is None or a.offset != h:
                continue
            try:
                if self.name(d) == name:
                    return d
            except DwarfError:
                self.verify_errors += 1
        return None


def _place(die: DIE) -> str:
    return f".debug_info CU at {die.cu.cu_offset:#x}"


def _as_stream(window: _Window) -> IO[bytes]:
    """A _Window as pyelftools reads its sections: it does only seek, tell and read."""
    return cast(IO[bytes], window)


def _read_uleb(buf, pos: int, end: int) -> Tuple[Optional[int], Optional[int]]:
    """A ULEB128 at buf[pos:end]: (value, position after it), or (None, None)
    when it runs past `end`."""
    value = shift = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 64 * 7:
            break
    return None, None


def _uleb(v: int) -> bytes:
    """ULEB128 encoding of an abbreviation code (to match raw bytes)."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)
