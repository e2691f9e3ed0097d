"""The kernel's VMCOREINFO ABI: the facts vmci mirrors from kernel source, in one table.

Every other module imports these names instead of repeating a number. Each fact cites
the kernel source it mirrors; lines are of linux 7.3 (kernel/vmcore_info.c,
include/linux/vmcore_info.h) and, where the file had another name, of 5.10
(kernel/crash_core.c, include/linux/crash_core.h), the oldest version the specs pin.
This module imports nothing of vmci, so every stage (and the ELF reader) may use it.
"""
from __future__ import annotations

from dataclasses import dataclass

# --- the text -----------------------------------------------------------------------------

# vmcoreinfo_append_str() formats each line into `char buf[0x50];` with vscnprintf
# (kernel/vmcore_info.c:100; kernel/crash_core.c:354 in 5.10): a line keeps at most 79
# bytes, its newline included, and a longer one loses its end and its newline.
LINE_BUFFER_BYTES = 0x50
LINE_BUFFER_TEXT = f"{LINE_BUFFER_BYTES:#x}"  # as the kernel writes the array size

# `#define VMCOREINFO_BYTES PAGE_SIZE` (include/linux/vmcore_info.h:23; crash_core.h:23
# in 5.10): the text stops there (kernel/vmcore_info.c:107) with a WARN_ONCE (:113).
# Without the target's PAGESIZE line vmci assumes the smallest PAGE_SIZE of any
# architecture.
DEFAULT_VMCOREINFO_BYTES = 4096
MAX_PAGE_SIZE = 1 << 18  # the largest PAGE_SIZE of any architecture (hexagon's 256K)

# --- the note -----------------------------------------------------------------------------

# `#define VMCOREINFO_NOTE_NAME "VMCOREINFO"` (include/linux/vmcore_info.h:24) and
# `append_elf_note(buf, VMCOREINFO_NOTE_NAME, 0, vmcoreinfo_data, ...)`
# (kernel/vmcore_info.c:71; kernel/crash_core.c:325 in 5.10): the note's type is 0.
NOTE_NAME = "VMCOREINFO"
NOTE_NAME_BYTES = NOTE_NAME.encode("ascii")
NOTE_TYPE = 0

# --- the call graph -----------------------------------------------------------------------

# `static int __init crash_save_vmcoreinfo_init(void)` (kernel/vmcore_info.c:140;
# kernel/crash_core.c:428 in 5.10) writes the common lines and calls, at its end, the
# architecture's hook, `void __weak arch_crash_save_vmcoreinfo(void)` (:121 and :247;
# kernel/crash_core.c:372 in 5.10), whose __weak default writes nothing.
COMMON_FUNCTION = "crash_save_vmcoreinfo_init"
ARCH_FUNCTION = "arch_crash_save_vmcoreinfo"

# --- printf conversions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    """An integer conversion of vmcoreinfo_append_str()'s format: the C type vsnprintf
    reads its argument as, and the most bytes it prints for a 64-bit word."""

    text: str  # as in the format string, with any literal 0x prefix
    c_type: str
    width: int

    @property
    def hexadecimal(self) -> bool:
        return self.text.endswith("x")


def _conversions(*rows: tuple[str, str, int]) -> dict[str, Conversion]:
    return {text: Conversion(text, c_type, width) for text, c_type, width in rows}


# The integer conversions specs may use (VMCOREINFO_NUMBER's %ld, VMCOREINFO_SIZE's %lu,
# VMCOREINFO_SYMBOL's %lx: include/linux/vmcore_info.h:49-70; the rest in the
# vmcoreinfo_append_str() calls of kernel/vmcore_info.c and arch/*/kernel/*.c).
# Widths: -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, ffff...
CONVERSIONS: dict[str, Conversion] = _conversions(
    ("%d", "int", 11), ("%u", "unsigned int", 10), ("%x", "unsigned int", 8), ("0x%x", "unsigned int", 10),
    ("%ld", "long", 20), ("%lu", "unsigned long", 20), ("%lx", "unsigned long", 16),
    ("0x%lx", "unsigned long", 18),
    ("%lld", "long long", 20), ("%llu", "unsigned long long", 20), ("%llx", "unsigned long long", 16),
    ("0x%llx", "unsigned long long", 18),
)

# `#define __NEW_UTS_LEN 64` (include/uapi/linux/utsname.h:15): the longest release
# string, what VMCOREINFO_OSRELEASE's %s prints.
STRING_CONVERSION = "%s"
STRING_WIDTH = 64
# VMCOREINFO_BUILD_ID()'s "BUILD-ID=%20phN\n" (include/linux/vmcore_info.h:46): the
# BUILD_ID_SIZE_MAX (include/linux/buildid.h:7) bytes of the build ID in hex.
BUILD_ID_CONVERSION = "%20phN"
BUILD_ID_WIDTH = 2 * 20
# VMCOREINFO_CONFIG(name)'s "CONFIG_%s=y\n" (include/linux/vmcore_info.h:72).
FLAG_VALUE = "y"

# The most bytes each value format prints: integers, strings, build IDs and flags.
FORMAT_WIDTH: dict[str, int] = {
    STRING_CONVERSION: STRING_WIDTH, BUILD_ID_CONVERSION: BUILD_ID_WIDTH, FLAG_VALUE: len(FLAG_VALUE),
    **{text: conversion.width for text, conversion in CONVERSIONS.items()},
}
# A format the table does not know is taken to print as much as a long.
DEFAULT_WIDTH = 20

# The formats an `append` entry (a vmcoreinfo_append_str() call) may give its value.
APPEND_FORMATS = (STRING_CONVERSION,) + tuple(CONVERSIONS)

# --- the versions vmci writes kernel C for ---------------------------------------------------

# Kernel C (and the coverage page) is written for these versions besides the newest the
# specs describe: the long-term releases Debian ships as linux-source-<version>, whose
# trees the tests build.
PINNED_VERSIONS: tuple[tuple[int, int], ...] = ((5, 10), (6, 1), (6, 12))
