#!/usr/bin/env python3
"""Pull the VMCOREINFO note out of a serial log: the guest hex-dumped the head of
/proc/kcore (an ELF core) between KCORE-BEGIN and KCORE-END.

    kcore_note.py SERIAL_LOG OUT_TXT
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from vmci.audit.notefile import read_captured_note  # noqa: E402  the project's note reader


def main(serial_path, out_path):
    text = open(serial_path, "rb").read().decode("latin-1").replace("\r", "")
    if "KCORE-BEGIN\n" not in text or "KCORE-END" not in text:
        raise SystemExit(f"{serial_path}: no KCORE-BEGIN/KCORE-END block: the guest did not dump /proc/kcore")
    body = text.split("KCORE-BEGIN\n", 1)[1].split("KCORE-END", 1)[0]
    data = bytearray()
    for line in body.split("\n"):
        if re.fullmatch(r"( [0-9a-f]{2})+", line):
            data += bytes.fromhex(line.replace(" ", ""))
    head = out_path + ".kcore-head"
    with open(head, "wb") as handle:
        handle.write(bytes(data))
    note = read_captured_note(head)
    with open(out_path, "w", encoding="utf-8", newline="") as handle:
        handle.write(note.text)


if __name__ == "__main__":
    main(*sys.argv[1:])
