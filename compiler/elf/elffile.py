"""Minimal, defensive ELF reader over an mmap.

Only what a vmlinux reader needs: the header, section headers, notes
(build ID), the symbol table and the initial contents of allocated sections.
Any inconsistency raises :class:`ElfFormatError` naming the place.
"""

from __future__ import annotations

import array
import mmap
import os
import stat
import struct
import sys
import zlib
from bisect import bisect_right
from typing import Dict, List, Literal, Optional, Tuple

from vmci.elf.errors import ElfFormatError, LookupFailure

SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_NOTE = 7
SHT_RELA = 4
SHT_NOBITS = 8
SHT_REL = 9
SHT_DYNSYM = 11

SHF_ALLOC = 0x2
SHF_TLS = 0x400
SHF_EXECINSTR = 0x4
ELFCOMPRESS_ZLIB = 1
ELFCOMPRESS_ZSTD = 2
# The sections whose SHT_NOBITS means zero-filled memory (the kernel's .bss, x86's .brk,
# thread-local .tbss); any other allocated section without file contents has had them
# removed (objcopy --only-keep-debug, the vmlinux of Fedora's and RHEL's debuginfo).
_ZERO_FILLED = (".bss", ".sbss", ".tbss", ".brk", "..bss", ".init.bss")
SHF_COMPRESSED = 0x800

PT_LOAD = 1
PT_NOTE = 4

STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2

NT_GNU_BUILD_ID = 3

MAX_SECTIONS = 1 << 16
MAX_DECOMPRESSED = 1 << 31  # 2 GiB: refuse larger "compressed" sections
MAX_READ = 1 << 28          # read_memory refuses to materialise more than 256 MiB
# Entries of a symbol table: 7x the largest real one seen (282,878 in Debian's 6.12
# arm64-16k vmlinux).  Reading a real entry takes about 0.9 us and keeping its name about
# 230 bytes, so the most a table can cost is about 2 s and 460 MB.
MAX_SYMBOLS = 2_000_000
# A symbol name longer than the kernel's KSYM_NAME_LEN (512) is skipped, as kallsyms
# skips it; the longest real one seen has 103 bytes.  Without this bound, entries naming
# every offset of one long string would copy a name of up to the string table's size each.
MAX_SYMBOL_NAME = 512


def _inflate(packed, size: int, place: str, error) -> bytes:
    if size == 0:  # (a max_length of 0 would let zlib inflate without bound)
        return b""
    try:
        return zlib.decompressobj().decompress(packed, size)
    except zlib.error as e:
        raise error(place, f"the compressed contents are not zlib data ({zlib_reason(e)})") from None


def _unzstd(packed, size: int, place: str, error) -> bytes:
    """zstd through the `zstandard` package (Debian's python3-zstandard), optional: an
    image whose debug sections need it is refused in words without it."""
    try:
        import zstandard
    except ImportError:
        raise error(place, "zstd-compressed (ELFCOMPRESS_ZSTD, objcopy --compress-debug-sections=zstd); reading it "
                           "needs the Python package zstandard (Debian: python3-zstandard; pip install zstandard), "
                           "or decompress it with objcopy --decompress-debug-sections") from None
    import io
    try:
        pieces, have = [], 0
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(packed)) as reader:
            while have < size:  # no more than the header promises
                piece = reader.read(min(size - have, 1 << 24))
                if not piece:
                    break
                pieces.append(piece)
                have += len(piece)
        return b"".join(pieces)
    except zstandard.ZstdError as e:
        raise error(place, f"the compressed contents are not zstd data ({e})") from None


def zlib_reason(e: zlib.error) -> str:
    """zlib's reason without its return code ("Error -3 while decompressing data:
    incorrect header check" -> "incorrect header check")."""
    return str(e).rpartition(": ")[2] or "damaged data"


