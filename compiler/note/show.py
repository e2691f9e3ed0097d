"""`vmci show FILE|-`: the VMCOREINFO a dump holds, exactly as the kernel wrote it.

FILE is anything audit/notefile.py reads: VMCOREINFO text, a raw ELF note, an ELF
vmcore (/proc/vmcore saved with cp or makedumpfile -E, a hypervisor's memory dump),
/proc/kcore, a kdump-compressed file or a flattened makedumpfile stream (-F); `-` is
standard input, so `makedumpfile -F ... | vmci show -` works on a pipe. Text output is
the note's bytes, byte for byte; `--format json` gives the key/value pairs in the
envelope of jsonformat.py (`vmci-show/1`).
"""
from __future__ import annotations

import sys

from vmci.note.read import CapturedNote, NoteReadError, read_captured_note
from vmci.jsonformat import document
from vmci.files.output import printable

EXIT_OK, EXIT_UNUSABLE = 0, 2


def render_json(note: CapturedNote) -> str:
    return document("show", {
        "file": note.path,
        "input_kind": note.kind,
        "where": note.where,
        "bytes": len(note.text.encode("utf-8")),
        "lines": [{"key": line.key, "value": line.value, "note_line": line.line} for line in note.lines],
    })


def cmd_show(args) -> int:
    try:
        note = read_captured_note(args.file)
    except NoteReadError as error:
        print(printable(f"vmci show: {error}"), file=sys.stderr)
        return EXIT_UNUSABLE
    data = render_json(note).encode("utf-8") if args.format == "json" else note.text.encode("utf-8")
    from vmci.files.output import write_output
    write_output(args.output or "-", data)  # an OutputError is one line from cli.main, exit 2
    return EXIT_OK


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "show", help="print the VMCOREINFO of a dump, /proc/kcore or a note, byte for byte",
        description="Print the VMCOREINFO text that FILE holds, exactly as the kernel wrote it (the note's bytes, "
                    "nothing added). FILE may be an ELF vmcore (/proc/vmcore, makedumpfile -E, a hypervisor's memory "
                    "dump), /proc/kcore, a kdump-compressed dump (makedumpfile's default format), a flattened "
                    "makedumpfile stream (makedumpfile -F), a raw ELF note or VMCOREINFO text; - reads standard "
                    "input. Only the headers and notes are read, never the memory. --format json gives the "
                    "KEY=VALUE pairs with their line numbers. Exit status 2, with one line naming the file and "
                    "place, when FILE holds no readable VMCOREINFO.")
    p.add_argument("file", metavar="FILE", help="vmcore, kdump or flattened dump, /proc/kcore, note or text; - for "
                                                "standard input")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output (a file is "
                                                          "replaced atomically, a FIFO or device written in place)")
    p.set_defaults(run=cmd_show)
