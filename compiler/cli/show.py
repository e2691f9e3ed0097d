"""`vmci show FILE|-`: the VMCOREINFO a dump holds, exactly as the kernel wrote it (note/show.py)."""
from __future__ import annotations

import argparse

from vmci.cli.options import OUTPUT, TEXT_OR_JSON, Command, option, write

EXIT_OK = 0


def cmd_show(args: argparse.Namespace) -> int:
    from vmci.note.read import read_captured_note
    from vmci.note.show import render_json

    note = read_captured_note(args.file)  # a NoteReadError is one line from cli.main, exit 2
    write(args.output, render_json(note) if args.format == "json" else note.text)
    return EXIT_OK


SHOW = Command(
    "show", help="print the VMCOREINFO of a dump, /proc/kcore or a note, byte for byte",
    description="Print the VMCOREINFO text that FILE holds, exactly as the kernel wrote it (the note's bytes, "
                "nothing added). FILE may be an ELF vmcore (/proc/vmcore, makedumpfile -E, a hypervisor's memory "
                "dump), /proc/kcore, a kdump-compressed dump (makedumpfile's default format), a flattened "
                "makedumpfile stream (makedumpfile -F), a raw ELF note or VMCOREINFO text; - reads standard "
                "input. Only the headers and notes are read, never the memory. --format json gives the "
                "KEY=VALUE pairs with their line numbers. Exit status 2, with one line naming the file and "
                "place, when FILE holds no readable VMCOREINFO.",
    options=(
        option("file", metavar="FILE", help="vmcore, kdump or flattened dump, /proc/kcore, note or text; - for "
                                            "standard input"),
        TEXT_OR_JSON,
        OUTPUT.but(help="write to FILE instead of standard output (a file is replaced atomically, a FIFO or device "
                        "written in place)"),
    ),
    run=cmd_show)
