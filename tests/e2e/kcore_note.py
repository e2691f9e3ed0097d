#!/usr/bin/env python3
"""Cut the head of /proc/kcore out of a serial log: the guest hex-dumped it between
KCORE-BEGIN and KCORE-END. The VMCOREINFO in it is then read by `vmci show`.

    kcore_note.py SERIAL_LOG OUT_KCORE_HEAD
"""
import re
import sys


def kcore_head(serial_text: str) -> bytes:
    """The bytes the guest hex-dumped (lines of ` xx xx ...`; console noise is skipped)."""
    body = serial_text.split("KCORE-BEGIN\n", 1)[1].split("KCORE-END", 1)[0]
    data = bytearray()
    for line in body.split("\n"):
        if re.fullmatch(r"( [0-9a-f]{2})+", line):
            data += bytes.fromhex(line.replace(" ", ""))
    return bytes(data)


def main(serial_path, out_path):
    text = open(serial_path, "rb").read().decode("latin-1").replace("\r", "")
    if "KCORE-BEGIN\n" not in text or "KCORE-END" not in text:
        raise SystemExit(f"{serial_path}: no KCORE-BEGIN/KCORE-END block: the guest did not dump /proc/kcore")
    with open(out_path, "wb") as handle:
        handle.write(kcore_head(text))


if __name__ == "__main__":
    main(*sys.argv[1:])
