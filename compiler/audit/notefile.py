"""Read the VMCOREINFO a kernel wrote, from whatever file holds it.

- VMCOREINFO text: `KEY=VALUE` lines (/sys/kernel/vmcoreinfo's note, `makedumpfile
  --dump-vmcoreinfo`, a captured desc)
- a raw ELF note, or a run of notes (the bytes of a PT_NOTE segment): 12-byte headers
  (namesz, descsz, type) in either byte order, name and desc padded to 4 bytes
- an ELF core (a kdump /proc/vmcore saved with cp or makedumpfile -E, or /proc/kcore):
  only the PT_NOTE segments are read, never the memory, so /proc/kcore's huge
  apparent size does not matter
- a kdump-compressed file (makedumpfile's default format, signature "KDUMP   "): the
  text lies at kdump_sub_header.offset_vmcoreinfo/size_vmcoreinfo (header_version 3 and
  later); the sub-header sits one block (disk_dump_header.block_size) into the file

The layouts are those of the machine that wrote the file: the ELF ident says class and
byte order; for the kdump header (native C structs) the word size and byte order are
found by trying each and keeping the one whose fields are sane.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import List, Tuple

NOTE_NAME = b"VMCOREINFO"
MAX_NOTE_BYTES = 16 << 20
MAX_PROGRAM_HEADERS = 65536
KDUMP_SIGNATURE = b"KDUMP   "
DISKDUMP_SIGNATURE = b"DISKDUMP"
FLATTENED_SIGNATURE = b"makedumpfile"
ET_CORE = 4
PT_NOTE = 4


class NoteReadError(Exception):
    """A file that holds no readable VMCOREINFO; str() names the file and place."""


@dataclass
class NoteLine:
    key: str
    value: str
    line: int  # 1-based line in the VMCOREINFO text


@dataclass
class CapturedNote:
    path: str
    kind: str  # text, note, elf-core, kcore, kdump
    where: str  # where in the file the text was found
    text: str
    lines: List[NoteLine] = field(default_factory=list)

    def keys(self) -> List[str]:
        return [line.key for line in self.lines]


def parse_vmcoreinfo_text(text: str, place: str) -> List[NoteLine]:
    """KEY=VALUE lines; NUL padding after the text (a note's desc) is ignored."""
    lines = []
    for number, line in enumerate(text.rstrip("\0").split("\n"), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key or key != key.strip():
            raise NoteReadError(f"{place}:{number}: not a KEY=VALUE line: {line[:60]!r}")
        lines.append(NoteLine(key, value, number))
    if not lines:
        raise NoteReadError(f"{place}: the VMCOREINFO text is empty")
    return lines


def _decode(data: bytes, place: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NoteReadError(f"{place}: byte {error.start}: the VMCOREINFO text is not UTF-8")


def iter_notes(data: bytes, order: str, place: str, base: int = 0):
    """(offset, name, type, desc) of each note in a run of notes; stops at an empty one."""
    offset = 0
    while offset + 12 <= len(data):
        namesz, descsz, note_type = struct.unpack_from(order + "III", data, offset)
        if namesz == 0 and descsz == 0:
            return  # final_note(): the kernel ends its note list with an empty header
        name_start = offset + 12
        desc_start = name_start + namesz + (-namesz % 4)
        end = desc_start + descsz + (-descsz % 4)
        if namesz > 4096 or desc_start + descsz > len(data):
            raise NoteReadError(f"{place}: offset {base + offset:#x}: a note header (namesz {namesz}, descsz "
                                f"{descsz}) runs past the end of its data ({len(data)} bytes): truncated or not notes")
        name = data[name_start:name_start + namesz].rstrip(b"\0")
        yield base + offset, name, note_type, data[desc_start:desc_start + descsz]
        offset = end


def _vmcoreinfo_in_notes(data: bytes, order: str, place: str, base: int = 0) -> Tuple[int, bytes, List[str]]:
    seen = []
    for offset, name, _, desc in iter_notes(data, order, place, base):
        if name == NOTE_NAME:
            return offset, desc, seen
        seen.append(name.decode("ascii", "replace"))
    raise NoteReadError(f"{place}: no VMCOREINFO note" + (f" (notes found: {', '.join(seen)})" if seen else ""))


def _read_at(handle, offset: int, size: int, path: str, what: str) -> bytes:
    handle.seek(offset)
    data = handle.read(size)
    if len(data) != size:
        raise NoteReadError(f"{path}: offset {offset:#x}: {what} needs {size} bytes, the file ends after "
                            f"{len(data)}: truncated")
    return data


# --- ELF cores ------------------------------------------------------------------------------

def _read_elf_core(handle, path: str, head: bytes, kind: str) -> CapturedNote:
    if len(head) < 16:
        raise NoteReadError(f"{path}: truncated ELF header")
    elf_class, data_encoding = head[4], head[5]
    if elf_class not in (1, 2) or data_encoding not in (1, 2):
        raise NoteReadError(f"{path}: ELF ident: class {elf_class}, data {data_encoding} are not valid")
    order = "<" if data_encoding == 1 else ">"
    header_size = 52 if elf_class == 1 else 64
    header = _read_at(handle, 0, header_size, path, "the ELF header")
    if elf_class == 1:
        e_type, _, _, _, e_phoff, _, _, _, e_phentsize, e_phnum = struct.unpack_from(order + "HHIIIIIHHH", header, 16)
        phdr_format, phdr_size = order + "IIIIIIII", 32
    else:
        e_type, _, _, _, e_phoff, _, _, _, e_phentsize, e_phnum = struct.unpack_from(order + "HHIQQQIHHH", header, 16)
        phdr_format, phdr_size = order + "IIQQQQQQ", 56
    if e_type != ET_CORE:
        raise NoteReadError(f"{path}: an ELF file of type {e_type}, not a core (ET_CORE): pass a vmcore, "
                            f"/proc/kcore or a note, not a vmlinux")
    if e_phnum == 0 or e_phnum > MAX_PROGRAM_HEADERS or e_phentsize < phdr_size:
        raise NoteReadError(f"{path}: ELF header: {e_phnum} program headers of {e_phentsize} bytes; not a usable core")
    table = _read_at(handle, e_phoff, e_phnum * e_phentsize, path, "the program header table")
    segments = 0
    seen: List[str] = []
    for index in range(e_phnum):
        fields = struct.unpack_from(phdr_format, table, index * e_phentsize)
        if elf_class == 1:
            p_type, p_offset, _, _, p_filesz = fields[:5]
        else:
            p_type, _, p_offset, _, _, p_filesz = fields[:6]
        if p_type != PT_NOTE:
            continue
        segments += 1
        if p_filesz > MAX_NOTE_BYTES:
            raise NoteReadError(f"{path}: program header {index}: a PT_NOTE of {p_filesz} bytes is not plausible")
        data = _read_at(handle, p_offset, p_filesz, path, f"PT_NOTE segment {index}")
        place = f"{path}: PT_NOTE segment {index}"
        try:
            offset, desc, names = _vmcoreinfo_in_notes(data, order, place, p_offset)
        except NoteReadError as error:
            if "no VMCOREINFO note" not in str(error):
                raise
            seen += [n.decode("ascii", "replace") for _, n, _, _ in iter_notes(data, order, place, p_offset)]
            continue
        text = _decode(desc, f"{path}: note at offset {offset:#x}")
        return CapturedNote(path, kind, f"VMCOREINFO note at file offset {offset:#x} (PT_NOTE segment {index})",
                            text, parse_vmcoreinfo_text(text, f"{path}: note at offset {offset:#x}: line"))
    if segments == 0:
        raise NoteReadError(f"{path}: the ELF core has no PT_NOTE segment")
    raise NoteReadError(f"{path}: no VMCOREINFO note in its PT_NOTE segments (notes found: {', '.join(seen) or 'none'})")


# --- kdump-compressed ---------------------------------------------------------------------

# (word size, timeval size, alignment of 8-byte fields) of the machine that wrote the header
_KDUMP_LAYOUTS = [(8, 16, 8), (4, 8, 4), (4, 8, 8), (4, 16, 8), (4, 16, 4)]
_UTSNAME_BYTES = 6 * 65


def _align(value: int, alignment: int) -> int:
    return value + (-value % alignment)


def _read_kdump(handle, path: str) -> CapturedNote:
    head = _read_at(handle, 0, 512, path, "the disk_dump_header")
    problems = []
    for order in ("<", ">"):
        (header_version,) = struct.unpack_from(order + "i", head, 8)
        if not 0 < header_version < 1000:
            continue
        for word, timeval, align8 in _KDUMP_LAYOUTS:
            status_at = _align(8 + 4 + _UTSNAME_BYTES, word if timeval == 8 else align8) + timeval
            block_size, sub_hdr_size = struct.unpack_from(order + "ii", head, status_at + 4)
            if block_size < 512 or block_size > (1 << 20) or block_size & (block_size - 1) or sub_hdr_size < 0:
                continue
            if header_version < 3:
                raise NoteReadError(f"{path}: kdump-compressed header version {header_version}: VMCOREINFO is "
                                    f"kept only from version 3 on")
            # kdump_sub_header: phys_base, dump_level, split, start_pfn, end_pfn, offset_vmcoreinfo (off_t,
            # 64 bits: makedumpfile builds with _FILE_OFFSET_BITS=64), size_vmcoreinfo
            offset_at = _align(word + 4 + 4 + word + word, align8)
            sub = _read_at(handle, block_size, offset_at + 8 + word, path, "the kdump sub-header")
            (offset,) = struct.unpack_from(order + "q", sub, offset_at)
            (size,) = struct.unpack_from(order + ("Q" if word == 8 else "I"), sub, offset_at + 8)
            if offset <= 0 or size <= 0 or size > MAX_NOTE_BYTES:
                problems.append(f"{word * 8}-bit {'little' if order == '<' else 'big'}-endian layout gives "
                                f"offset {offset}, size {size}")
                continue
            data = _read_at(handle, offset, size, path, "the VMCOREINFO text (sub-header offset_vmcoreinfo)")
            if b"=" not in data[:200]:
                problems.append(f"no KEY=VALUE text at offset {offset:#x}")
                continue
            text = _decode(data, f"{path}: offset {offset:#x}")
            return CapturedNote(path, "kdump", f"kdump-compressed, header version {header_version}, "
                                f"VMCOREINFO at offset {offset:#x} ({size} bytes)",
                                text, parse_vmcoreinfo_text(text, f"{path}: VMCOREINFO at offset {offset:#x}: line"))
    detail = "; ".join(problems) if problems else "no plausible header_version/block_size"
    raise NoteReadError(f"{path}: a kdump-compressed file whose header cannot be read ({detail})")


# --- the entry point --------------------------------------------------------------------------

def read_captured_note(path: str) -> CapturedNote:
    """The VMCOREINFO in `path`, whatever its format; NoteReadError when there is none."""
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise NoteReadError(f"{path}: cannot open ({error.strerror or error})")
    with handle:
        try:
            head = handle.read(64)
            if head[:4] == b"\x7fELF":
                is_kcore = os.path.realpath(path) == "/proc/kcore"
                return _read_elf_core(handle, path, head, "kcore" if is_kcore else "elf-core")
            if head[:8] == KDUMP_SIGNATURE:
                return _read_kdump(handle, path)
            if head[:8] == DISKDUMP_SIGNATURE:
                raise NoteReadError(f"{path}: an old diskdump file; it carries no VMCOREINFO")
            if head[:12] == FLATTENED_SIGNATURE:
                raise NoteReadError(f"{path}: makedumpfile's flattened format; rearrange it first "
                                    f"(makedumpfile -R OUT < {path})")
            rest = handle.read(MAX_NOTE_BYTES + 1)
        except OSError as error:
            raise NoteReadError(f"{path}: cannot read ({error.strerror or error})")
    data = head + rest
    if len(data) > MAX_NOTE_BYTES:
        raise NoteReadError(f"{path}: larger than {MAX_NOTE_BYTES} bytes and neither an ELF core nor a kdump file")
    for order in ("<", ">"):
        if len(data) >= 24:
            namesz, descsz, _ = struct.unpack_from(order + "III", data)
            if 0 < namesz <= 4096 and descsz <= len(data):
                try:
                    offset, desc, _ = _vmcoreinfo_in_notes(data, order, path)
                except NoteReadError:
                    continue
                text = _decode(desc, f"{path}: note at offset {offset:#x}")
                return CapturedNote(path, "note", f"raw note at offset {offset:#x} "
                                    f"({'little' if order == '<' else 'big'}-endian)", text,
                                    parse_vmcoreinfo_text(text, f"{path}: note at offset {offset:#x}: line"))
    if b"\0" in data.rstrip(b"\0"):
        raise NoteReadError(f"{path}: not a VMCOREINFO text, ELF note, ELF core or kdump-compressed file")
    text = _decode(data, path)
    return CapturedNote(path, "text", "VMCOREINFO text", text, parse_vmcoreinfo_text(text, path))
