"""Reader for Linux ``vmlinux`` files (ELF + DWARF).

Knows nothing of specs: it answers questions about one image -- ELF facts,
symbol addresses, initial memory contents, the embedded config and the
banner, and C types, variables and enumerators from DWARF -- quickly and
with bounded memory, and remembers the answers in an optional cache.

    from vmci.elf import open_vmlinux
    with open_vmlinux(path, cache_dir="~/.cache/vmci") as vm:
        off, t = vm.find_type("struct page").member("flags")
"""

from vmci.elf.ctype import ARRAY, BASE, ENUM, FUNCTION, KINDS, POINTER, STRUCT, TYPEDEF, UNION, VOID, CType, Member
from vmci.elf.errors import ElfFormatError, LookupFailure
from vmci.elf.vmlinux import Vmlinux, open_vmlinux

__all__ = [
    "open_vmlinux", "Vmlinux", "ElfFormatError", "LookupFailure", "CType", "Member",
    "KINDS", "STRUCT", "UNION", "ENUM", "TYPEDEF", "BASE", "POINTER", "ARRAY", "FUNCTION", "VOID",
]
