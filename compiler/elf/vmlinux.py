"""The public face of the package: :func:`open_vmlinux` and :class:`Vmlinux`."""

from __future__ import annotations

import atexit
import functools
import os
import struct
import weakref
import zlib
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from vmci.elf import cache as _cache
from vmci.elf.ctype import ARRAY, ENUM, STRUCT, UNION, VOID, CType
from vmci.elf.elffile import ElfFile, zlib_reason
from vmci.elf.errors import DwarfError, ElfFormatError, LookupFailure

if TYPE_CHECKING:  # imported on first use (a command that reads no DWARF never loads them)
    from vmci.elf.dwarf import DwarfReader
    from vmci.elf.types import TypeBuilder

ProgressFn = Callable[[int, int, str], None]

MAX_CONFIG = 64 << 20          # decompressed IKCONFIG larger than this is refused
MAX_STRP_CANDIDATES = 8        # .debug_str offsets tried for one name
SCAN_WINDOW = 8 << 20          # bytes of .debug_info searched at a time for the next unit with a hit


def _guard(what: str):
    """Name the file in what the reader raises (the contract: only ElfFormatError
    and LookupFailure leave the public API).  Damage is found and named where it
    is read (elffile.py, and dwarf.py for what pyelftools cannot decode); an
    exception of any other kind is a bug and is not disguised as damage."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except (LookupFailure, ElfFormatError):
                raise
            except DwarfError as e:
                raise ElfFormatError(self.path, e.place, e.message) from None
            except RecursionError:
                raise ElfFormatError(self.path, what, "structure nested too deeply") from None
            except MemoryError:
                raise ElfFormatError(self.path, what, "out of memory (absurd sizes?)") from None
        return wrapper

    return deco


_BASE_WORDS = frozenset({"signed", "unsigned", "char", "short", "int", "long", "float",
                         "double", "_Bool", "bool", "__int128"})


def base_type_spellings(name: str) -> List[str]:
    """C spellings of a base type -> the names GCC and clang give it in DWARF."""
    words = name.split()
    literal = " ".join(words)
    if not words or any(w not in _BASE_WORDS for w in words):
        return [literal]
    out = []
    uns = "unsigned" in words
    sgn = "signed" in words
    longs = words.count("long")
    if "char" in words:
        out += ["unsigned char"] if uns else (["signed char"] if sgn else ["char"])
    elif "_Bool" in words or "bool" in words:
        out += ["_Bool", "bool"]
    elif "float" in words:
        out += ["float"]
    elif "double" in words:
        out += ["long double"] if longs else ["double"]
    elif "__int128" in words:
        out += ["__int128 unsigned", "unsigned __int128"] if uns else ["__int128"]
    elif "short" in words:
        out += ["short unsigned int", "unsigned short"] if uns else ["short int", "short"]
    elif longs >= 2:
        out += ["long long unsigned int", "unsigned long long"] if uns else ["long long int", "long long"]
    elif longs == 1:
        out += ["long unsigned int", "unsigned long"] if uns else ["long int", "long"]
    else:
        out += ["unsigned int"] if uns else ["int"]
    seen = []
    for s in out + [literal]:
        if s not in seen:
            seen.append(s)
    return seen


class Vmlinux:
    """A vmlinux image: ELF facts, symbols, initial memory and DWARF types."""

    def __init__(self, path: str, cache_dir: Optional[str] = None,
                 progress: Optional[ProgressFn] = None, lasting: bool = True) -> None:
        self.path = str(path)
        self._progress = progress
        self._elf = ElfFile(self.path)
        try:
            self.elf_class = self._elf.elf_class
            self.endianness = self._elf.endianness
            self.e_machine = self._elf.e_machine
            self.build_id = self._elf.build_id()
        except ElfFormatError:
            self._elf.close()
            raise
        self.file_size = self._elf.file_size
        self._cache_file: Optional[str] = None
        self._data = _cache.empty(self.build_id, self.file_size, None)
        self._dirty = False
        if cache_dir is not None:
            try:
                self._cache_file, self._data, self._dirty = _cache.find(
                    str(cache_dir), self.build_id or "nobuildid", self.build_id, self._elf.stat,
                    os.path.realpath(self.path), self._elf.fileno(), self._elf.digest_ranges, _digest_of, lasting)
            except ElfFormatError:  # the section headers, read to know what to hash
                self._elf.close()
                raise
            _register_exit_save(self)
        self._has_dwarf: Optional[bool] = self._data["facts"].get("has_dwarf")
        if self._has_dwarf is None:
            try:
                self._has_dwarf = self._check_dwarf()
            except ElfFormatError:
                self._elf.close()
                raise
        self._reader: Optional[DwarfReader] = None
        self._builder: Optional[TypeBuilder] = None
        self._types: Dict[str, Any] = {}
        self._enum_mem: Dict[str, int] = {}
        self._strp_learned: Dict[str, int] = {}
        self._resolving: set = set()
        self._closed = False

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> Vmlinux:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self.save_cache()
        self._closed = True
        self._reader = None
        self._builder = None
        self._elf.close()

    def save_cache(self) -> None:
        """Write what was learned to the cache file (no-op without cache_dir
        or when nothing new was learned)."""
        if self._cache_file is None or not self._dirty:
            return
        try:
            unchanged = _cache.fingerprint(os.fstat(self._elf.fileno())) == _cache.fingerprint(self._elf.stat)
        except OSError:
            unchanged = False
        if not unchanged:  # written in place while it was read: the answers may mix two contents
            self._cache_file = None
            return
        if _cache.save(self._cache_file, self._data):
            self._dirty = False

    def _check_dwarf(self) -> bool:
        has = any(s is not None and s.size > 0 and s.type != 8
                  for s in (self._elf.section(".debug_info"), self._elf.section(".zdebug_info")))
        self._data["facts"]["has_dwarf"] = has
        self._dirty = True
        return has

    @property
    def contents_stripped(self) -> bool:
        """A debug-only image: DWARF and symbols, but no code or data."""
        return self._elf.contents_stripped

    @property
    def has_dwarf(self) -> bool:
        return bool(self._has_dwarf)

    def _remember(self, section: str, key: str, value: Any) -> None:
        self._data[section][key] = value
        self._dirty = True

    def _report(self, done: int, total: int, what: str) -> None:
        if self._progress is not None:
            self._progress(done, total, what)

    # -------------------------------------------------------------- symbols
    @_guard(".symtab")
    def symbol_address(self, name: str) -> Optional[int]:
        syms = self._data["symbols"]
        if name in syms:
            return syms[name]
        got = self._elf.symbol(name)
        value = None if got is None else got[0]
        self._remember("symbols", name, value)
        return value

    def _symbol_size(self, name: str) -> Optional[int]:
        got = self._elf.symbol(name)
        return None if got is None else got[1]

    # --------------------------------------------------------------- memory
    @_guard("memory")
    def read_memory(self, addr: int, size: int) -> Optional[bytes]:
        return self._elf.read_memory(addr, size)

    @_guard("memory")
    def read_uint(self, addr: int, size: int) -> Optional[int]:
        data = self._elf.read_memory(addr, size)
        if data is None:
            return None
        return int.from_bytes(data, self.endianness)

    @_guard("memory")
    def read_cstring(self, addr: int, max_len: int = 4096) -> Optional[str]:
        return self._elf.read_cstring(addr, max_len)

    @_guard("IKCONFIG")
    def embedded_config(self) -> Optional[str]:
        facts = self._data["facts"]
        if "config" in facts:
            return facts["config"]
        text = self._read_config()
        self._remember("facts", "config", text)
        return text

    def _read_config(self) -> Optional[str]:
        hit = self._elf.find_in_alloc_sections(b"IKCFG_ST")
        if hit is None:
            return None
        sec, start = hit
        data = self._elf.section_data(sec)
        start += 8
        end = bytes(data[start:start + MAX_CONFIG]).find(b"IKCFG_ED")
        if end < 0:
            raise ElfFormatError(self.path, sec.place, "the embedded config (IKCFG_ST) has no end marker "
                                                       "(IKCFG_ED)")
        blob = bytes(data[start:start + end])
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            text = d.decompress(blob, MAX_CONFIG)
            if d.unconsumed_tail:
                raise ElfFormatError(self.path, sec.place, f"the embedded config inflates past {MAX_CONFIG} bytes")
        except zlib.error as e:
            raise ElfFormatError(self.path, sec.place, f"the embedded config is not gzip data "
                                                       f"({zlib_reason(e)})") from None
        return text.decode("utf-8", errors="replace")

    @_guard("linux_banner")
    def linux_banner(self) -> Optional[str]:
        facts = self._data["facts"]
        if "banner" in facts:
            return facts["banner"]
        addr = self.symbol_address("linux_banner")
        banner = None
        if addr is not None:
            size = self._symbol_size("linux_banner") or 4096
            try:
                banner = self._elf.read_cstring(addr, min(max(size, 1), 4096))
            except LookupFailure:  # a debug-only image: the banner's bytes are not in it
                banner = None
            if banner is not None:
                banner = banner.rstrip("\n")
        self._remember("facts", "banner", banner)
        return banner

    # ---------------------------------------------------------------- DWARF
    def _dwarf(self) -> DwarfReader:
        if self._reader is not None:
            return self._reader
        if not self._has_dwarf:
            raise LookupFailure(f"{self.path} has no DWARF (.debug_info); use the -dbg vmlinux")
        from vmci.elf import dwarf as D
        from vmci.elf.types import TypeBuilder
        elf = self._elf
        if elf.e_type == 1 and (elf.section(".rela.debug_info") or elf.section(".rel.debug_info")):
            raise LookupFailure(f"{self.path} is a relocatable object; its DWARF needs relocation "
                                f"(link it, or use vmlinux)")

        def sec(name):
            s = elf.section(name)
            if s is None or s.type == 8 or s.size == 0:
                zipped = elf.section(".z" + name[1:])  # GNU's .zdebug_info for .debug_info
                if zipped is None or zipped.type == 8 or zipped.size == 0:
                    return None
                data = elf.zdebug_data(zipped)
                return D.Section(name, data, 0, len(data))
            if s.flags & 0x800:
                data = elf.section_data(s)
                return D.Section(name, bytes(data), 0, len(data))
            return D.Section(name, elf._map, s.offset, s.size)

        sections = {name: sec(name) for name in D.SECTIONS.values()}
        for name in (".debug_info", ".debug_abbrev"):
            if sections[name] is None:
                raise ElfFormatError(self.path, name, "section missing or empty")
        reader = D.DwarfReader(sections, self.endianness, self.elf_class // 8)
        self._reader, self._builder = reader, TypeBuilder(reader, self._resolve_decl)
        return reader

    def _type_builder(self) -> TypeBuilder:
        self._dwarf()
        assert self._builder is not None  # made with the reader
        return self._builder

    def _strp_candidates(self, name: str) -> List[int]:
        """.debug_str offsets at which the string `name` can be read, best
        guess first.  Linkers merge string tails, so "page" may only exist as
        the tail of e.g. "zone_page"; GNU ld points every reference at the
        tail of the string whose reversal sorts first, which we try first."""
        if name in self._strp_learned:
            return [self._strp_learned[name]]
        r = self._dwarf()
        strs = r.strs
        if strs is None:
            return []
        needle = name.encode("utf-8") + b"\0"
        buf, base, end = strs.buf, strs.base, strs.base + strs.size
        found: List[Tuple[bytes, int]] = []  # (the string's text before the name, reversed; its offset)
        i = buf.find(needle, base, end)
        while i >= 0 and len(found) < 100_000:
            start = buf.rfind(b"\0", base, i) + 1
            if start <= 0 or start < base:
                start = base
            found.append((bytes(buf[start:i])[::-1], i - base))
            i = buf.find(needle, i + 1, end)
        found.sort()
        return [off for _k, off in found]

    def _needles_for(self, strp: Optional[int], name: str, inline: bool) -> List[bytes]:
        r = self._dwarf()
        e = "<" if self.endianness == "little" else ">"
        out = []
        if strp is not None:
            out.append(struct.pack(e + "I", strp) if strp < 1 << 32 else struct.pack(e + "Q", strp))
            if any(cu.offset_size == 8 for cu in r.cus()):
                out.append(struct.pack(e + "Q", strp))
        if inline:
            out.append(name.encode("utf-8") + b"\0")
        return out

    def _scan(self, needles: List[bytes], what: str, on_cu) -> Any:
        """Call on_cu(cu, hits) for each unit whose bytes contain a needle, in
        file order, until it returns something other than None.  The search
        goes no further than the unit that answers (a window at a time while
        looking for the next unit with a hit): finding the hits of one unit
        must not cost a search of the rest of .debug_info."""
        r = self._dwarf()
        info = r.info
        buf, base, size = info.buf, info.base, info.size
        end = base + size
        total = size
        start = base  # every hit before this has been handed to on_cu
        while True:
            h = -1
            window = start
            while h < 0 and window < end:
                stop = min(end, window + SCAN_WINDOW)
                for n in needles:  # matches that start inside [window, stop)
                    p = _find(buf, n, window, min(end, stop + len(n) - 1))
                    if p >= 0 and (h < 0 or p < h):
                        h = p
                window = stop
            if h < 0:
                self._report(total, total, what)
                return None
            cu = r.cu_for(h - base)
            cu_end = base + cu.end
            hits = []
            for n in needles:  # matches that start inside [h, cu_end)
                limit = min(end, cu_end + len(n) - 1)
                p = _find(buf, n, h, limit)
                while p >= 0:
                    hits.append(p - base)
                    p = _find(buf, n, p + 1, limit)
            hits.sort()
            self._report(h - base, total, what)
            got = on_cu(cu, hits)
            if got is not None:
                return got
            start = cu_end

    def _search(self, name: str, what: str, on_cu) -> Any:
        """Scan for the units that mention `name` (through its .debug_str
        offset, or its inline spelling) and apply on_cu to each."""
        r = self._dwarf()
        cands = self._strp_candidates(name)
        cus = r.cus()
        offset_size = cus[0].offset_size if cus else 4
        # GCC writes names no longer than an offset inline (DW_FORM_string)
        inline = not cands or len(name.encode("utf-8")) + 1 <= offset_size
        state = {"confirmed": len(cands) <= 1}

        def wrapped(cu, hits):
            if not state["confirmed"]:
                # is this candidate offset really used as a name somewhere?
                pf = r.name_prefixes(cu, None)
                if pf is None:
                    for h in hits[:4]:
                        path = r.locate(cu, h)
                        if path and r.name(path[-1]) == name:
                            state["confirmed"] = True
                            break
                else:
                    for h in hits:
                        if r.verify_name_hit(cu, h, pf, None, name) is not None:
                            state["confirmed"] = True
                            break
            return on_cu(cu, hits)

        tries: List[Optional[int]] = [*cands[:MAX_STRP_CANDIDATES]] or [None]
        for i, strp in enumerate(tries):
            needles = self._needles_for(strp, name, inline and i == 0)
            if not needles:
                continue
            got = self._scan(needles, what, wrapped)
            if got is not None or state["confirmed"]:
                if strp is not None and len(cands) > 1:
                    self._strp_learned[name] = strp
                return got
        return None

    # ---------------------------------------------------------------- types
    @_guard(".debug_info")
    def find_type(self, name: str) -> CType:
        if not isinstance(name, str) or not name.strip():
            raise LookupFailure(f"bad type name {name!r}")
        name = " ".join(name.split())
        t = self._types.get(name)
        if t is not None:
            if isinstance(t, CType):
                return t
            raise LookupFailure(t)
        cached = self._data["types"].get(name)
        if cached is not None:
            if "failure" in cached:
                self._types[name] = cached["failure"]
                raise LookupFailure(cached["failure"])
            t = _from_cache(cached["type"])
            if t is not None:
                self._types[name] = t
                return t
        try:
            t = self._find_type_uncached(name)
        except LookupFailure as e:
            if not self._has_dwarf:
                raise
            self._types[name] = e.reason
            self._remember("types", name, {"failure": e.reason})
            raise
        self._types[name] = t
        self._remember("types", name, {"type": t.to_json()})
        return t

    def _find_type_uncached(self, name: str) -> CType:
        if name == "void":
            return CType(VOID)
        r = self._dwarf()
        r.trim()
        kind, _, tag = name.partition(" ")
        if kind in ("struct", "union", "enum", "class") and tag and " " not in tag:
            tags = {"struct": ("DW_TAG_structure_type", "DW_TAG_class_type"),
                    "class": ("DW_TAG_structure_type", "DW_TAG_class_type"),
                    "union": ("DW_TAG_union_type",),
                    "enum": ("DW_TAG_enumeration_type",)}[kind]
            spellings = [tag]
        else:
            tags = ("DW_TAG_typedef", "DW_TAG_base_type", "DW_TAG_unspecified_type")
            spellings = base_type_spellings(name)
        declared = [False]

        def check(cu, spelling):
            idx = r.index_cu(cu)
            for off, tg in idx.names.get(spelling, ()):
                if tg not in tags:
                    continue
                if _only_declared(r, r.die(off, cu)):
                    declared[0] = True
                    continue
                return off
            return None

        def on_cu_for(spelling):
            def on_cu(cu, hits):
                if cu.index_data is not None:
                    return None  # already looked at below
                pf = r.name_prefixes(cu, tags)
                if pf is None:
                    return check(cu, spelling)
                errors = r.verify_errors
                for h in hits:
                    d = r.verify_name_hit(cu, h, pf, tags, spelling)
                    if d is None or not r.is_top_level(cu, d.offset):
                        continue  # garbage look-alike, or a type local to a function
                    if _only_declared(r, d):
                        declared[0] = True
                        continue
                    return d.offset
                if r.verify_errors != errors:
                    # a look-alike failed to decode: let the unit index decide
                    # (it reports a really damaged DIE as ElfFormatError)
                    return check(cu, spelling)
                return None
            return on_cu

        for spelling in spellings:
            # units indexed for earlier questions first: no scanning at all
            for cu in list(r.indexed):
                off = check(cu, spelling)
                if off is not None:
                    return self._type_builder().build(off)
            off = self._search(spelling, f"looking for {name}", on_cu_for(spelling))
            if off is not None:
                return self._type_builder().build(off)
        if declared[0]:
            raise LookupFailure(f"only a declaration of '{name}' (no complete definition in any CU)")
        raise LookupFailure(f"no DWARF type named '{name}'")

    def _resolve_decl(self, kind: str, name: str) -> Optional[CType]:
        key = f"{kind} {name}"
        if key in self._resolving or len(self._resolving) > 32:
            return None
        self._resolving.add(key)
        try:
            return self.find_type(key)
        except LookupFailure:
            return None
        finally:
            self._resolving.discard(key)

    # ------------------------------------------------------------ variables
    @_guard(".debug_info")
    def variable_type(self, name: str) -> CType:
        if not isinstance(name, str) or not name:
            raise LookupFailure(f"bad variable name {name!r}")
        cached = self._data["variables"].get(name)
        if cached is not None:
            if "failure" in cached:
                raise LookupFailure(cached["failure"])
            t = _from_cache(cached["type"])
            if t is not None:
                return t
        try:
            t = self._variable_type_uncached(name)
        except LookupFailure as e:
            if self._has_dwarf:
                self._remember("variables", name, {"failure": e.reason})
            raise
        self._remember("variables", name, {"type": t.to_json()})
        return t

    def _variable_type_uncached(self, name: str) -> CType:
        r = self._dwarf()
        r.trim()
        best: List[Optional[CType]] = [None]

        def type_of(d, cu, idx) -> Optional[CType]:
            defn = idx.specs.get(d.offset) if idx is not None else None
            src = d
            if defn is not None:
                dd = r.die(defn, cu)
                if "DW_AT_type" in dd.attributes:
                    src = dd
            off = r.ref(src, "DW_AT_type")
            return None if off is None else self._type_builder().build(off)

        def consider(t: Optional[CType]):
            if t is None:
                return None
            if _complete(t):
                return t
            if best[0] is None:
                best[0] = t
            return None

        def in_cu(cu):
            idx = r.index_cu(cu)
            for off, tg in idx.names.get(name, ()):
                if tg != "DW_TAG_variable":
                    continue
                got = consider(type_of(r.die(off, cu), cu, idx))
                if got is not None:
                    return got
            return None

        # 0. units indexed for earlier questions
        for cu in list(r.indexed):
            got = in_cu(cu)
            if got is not None:
                return got

        # 1. the defining DIE's location holds DW_OP_addr <symbol address>
        addr = self.symbol_address(name)
        by_address = False
        if addr is not None:
            e = "little" if self.endianness == "little" else "big"
            asz = r.cus()[0].addr_size if r.cus() else self.elf_class // 8
            if addr < 1 << (8 * asz):
                by_address = True
                needle = b"\x03" + addr.to_bytes(asz, e)

                def on_addr(cu, hits):
                    for h in hits:
                        path = r.locate(cu, h)
                        if not path or path[-1].tag != "DW_TAG_variable":
                            continue
                        d = src = path[-1]
                        nm = r.name(d)
                        spec = r.ref(d, "DW_AT_specification")
                        if spec is None:
                            spec = r.ref(d, "DW_AT_abstract_origin")
                        if nm is None and spec is not None:
                            src = r.die(spec)
                            nm = r.name(src)
                        if nm != name:
                            continue
                        off = r.ref(d, "DW_AT_type")
                        if off is None:
                            off = r.ref(src, "DW_AT_type")
                        if off is None:
                            continue
                        got = consider(self._type_builder().build(off))
                        if got is not None:
                            return got
                    return None

                got = self._scan([needle], f"looking for variable {name}", on_addr)
                if got is not None:
                    return got

        # 2. every unit that names it
        var = ("DW_TAG_variable",)

        def on_cu(cu, hits):
            if cu.index_data is not None:
                return None  # looked at in step 0
            pf = r.name_prefixes(cu, var)
            if pf is None:
                return in_cu(cu)
            found = [d for d in (r.verify_name_hit(cu, h, pf, var, name) for h in hits)
                     if d is not None and _maybe_global(r, d)]
            if not found:
                return None
            if not by_address:
                return in_cu(cu)
            # Step 1 looked for the definition everywhere (its DW_OP_addr);
            # what is left here are declarations, whose type needs no unit
            # index (a DIE with an address is another object or was seen).
            for d in found:
                if "DW_AT_location" not in d.attributes:
                    got = consider(type_of(d, cu, None))
                    if got is not None:
                        return got
            return None

        got = self._search(name, f"looking for variable {name}", on_cu)
        if got is not None:
            return got
        if best[0] is not None:
            return best[0]
        raise LookupFailure(f"no variable '{name}' in DWARF")

    # ----------------------------------------------------------- enumerators
    @_guard(".debug_info")
    def enumerator(self, name: str) -> int:
        if not isinstance(name, str) or not name:
            raise LookupFailure(f"bad enumerator name {name!r}")
        cached = self._data["enumerators"].get(name)
        if cached is not None:
            if isinstance(cached, dict):
                raise LookupFailure(cached.get("failure", f"no enumerator named '{name}'"))
            return int(cached)
        if name in self._enum_mem:
            v = self._enum_mem[name]
            self._remember("enumerators", name, v)
            return v
        try:
            v = self._enumerator_uncached(name)
        except LookupFailure as e:
            if self._has_dwarf:
                self._remember("enumerators", name, {"failure": e.reason})
            raise
        self._remember("enumerators", name, v)
        return v

    def _enumerator_uncached(self, name: str) -> int:
        r = self._dwarf()
        r.trim()
        tags = ("DW_TAG_enumerator",)

        def on_cu(cu, hits):
            pf = r.name_prefixes(cu, tags)
            for h in hits:
                if pf is not None and r.verify_name_hit(cu, h, pf, tags, name) is None:
                    continue
                path = r.locate(cu, h)
                if len(path) < 2 or path[-1].tag != "DW_TAG_enumerator" \
                        or path[-2].tag != "DW_TAG_enumeration_type":
                    continue
                if r.name(path[-1]) != name:
                    continue
                edie = path[-2]
                signed = r.enum_is_signed(edie)
                found = None
                for c in r.children(edie, cu):
                    if c.tag != "DW_TAG_enumerator":
                        continue
                    cn = r.name(c)
                    v = r.const_value(c, signed)
                    if v is None or cn is None:
                        continue
                    self._enum_mem.setdefault(cn, v)
                    if cn == name and found is None:
                        found = v
                if found is not None:
                    return found
            return None

        got = self._search(name, f"looking for enumerator {name}", on_cu)
        if got is None:
            raise LookupFailure(f"no enumerator named '{name}'")
        return got


def _find(buf, needle: bytes, start: int, end: int) -> int:
    """buf.find(needle, start, end), faster for needles that hold NUL or 0xff bytes
    (a .debug_str offset, an inline name, DW_OP_addr and a kernel address): those
    are the commonest bytes in .debug_info, and CPython's search skips ahead only
    past bytes that are not in the needle.  So the longest run of the needle without
    them is searched for, and each find checked against the whole needle: a third of
    the time for a NUL-ended name or offset, half to two thirds for an address."""
    lead, size = _key_run(needle)
    n = len(needle)
    if size < 2 or size == n:
        return buf.find(needle, start, end)
    key = needle[lead:lead + size]
    stop = end - (n - lead - size)  # a key found at i with i + size <= stop ends a needle by `end`
    if stop - start - lead < size:
        return -1  # (and a negative stop would count from the end of buf)
    i = buf.find(key, start + lead, stop)
    while i >= 0:
        s = i - lead
        if buf[s:s + n] == needle:
            return s
        i = buf.find(key, i + 1, stop)
    return -1


def _key_run(needle: bytes) -> Tuple[int, int]:
    """(position, length) of the needle's longest run of bytes other than 0x00 and
    0xff (the first of the longest)."""
    best = (0, 0)
    run_start = 0
    for i, byte in enumerate(needle + b"\0"):
        if byte in (0x00, 0xFF):
            if i - run_start > best[1]:
                best = (run_start, i - run_start)
            run_start = i + 1
    return best


_TAGGED = ("DW_TAG_structure_type", "DW_TAG_class_type", "DW_TAG_union_type",
           "DW_TAG_enumeration_type")


def _from_cache(d: Dict[str, Any]) -> Optional[CType]:
    """A type from the cache; None when the cache file holds a malformed one (a
    hand-edited file): the image is asked again."""
    try:
        return CType.from_json(d)
    except LookupFailure:
        return None


def _only_declared(r, d) -> bool:
    """A struct/union/enum DIE without a definition (declaration, no size)."""
    return d.tag in _TAGGED and (r.flag(d, "DW_AT_declaration")
                                 or "DW_AT_byte_size" not in d.attributes)


DW_OP_ADDR = 0x03


def _maybe_global(r, d) -> bool:
    """Could this DW_TAG_variable be a file-scope variable?  (Locals have a
    frame-based location or a location list, and no DW_AT_external.)

    `d` is a look-alike: a DIE decoded from the bytes before a raw name hit, which
    may be garbage that merely looks like a variable (one such in Debian's
    6.12.117+deb13-cloud-arm64 names swapper_pg_dir and carries undecodable
    location bytes). Only the first operation is asked for, so nothing after it is
    decoded; the unit's real DIEs are decoded, and checked, when the unit is indexed."""
    if d is None:
        return False
    if r.flag(d, "DW_AT_external") or r.flag(d, "DW_AT_declaration") \
            or "DW_AT_specification" in d.attributes:
        return True
    raw = r.block(d, "DW_AT_location")
    return bool(raw) and raw[0] == DW_OP_ADDR


