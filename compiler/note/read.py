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
- makedumpfile's flattened format (`makedumpfile -F`, for sending a dump down a pipe):
  a 4096-byte makedumpfile_header (signature "makedumpfile"), then records of a
  big-endian (offset, size) pair and `size` bytes to be placed at `offset` in the
  rearranged file (a kdump-compressed or, with -E, ELF file), ended by (-1, -1).
  The records are read in order only as far as the parts the VMCOREINFO needs, so a
  flattened dump on a pipe is never held whole; see write_buffer() and
  rearrange_dumpdata() in makedumpfile.c.

`-` reads standard input; a pipe is read forward once, keeping only the head
(MAX_STREAM_KEPT bytes) the headers and notes live in.

The layouts are those of the machine that wrote the file: the ELF ident says class and
byte order; for the kdump header (native C structs) the word size and byte order are
found by trying each and keeping the one whose fields are sane.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple
from vmci.errors import UnusableInput

from vmci.abi import NOTE_NAME_BYTES

MAX_NOTE_BYTES = 16 << 20
MAX_PROGRAM_HEADERS = 65536
# A piped dump is kept only this far: the headers, notes and VMCOREINFO of a vmcore, a
# kdump-compressed or a flattened file all come before the page data.
MAX_STREAM_KEPT = 64 << 20
FLATTENED_HEADER_BYTES = 4096  # MAX_SIZE_MDF_HEADER in makedumpfile.h
KDUMP_SIGNATURE = b"KDUMP   "
DISKDUMP_SIGNATURE = b"DISKDUMP"
FLATTENED_SIGNATURE = b"makedumpfile"
ET_CORE = 4
PT_NOTE = 4


class NoteReadError(UnusableInput):
    """A file that holds no readable VMCOREINFO; str() names the file and place."""


@dataclass
class NoteLine:
    key: str
    value: str
    line: int  # 1-based line in the VMCOREINFO text


@dataclass
class CapturedNote:
    path: str
    kind: str  # text, note, elf-core, kcore, kdump, flattened
    where: str  # where in the file the text was found
    text: str
    lines: List[NoteLine] = field(default_factory=list)

    def keys(self) -> List[str]:
        return [line.key for line in self.lines]

    def values(self) -> Dict[str, str]:
        """Each key's first value."""
        found: Dict[str, str] = {}
        for line in self.lines:
            found.setdefault(line.key, line.value)
        return found


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
    found = None
    for offset, name, _, desc in iter_notes(data, order, place, base):
        if name == NOTE_NAME_BYTES:
            found = _one_vmcoreinfo(found, (offset, desc), place)
        else:
            seen.append(name.decode("ascii", "replace"))
    if found is not None:
        return found[0], found[1], seen
    raise NoteReadError(f"{place}: no VMCOREINFO note" + (f" (notes found: {', '.join(seen)})" if seen else ""))


class TwoNotes(NoteReadError):
    """Two VMCOREINFO notes that differ: never a matter of trying another reading."""


def _one_vmcoreinfo(first: Optional[Tuple[int, bytes]], other: Tuple[int, bytes], place: str) -> Tuple[int, bytes]:
    """A kernel writes one VMCOREINFO note: a copy of it is harmless, a second text is
    a file nobody can say the meaning of."""
    if first is None or first[1] == other[1]:
        return first or other
    raise TwoNotes(f"{place}: two different VMCOREINFO notes (at offsets {first[0]:#x} and {other[0]:#x}); "
                        f"a kernel writes one")


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
    found = None  # (offset, desc, segment index) of the VMCOREINFO note
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
        if found is None:
            found = (offset, desc, index)
        else:
            _one_vmcoreinfo(found[:2], (offset, desc), path)
    if found is not None:
        offset, desc, index = found
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


# disk_dump_header up to sub_hdr_size in the widest layout: signature, header_version, new_utsname,
# struct timeval, status, block_size, sub_hdr_size. No more is read: a flattened stream holds the
# header as a record of sizeof(disk_dump_header) bytes, with nothing after it until the next block.
_KDUMP_HEADER_BYTES = max(_align(8 + 4 + _UTSNAME_BYTES, word if timeval == 8 else align8) + timeval + 12
                          for word, timeval, align8 in _KDUMP_LAYOUTS)


