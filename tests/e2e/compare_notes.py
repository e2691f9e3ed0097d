#!/usr/bin/env python3
"""Compare the VMCOREINFO of the stock kernel with the one built from vmci's C.

    compare_notes.py STOCK_TXT VMCI_TXT

Lines must be byte-identical except those whose value is fixed at run time or differs
with the image itself; those are listed. Exit 1 on any other difference.
"""
import sys

# Values that legitimately differ between two boots or two builds of the same source:
# BUILD-ID hashes the image (the two images differ in one object file); the heap
# address of the mem_section roots is chosen by memblock at boot.
RUNTIME_KEYS = {"BUILD-ID": "hash of the image; the two builds differ in the swapped objects",
                "SYMBOL(mem_section)": "memblock allocation at boot (SPARSEMEM_EXTREME)"}


def lines(path):
    with open(path, "rb") as handle:
        return [line for line in handle.read().decode().splitlines()]


def main(stock_path, vmci_path):
    stock, vmci = lines(stock_path), lines(vmci_path)
    print(f"stock: {len(stock)} lines, vmci: {len(vmci)} lines")
    keys_stock = [line.split("=", 1)[0] for line in stock]
    keys_vmci = [line.split("=", 1)[0] for line in vmci]
    bad = 0
    if keys_stock != keys_vmci:
        print("DIFFERENT KEYS OR ORDER")
        for key in sorted(set(keys_stock) ^ set(keys_vmci)):
            print(f"  only in {'stock' if key in keys_stock else 'vmci'}: {key}")
        bad += 1
    identical = 0
    for a, b in zip(stock, vmci):
        if a == b:
            identical += 1
            continue
        key = a.split("=", 1)[0]
        if key in RUNTIME_KEYS:
            print(f"runtime  {key}: {a.split('=', 1)[1]} vs {b.split('=', 1)[1]} ({RUNTIME_KEYS[key]})")
        else:
            print(f"DIFFERS  {a}  vs  {b}")
            bad += 1
    print(f"{identical}/{len(stock)} lines byte-identical; {bad} unexpected differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
