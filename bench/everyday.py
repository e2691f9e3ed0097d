#!/usr/bin/env python3
"""Every everyday vmci command beside its peer, in one run: CPU seconds and peak RSS.

    bench/everyday.py [--release 6.1.0-57-cloud-amd64] [--repeat 5] [--tarball PATH] [--no-audit]

Each command runs REPEAT times as a child process; the figures are the median CPU
seconds (user + system, from the child's rusage: whole process, imports included) and
the largest peak RSS. Peers, in the same run:
  - `vmci resolve` cold: drgn answering the same SIZE/OFFSET/LENGTH/NUMBER/SYMBOL lookups
    (bench/drgn_lookups.py under Debian's python3), and `makedumpfile -g`;
  - `vmci audit source TARBALL`: `xz -dc TARBALL` (the decompression floor).
Targets (issue: interactive speed) are printed beside each row. Speed lives here, never in
timed test assertions.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("VMCI_KERNEL_CACHE", "/var/cache/vmci/kernels")
DEBIAN_PYTHON = "/usr/bin/python3"  # python3-drgn is built for it


def measure(argv, env=None, cwd=ROOT, ok=(0, 1)):
    """CPU seconds (user + system) and peak RSS (MB) of one child process."""
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) not in ok:
        raise SystemExit(f"{' '.join(argv)} failed: {stderr.strip()[:500]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def vmci(*args):
    return [sys.executable, "-m", "vmci", *args]


class Table:
    def __init__(self, repeat):
        self.repeat = repeat
        self.rows = {}

    def run(self, name, argv_or_callable, **kwargs):
        runs = []
        for _ in range(self.repeat):
            if callable(argv_or_callable):
                runs.append(argv_or_callable())
            else:
                runs.append(measure(argv_or_callable, **kwargs))
        self.rows[name] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs))
        return self.rows[name]

    def cpu(self, name):
        return self.rows[name][0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", default="6.1.0-57-cloud-amd64")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tarball", default="/usr/src/linux-source-6.12.tar.xz")
    parser.add_argument("--no-audit", action="store_true", help="leave out the audit row (it takes minutes)")
    args = parser.parse_args()
    vmlinux = os.path.join(CACHE, args.release, "vmlinux")
    config = os.path.join(CACHE, args.release, "config")
    if not os.path.exists(vmlinux):
        raise SystemExit(f"{vmlinux} is missing: run tools/setup.sh")
    table = Table(args.repeat)
    scratch = tempfile.mkdtemp(prefix="vmci-bench-")
    try:
        cache_env = dict(os.environ, XDG_CACHE_HOME=os.path.join(scratch, "cache"))
        # the spec-editing loop
        table.run("validate", vmci("validate"), env=cache_env)
        edited = os.path.join(scratch, "specs")
        shutil.copytree(os.path.join(ROOT, "specs"), edited)
        spec = os.path.join(edited, "arch", "x86_64.yaml")

        def validate_after_an_edit():
            with open(spec, "a") as handle:  # a new comment: the file's contents change
                handle.write(f"# edited {os.urandom(4).hex()}\n")
            return measure(vmci("validate", "--specs", edited), env=cache_env)
        table.run("validate, one spec edited", validate_after_an_edit)
        table.run("generate --check", vmci("generate", "--check"), env=cache_env)
        table.run("coverage --format json", vmci("coverage", "--format", "json"), env=cache_env)
        table.run("list --arch x86_64 --kernel-version 6.1",
                  vmci("list", "--arch", "x86_64", "--kernel-version", "6.1"), env=cache_env)

        # resolve, cold and warm, beside drgn and makedumpfile -g
        def resolve_cold():
            env = dict(os.environ, XDG_CACHE_HOME=tempfile.mkdtemp(dir=scratch))
            return measure(vmci("resolve", "--vmlinux", vmlinux, "--config", config), env=env)
        table.run("resolve cold", resolve_cold)
        warm_env = dict(os.environ, XDG_CACHE_HOME=os.path.join(scratch, "warm"))
        measure(vmci("resolve", "--vmlinux", vmlinux, "--config", config), env=warm_env)
        table.run("resolve warm", vmci("resolve", "--vmlinux", vmlinux, "--config", config), env=warm_env)
        lookups = os.path.join(scratch, "lookups.json")
        with open(lookups, "w") as handle:
            subprocess.run(vmci("resolve", "--vmlinux", vmlinux, "--config", config, "--format", "json"),
                           stdout=handle, env=warm_env, cwd=ROOT, check=False)
        table.run("drgn, the same lookups", [DEBIAN_PYTHON, os.path.join(ROOT, "bench", "drgn_lookups.py"),
                                             vmlinux, lookups])
        mdf = os.path.join(scratch, "mdf.out")
        table.run("makedumpfile -g", ["makedumpfile", "-g", mdf, "-x", vmlinux], ok=(0,))

        # audit source beside the decompression floor
        if not args.no_audit:
            table.repeat = max(1, min(args.repeat, 3))
            table.run("audit source", vmci("audit", "source", args.tarball), env=cache_env)
            table.run("xz -dc", ["sh", "-c", f"xz -dc '{args.tarball}' > /dev/null"], ok=(0,))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    targets = {
        "validate": "<= 0.30 s", "validate, one spec edited": "<= 0.30 s", "generate --check": "<= 0.30 s",
        "coverage --format json": "<= 0.30 s", "list --arch x86_64 --kernel-version 6.1": "<= 0.15 s",
        "resolve cold": f"<= 2.5x drgn ({2.5 * table.cpu('drgn, the same lookups'):.2f} s)",
        "resolve warm": "<= 0.10 s",
    }
    if "audit source" in table.rows:
        targets["audit source"] = f"<= 1.3x xz -dc ({1.3 * table.cpu('xz -dc'):.1f} s), <= 300 MB"
    print(f"vmci bench, {args.release} ({os.path.getsize(vmlinux) / 1e6:.0f} MB vmlinux), "
          f"median CPU seconds of {args.repeat} runs, peak RSS; {os.cpu_count()} CPUs")
    print(f"  {'command':<42} {'CPU s':>7} {'RSS MB':>7}  target")
    for name, (cpu, rss) in table.rows.items():
        print(f"  {name:<42} {cpu:7.3f} {rss:7.0f}  {targets.get(name, '(peer)')}")
    drgn_cpu, mdf_cpu = table.cpu("drgn, the same lookups"), table.cpu("makedumpfile -g")
    print(f"  ratios: resolve cold / drgn = {table.cpu('resolve cold') / drgn_cpu:.2f}; "
          f"makedumpfile -g / resolve cold = {mdf_cpu / table.cpu('resolve cold'):.1f}")
    if "audit source" in table.rows:
        print(f"          audit source / xz -dc = {table.cpu('audit source') / table.cpu('xz -dc'):.2f}")
    print(json.dumps({name: {"cpu_s": round(cpu, 3), "rss_mb": round(rss)} for name, (cpu, rss) in table.rows.items()}))


if __name__ == "__main__":
    main()