def _read_kdump(handle, path: str) -> CapturedNote:
    head = _read_at(handle, 0, _KDUMP_HEADER_BYTES, path, "the disk_dump_header")
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


# --- makedumpfile's flattened format ---------------------------------------------------------

class _ForwardStream:
    """A file-like view of a pipe: seek() within what was read or ahead of it; the first
    MAX_STREAM_KEPT bytes are kept so that headers can be read again."""

    def __init__(self, raw, path: str):
        self.raw, self.path, self.kept, self.position = raw, path, bytearray(), 0

    def _fill(self, end: int) -> None:
        if end > MAX_STREAM_KEPT:
            raise NoteReadError(f"{self.path}: offset {end:#x}: the VMCOREINFO of a piped dump must lie within its "
                                f"first {MAX_STREAM_KEPT >> 20} MiB; pass the file itself")
        while len(self.kept) < end:
            chunk = self.raw.read(max(end - len(self.kept), 1 << 16))
            if not chunk:
                return
            self.kept += chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset
        return offset

    def read(self, size: int = -1) -> bytes:
        end = self.position + size if size >= 0 else MAX_STREAM_KEPT
        self._fill(end)
        data = bytes(self.kept[self.position:end])
        self.position += len(data)
        return data


class _FlattenedImage:
    """The rearranged file a flattened stream describes. Records may overwrite earlier
    ones (makedumpfile -E writes the final program headers last), so the whole stream is
    indexed first: a seekable file by skipping over the payloads, a pipe by reading
    through it and keeping only the payloads that land in the first KEEP_BELOW bytes of
    the rearranged file, where the headers and notes are."""

    KEEP_BELOW = 64 << 20

    def __init__(self, stream, path: str, seekable: bool, head: bytes = b""):
        self.stream, self.path, self.seekable, self.position = stream, path, seekable, 0
        self.records: List[Tuple[int, int, object]] = []  # (offset, size, payload or stream position)
        self.stream_offset = len(head)
        header = head + self._take(FLATTENED_HEADER_BYTES - len(head), "the makedumpfile_header")
        flat_type, flat_version = struct.unpack_from(">qq", header, 16)
        if flat_type != 1 or not 0 < flat_version < 100:  # TYPE_FLAT_HEADER, VERSION_FLAT_HEADER
            raise NoteReadError(f"{path}: offset 0x10: a makedumpfile_header of type {flat_type}, version "
                                f"{flat_version}: not a flattened dump this reader knows")
        self.size = os.fstat(stream.fileno()).st_size if seekable else None
        self._index()
        self.end = max([offset + size for offset, size, _ in self.records] + [0])

    def _take(self, size: int, what: str) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.stream.read(min(size - len(data), 1 << 20))
            if not chunk:
                raise NoteReadError(f"{self.path}: offset {self.stream_offset + len(data):#x}: {what} needs {size} "
                                    f"bytes, the file ends after {len(data)}: truncated")
            data += chunk
        self.stream_offset += size
        return bytes(data)

    def _index(self) -> None:
        kept = 0
        while True:
            where = self.stream_offset
            header = self.stream.read(16)
            if len(header) != 16:
                raise NoteReadError(f"{self.path}: offset {where:#x}: the flattened dump ends without its end record "
                                    f"(-1, -1): truncated")
            self.stream_offset += 16
            offset, size = struct.unpack(">qq", header)
            if offset == -1 and size == -1:  # END_FLAG_FLAT_HEADER
                return
            if offset < 0 or size < 0 or size > MAX_NOTE_BYTES * 64:
                raise NoteReadError(f"{self.path}: offset {where:#x}: a record of {size} bytes at offset {offset}: "
                                    f"not a flattened dump record")
            if self.seekable:
                if self.stream_offset + size > self.size:
                    raise NoteReadError(f"{self.path}: offset {where:#x}: a record of {size} bytes runs past the end "
                                        f"of the file ({self.size} bytes): truncated")
                self.records.append((offset, size, self.stream_offset))
                self.stream_offset += size
                self.stream.seek(self.stream_offset)
            elif offset < self.KEEP_BELOW:
                kept += size
                if kept > 2 * self.KEEP_BELOW:
                    raise NoteReadError(f"{self.path}: offset {where:#x}: more than {2 * self.KEEP_BELOW >> 20} MiB of "
                                        f"records for the head of the dump; not a flattened dump this reader knows")
                self.records.append((offset, size, self._take(size, f"the record at offset {where:#x}")))
            else:
                self._take(size, f"the record at offset {where:#x}")  # page data: read past it

    def _payload(self, record) -> bytes:
        _, size, payload = record
        if isinstance(payload, bytes):
            return payload
        self.stream.seek(payload)
        return self.stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset
        return offset

    def read(self, size: int) -> bytes:
        """Bytes of the rearranged file; its holes read as zeros, as in the file makedumpfile -R writes."""
        start, end = self.position, min(self.position + size, self.end)
        if end <= start:
            return b""
        out = bytearray(end - start)
        for record in self.records:  # in stream order: a later record overwrites an earlier one
            offset, length, _ = record
            lo, hi = max(start, offset), min(end, offset + length)
            if lo < hi:
                out[lo - start:hi - start] = self._payload(record)[lo - offset:hi - offset]
        if not self.seekable and end > self.KEEP_BELOW:
            raise NoteReadError(f"{self.path}: offset {start:#x}: the headers of a piped flattened dump must lie "
                                f"within the first {self.KEEP_BELOW >> 20} MiB of the dump; pass the file itself")
        self.position = end
        return bytes(out)


