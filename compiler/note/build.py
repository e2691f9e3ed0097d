"""The VMCOREINFO ELF note, and a minimal ELF core around it that dump tools open.

The kernel builds the note in kernel/vmcore_info.c: append_elf_note() writes a header
(namesz, descsz, type: three 32-bit words in the CPU's byte order), the name
"VMCOREINFO" with its NUL, and the text, name and text each padded with zeros to a
multiple of 4 bytes (DIV_ROUND_UP(..., sizeof(Elf_Word))); final_note() then writes an
empty header that ends the note list. build_note() does the same for a target of
either byte order; templates/c/vmcoreinfo_note.c.j2 is its C twin.

`vmci note --from VMCOREINFO.txt -o note.bin` writes the record (the bytes a booted
kernel's /proc/kcore note holds); `--elf-core OUT` writes an ELF core file of the target
machine's class, byte order and e_machine with the note (and its terminating empty note)
in a PT_NOTE segment and one zero page in a PT_LOAD segment.
"""
from __future__ import annotations

import re
import struct
from typing import NamedTuple, Optional

from vmci.abi import DEFAULT_VMCOREINFO_BYTES, MAX_PAGE_SIZE, NOTE_NAME, NOTE_TYPE
from vmci.errors import UnusableInput

NOTE_HEADER_BYTES = 12  # struct elf_note: n_namesz, n_descsz, n_type
# VMCOREINFO_BYTES is PAGE_SIZE (abi.py): the kernel's text never holds more, because
# vmcoreinfo_append_str() stops there. The text's PAGESIZE line gives it; without one,
# --page-size does, else abi.DEFAULT_VMCOREINFO_BYTES.

ET_CORE, EV_CURRENT = 4, 1
PT_LOAD, PT_NOTE = 1, 4
PF_R, PF_W, PF_X = 4, 2, 1
PAGE = 4096


class NoteError(UnusableInput):
    """Input that cannot become a note; the message names the file and place."""


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def build_note(desc: bytes, big_endian: bool = False, final: bool = True,
               name: str = NOTE_NAME, note_type: int = NOTE_TYPE) -> bytes:
    """append_elf_note(name, type, desc), then final_note() when `final`."""
    order = ">" if big_endian else "<"
    name_bytes = name.encode("ascii") + b"\0"
    record = struct.pack(f"{order}III", len(name_bytes), len(desc), note_type) + _pad4(name_bytes) + _pad4(desc)
    return record + (b"\0" * NOTE_HEADER_BYTES if final else b"")


def parse_note(data: bytes, big_endian: bool = False):
    """(name, type, desc) of the first note in `data`."""
    order = ">" if big_endian else "<"
    if len(data) < NOTE_HEADER_BYTES:
        raise NoteError("shorter than a note header")
    namesz, descsz, note_type = struct.unpack_from(f"{order}III", data)
    name_end = NOTE_HEADER_BYTES + namesz
    desc_start = NOTE_HEADER_BYTES + namesz + (-namesz % 4)
    if desc_start + descsz > len(data):
        raise NoteError("the note's sizes run past its end")
    return data[NOTE_HEADER_BYTES:name_end].rstrip(b"\0").decode("ascii", "replace"), note_type, \
        data[desc_start:desc_start + descsz]


def elf_core(note: bytes, elf_class: int, big_endian: bool, e_machine: int) -> bytes:
    """A minimal ELF core: the note in PT_NOTE, one zero page in PT_LOAD (some readers
    insist on a memory segment)."""
    order = ">" if big_endian else "<"
    if elf_class == 64:
        ehsize, phentsize = 64, 56
        header_format, phdr = f"{order}HHIQQQIHHHHHH", (lambda t, f, off, size, memsz, align:
                                                       struct.pack(f"{order}IIQQQQQQ", t, f, off, 0, 0, size, memsz, align))
    elif elf_class == 32:
        ehsize, phentsize = 52, 32
        header_format, phdr = f"{order}HHIIIIIHHHHHH", (lambda t, f, off, size, memsz, align:
                                                       struct.pack(f"{order}IIIIIIII", t, off, 0, 0, size, memsz, f, align))
    else:
        raise NoteError(f"ELF class {elf_class} is neither 32 nor 64")
    phnum = 2
    note_offset = ehsize + phnum * phentsize
    load_offset = note_offset + len(note)
    load_offset += -load_offset % PAGE
    ident = b"\x7fELF" + bytes([1 if elf_class == 32 else 2, 2 if big_endian else 1, EV_CURRENT]) + b"\0" * 9
    header = ident + struct.pack(header_format, ET_CORE, e_machine, EV_CURRENT, 0, ehsize, 0, 0,
                                 ehsize, phentsize, phnum, 0, 0, 0)
    program_headers = phdr(PT_NOTE, 0, note_offset, len(note), len(note), 4) + \
        phdr(PT_LOAD, PF_R | PF_W | PF_X, load_offset, PAGE, PAGE, PAGE)
    body = header + program_headers + note
    return body + b"\0" * (load_offset - len(body)) + b"\0" * PAGE


