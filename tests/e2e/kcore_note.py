#!/usr/bin/env python3
"""Pull the VMCOREINFO note out of a serial log: the guest hex-dumped the head of
/proc/kcore (an ELF core) between KCORE-BEGIN and KCORE-END.

    kcore_note.py SERIAL_LOG OUT_TXT
"""
import re
import sys

from compiler.audit.notes import vmcoreinfo_from_bytes  # the project's note reader


def main(serial_path, out_path):
    text = open(serial_path, "rb").read().decode("latin-1").replace("\r", "")
    if "KCORE-BEGIN\n" not in text or "KCORE-END" not in text:
        raise SystemExit(f"{serial_path}: no KCORE-BEGIN/KCORE-END block: the guest did not dump /proc/kcore")
    body = text.split("KCORE-BEGIN\n", 1)[1].split("KCORE-END", 1)[0]
    data = bytearray()
    for line in body.split("\n"):
        if re.fullmatch(r"( [0-9a-f]{2})+", line):
            data += bytes.fromhex(line.replace(" ", ""))
    desc = vmcoreinfo_from_bytes(bytes(data), serial_path)
    with open(out_path, "wb") as handle:
        handle.write(desc)


if __name__ == "__main__":
    main(*sys.argv[1:])