# --- the entry point --------------------------------------------------------------------------

def read_captured_note(path: str) -> CapturedNote:
    """The VMCOREINFO in `path` (`-`: standard input), whatever its format; NoteReadError
    when there is none."""
    if path == "-":
        import sys
        from vmci.files.inputs import STDIN_NAME
        raw, name = sys.stdin.buffer, STDIN_NAME  # read as a stream, not spooled: a dump can be huge
        head = raw.read(64)
        try:
            if head[:12] == FLATTENED_SIGNATURE:
                return _read_flattened(_FlattenedImage(raw, name, False, head), name)
            stream = _ForwardStream(raw, name)
            stream.kept += head
            return _read_image(stream, stream.read(64), name)
        except OSError as error:
            raise NoteReadError(f"{name}: cannot read ({error.strerror or error})")
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise NoteReadError(f"{path}: cannot open ({error.strerror or error})")
    with handle:
        try:
            head = handle.read(64)
            if head[:12] == FLATTENED_SIGNATURE:
                handle.seek(0)
                return _read_flattened(_FlattenedImage(handle, path, handle.seekable()), path)
            return _read_image(handle, head, path)
        except OSError as error:
            raise NoteReadError(f"{path}: cannot read ({error.strerror or error})")


def _read_flattened(image: _FlattenedImage, path: str) -> CapturedNote:
    note = _read_image(image, image.read(64), path, flattened=True)
    note.kind = "flattened"
    note.where = f"flattened makedumpfile stream: {note.where}"
    return note


def _read_image(handle, head: bytes, path: str, flattened: bool = False) -> CapturedNote:
    if head[:4] == b"\x7fELF":
        is_kcore = not flattened and os.path.realpath(path) == "/proc/kcore"
        return _read_elf_core(handle, path, head, "kcore" if is_kcore else "elf-core")
    if head[:8] == KDUMP_SIGNATURE:
        return _read_kdump(handle, path)
    if head[:8] == DISKDUMP_SIGNATURE:
        raise NoteReadError(f"{path}: an old diskdump file; it carries no VMCOREINFO")
    if flattened:
        raise NoteReadError(f"{path}: a flattened makedumpfile stream whose rearranged file is neither a "
                            f"kdump-compressed file nor an ELF core (it starts {head[:8]!r})")
    rest = handle.read(MAX_NOTE_BYTES + 1)
    data = head + rest
    if len(data) > MAX_NOTE_BYTES:
        raise NoteReadError(f"{path}: larger than {MAX_NOTE_BYTES} bytes and neither an ELF core nor a kdump file")
    for order in ("<", ">"):
        if len(data) >= 24:
            namesz, descsz, _ = struct.unpack_from(order + "III", data)
            if 0 < namesz <= 4096 and descsz <= len(data):
                try:
                    offset, desc, _ = _vmcoreinfo_in_notes(data, order, path)
                except TwoNotes:
                    raise
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
