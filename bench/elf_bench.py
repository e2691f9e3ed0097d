#!/usr/bin/env python3
"""Benchmark vmci.elf on one vmlinux: cold and warm time and peak RSS.

    python3 bench/elf_bench.py VMLINUX [--peer] [--runs N]

Each measurement runs in a fresh subprocess (so imports and the mmap are
counted and ru_maxrss is that process's own peak):
  cold  empty cache directory: every query goes to ELF/DWARF
  warm  the cache written by the cold run: no DWARF is read (and pyelftools,
        which decodes the DWARF, is not even imported)
--peer also times `makedumpfile -g OUT -x VMLINUX` (the tool we replace).
"Cold" means a cold *process*; the file itself is usually in the page cache
(run twice, or drop caches yourself, to see the difference).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
sys.path[:0] = [sys.argv[3], sys.argv[4]]
import elf_queries as Q
from vmci.elf import open_vmlinux
vm = open_vmlinux(sys.argv[1], cache_dir=sys.argv[2])
t1 = time.perf_counter()
answers = Q.run(vm)
vm.close()
t2 = time.perf_counter()
print(json.dumps({
    "open_s": t1 - t0, "total_s": t2 - t0, "queries": Q.count(),
    "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "dwarf_loaded": "vmci.elf.dwarf" in sys.modules,
    "elftools_loaded": any(m.startswith("elftools") for m in sys.modules),
    "answers": answers}))
"""


def run_child(vmlinux: str, cache_dir: str) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, vmlinux, cache_dir, ROOT, HERE],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{r.stderr}")
    return json.loads(r.stdout)


def run_peer(vmlinux: str) -> dict:
    exe = shutil.which("makedumpfile")
    if exe is None:
        return {"error": "makedumpfile not installed"}
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "vmcoreinfo")
        # a wrapper process, so that RUSAGE_CHILDREN is makedumpfile's alone
        wrapper = ("import json, resource, subprocess, sys, time\n"
                   "t = time.perf_counter()\n"
                   "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
                   "print(json.dumps({'s': time.perf_counter() - t, 'rc': r.returncode,\n"
                   "  'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n")
        r = subprocess.run([sys.executable, "-c", wrapper, exe, "-g", out, "-x", vmlinux],
                           capture_output=True, text=True, check=True)
        got = json.loads(r.stdout)
        lines = open(out).read().count("\n") if os.path.exists(out) else 0
    return {"total_s": round(got["s"], 2), "rc": got["rc"], "lines": lines,
            "maxrss_mb": round(got["rss"] / 1024, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("vmlinux")
    ap.add_argument("--peer", action="store_true", help="also time makedumpfile -g")
    ap.add_argument("--runs", type=int, default=1, help="cold/warm pairs to run (best is shown)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    colds, warms = [], []
    for _ in range(max(1, args.runs)):
        with tempfile.TemporaryDirectory(prefix="elf-bench-") as cache:
            colds.append(run_child(args.vmlinux, cache))
            warms.append(run_child(args.vmlinux, cache))
    cold = min(colds, key=lambda r: r["total_s"])
    warm = min(warms, key=lambda r: r["total_s"])
    same = all(w["answers"] == c["answers"] for c, w in zip(colds, warms))
    result = {
        "vmlinux": args.vmlinux, "queries": cold["queries"],
        "cold_s": round(cold["total_s"], 3), "cold_open_s": round(cold["open_s"], 3),
        "cold_maxrss_mb": round(cold["maxrss_mb"], 1),
        "warm_s": round(warm["total_s"], 4), "warm_maxrss_mb": round(warm["maxrss_mb"], 1),
        "warm_read_dwarf": warm["dwarf_loaded"], "warm_imported_elftools": warm["elftools_loaded"],
        "warm_answers_equal_cold": same,
    }
    if args.peer:
        result["makedumpfile"] = run_peer(args.vmlinux)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for k, v in result.items():
            print(f"{k:24} {v}")
    return 0 if same and not warm["dwarf_loaded"] and not warm["elftools_loaded"] else 1


if __name__ == "__main__":
    sys.exit(main())