_LINE = re.compile(rb"[^=\n\0]+=[^\n\0]*")
_PAGESIZE = re.compile(rb"^PAGESIZE=([0-9]+)$", re.M)
MAX_PAGE_SIZE_DIGITS = len(str(MAX_PAGE_SIZE))


class Text(NamedTuple):
    """VMCOREINFO text as read from a file, and the bound the kernel put on it."""
    data: bytes
    vmcoreinfo_bytes: int
    truncated: bool  # the kernel's WARN_ONCE: the text filled VMCOREINFO_BYTES


def read_text(path: str, page_size: Optional[int] = None, truncate: bool = False) -> Text:
    """The VMCOREINFO text of a file, checked as the kernel would have written it:
    KEY=VALUE lines each ending in a newline, at most VMCOREINFO_BYTES in all. The
    kernel cuts the text at VMCOREINFO_BYTES, so a text of exactly that length may end
    mid-line. A longer text is refused, or with `truncate` cut as the kernel cuts it."""
    from vmci.files.inputs import open_input, shown

    source, path = path, shown(path)
    try:
        with open_input(source) as handle:
            data = handle.read(2 * MAX_PAGE_SIZE + 2)  # enough to know it is longer than any page, with CRLFs
    except OSError as error:
        raise NoteError(f"{path}: cannot read: {error.strerror or error}")
    if not data:
        raise NoteError(f"{path}:1: empty; VMCOREINFO text is KEY=VALUE lines")
    # a text saved with CRLF line ends (an editor, a paste): the kernel writes "\n" alone,
    # and a value must not keep the "\r"
    data = data.replace(b"\r\n", b"\n")
    limit = _vmcoreinfo_bytes(path, data, page_size)
    if len(data) > limit:
        if not truncate:
            size = f"more than {MAX_PAGE_SIZE}" if len(data) > MAX_PAGE_SIZE else str(len(data))
            raise NoteError(f"{path}: {size} bytes of text; the kernel holds at most VMCOREINFO_BYTES ({limit}) "
                            f"and truncates there (--truncate cuts it the same way)")
        data = data[:limit]
    truncated = len(data) == limit
    *whole, tail = data.split(b"\n")  # tail: what follows the last newline
    for number, line in enumerate(whole, 1):
        if not _LINE.fullmatch(line):
            raise NoteError(f"{path}:{number}: not a KEY=VALUE line: {line[:60]!r}")
    if tail and not truncated:
        raise NoteError(f"{path}:{len(whole) + 1}: the last line has no newline (the kernel ends every line with "
                        f"one; only a text cut at VMCOREINFO_BYTES ({limit}) ends mid-line)")
    if b"\0" in tail:
        raise NoteError(f"{path}:{len(whole) + 1}: not a KEY=VALUE line: {tail[:60]!r}")
    return Text(data, limit, truncated)


def is_page_size(size: int) -> bool:
    return 0 < size <= MAX_PAGE_SIZE and not size & (size - 1)


def _vmcoreinfo_bytes(path: str, data: bytes, page_size: Optional[int]) -> int:
    match = _PAGESIZE.search(data)
    if match:
        line = data[:match.start()].count(b"\n") + 1
        if len(match.group(1)) > MAX_PAGE_SIZE_DIGITS:
            raise NoteError(f"{path}:{line}: PAGESIZE is a {len(match.group(1))}-digit number, not a page size "
                            f"(a power of two up to {MAX_PAGE_SIZE})")
        stated = int(match.group(1))
        if not is_page_size(stated):
            raise NoteError(f"{path}:{line}: PAGESIZE={stated} is not a page size (a power of two up to "
                            f"{MAX_PAGE_SIZE})")
        if page_size is not None and page_size != stated:
            raise NoteError(f"{path}:{line}: PAGESIZE={stated}, but --page-size says {page_size}")
        return stated
    return page_size if page_size is not None else DEFAULT_VMCOREINFO_BYTES


# --- the machine a note is for -------------------------------------------------------------

def note_machine(specs, name: str):
    """The machine `--arch NAME` names: its byte order, ELF class and e_machine."""
    from vmci.select import SelectionError, find_target

    try:
        target = find_target(specs, name)
    except SelectionError as error:
        raise NoteError(str(error))
    if target.machine is not None:
        return target.machine
    machines = [m for e in target.emitters if e.target is not None for m in e.target.machines]
    if len(machines) == 1:
        return machines[0]
    raise NoteError(f"--arch {name}: say which machine ({', '.join(m.name for m in machines)})")