class Section:
    __slots__ = ("index", "name", "type", "flags", "addr", "offset", "size",
                 "link", "info", "entsize", "name_off")

    def __init__(self, index, name_off, type_, flags, addr, offset, size, link, info, entsize):
        self.index = index
        self.name_off = name_off
        self.name = ""
        self.type = type_
        self.flags = flags
        self.addr = addr
        self.offset = offset
        self.size = size
        self.link = link
        self.info = info
        self.entsize = entsize

    @property
    def place(self) -> str:
        """How messages name the section: by its name, unless that is empty or
        longer than any real one (a damaged name can be any bytes, of any length):
        then by its index.  (The command line escapes control characters.)"""
        name = self.name
        return name if 0 < len(name) <= 64 else f"section {self.index}"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Section {self.index} {self.name} off={self.offset:#x} size={self.size:#x}>"


# What a file that is not a regular one is, in words (files/inputs.py says the same for
# the rest of vmci; the ELF reader imports nothing else of vmci).
_FILE_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


def _open_regular(path: str):
    """`path` open for reading if it is a regular file (ElfFormatError if not), looked at
    before it is opened and again after, without waiting on a FIFO; OSError as open()."""
    def refuse(mode: int) -> ElfFormatError:
        kind = _FILE_KINDS.get(stat.S_IFMT(mode), f"a file of type {stat.S_IFMT(mode):#o}")
        return ElfFormatError(path, "file", f"not a regular file ({kind}); the image is mapped: save it to a "
                                            f"file (or give - to read it from standard input)")

    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise refuse(mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # replaced between the two looks
            raise refuse(mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class ElfFile:
    """An ELF file mapped read-only.  Section headers are parsed lazily."""

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self._fd = None
        self._map: Optional[mmap.mmap] = None
        try:  # mapped: a FIFO or device cannot be, and opening a FIFO would wait for a writer
            fd = _open_regular(self.path)
        except OSError as e:
            raise ElfFormatError(self.path, "file", e.strerror or str(e)) from None
        self._fd = fd
        try:
            self.stat = os.fstat(fd.fileno())  # of the file mapped, even if the path is replaced
            self.file_size = self.stat.st_size
            if self.file_size < 16:
                raise self.error("ELF header", "file too short to be ELF")
            self._map = mmap.mmap(fd.fileno(), 0, access=mmap.ACCESS_READ)
        except ElfFormatError:
            self.close()
            raise
        except (OSError, ValueError) as e:
            self.close()
            raise ElfFormatError(self.path, "file", f"cannot map: {e}") from None
        self.data = memoryview(self._map)
        try:
            self._parse_header()
        except ElfFormatError:
            self.close()
            raise
        self._sections: Optional[List[Section]] = None
        self._by_name: Optional[Dict[str, Section]] = None
        self._alloc: Optional[List[Section]] = None
        self._alloc_starts: Optional[List[int]] = None
        self._symbols: Optional[Dict[str, Tuple[int, int]]] = None
        self._symbol_answers: Dict[str, Optional[Tuple[int, int]]] = {}
        self._st_names: Optional[Tuple[bool, bytes]] = None
        self._decompressed: Dict[int, bytes] = {}
        self._stripped: Optional[bool] = None

    # ------------------------------------------------------------- basics
    def error(self, place: str, message: str) -> ElfFormatError:
        return ElfFormatError(self.path, place, message)

    def fileno(self) -> int:
        assert self._fd is not None, "closed"
        return self._fd.fileno()

    def close(self) -> None:
        try:
            if getattr(self, "data", None) is not None:
                self.data.release()
        except (BufferError, ValueError):
            pass
        self.data = None  # type: ignore[assignment]
        self._decompressed = {}
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # a view is still exported; the GC will unmap it
            self._map = None
        if self._fd is not None:
            self._fd.close()
            self._fd = None

    def _bytes(self, off: int, size: int, place: str) -> bytes:
        if off < 0 or size < 0 or off + size > self.file_size:
            raise self.error(place, f"range {off:#x}+{size:#x} lies past the end of the file "
                                    f"({self.file_size:#x} bytes)")
        return bytes(self.data[off:off + size])

    def _parse_header(self) -> None:
        ident = bytes(self.data[:16])
        if ident[:4] != b"\x7fELF":
            raise self.error("ELF header", "not an ELF file (bad magic)")
        cls, enc = ident[4], ident[5]
        if cls not in (1, 2):
            raise self.error("ELF header", f"bad EI_CLASS {cls}")
        if enc not in (1, 2):
            raise self.error("ELF header", f"bad EI_DATA {enc}")
        self.elf_class = 32 if cls == 1 else 64
        self.endianness: Literal["little", "big"] = "little" if enc == 1 else "big"
        self.e = "<" if enc == 1 else ">"
        e = self.e
        if self.elf_class == 64:
            fmt = e + "HHIQQQIHHHHHH"
        else:
            fmt = e + "HHIIIIIHHHHHH"
        hsize = 16 + struct.calcsize(fmt)
        hdr = self._bytes(16, hsize - 16, "ELF header")
        (self.e_type, self.e_machine, _ver, self.e_entry, self.e_phoff, self.e_shoff,
         self.e_flags, _ehsize, self.e_phentsize, self.e_phnum, self.e_shentsize,
         self.e_shnum, self.e_shstrndx) = struct.unpack(fmt, hdr)
        if self.elf_class == 64:
            self._sh_fmt = e + "IIQQQQIIQQ"
            self._ph_fmt = e + "IIQQQQQQ"
            self._sym_fmt = e + "IBBHQQ"
        else:
            self._sh_fmt = e + "IIIIIIIIII"
            self._ph_fmt = e + "IIIIIIII"
            self._sym_fmt = e + "IIIBBH"
        self.addr_size = 8 if self.elf_class == 64 else 4

    @property
    def _mapping(self) -> mmap.mmap:
        """The file's bytes: an ElfFile reads them between its opening and close()."""
        assert self._map is not None, "read after close()"
        return self._map

    # ------------------------------------------------------- program headers
    def _phdrs(self) -> List[Tuple[int, ...]]:
        out: List[Tuple[int, ...]] = []  # (p_type, p_offset, p_filesz, p_vaddr)
        if self.e_phoff == 0 or self.e_phnum == 0:
            return out
        size = struct.calcsize(self._ph_fmt)
        if self.e_phentsize < size:
            raise self.error("program header table", f"e_phentsize {self.e_phentsize} too small")
        if self.e_phnum > 65535:
            raise self.error("program header table", "too many program headers")
        raw = self._bytes(self.e_phoff, self.e_phentsize * self.e_phnum, "program header table")
        for i in range(self.e_phnum):
            f = struct.unpack_from(self._ph_fmt, raw, i * self.e_phentsize)
            if self.elf_class == 64:
                p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz, _memsz, _align = f
            else:
                p_type, p_offset, p_vaddr, _paddr, p_filesz, _memsz, _flags, _align = f
            out.append((p_type, p_offset, p_filesz, p_vaddr))
        return out

    def _notes(self, off: int, size: int, place: str):
        """Yield (name, type, desc) of the notes in [off, off+size)."""
        raw = self._bytes(off, size, place)
        pos = 0
        e = self.e
        while pos + 12 <= len(raw):
            namesz, descsz, ntype = struct.unpack_from(e + "III", raw, pos)
            pos += 12
            name_end = pos + namesz
            desc_start = pos + ((namesz + 3) & ~3)
            desc_end = desc_start + descsz
            if name_end > len(raw) or desc_end > len(raw):
                raise self.error(place, f"the note at +{pos - 12:#x} runs past the end")
            name = raw[pos:name_end].rstrip(b"\0")
            yield name, ntype, raw[desc_start:desc_end]
            pos = desc_start + ((descsz + 3) & ~3)

    def build_id(self) -> Optional[str]:
        """The NT_GNU_BUILD_ID note, from PT_NOTE segments first (cheap: no
        section headers needed), else from SHT_NOTE sections."""
        for p_type, p_offset, p_filesz, _vaddr in self._phdrs():
            if p_type == PT_NOTE and p_filesz:
                for name, ntype, desc in self._notes(p_offset, p_filesz, "PT_NOTE segment"):
                    if name == b"GNU" and ntype == NT_GNU_BUILD_ID and desc:
                        return desc.hex()
        for s in self.sections():
            if s.type == SHT_NOTE and s.size:
                for name, ntype, desc in self._notes(s.offset, s.size, s.place):
                    if name == b"GNU" and ntype == NT_GNU_BUILD_ID and desc:
                        return desc.hex()
        return None

    # ------------------------------------------------------------ sections
    def sections(self) -> List[Section]:
        if self._sections is None:
            self._sections = self._parse_sections()
        return self._sections

    def _parse_sections(self) -> List[Section]:
        if self.e_shoff == 0:
            return []
        entsize = struct.calcsize(self._sh_fmt)
        if self.e_shentsize < entsize:
            raise self.error("ELF header", f"e_shentsize {self.e_shentsize} too small (need {entsize})")
        if self.e_shoff + entsize > self.file_size:
            raise self.error("ELF header", f"section header table at {self.e_shoff:#x} lies past "
                                           f"the end of the file ({self.file_size:#x} bytes)")
        first = struct.unpack_from(self._sh_fmt, self.data, self.e_shoff)
        shnum = self.e_shnum or first[5]
        shstrndx = self.e_shstrndx
        if shstrndx == 0xFFFF:
            shstrndx = first[6]
        if shnum > MAX_SECTIONS:
            raise self.error("ELF header", f"absurd number of sections ({shnum})")
        table_end = self.e_shoff + shnum * self.e_shentsize
        if table_end > self.file_size:
            raise self.error("section header table",
                             f"{shnum} entries at {self.e_shoff:#x} run past the end of the file "
                             f"({self.file_size:#x} bytes): truncated?")
        secs = []
        for i in range(shnum):
            (name, type_, flags, addr, offset, size, link, info, _align,
             entsz) = struct.unpack_from(self._sh_fmt, self.data, self.e_shoff + i * self.e_shentsize)
            if type_ != SHT_NOBITS and type_ != SHT_NULL and size:
                if offset > self.file_size or offset + size > self.file_size:
                    raise self.error(f"section header {i}",
                                     f"contents {offset:#x}+{size:#x} lie past the end of the file "
                                     f"({self.file_size:#x} bytes)")
            secs.append(Section(i, name, type_, flags, addr, offset, size, link, info, entsz))
        if secs:
            if shstrndx >= len(secs):
                raise self.error("ELF header", f"e_shstrndx {shstrndx} out of range")
            strtab = secs[shstrndx]
            for s in secs:
                if s.name_off:
                    if s.name_off >= strtab.size:
                        raise self.error(f"section header {s.index}", "name offset past .shstrtab")
                    start = strtab.offset + s.name_off
                    end = self._mapping.find(b"\0", start, strtab.offset + strtab.size)
                    if end < 0:
                        raise self.error(f"section header {s.index}", "unterminated section name")
                    s.name = bytes(self.data[start:end]).decode("latin-1")
        return secs

    def section(self, name: str) -> Optional[Section]:
        if self._by_name is None:
            d: Dict[str, Section] = {}
            for s in self.sections():
                d.setdefault(s.name, s)
            self._by_name = d
        return self._by_name.get(name)

    @property
    def contents_stripped(self) -> bool:
        """The file keeps no contents for its code and data (a debug-only file): an
        executable allocated section is SHT_NOBITS."""
        if self._stripped is None:
            self._stripped = any(s.type == SHT_NOBITS and s.flags & SHF_ALLOC and s.flags & SHF_EXECINSTR and s.size
                                 for s in self.sections())
        return self._stripped

    def _no_contents(self, s: Section) -> LookupFailure:
        return LookupFailure(f"the image holds no contents for {s.name or f'section {s.index}'} (a debug-only file, "
                             f"as objcopy --only-keep-debug makes: use the vmlinux with its code and data)")

    def _zero_filled(self, s: Section) -> bool:
        return not self.contents_stripped or s.name.startswith(_ZERO_FILLED)

    def section_data(self, s: Section):
        """Contents of a section as a memoryview (or bytes when it had to be
        decompressed)."""
        if s.type == SHT_NOBITS:
            return memoryview(b"")
        if s.flags & SHF_COMPRESSED:
            return memoryview(self._decompress(s))
        return self.data[s.offset:s.offset + s.size]

    def _decompress(self, s: Section) -> bytes:
        if s.index in self._decompressed:
            return self._decompressed[s.index]
        place = s.place
        hdr_fmt = self.e + ("IIQQ" if self.elf_class == 64 else "III")
        hsz = struct.calcsize(hdr_fmt)
        if s.size < hsz:
            raise self.error(place, "compressed section too short")
        fields = struct.unpack_from(hdr_fmt, self.data, s.offset)
        ch_type = fields[0]
        ch_size = fields[2] if self.elf_class == 64 else fields[1]
        if ch_type not in (ELFCOMPRESS_ZLIB, ELFCOMPRESS_ZSTD):
            raise self.error(place, f"compression type {ch_type} is not supported (only zlib and zstd)")
        if ch_size > MAX_DECOMPRESSED:
            raise self.error(place, f"absurd decompressed size {ch_size}")
        packed = self.data[s.offset + hsz:s.offset + s.size]
        out = _inflate(packed, ch_size, place, self.error) if ch_type == ELFCOMPRESS_ZLIB else \
            _unzstd(packed, ch_size, place, self.error)
        if len(out) != ch_size:
            raise self.error(place, "decompressed size differs from the header")
        self._decompressed[s.index] = out
        return out

    def zdebug_data(self, s: Section) -> bytes:
        """A GNU `.zdebug_*` section (gcc -gz=zlib-gnu, objcopy
        --compress-debug-sections=zlib-gnu, binutils before 2.26): "ZLIB", the
        uncompressed size as 8 big-endian bytes, then a zlib stream."""
        if s.index in self._decompressed:
            return self._decompressed[s.index]
        head = bytes(self.data[s.offset:s.offset + 12])
        if len(head) < 12 or not head.startswith(b"ZLIB"):
            raise self.error(s.place, "a .zdebug section that does not start with ZLIB and its size")
        size = int.from_bytes(head[4:], "big")
        if size > MAX_DECOMPRESSED:
            raise self.error(s.place, f"absurd decompressed size {size}")
        out = _inflate(self.data[s.offset + 12:s.offset + s.size], size, s.place, self.error)
        if len(out) != size:
            raise self.error(s.place, "decompressed size differs from the header")
        self._decompressed[s.index] = out
        return out

    # ------------------------------------------------------------- memory
    def _alloc_index(self) -> None:
        if self._alloc is not None:
            return
        secs = [s for s in self.sections()
                if s.flags & SHF_ALLOC and s.size and s.type != SHT_NULL
                and not (s.type == SHT_NOBITS and s.flags & SHF_TLS)]
        secs.sort(key=lambda s: (s.addr, s.index))
        self._alloc = secs
        self._alloc_starts = [s.addr for s in secs]

    def section_for(self, addr: int, size: int) -> Optional[Section]:
        self._alloc_index()
        assert self._alloc is not None and self._alloc_starts is not None
        i = bisect_right(self._alloc_starts, addr)
        # several sections may start at or before addr (zero-based percpu
        # sections, overlaps); check the nearest ones going backwards
        j = i - 1
        steps = 0
        while j >= 0 and steps < 64:
            s = self._alloc[j]
            if s.addr <= addr and addr + size <= s.addr + s.size:
                return s
            j -= 1
            steps += 1
        return None

    def read_memory(self, addr: int, size: int) -> Optional[bytes]:
        if not isinstance(addr, int) or not isinstance(size, int) or addr < 0 or size < 0:
            raise LookupFailure(f"invalid memory range {addr!r}+{size!r}")
        if size > MAX_READ:
            raise LookupFailure(f"refusing to read {size} bytes at once")
        s = self.section_for(addr, size)
        if s is None:
            return None
        if s.type == SHT_NOBITS:
            if not self._zero_filled(s):
                raise self._no_contents(s)
            return bytes(size)
        start = addr - s.addr
        data = self.section_data(s)
        return bytes(data[start:start + size])

    def read_cstring(self, addr: int, max_len: int = 4096) -> Optional[str]:
        if not isinstance(addr, int) or addr < 0 or not isinstance(max_len, int) or max_len < 0:
            raise LookupFailure(f"invalid string address {addr!r}")
        max_len = min(max_len, MAX_READ)
        s = self.section_for(addr, 1 if max_len else 0)
        if s is None:
            return None
        if s.type == SHT_NOBITS:
            if not self._zero_filled(s):
                raise self._no_contents(s)
            return ""
        start = addr - s.addr
        n = min(max_len, s.size - start)
        data = self.section_data(s)
        raw = bytes(data[start:start + n])
        nul = raw.find(b"\0")
        if nul >= 0:
            raw = raw[:nul]
        return raw.decode("utf-8", errors="replace")

    def find_in_alloc_sections(self, needle: bytes) -> Optional[Tuple[Section, int]]:
        """First occurrence of `needle` in the file contents of an allocated
        section: (section, offset within the section)."""
        for s in self.sections():
            if not (s.flags & SHF_ALLOC) or s.type == SHT_NOBITS or not s.size:
                continue
            if s.flags & SHF_COMPRESSED:
                data = self._decompress(s)
                i = data.find(needle)
            else:
                i = self._mapping.find(needle, s.offset, s.offset + s.size)
                if i >= 0:
                    i -= s.offset
            if i >= 0:
                return s, i
        return None

    # ------------------------------------------------------------- symbols
    def _symbol_table(self) -> Optional[Tuple[Section, Section, int]]:
        """(symbol table, its string table, entries) -- .symtab, else .dynsym; None
        when the image has neither.  Raises on a table that cannot be read at all."""
        symtab = None
        for s in self.sections():
            if s.type == SHT_SYMTAB:
                symtab = s
                break
        if symtab is None:
            for s in self.sections():
                if s.type == SHT_DYNSYM:
                    symtab = s
                    break
        if symtab is None:
            return None
        place = symtab.place
        secs = self.sections()
        if symtab.link >= len(secs):
            raise self.error(place, "sh_link does not name a string table")
        strsec = secs[symtab.link]
        if strsec.type == SHT_NOBITS:
            raise self.error(place, "string table has no contents")
        entsize = struct.calcsize(self._sym_fmt)
        if symtab.entsize and symtab.entsize != entsize:
            raise self.error(place, f"entries of {symtab.entsize} bytes; ELF{self.elf_class} symbols have "
                                    f"{entsize}")
        count = symtab.size // entsize
        if count > MAX_SYMBOLS:
            raise self.error(place, f"{count} symbols ({symtab.size:#x} bytes); vmci reads at most "
                                    f"{MAX_SYMBOLS} (real kernels have under 300,000): a damaged "
                                    f"section header?")
        self.section_data(strsec)  # checks that the string table lies inside the file
        return symtab, strsec, count

    def symbols(self) -> Dict[str, Tuple[int, int]]:
        """name -> (value, size).  Preference: defined STT_OBJECT/STT_FUNC/
        STT_NOTYPE symbols; global/weak ones over locals; first in table
        order within a class."""
        if self._symbols is not None:
            return self._symbols
        result: Dict[str, Tuple[int, int]] = {}
        table = self._symbol_table()
        if table is None:
            self._symbols = result
            return result
        symtab, strsec, count = table
        place = symtab.place
        entsize = struct.calcsize(self._sym_fmt)
        # names are read from the mapping in place: copying a (possibly huge) string table
        # would make memory grow with it
        strbase, strlen, names = strsec.offset, strsec.size, self._mapping
        strend = strbase + strlen
        symdata = self.section_data(symtab)[:count * entsize]
        is64 = self.elf_class == 64
        local: Dict[str, Tuple[int, int]] = {}
        find = names.find
        for f in struct.iter_unpack(self._sym_fmt, symdata):
            if is64:
                st_name, st_info, _other, shndx, value, size = f
            else:
                st_name, value, size, st_info, _other, shndx = f
            if not st_name or shndx == 0 or st_info & 0xF > STT_FUNC:
                continue
            if st_name >= strlen:
                raise self.error(place, f"symbol name offset {st_name:#x} past the string table")
            start = strbase + st_name
            stop = start + MAX_SYMBOL_NAME + 1
            end = find(b"\0", start, stop if stop < strend else strend)
            if end < 0:
                if stop < strend:
                    continue  # longer than any kernel symbol name
                raise self.error(place, "unterminated symbol name")
            name = names[start:end].decode("latin-1")
            if st_info >> 4 == STB_LOCAL:
                if name not in local:
                    local[name] = (value, size)
            elif name not in result:
                result[name] = (value, size)
        for k, v in local.items():
            result.setdefault(k, v)
        self._symbols = result
        return result

    def symbol(self, name: str) -> Optional[Tuple[int, int]]:
        """symbols().get(name), without reading the whole table: the string table is
        searched for the name's bytes (it may be the tail of a longer string: linkers
        merge string tails), and the symbol table for entries whose st_name is one of
        those offsets (the first field of an entry, so a match at an entry's start).
        A table that symbols() would refuse -- a name offset past the string table, a
        string table that does not end in NUL -- is read whole, so that the same error
        is raised whichever of the two is asked."""
        if self._symbols is not None:
            return self._symbols.get(name)
        if name in self._symbol_answers:
            return self._symbol_answers[name]
        got = self._symbol_uncached(name)
        self._symbol_answers[name] = got
        return got

    def _symbol_uncached(self, name: str) -> Optional[Tuple[int, int]]:
        table = self._symbol_table()
        if table is None:
            return None
        symtab, strsec, count = table
        try:
            key = name.encode("latin-1")  # how symbols() decodes names
        except UnicodeEncodeError:
            return None
        st_names = self._symbol_names(symtab, strsec, count)
        if not key or st_names is None:
            return self.symbols().get(name)
        entsize = struct.calcsize(self._sym_fmt)
        syms = self.section_data(symtab)
        strbase, strend, names = strsec.offset, strsec.offset + strsec.size, self._mapping
        best: Dict[bool, Tuple[int, int, int]] = {}  # local? -> (index, value, size) of the first
        # the name without its NUL, then the NUL checked: NUL is a common byte in a
        # string table, and CPython's search skips ahead only past bytes not in the needle
        at = names.find(key, strbase + 1, strend)  # (st_name 0 is no name)
        while at >= 0:
            # symbols() skips a name longer than KSYM_NAME_LEN unless its NUL is within
            # MAX_SYMBOL_NAME + 1 bytes of the string table's end
            if at + len(key) < strend and names[at + len(key)] == 0 and \
                    (len(key) <= MAX_SYMBOL_NAME or at + MAX_SYMBOL_NAME + 1 >= strend):
                packed = struct.pack("=I", at - strbase)
                hit = st_names.find(packed)
                while hit >= 0:
                    index, rest = divmod(hit, 4)
                    if rest == 0:
                        f = struct.unpack_from(self._sym_fmt, syms, index * entsize)
                        if self.elf_class == 64:
                            _st_name, st_info, _other, shndx, value, size = f
                        else:
                            _st_name, value, size, st_info, _other, shndx = f
                        if shndx != 0 and st_info & 0xF <= STT_FUNC:
                            is_local = st_info >> 4 == STB_LOCAL
                            if is_local not in best or index < best[is_local][0]:
                                best[is_local] = (index, value, size)
                    hit = st_names.find(packed, hit + 1)
            at = names.find(key, at + 1, strend)
        for is_local in (False, True):
            if is_local in best:
                return best[is_local][1], best[is_local][2]
        return None

    def _symbol_names(self, symtab: Section, strsec: Section, count: int) -> Optional[bytes]:
        """The st_name of every entry (an entry's first word), in native byte order,
        4 bytes each; None when symbols() would raise on the table: an entry names an
        offset past the string table, or the string table does not end in NUL."""
        if self._st_names is None:
            strlen = strsec.size
            plain, st_names = True, array.array("I")
            if count:
                plain = strlen > 0 and self._mapping[strsec.offset + strlen - 1] == 0
            if plain and count:
                entsize = struct.calcsize(self._sym_fmt)
                assert st_names.itemsize == 4
                st_names.frombytes(self.section_data(symtab)[:count * entsize])
                if (sys.byteorder == "little") != (self.e == "<"):
                    st_names.byteswap()
                st_names = st_names[::entsize // 4]
                plain = max(st_names) < strlen
            self._st_names = (plain, st_names.tobytes())
        plain, raw = self._st_names
        return raw if plain else None

    def digest_ranges(self) -> List[Tuple[int, int]]:
        """The (offset, size) ranges of the file that answers can come from, merged
        and in file order: the ELF header, the program and section header tables,
        every segment, and every section's contents except those of relocation
        sections (SHT_REL, SHT_RELA: vmci reads linked images unrelocated) and of
        SHT_NOBITS ones (none in the file).  What the cache's digest covers."""
        hsize = 64 if self.elf_class == 64 else 52
        want = [(0, hsize)]
        if self.e_phoff and self.e_phnum:
            want.append((self.e_phoff, self.e_phentsize * self.e_phnum))
            want += [(p_offset, p_filesz) for _type, p_offset, p_filesz, _vaddr in self._phdrs()]
        if self.e_shoff:
            want.append((self.e_shoff, self.e_shentsize * max(len(self.sections()), 1)))
        want += [(s.offset, s.size) for s in self.sections() if s.type not in (SHT_NOBITS, SHT_REL, SHT_RELA)]
        out: List[Tuple[int, int]] = []
        for start, size in sorted((o, min(n, self.file_size - o)) for o, n in want if 0 <= o < self.file_size):
            end = start + size
            if out and start <= out[-1][0] + out[-1][1]:
                last_start, last_size = out[-1]
                out[-1] = (last_start, max(last_start + last_size, end) - last_start)
            elif size > 0:
                out.append((start, size))
        return out

    def has_section_data(self, name: str) -> bool:
        s = self.section(name)
        return s is not None and s.type != SHT_NOBITS and s.size > 0
