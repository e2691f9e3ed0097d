"""The peer for `vmci resolve`: drgn answering the same lookups vmci makes.

Run with Debian's python3 (python3-drgn):
    /usr/bin/python3 bench/drgn_lookups.py VMLINUX LOOKUPS.json
LOOKUPS.json is `vmci resolve --format json` of the same vmlinux; every line whose value
came from DWARF or the symbol table (SIZE, OFFSET, LENGTH, NUMBER of an enumerator,
SYMBOL) is asked of drgn. Prints how many were answered; the benchmark times the whole
process, as it times vmci's.
"""
import json
import re
import sys

import drgn


def strip(t):
    while t.kind == drgn.TypeKind.TYPEDEF:
        t = t.type
    return t


def find_type(program, name):
    for spelled in (f"struct {name}", name, f"union {name}", f"enum {name}"):
        try:
            return program.type(spelled)
        except LookupError:
            continue
    raise LookupError(name)


def member_of(program, path):
    name, *members = path.split(".")
    current = find_type(program, name)
    bits = 0
    for member in members:
        found = strip(current).member(member)
        bits += found.bit_offset
        current = found.type
    return bits // 8, strip(current)


def answer(program, key):
    kind, argument = re.fullmatch(r"([A-Z]+)\((.*)\)", key).groups()
    if kind == "SIZE":
        return drgn.sizeof(find_type(program, argument))
    if kind == "OFFSET":
        return member_of(program, argument)[0]
    if kind == "LENGTH":
        if "." in argument:
            return member_of(program, argument)[1].length
        return strip(program.variable(argument).type_).length
    if kind == "NUMBER":
        return program.constant(argument).value_()
    if kind == "SYMBOL":
        return program.symbol(argument).address
    raise LookupError(key)


def main(vmlinux, lookups_path):
    with open(lookups_path) as handle:
        lines = json.load(handle)["lines"]
    keys = [line["key"] for line in lines if line["source"] in ("dwarf", "symtab") and "(" in line["key"]]
    program = drgn.Program()
    program.load_debug_info([vmlinux])
    answered = 0
    for key in keys:
        try:
            answer(program, key)
            answered += 1
        except (LookupError, ValueError, TypeError):
            pass
    print(f"{answered}/{len(keys)} lookups answered")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
