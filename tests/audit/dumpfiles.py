"""Dump files for the audit tests, built from a VMCOREINFO text: an ELF core like
/proc/vmcore or /proc/kcore (PT_NOTE with the note, one PT_LOAD page) and a
kdump-compressed file as makedumpfile writes it (disk_dump_header, kdump_sub_header
version 6, the VMCOREINFO text and the ELF notes, empty bitmaps, no pages).

Layouts follow the machine that writes them: ELF class and byte order from the
arguments; the kdump headers are the writing machine's native C structs (64-bit
here unless `word` says 4, i386's alignment)."""
import struct

NOTE_NAME = b"VMCOREINFO\0"


def pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def note(name: bytes, note_type: int, desc: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "III", len(name), len(desc), note_type) + pad4(name) + pad4(desc)


def notes_for(text: bytes, order: str = "<") -> bytes:
    """A PT_NOTE payload: a CORE note (NT_TASKSTRUCT, as /proc/kcore has), then VMCOREINFO (as in /proc/vmcore)."""
    return note(b"CORE\0", 4, b"\0" * 64, order) + note(NOTE_NAME, 0, text, order)


def elf_core(text: bytes, machine: int = 62, elf_class: int = 64, order: str = "<", truncate_notes: bool = False) -> bytes:
    notes = notes_for(text, order)
    page = 4096
    if elf_class == 64:
        ehsize, phentsize = 64, 56
    else:
        ehsize, phentsize = 52, 32
    phoff = ehsize
    note_offset = phoff + 2 * phentsize
    load_offset = (note_offset + len(notes) + page - 1) // page * page
    ident = b"\x7fELF" + bytes([1 if elf_class == 32 else 2, 1 if order == "<" else 2, 1, 0]) + b"\0" * 8
    if elf_class == 64:
        header = ident + struct.pack(order + "HHIQQQIHHHHHH", 4, machine, 1, 0, phoff, 0, 0, ehsize, phentsize, 2, 0, 0, 0)
        phdrs = struct.pack(order + "IIQQQQQQ", 4, 0, note_offset, 0, 0, len(notes), len(notes), 4)
        phdrs += struct.pack(order + "IIQQQQQQ", 1, 7, load_offset, 0xffff888000000000, 0, page, page, page)
    else:
        header = ident + struct.pack(order + "HHIIIIIHHHHHH", 4, machine, 1, 0, phoff, 0, 0, ehsize, phentsize, 2, 0, 0, 0)
        phdrs = struct.pack(order + "IIIIIIII", 4, note_offset, 0, 0, len(notes), len(notes), 0, 4)
        phdrs += struct.pack(order + "IIIIIIII", 1, load_offset, 0xc0000000, 0, page, page, 7, page)
    data = header + phdrs + notes
    if truncate_notes:
        return data[:note_offset + len(notes) // 2]
    return data + b"\0" * (load_offset - len(data)) + b"\0" * page


def kdump_compressed(text: bytes, release: str = "6.1.0-57-cloud-amd64", machine: str = "x86_64",
                     word: int = 8, order: str = "<", header_version: int = 6) -> bytes:
    """makedumpfile's format with no pages: header block, sub-header block, the VMCOREINFO
    text and the notes, then the two bitmaps (all zero: no page dumped)."""
    block = 4096
    uts = b""
    for field in (b"Linux", b"vmci-test", release.encode(), b"#1 SMP", machine.encode(), b"(none)"):
        uts += field.ljust(65, b"\0")
    long_ = "Q" if word == 8 else "I"
    if word == 8:
        after_uts = b"\0" * 6 + struct.pack(order + "qq", 1700000000, 0)  # pad to 8, struct timeval
    else:
        after_uts = b"\0" * 2 + struct.pack(order + "ii", 1700000000, 0)  # i386: 4-byte alignment
    notes = notes_for(text, order)
    sub_hdr_size = 1
    vmcoreinfo_offset = block * (1 + sub_hdr_size)
    note_offset = vmcoreinfo_offset + len(text)
    bitmap_offset = (note_offset + len(notes) + block - 1) // block * block
    bitmap_blocks = 2
    header = b"KDUMP   " + struct.pack(order + "i", header_version) + uts + after_uts
    header += struct.pack(order + "IiiIIIIIIi", 0, block, sub_hdr_size, bitmap_blocks, 1, 0, 1, 0, 0, 1)
    # kdump_sub_header: phys_base, dump_level, split, start_pfn, end_pfn, then off_t (8 bytes,
    # 4-byte aligned on i386) offset/size pairs for vmcoreinfo, notes and eraseinfo
    sub = struct.pack(order + long_ + "ii" + long_ + long_, 0, 31, 0, 0, 1)
    if word == 8:
        sub += struct.pack(order + "qQqQqQQQQ", vmcoreinfo_offset, len(text), note_offset, len(notes), 0, 0, 0, 1, 1)
    else:
        sub += struct.pack(order + "qIqIqIQQQ", vmcoreinfo_offset, len(text), note_offset, len(notes), 0, 0, 0, 1, 1)
    data = header.ljust(block, b"\0") + sub.ljust(block, b"\0") + text + notes
    data = data.ljust(bitmap_offset, b"\0") + b"\0" * (bitmap_blocks * block)
    # one (empty) page descriptor table follows the bitmaps
    return data
