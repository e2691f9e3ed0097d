"""`vmci show FILE|-`: the VMCOREINFO a dump holds, exactly as the kernel wrote it.

FILE is anything audit/notefile.py reads: VMCOREINFO text, a raw ELF note, an ELF
vmcore (/proc/vmcore saved with cp or makedumpfile -E, a hypervisor's memory dump),
/proc/kcore, a kdump-compressed file or a flattened makedumpfile stream (-F); `-` is
standard input, so `makedumpfile -F ... | vmci show -` works on a pipe. Text output is
the note's bytes, byte for byte; `--format json` gives the key/value pairs in the
envelope of jsonformat.py (`vmci-show/1`).
"""
from __future__ import annotations

from vmci.note.read import CapturedNote
from vmci.jsonformat import document


def render_json(note: CapturedNote) -> str:
    return document("show", {
        "file": note.path,
        "input_kind": note.kind,
        "where": note.where,
        "bytes": len(note.text.encode("utf-8")),
        "lines": [{"key": line.key, "value": line.value, "note_line": line.line} for line in note.lines],
    })