def _complete(t: CType) -> bool:
    r = t.resolved()
    if r.kind == ARRAY:
        return r.length is not None
    if r.kind in (STRUCT, UNION):
        return r.members is not None
    if r.kind == ENUM:
        return r.size is not None
    return True


_open_instances: weakref.WeakSet[Vmlinux] = weakref.WeakSet()
_atexit_registered = False


def _register_exit_save(vm: Vmlinux) -> None:
    global _atexit_registered
    _open_instances.add(vm)
    if not _atexit_registered:
        atexit.register(_save_all)
        _atexit_registered = True


def _save_all() -> None:
    for vm in list(_open_instances):
        try:
            if not vm._closed:
                vm.save_cache()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _digest_of(path: str, fp: List[int]) -> Optional[str]:
    """The cache digest of the ELF file at `path` if it has the fingerprint `fp`
    before and after it is hashed (see cache.py), else None."""
    try:
        elf = ElfFile(path)
    except ElfFormatError:
        return None
    try:
        if _cache.fingerprint(elf.stat) != fp:
            return None
        digest = _cache.file_digest(elf.fileno(), elf.digest_ranges())
        return digest if _cache.fingerprint(os.fstat(elf.fileno())) == fp else None
    except (ElfFormatError, OSError):
        return None
    finally:
        elf.close()


def open_vmlinux(path, cache_dir: Optional[str] = None,
                 progress: Optional[ProgressFn] = None, lasting: bool = True) -> Vmlinux:
    """Open a vmlinux (or any ELF).  Raises ElfFormatError when it is not a
    usable ELF file.  `lasting`: the file stays at `path` after this run (False
    for a temporary copy, such as standard input spooled to a file: see cache.py)."""
    return Vmlinux(os.fspath(path), cache_dir=cache_dir, progress=progress, lasting=lasting)
