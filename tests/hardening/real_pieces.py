"""Small damaged images made of pieces of a real Debian vmlinux.

Copying a 590 MB file per case is too slow, so a case is a *compact image*: the real
ELF header, the sections `vmci resolve` reads (.rodata and .data for the banner and
initial values, .notes for the build ID, .symtab/.strtab, .debug_abbrev, .debug_str,
.debug_line_str) and a head of the real .debug_info (a few MB, cut at a random point,
so the last unit is cut in the middle), laid out one after another, with a rewritten
section header table pointing into this small file. Every other section keeps its
name and address but has no contents. The image is then damaged further with the same
mutations as the fixture (elf_mutations.Mutator): truncation, flipped bytes, headers
lying about offsets, sizes, counts and links.
"""
from __future__ import annotations

import mmap
import random
import struct
from typing import List, Tuple

KEEP = (".rodata", ".data", ".notes", ".symtab", ".strtab", ".shstrtab", ".debug_abbrev", ".debug_str",
        ".debug_line_str")


class RealImage:
    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as handle:
            self.map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        data = self.map
        assert data[:6] == b"\x7fELF\x02\x01", "ELF64 little-endian vmlinux expected"
        self.header = bytes(data[:64])
        self.e_shoff, = struct.unpack_from("<Q", data, 40)
        self.e_shnum, = struct.unpack_from("<H", data, 60)
        self.e_shstrndx, = struct.unpack_from("<H", data, 62)
        self.headers: List[bytearray] = [bytearray(data[self.e_shoff + 64 * i:self.e_shoff + 64 * (i + 1)])
                                         for i in range(self.e_shnum)]
        strtab = self._range(self.e_shstrndx)
        names = bytes(data[strtab[0]:strtab[0] + strtab[1]])
        self.names = [names[n:names.index(b"\0", n)].decode() for n, in
                      (struct.unpack_from("<I", h, 0) for h in self.headers)]
        self.index = {name: i for i, name in enumerate(self.names)}
        info_offset, self.info_size = self._range(self.index[".debug_info"])
        self.unit_ends = []  # where each unit of .debug_info ends (32-bit DWARF lengths)
        position = 0
        while position + 4 <= self.info_size and len(self.unit_ends) < 4096:
            length, = struct.unpack_from("<I", data, info_offset + position)
            position += 4 + length
            self.unit_ends.append(position)

    def _range(self, i: int) -> Tuple[int, int]:
        offset, size = struct.unpack_from("<QQ", self.headers[i], 24)
        return offset, size

    def close(self) -> None:
        self.map.close()

    def head(self, rng: random.Random, limit: int) -> int:
        """A length of .debug_info up to `limit`: whole units, or cut inside one."""
        whole = [end for end in self.unit_ends if end <= limit]
        if whole and rng.random() < 0.6:
            return rng.choice(whole)
        return rng.randrange(1, limit)

    def compact(self, info_head: int) -> Tuple[bytes, List[str]]:
        """The compact image with the first `info_head` bytes of .debug_info."""
        out = bytearray(self.header)
        struct.pack_into("<QH", out, 32, 0, 0)  # no program headers: notes come from .notes
        struct.pack_into("<H", out, 56, 0)
        headers = [bytearray(h) for h in self.headers]
        for i, name in enumerate(self.names):
            offset, size = self._range(i)
            sh_type, = struct.unpack_from("<I", headers[i], 4)
            if name == ".debug_info":
                size = min(size, info_head)
            elif name not in KEEP:
                if sh_type != 8:  # SHT_NOBITS keeps its size: .bss reads as zeros
                    struct.pack_into("<QQ", headers[i], 24, 0, 0)
                continue
            out += bytes(-len(out) % 8)
            struct.pack_into("<QQ", headers[i], 24, len(out), size)
            out += self.map[offset:offset + size]
        out += bytes(-len(out) % 8)
        struct.pack_into("<Q", out, 40, len(out))  # e_shoff
        for header in headers:
            out += header
        return bytes(out), [f".debug_info cut to its first {info_head:#x} of {self.info_size:#x} bytes"]
