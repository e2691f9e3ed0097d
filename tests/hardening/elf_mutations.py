"""Damaged copies of a real ELF image, described so that a failure can be reproduced.

A `Mutator` knows the layout of one intact image (ELF header, program and section
header tables, each section's range, and for the fixture the DWARF attributes that
hold type references and sizes). `mutant(rng)` returns damaged bytes and a list of
what was done: truncation at a random point, flipped bytes inside one region, section
headers and ELF header fields that lie about offsets, sizes, counts and links, DWARF
type references that point at their own DIE or at another type (cycles), and DWARF
sizes and bounds that lie.
"""
from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


@dataclass
class SectionInfo:
    index: int
    name: str
    header: int  # file position of its section header
    offset: int
    size: int


# ELF header fields: name -> (offset, format) for ELFCLASS64
_EHDR64 = {
    "e_ident[EI_CLASS]": (4, "B"), "e_ident[EI_DATA]": (5, "B"), "e_type": (16, "H"),
    "e_machine": (18, "H"), "e_phoff": (32, "Q"), "e_shoff": (40, "Q"), "e_phentsize": (54, "H"),
    "e_phnum": (56, "H"), "e_shentsize": (58, "H"), "e_shnum": (60, "H"), "e_shstrndx": (62, "H"),
}
# section header fields (ELFCLASS64)
_SHDR64 = {"sh_name": (0, "I"), "sh_type": (4, "I"), "sh_flags": (8, "Q"), "sh_addr": (16, "Q"),
           "sh_offset": (24, "Q"), "sh_size": (32, "Q"), "sh_link": (40, "I"), "sh_info": (44, "I"),
           "sh_entsize": (56, "Q")}
_PHDR64 = {"p_type": (0, "I"), "p_offset": (8, "Q"), "p_vaddr": (16, "Q"), "p_filesz": (32, "Q")}


