#!/usr/bin/env python3
"""Benchmark `vmci resolve` against `makedumpfile -g` on the same vmlinux, in one run.

    bench/resolve_bench.py [--release 6.1.0-57-cloud-amd64] [--repeat 3]

Runs, each REPEAT times: vmci resolve cold (an empty cache directory), vmci resolve
warm (the cache the cold run filled), and makedumpfile -g. Reports the median wall
time and the peak RSS of each (from the child's rusage), and the ratios the project
targets: cold at least 5x faster than makedumpfile -g, warm at most 0.3 s, peak RSS at
most 512 MB. Speed lives here, not in timed test assertions.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("VMCI_KERNEL_CACHE", "/var/cache/vmci/kernels")


def measure(argv, env=None, cwd=None):
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed: {stderr.strip()[:500]}")
    return elapsed, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", default="6.1.0-57-cloud-amd64")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    vmlinux = os.path.join(CACHE, args.release, "vmlinux")
    config = os.path.join(CACHE, args.release, "config")
    if not os.path.exists(vmlinux):
        raise SystemExit(f"{vmlinux} is missing: run tools/setup.sh")
    vmci = [sys.executable, "-m", "vmci", "resolve", "--vmlinux", vmlinux, "--config", config]
    results = {"vmci cold": [], "vmci warm": [], "makedumpfile -g": []}
    for _ in range(args.repeat):
        cache = tempfile.mkdtemp(prefix="vmci-bench-")
        env = dict(os.environ, XDG_CACHE_HOME=cache)
        try:
            results["vmci cold"].append(measure(vmci, env, ROOT))
            results["vmci warm"].append(measure(vmci, env, ROOT))
        finally:
            shutil.rmtree(cache)
        output = tempfile.mktemp(prefix="vmci-bench-mdf-")
        try:
            results["makedumpfile -g"].append(measure(["makedumpfile", "-g", output, "-x", vmlinux]))
        finally:
            if os.path.exists(output):
                os.unlink(output)
    print(f"vmlinux: {vmlinux} ({os.path.getsize(vmlinux) / 1e6:.0f} MB), {args.repeat} runs each, medians")
    medians = {}
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        medians[name] = seconds
        print(f"  {name:<16} {seconds:7.3f} s   peak RSS {rss:6.0f} MB")
    peer = medians["makedumpfile -g"]
    print(f"  cold: {peer / medians['vmci cold']:.1f}x faster than makedumpfile -g (target >= 5x)")
    print(f"  warm: {peer / medians['vmci warm']:.1f}x faster than makedumpfile -g; {medians['vmci warm']:.3f} s (target <= 0.3 s)")
    rss = max(r[1] for name in ("vmci cold", "vmci warm") for r in results[name])
    print(f"  vmci peak RSS {rss:.0f} MB (target <= 512 MB)")


if __name__ == "__main__":
    main()
