#!/usr/bin/env python3
"""Every everyday vmci command beside its peer, in one run: CPU seconds and peak RSS.

    bench/everyday.py [--release 6.1.0-57-cloud-amd64] [--repeat 5] [--tarball PATH] [--no-audit]
                      [--baseline REV]

Each command runs REPEAT times as a child process (after one run that fills vmci's
caches, not counted; the audit 3 times at most); the figures are the median CPU seconds (user + system, from the
child's rusage: whole process, imports included) and the largest peak RSS. With
--baseline REV (a commit, tag or branch, e.g. safe-106ca43), REV is exported with `git
archive` into a scratch directory with a virtualenv of its own (its vmci installed
editable; the libraries are this environment's), and every vmci row runs for both, in
the same run, each in its own checkout and with its own cache directory: before, after
and their ratio. Peers, in the same run:
  - `vmci resolve` cold: drgn answering the same SIZE/OFFSET/LENGTH/NUMBER/SYMBOL lookups
    (bench/drgn_lookups.py under Debian's python3), and `makedumpfile -g`;
  - `vmci audit source TARBALL`: `xz -dc TARBALL` (the decompression floor).
A row and its peers run in alternating rounds (vmci before, vmci after, the peers; again),
so that a drift in the machine's speed over the minutes of a run reaches both sides of a
ratio alike.
A `coverage` or `resolve` run again with nothing changed replays its memo (cli/memo.py);
the rows "one spec edited" show the same command when it cannot, a comment added to one
spec file first. Targets (issue: interactive speed) are printed beside each row. Speed lives here, never in
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


class Side:
    """One vmci to measure: its checkout, its Python and its cache directory."""

    def __init__(self, name, root, python, scratch):
        self.name, self.root, self.python = name, root, python
        self.env = dict(os.environ, XDG_CACHE_HOME=os.path.join(scratch, f"cache-{name}"))
        self.env.pop("PYTHONPATH", None)
        # pip compiles an installed vmci's bytecode at install time, and a checkout writes it
        # on its first run; with PYTHONDONTWRITEBYTECODE (set on some CI machines) every
        # measured run would compile the whole package again, 0.05-0.1 s of each short row
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def vmci(self, *args):
        return [self.python, "-m", "vmci", *args]

    def measure(self, *args, env=None):
        return measure(self.vmci(*args), env=env or self.env, cwd=self.root)


def baseline_side(rev, scratch):
    """REV exported from this repository, with a virtualenv that imports its vmci."""
    import sysconfig

    root = os.path.join(scratch, "baseline")
    os.makedirs(root)
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", rev], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"--baseline {rev}: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
    venv = os.path.join(root, ".venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "vmci-bench-libraries.pth"), "w") as handle:
        handle.write(sysconfig.get_paths()["purelib"] + "\n")  # jsonschema, PyYAML, Jinja2, pyelftools
    # pip builds it as tools/setup.sh does (its build backend from pip's configured index)
    installed = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                                "-e", root], capture_output=True, text=True)
    if installed.returncode != 0:
        raise SystemExit(f"--baseline {rev}: installing it failed: {installed.stderr.strip()[-500:]}")
    return Side("before", root, python, scratch)


class Table:
    def __init__(self, repeat):
        self.repeat = repeat
        self.rows = {}  # (side, name) -> (median CPU s, largest peak RSS MB)

    def run(self, side, name, measure_once):
        runs = [measure_once() for _ in range(self.repeat)]
        self.rows[(side, name)] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs))
        return self.rows[(side, name)]

    def run_alternating(self, rows, repeat):
        """Rows whose ratio is quoted, measured in rounds of one run each (A, B, A, B, ...):
        this machine's speed drifts by a third over minutes (a shared host), and a command
        measured minutes apart from its peer would carry the drift into the ratio.
        `rows`: (side, name, measure_once)."""
        runs = {(side, name): [] for side, name, _ in rows}
        for _ in range(repeat):
            for side, name, measure_once in rows:
                runs[(side, name)].append(measure_once())
        for key, found in runs.items():
            self.rows[key] = (statistics.median(r[0] for r in found), max(r[1] for r in found))

    def cpu(self, side, name):
        return self.rows[(side, name)][0]

    def names(self, side):
        return [name for s, name in self.rows if s == side]


def vmci_rows(table, side, vmlinux, config, scratch, args):
    """Every row of one vmci; the row names carry no side (Table keys them by side)."""
    def run(name, *argv):
        side.measure(*argv)  # fills the caches this command keeps
        table.run(side.name, name, lambda: side.measure(*argv))

    # the spec-editing loop
    run("validate", "validate")
    edited = os.path.join(scratch, f"specs-{side.name}")
    shutil.copytree(os.path.join(side.root, "specs"), edited)
    spec = os.path.join(edited, "arch", "x86_64.yaml")

    def validate_after_an_edit():
        with open(spec, "a") as handle:  # a new comment: the file's contents change
            handle.write(f"# edited {os.urandom(4).hex()}\n")
        return side.measure("validate", "--specs", edited)
    validate_after_an_edit()
    table.run(side.name, "validate, one spec edited", validate_after_an_edit)
    run("generate --check", "generate", "--check")
    run("coverage --format json", "coverage", "--format", "json")

    def coverage_after_an_edit():  # what the memo of an unchanged run saves: the computation
        with open(spec, "a") as handle:
            handle.write(f"# edited {os.urandom(4).hex()}\n")
        return side.measure("coverage", "--format", "json", "--specs", edited)
    coverage_after_an_edit()
    table.run(side.name, "coverage, one spec edited", coverage_after_an_edit)
    run("list --arch x86_64 --kernel-version 6.1", "list", "--arch", "x86_64", "--kernel-version", "6.1")

    # resolve warm (cold: paired_rows, beside its peers)
    run("resolve warm", "resolve", "--vmlinux", vmlinux, "--config", config)

    def resolve_after_an_edit():  # the image's answers cached, the specs not: no memo to replay
        with open(spec, "a") as handle:
            handle.write(f"# edited {os.urandom(4).hex()}\n")
        return side.measure("resolve", "--vmlinux", vmlinux, "--config", config, "--specs", edited)
    resolve_after_an_edit()
    table.run(side.name, "resolve warm, one spec edited", resolve_after_an_edit)


def paired_rows(table, sides, vmlinux, config, scratch, args):
    """The rows quoted as ratios to a peer, each round running every side and the peer
    once: resolve cold beside drgn answering the same lookups and makedumpfile -g, audit
    source beside xz -dc."""
    after = sides[-1]
    lookups = os.path.join(scratch, "lookups.json")
    with open(lookups, "w") as handle:
        subprocess.run(after.vmci("resolve", "--vmlinux", vmlinux, "--config", config, "--format", "json"),
                       stdout=handle, env=after.env, cwd=ROOT, check=False)

    def resolve_cold(side):
        def once():  # a cache directory never used: no spec cache, no image cache, no memo
            env = dict(side.env, XDG_CACHE_HOME=tempfile.mkdtemp(dir=scratch))
            return side.measure("resolve", "--vmlinux", vmlinux, "--config", config, env=env)
        return once

    mdf = os.path.join(scratch, "mdf.out")
    rows = [(side.name, "resolve cold", resolve_cold(side)) for side in sides]
    rows += [("peer", "drgn, the same lookups",
              lambda: measure([DEBIAN_PYTHON, os.path.join(ROOT, "bench", "drgn_lookups.py"), vmlinux, lookups])),
             ("peer", "makedumpfile -g", lambda: measure(["makedumpfile", "-g", mdf, "-x", vmlinux], ok=(0,)))]
    table.run_alternating(rows, args.repeat)
    if not args.no_audit:
        rows = [(side.name, "audit source", lambda side=side: side.measure("audit", "source", args.tarball))
                for side in sides]
        rows.append(("peer", "xz -dc", lambda: measure(["sh", "-c", f"xz -dc '{args.tarball}' > /dev/null"],
                                                        ok=(0,))))
        table.run_alternating(rows, max(1, min(args.repeat, 3)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", default="6.1.0-57-cloud-amd64")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tarball", default="/usr/src/linux-source-6.12.tar.xz")
    parser.add_argument("--no-audit", action="store_true", help="leave out the audit row (it takes minutes)")
    parser.add_argument("--baseline", metavar="REV", help="measure vmci at REV too, in the same run (before/after)")
    args = parser.parse_args()
    vmlinux = os.path.join(CACHE, args.release, "vmlinux")
    config = os.path.join(CACHE, args.release, "config")
    if not os.path.exists(vmlinux):
        raise SystemExit(f"{vmlinux} is missing: run tools/setup.sh")
    table = Table(args.repeat)
    scratch = tempfile.mkdtemp(prefix="vmci-bench-")
    try:
        sides = [Side("after", ROOT, sys.executable, scratch)]
        if args.baseline:
            sides.insert(0, baseline_side(args.baseline, scratch))
        for side in sides:
            vmci_rows(table, side, vmlinux, config, scratch, args)

        # the rows quoted as ratios, each beside its peer, in alternating rounds
        paired_rows(table, sides, vmlinux, config, scratch, args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    drgn = table.cpu("peer", "drgn, the same lookups")
    targets = {
        "validate": "<= 0.30 s", "validate, one spec edited": "<= 0.30 s", "generate --check": "<= 0.30 s",
        "coverage --format json": "<= 0.30 s", "list --arch x86_64 --kernel-version 6.1": "<= 0.15 s",
        "resolve cold": f"<= 2.5x drgn ({2.5 * drgn:.2f} s)", "resolve warm": "<= 0.10 s",
        "coverage, one spec edited": "(no target: what the memo saves)",
        "resolve warm, one spec edited": "(no target: what the memo saves)",
    }
    if not args.no_audit:
        targets["audit source"] = f"<= 1.3x xz -dc ({1.3 * table.cpu('peer', 'xz -dc'):.1f} s), <= 300 MB"
    print(f"vmci bench, {args.release} ({os.path.getsize(vmlinux) / 1e6:.0f} MB vmlinux), "
          f"median CPU seconds of {args.repeat} runs, peak RSS; {os.cpu_count()} CPUs"
          + (f"; before: {args.baseline}, after: this checkout" if args.baseline else ""))
    before = "before" if args.baseline else None
    header = f"  {'command':<42} " + (f"{'before':>7} {'after':>7} {'ratio':>6} " if before else f"{'CPU s':>7} ") + \
        f"{'RSS MB':>7}  target"
    print(header)
    for name in table.names("after"):
        cpu, rss = table.rows[("after", name)]
        figures = f"{cpu:7.3f} "
        if before:
            old = table.rows[(before, name)][0]
            figures = f"{old:7.3f} {cpu:7.3f} {old / cpu if cpu else float('inf'):5.1f}x "
        print(f"  {name:<42} {figures}{rss:7.0f}  {targets.get(name, '')}")
    for name in table.names("peer"):
        cpu, rss = table.rows[("peer", name)]
        figures = f"{'':7} {cpu:7.3f} {'':6} " if before else f"{cpu:7.3f} "  # in the after column
        print(f"  {name:<42} {figures}{rss:7.0f}  (peer)")
    resolve_cold = table.cpu("after", "resolve cold")
    print(f"  ratios: resolve cold / drgn = {resolve_cold / drgn:.2f}; "
          f"makedumpfile -g / resolve cold = {table.cpu('peer', 'makedumpfile -g') / resolve_cold:.1f}")
    if not args.no_audit:
        audit = table.cpu("after", "audit source")
        print(f"          audit source / xz -dc = {audit / table.cpu('peer', 'xz -dc'):.2f}")
    print(json.dumps({f"{side}: {name}": {"cpu_s": round(cpu, 3), "rss_mb": round(rss)}
                      for (side, name), (cpu, rss) in table.rows.items()}))


if __name__ == "__main__":
    main()
