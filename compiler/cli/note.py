"""`vmci note`: the VMCOREINFO ELF note (and a minimal ELF core) from VMCOREINFO text."""
from __future__ import annotations

import argparse
import sys

from vmci.errors import UsageError
from vmci.cli.options import SPECS, Command, option
from vmci.abi import DEFAULT_VMCOREINFO_BYTES, MAX_PAGE_SIZE
from vmci.note.build import build_note, elf_core, is_page_size, note_machine, read_text

EXIT_OK = 0


def cmd_note(args: argparse.Namespace) -> int:
    from vmci.files.output import write_output
    from vmci.resources import default_cache_dir
    from vmci.spec.load import load_valid_specs

    if not args.output and not args.elf_core:
        raise UsageError("give -o NOTE and/or --elf-core CORE")
    machine = None
    if args.arch:
        machine = note_machine(load_valid_specs(args.specs, default_cache_dir()), args.arch)
    elif args.elf_core:
        raise UsageError("--elf-core needs --arch (the ELF class, byte order and machine come from its spec)")
    text = read_text(args.source, args.page_size, args.truncate)
    if text.truncated:
        print(f"vmci note: warning: the text fills VMCOREINFO_BYTES ({text.vmcoreinfo_bytes}); a kernel's text ends "
              f"there only when it was truncated (WARN_ONCE \"vmcoreinfo data exceeds allocated size, truncating\")",
              file=sys.stderr)
    big_endian = machine is not None and machine.endianness == "big"
    files = []
    if args.output:
        files.append((args.output, build_note(text.data, big_endian, final=False)))
    if args.elf_core:
        assert machine is not None  # --elf-core needs --arch
        files.append((args.elf_core, elf_core(build_note(text.data, big_endian), machine.elf_class, big_endian,
                                              machine.elf_machine)))
    for path, data in files:  # an OutputError reaches cli.main as one line
        write_output(path, data)
    return EXIT_OK


def _page_size(value: str) -> int:
    try:
        size = int(value, 0)
    except ValueError:
        size = 0
    if not is_page_size(size):
        raise argparse.ArgumentTypeError(f"{value!r} is not a page size (a power of two up to {MAX_PAGE_SIZE})")
    return size


NOTE = Command(
    "note", help="the VMCOREINFO ELF note (and a minimal ELF core) from VMCOREINFO text",
    description="Build the ELF note the kernel writes for VMCOREINFO text: a record named VMCOREINFO, "
                "type 0, name and text padded to 4 bytes (append_elf_note()). -o writes the record; "
                "--elf-core wraps it, followed by the terminating empty note (final_note()), in an ELF core "
                "file of the target machine that drgn and libkdumpfile open.",
    options=(
        option("--from", dest="source", required=True, metavar="TEXT",
               help="VMCOREINFO text (KEY=VALUE lines; - for standard input)"),
        option("-o", "--output", metavar="NOTE", help="write the note record here (- for standard output)"),
        option("--elf-core", metavar="CORE", help="write a minimal ELF core file holding the note"),
        option("--arch", help="target machine or kernel ARCH (x86_64, aarch64, s390x, ...): the byte order of "
                              "the note and the ELF class and machine of the core (default for -o: little-endian)"),
        option("--page-size", type=_page_size, metavar="BYTES",
               help="the target's PAGE_SIZE, which is VMCOREINFO_BYTES, the most text the kernel holds "
                    f"(default: the text's PAGESIZE line, else {DEFAULT_VMCOREINFO_BYTES})"),
        option("--truncate", action="store_true",
               help="cut a longer text at VMCOREINFO_BYTES as the kernel does, instead of refusing it"),
        SPECS,
    ),
    run=cmd_note)
