"""Answer the bench query set with drgn (the test oracle).

Run with Debian's python3 (which has python3-drgn):
    /usr/bin/python3 tests/elf/drgn_oracle.py VMLINUX  > answers.json
The output has the same shape as bench/elf_queries.run(); errors are
{"error": ...} and are compared only as "absent".
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))

import drgn  # noqa: E402
import elf_queries as Q  # noqa: E402


def strip(t):
    while t.kind == drgn.TypeKind.TYPEDEF:
        t = t.type
    return t


def size_of(t):
    try:
        return drgn.sizeof(t)
    except Exception:  # incomplete, function, flexible array
        return None


def member(t, path):
    bits = 0
    cur = t
    for comp in path.split("."):
        m = strip(cur).member(comp)
        bits += m.bit_offset
        cur = m.type
    return [bits // 8, size_of(strip(cur))]


def main(path):
    p = drgn.Program()
    p.load_debug_info([path])
    out = {"types": {}, "enumerators": {}, "variables": {}}
    for tname, members in list(Q.TYPE_MEMBERS.items()) + [(n, []) for n in Q.TYPE_SIZES]:
        try:
            t = p.type(tname)
        except LookupError as e:
            out["types"][tname] = {"error": str(e)}
            continue
        entry = {"size": size_of(strip(t)), "members": {}}
        for m in members:
            try:
                entry["members"][m] = member(t, m)
            except LookupError as e:
                entry["members"][m] = {"error": str(e)}
        out["types"][tname] = entry
    for e in Q.ENUMERATORS:
        try:
            out["enumerators"][e] = p.constant(e).value_()
        except LookupError as x:
            out["enumerators"][e] = {"error": str(x)}
    for v in Q.VARIABLES:
        try:
            t = strip(p.variable(v).type_)
            out["variables"][v] = {"size": size_of(t),
                                   "length": t.length if t.kind == drgn.TypeKind.ARRAY else None}
        except LookupError as x:
            out["variables"][v] = {"error": str(x)}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