class Mutator:
    def __init__(self, data: bytes, dwarf: bool = True):
        self.data = bytes(data)
        assert self.data[:4] == b"\x7fELF" and self.data[4] == 2 and self.data[5] == 1, "ELF64 LE only"
        self.e_shoff, = struct.unpack_from("<Q", data, 40)
        self.e_phoff, = struct.unpack_from("<Q", data, 32)
        self.e_phnum, = struct.unpack_from("<H", data, 56)
        self.e_shnum, = struct.unpack_from("<H", data, 60)
        shstrndx, = struct.unpack_from("<H", data, 62)
        raw = []
        for i in range(self.e_shnum):
            pos = self.e_shoff + 64 * i
            name, type_, flags, addr, offset, size = struct.unpack_from("<IIQQQQ", data, pos)
            raw.append((i, name, pos, offset, size, type_))
        strtab_offset = raw[shstrndx][3]
        self.sections: Dict[str, SectionInfo] = {}
        for i, name_off, pos, offset, size, type_ in raw:
            end = data.index(b"\0", strtab_offset + name_off)
            name = data[strtab_offset + name_off:end].decode()
            self.sections[name or f"#{i}"] = SectionInfo(i, name, pos, offset, size if type_ != 8 else 0)
        self.refs: List[Tuple[int, int, int]] = []  # (file position of a ref4 value, CU offset, DIE offset)
        self.dies: List[int] = []  # section offsets of every DIE
        self.sizes: List[Tuple[int, int]] = []  # (file position, width) of byte_size/upper_bound/member location
        if dwarf:
            self._scan_dwarf()

    def _scan_dwarf(self) -> None:
        import io

        from elftools.elf.elffile import ELFFile

        info = self.sections[".debug_info"].offset
        dwarf = ELFFile(io.BytesIO(self.data)).get_dwarf_info(relocate_dwarf_sections=False)
        widths = {"DW_FORM_data1": 1, "DW_FORM_data2": 2, "DW_FORM_data4": 4, "DW_FORM_data8": 8}
        for cu in dwarf.iter_CUs():
            for die in cu.iter_DIEs():
                self.dies.append(die.offset)
                for name, attribute in die.attributes.items():
                    if attribute.form == "DW_FORM_ref4":
                        self.refs.append((info + attribute.offset, cu.cu_offset, die.offset))
                    elif name in ("DW_AT_byte_size", "DW_AT_upper_bound", "DW_AT_data_member_location",
                                  "DW_AT_count") and attribute.form in widths:
                        self.sizes.append((info + attribute.offset, widths[attribute.form]))

    # --- one mutation ---------------------------------------------------------------
    def regions(self) -> Dict[str, Tuple[int, int]]:
        found = {"ELF header": (0, 64), "program headers": (self.e_phoff, 56 * self.e_phnum),
                 "section headers": (self.e_shoff, 64 * self.e_shnum)}
        for name, section in self.sections.items():
            if section.size and section.offset + section.size <= len(self.data):
                found[name] = (section.offset, section.size)
        return found

    def mutant(self, rng: random.Random, count: Optional[int] = None) -> Tuple[bytes, List[str]]:
        data = bytearray(self.data)
        done: List[str] = []
        kinds = ["truncate", "flip", "flip", "shdr", "shdr", "ehdr", "phdr", "zero-run"]
        if self.refs:
            kinds += ["dwarf-ref", "dwarf-ref", "dwarf-size"]
        chosen = [rng.choice(kinds) for _ in range(count or rng.choice((1, 1, 1, 2, 3)))]
        # patch first, cut last (a patch needs the bytes it patches)
        chosen.sort(key=lambda kind: kind == "truncate")
        for kind in chosen[:chosen.index("truncate") + 1] if "truncate" in chosen else chosen:
            data = getattr(self, "_" + kind.replace("-", "_"))(rng, data, done)
        return bytes(data), done

    def _truncate(self, rng, data, done):
        regions = self.regions()
        if rng.random() < 0.5:  # somewhere inside a chosen region
            name = rng.choice(sorted(regions))
            start, size = regions[name]
            cut = start + rng.randrange(max(size, 1))
            done.append(f"truncate at {cut:#x} (inside {name})")
        else:
            cut = rng.randrange(len(data))
            done.append(f"truncate at {cut:#x}")
        return data[:cut]

    def _flip(self, rng, data, done):
        regions = self.regions()
        name = rng.choice(sorted(regions))
        start, size = regions[name]
        flips = rng.choice((1, 1, 2, 4, 16, 64))
        positions = []
        for _ in range(flips):
            pos = start + rng.randrange(max(size, 1))
            if pos < len(data):
                mask = rng.choice((0xFF, 0x80, 0x01, rng.randrange(1, 256)))
                data[pos] ^= mask
                positions.append(f"{pos:#x}^{mask:#x}")
        done.append(f"flip {name}: {' '.join(positions[:8])}{' ...' if len(positions) > 8 else ''}")
        return data

    def _zero_run(self, rng, data, done):
        name = rng.choice(sorted(self.regions()))
        start, size = self.regions()[name]
        pos = start + rng.randrange(max(size, 1))
        length = rng.choice((4, 16, 256, size))
        fill = rng.choice((0, 0xFF))
        data[pos:pos + length] = bytes([fill]) * len(data[pos:pos + length])
        done.append(f"fill {name} {pos:#x}+{length:#x} with {fill:#x}")
        return data

    def _interesting(self, rng, current: int, width: int, data) -> int:
        top = (1 << (8 * width)) - 1
        size = len(data)
        choices = [0, 1, top, top - 7, top >> 1, size, size - 1, size + 1, size + 4096,
                   current * 2, current + 1, max(current - 1, 0), current ^ (1 << rng.randrange(8 * width)),
                   rng.randrange(top + 1), rng.randrange(max(size, 1))]
        return rng.choice(choices) & top

    def _shdr(self, rng, data, done):
        section = self.sections[rng.choice(sorted(self.sections))]
        field = rng.choice(sorted(_SHDR64))
        off, fmt = _SHDR64[field]
        pos = section.header + off
        if pos + struct.calcsize(fmt) > len(data):
            return data
        current, = struct.unpack_from("<" + fmt, data, pos)
        if field in ("sh_offset", "sh_size") and rng.random() < 0.3:
            other = self.sections[rng.choice(sorted(self.sections))]
            value = other.offset if field == "sh_offset" else other.size  # point at another section
        elif field == "sh_link" and rng.random() < 0.5:
            value = rng.randrange(self.e_shnum + 3)
        elif field == "sh_type" and rng.random() < 0.5:
            value = rng.choice((0, 1, 2, 3, 7, 8, 11))  # NULL PROGBITS SYMTAB STRTAB NOTE NOBITS DYNSYM
        elif field == "sh_flags" and rng.random() < 0.5:
            value = current ^ rng.choice((0x2, 0x800, 0x400))  # ALLOC, COMPRESSED, TLS
        else:
            value = self._interesting(rng, current, struct.calcsize(fmt), data)
        struct.pack_into("<" + fmt, data, pos, value)
        done.append(f"{section.name or section.index}.{field} {current:#x} -> {value:#x}")
        return data

    def _ehdr(self, rng, data, done):
        field = rng.choice(sorted(_EHDR64))
        off, fmt = _EHDR64[field]
        current, = struct.unpack_from("<" + fmt, data, off)
        if field.startswith("e_ident"):
            value = rng.choice((0, 1, 2, 3, 255))
        elif field == "e_machine":
            value = rng.choice((0, 3, 40, 62, 183, 22, 0xFFFF))
        else:
            value = self._interesting(rng, current, struct.calcsize(fmt), data)
        struct.pack_into("<" + fmt, data, off, value)
        done.append(f"{field} {current:#x} -> {value:#x}")
        return data

    def _phdr(self, rng, data, done):
        if not self.e_phnum:
            return data
        index = rng.randrange(self.e_phnum)
        field = rng.choice(sorted(_PHDR64))
        off, fmt = _PHDR64[field]
        pos = self.e_phoff + 56 * index + off
        current, = struct.unpack_from("<" + fmt, data, pos)
        value = rng.choice((4, 1)) if field == "p_type" else self._interesting(rng, current, struct.calcsize(fmt), data)
        struct.pack_into("<" + fmt, data, pos, value)
        done.append(f"phdr[{index}].{field} {current:#x} -> {value:#x}")
        return data

    def _dwarf_ref(self, rng, data, done):
        pos, cu, die = rng.choice(self.refs)
        choice = rng.random()
        if choice < 0.3:
            target, what = die, "its own DIE"
        elif choice < 0.7:
            # another DIE that itself has a type reference: cycles when it leads back
            other_pos, _, other = rng.choice(self.refs)
            struct.pack_into("<I", data, other_pos, die - cu)
            target, what = other, f"DIE {other:#x} (whose type is now DIE {die:#x})"
        elif choice < 0.85:
            target, what = rng.choice(self.dies) + rng.choice((1, 2, 3)), "the middle of a DIE"
        else:
            target, what = cu + rng.choice((0, 0x7FFFFFF0, 0xFFFFFFFF - cu)), "outside its unit"
        struct.pack_into("<I", data, pos, (target - cu) & 0xFFFFFFFF)
        done.append(f"DW_AT_type of DIE {die:#x} (at {pos:#x}) -> {what}")
        return data

    def _dwarf_size(self, rng, data, done):
        pos, width = rng.choice(self.sizes)
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
        current, = struct.unpack_from("<" + fmt, data, pos)
        value = self._interesting(rng, current, width, data)
        struct.pack_into("<" + fmt, data, pos, value)
        done.append(f"DWARF size/bound at {pos:#x} {current:#x} -> {value:#x}")
        return data
