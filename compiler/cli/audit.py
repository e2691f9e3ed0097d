"""Command-line glue for the audit stage: arguments in, one stage call, output, exit status.

Exit status as everywhere in vmci: 0 clean, 1 drift or differences found, 2 unusable
input (one line naming the file and place on standard error, never a traceback).
"""
from __future__ import annotations

import argparse
import os
import sys

from vmci.cli.options import (BANNER_VERSION, CONFIG, KERNEL_VERSION, NO_CACHE, OUTPUT, SPECS, TEXT_OR_JSON, Command,
                              option)
from vmci.errors import UsageError
from vmci.files.output import printable_text
from vmci.resources import default_cache_dir

# The stages are imported where they are used: a coverage answered from its memo
# (cli/memo.py) needs none of them.

EXIT_OK, EXIT_FOUND = 0, 1


def _emit(args, text: str) -> None:
    """The report to standard output or -o (output.write_output: atomically, in place
    for a FIFO or device, through a link; an OutputError reaches cli.main as one line).
    A report names files, members and keys read from the input: no control characters
    reach a terminal (JSON escapes them itself)."""
    from vmci.files.output import write_output
    write_output(getattr(args, "output", None) or "-", printable_text(text).encode("utf-8"))


def _load_specs(directory: str):
    """The model (through vmci's spec cache), or SpecProblems: exit status 1, as validate."""
    from vmci.spec.load import load_valid_specs

    return load_valid_specs(directory, default_cache_dir())


# --- audit source -------------------------------------------------------------------------

def cmd_audit_source(args: argparse.Namespace) -> int:
    from vmci.jsonformat import document
    from vmci.select import SelectionError, check_version
    from vmci.audit.source import audit_source, render_json, render_text
    from vmci.audit.tree import KernelTree

    from vmci.cli.progress import Progress as Bar
    from vmci.audit.source import Progress

    if args.update_specs and args.format == "json":
        raise UsageError("--update-specs prints the changes as text; leave out --format json")
    specs = _load_specs(args.specs)
    # on a terminal, one overall line: reading a tarball is most of the time, then the C
    # files are scanned and the emitting files compared
    bar = Bar("vmci audit source:")
    reading = 0.6 if os.path.isfile(args.kernel_tree) else 0.0
    try:
        tree = KernelTree.open(args.kernel_tree, bar.part(0.0, reading))
        try:
            check_version(specs, tree.version)
        except SelectionError as error:
            raise UsageError(f"{args.kernel_tree}: {error}")
        audit = audit_source(specs, tree, Progress(bar.part(reading, reading + (1 - reading) * 0.7),
                                                   bar.part(reading + (1 - reading) * 0.7, 1.0)))
    finally:
        bar.finish()
    if args.update_specs:
        return _update_specs(args, specs, tree, audit)
    if args.format == "json":
        _emit(args, document("audit-source", render_json(audit, specs.directory)))
    else:
        _emit(args, render_text(audit))
    return EXIT_FOUND if audit.drift else EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _update_specs(args, specs, tree, audit) -> int:
    """Edit the spec files so that they describe the tree's version; validate and audit
    the result in a scratch copy first, and write nothing unless it validates."""
    import shutil

    from vmci.spec.lint import check_specs, errors_in
    from vmci.files.output import write_atomically
    from vmci.spec.load import load_specs
    from vmci.audit.source import audit_source
    from vmci.audit.update import plan_update, render_update, trial_copy

    update = plan_update(specs, audit)
    texts = render_update(update)
    copy = trial_copy(specs.directory, texts)
    shown = os.path.relpath(specs.directory) if not os.path.relpath(specs.directory).startswith("..") \
        else specs.directory

    def back(text: str) -> str:  # places in the scratch copy, as places in the specs
        return text.replace(copy, shown).replace(os.path.relpath(copy), shown)

    try:
        updated, problems = load_specs(copy)
        problems += check_specs(updated)
        errors = errors_in(problems)
        after = None if errors else audit_source(updated, tree)
    finally:
        shutil.rmtree(os.path.dirname(copy), ignore_errors=True)
    version = ".".join(map(str, update.version))
    if errors:
        for problem in errors:
            print(back(str(problem)), file=sys.stderr)
        print(f"vmci audit source: the specs updated for Linux {version} would not validate "
              f"({len(errors)} errors above); nothing written", file=sys.stderr)
        return EXIT_FOUND
    assert after is not None  # audited again whenever the updated specs have no errors
    for path, text in texts.items():
        try:
            write_atomically(path, text.encode("utf-8"))
        except OSError as error:
            raise UsageError(f"{path}: cannot write ({error.strerror or error})")
    lines = [f"vmci audit source: {tree.name} (Linux {'.'.join(map(str, tree.version))}): "
             f"{_count(len(update.changes), 'change')} to the specs in {_count(len(texts), 'file')}"]
    lines += [str(change) for change in sorted(update.changes, key=lambda c: (c.text.path, c.text.landed.get(c.op, 0)))]
    lines += [f"note: {note}" for note in update.notes]
    if update.skipped:
        lines.append(f"not updated ({len(update.skipped)}; edit the specs by hand):")
        lines += [f"  {drift}" for drift in update.skipped]
    warnings = len(problems)
    assert after is not None  # audited whenever the update validated (else returned above)
    lines.append(f"after the update: {_count(len(after.drift), 'drift item')}" if after.drift else
                 f"after the update: no drift; the specs validate ({_count(warnings, 'warning')}: `vmci validate`)")
    lines += [back(str(drift)) for drift in after.drift]
    if texts:
        lines.append("run `vmci generate` to bring generated/ up to date")
    _emit(args, "\n".join(lines) + "\n")
    return EXIT_FOUND if after.drift else EXIT_OK


# --- audit note ---------------------------------------------------------------------------

def _stdin_once(args, *options) -> None:
    """At most one input may be standard input."""
    from vmci.files.inputs import check_once

    names = [option if option.startswith("-") else option.upper() for option in options]
    check_once([getattr(args, option.lstrip("-").replace("-", "_")) for option in options], names)


def _read_note(path: str):
    """The captured note in `path` (`-`: standard input, spooled: the readers seek)."""
    from vmci.files.inputs import local_file, named, shown
    from vmci.note.read import NoteReadError, read_captured_note

    with local_file(path) as actual:
        try:
            note = read_captured_note(actual)
        except NoteReadError as error:
            raise NoteReadError(named(str(error), actual, path))
    note.path = shown(path)
    return note


def _cache_dir(args):
    if getattr(args, "no_cache", False):
        return None
    from vmci.resources import default_cache_dir
    return default_cache_dir()


def cmd_audit_note(args: argparse.Namespace) -> int:
    from vmci.jsonformat import document
    from vmci.audit.image import resolve_image
    from vmci.audit.noteaudit import compare_note, failed, render_text, summary

    specs = _load_specs(args.specs)
    _stdin_once(args, "file", "--vmlinux", "--config")
    note = _read_note(args.file)
    image = resolve_image(specs, args.vmlinux, args.config, args.kernel_version, cache_dir=_cache_dir(args),
                          note_values=note.values())
    verdicts = compare_note(note, image.lines, specs, True if args.at_crash else None)
    if args.format == "json":
        _emit(args, document("audit-note", {
            "file": note.path, "input_kind": note.kind, "where": note.where, "vmlinux": image.path,
            "build_id": image.build_id, "arch": image.arch, "machine": image.machine,
            "kernel_version": ".".join(map(str, image.version)),
            "config": image.config.source, "kaslr": kaslr_json(image), "summary": summary(verdicts),
            "lines": [v.as_json(specs.directory) for v in verdicts]}))
    else:
        _emit(args, render_text(note, verdicts, kaslr_text(image)))
    return EXIT_FOUND if failed(verdicts) else EXIT_OK


def kaslr_text(image) -> str:
    """The slide a note's kernel was placed with, and the lines it moved, in a sentence."""
    if image.slide is None:
        return "KASLR: the kernel reports no KASLR offset; nothing moved"
    if not image.slide.slide:
        return f"KASLR: none ({image.slide.line.key} as without KASLR)"
    return (f"KASLR: slide {image.slide.slide:#x} applied, read from the note's {image.slide.line.key}="
            f"{image.slide.offset:x} ({image.slide.line.value} without KASLR); it moved {len(image.moved)} lines: "
            + ", ".join(image.moved))


def kaslr_json(image):
    if image.slide is None:
        return None
    return {"key": image.slide.line.key, "offset": f"{image.slide.offset:x}", "slide": f"{image.slide.slide:x}",
            "without_kaslr": image.slide.line.value, "moved": image.moved}


# --- audit consumers ----------------------------------------------------------------------

def cmd_audit_consumers(args: argparse.Namespace) -> int:
    from vmci.jsonformat import document
    from vmci.select import check_version
    from vmci.audit.consumers import audit_consumers, newest_version, render_json, render_text
    from vmci.audit.image import load_config, parse_version_argument

    specs = _load_specs(args.specs)
    config = load_config(args.config)
    version = parse_version_argument(args.kernel_version) if args.kernel_version else newest_version(specs)
    check_version(specs, version)
    report = audit_consumers(specs, version, args.arch, config)
    if args.format == "json":
        _emit(args, document("audit-consumers", dict(render_json(report, config),
                                                     kernel_version=".".join(map(str, version)))))
    else:
        _emit(args, render_text(report, config))
    return EXIT_FOUND if any(machine.required_missing for machine in report) else EXIT_OK




# --- coverage -------------------------------------------------------------------------------

def cmd_coverage(args: argparse.Namespace) -> int:
    from vmci.cli.memo import coverage_key, remembered

    def run(say) -> int:
        say.write(printable_text(_coverage_report(args)))
        return EXIT_OK
    return remembered("coverage", coverage_key, args, run)


def _coverage_report(args: argparse.Namespace) -> str:
    from vmci.audit.coverage import compute_coverage, render_html, render_json, render_text
    from vmci.jsonformat import document

    specs = _load_specs(args.specs)
    coverage = compute_coverage(specs)
    if args.format == "json":
        return document("coverage", render_json(coverage))
    if args.format == "html":
        output = getattr(args, "output", None)
        page_directory = os.path.dirname(os.path.abspath(output)) if output not in (None, "-") else os.getcwd()
        return render_html(coverage, specs.directory, page_directory)
    return render_text(coverage)


# --- diff ---------------------------------------------------------------------------------------

def cmd_diff(args: argparse.Namespace) -> int:
    from vmci.jsonformat import document
    from vmci.audit.diff import diff_sides, is_vmlinux_side, load_side, render_text

    specs = _load_specs(args.specs)
    _stdin_once(args, "a", "b", "--config-a", "--config-b")
    # a vmlinux against a note: the vmlinux as that note's kernel ran it (its KASLR
    # slide), so the other side is read first
    if is_vmlinux_side(args.a) and not is_vmlinux_side(args.b):
        b = load_side(specs, args.b, args.config_b, args.kernel_version_b, _cache_dir(args))
        a = load_side(specs, args.a, args.config_a, args.kernel_version_a, _cache_dir(args),
                      b.values() if b.kind == "note" else None)
    else:
        a = load_side(specs, args.a, args.config_a, args.kernel_version_a, _cache_dir(args))
        b = load_side(specs, args.b, args.config_b, args.kernel_version_b, _cache_dir(args),
                      a.values() if a.kind == "note" else None)
    changes = diff_sides(a, b)
    if args.format == "json":
        _emit(args, document("diff", {
            "a": {"label": a.label, "input_kind": a.kind, "description": a.description},
            "b": {"label": b.label, "input_kind": b.kind, "description": b.description},
            "changes": [c.as_json() for c in changes if c.change != "same" or args.all]}))
    else:
        _emit(args, render_text(a, b, changes, args.all))
    return EXIT_FOUND if any(c.change != "same" for c in changes) else EXIT_OK


# --- the commands --------------------------------------------------------------------------------

AUDIT_SOURCE = Command(
    "source", help="the specs against a kernel source tree: drift in entries, conditions, arches, order",
    description="Extract every VMCOREINFO emission from a kernel source tree (a directory or a source tarball "
                "such as /usr/src/linux-source-6.1.tar.xz): each VMCOREINFO_*() macro use and "
                "vmcoreinfo_append_str() call in any C file, with its #if conditions, the Kbuild gate of its "
                "file, its function and its order; compare them with the spec entries for the tree's version "
                "(from its Makefile). Conditions are compared semantically under the tree's Kconfig rules. "
                "Exit status 1 on any drift. When standard error is a terminal, one line there shows how far "
                "the audit is. With --update-specs, edit the spec files so that they describe "
                "the tree's version: new entries with since:, removed ones closed with until:, changed ones "
                "split into two version ranges, audited: advanced; the result is validated and audited "
                "again before anything is written, and what changed is printed (exit status 1 when drift "
                "remains that needs a hand edit).",
    options=(
        option("kernel_tree", metavar="KERNEL_TREE", help="kernel source directory or tarball"),
        TEXT_OR_JSON,
        OUTPUT,
        SPECS,
        option("--update-specs", action="store_true",
               help="edit the spec files in place so that they describe the tree's version, and print the changes"),
    ),
    run=cmd_audit_source)

AUDIT_NOTE = Command(
    "note", help="a captured VMCOREINFO against what vmci resolves from the vmlinux",
    description="Compare the VMCOREINFO in FILE with the lines vmci resolves from the vmlinux. FILE may be a "
                "VMCOREINFO text, a raw ELF note, an ELF vmcore, a kdump-compressed dump (makedumpfile) or "
                "/proc/kcore (only its PT_NOTE is read). Each line is match, runtime (differs, but the value is "
                "fixed only at run time), differs, missing, unexpected or unresolved. Exit status 1 on any "
                "differs, missing, unexpected, unresolved or moved line.",
    options=(
        option("file", metavar="FILE", help="VMCOREINFO text, note, vmcore, kdump file or /proc/kcore "
                                            "(- for standard input)"),
        option("--vmlinux", required=True, metavar="PATH", help="the vmlinux with DWARF of that kernel (- for "
                                                                "standard input)"),
        CONFIG.but(help="the kernel .config (- for standard input; default: the image's IKCONFIG)"),
        BANNER_VERSION,
        option("--at-crash", action="store_true",
               help="expect the lines appended at panic (CRASHTIME) even if the note has none"),
        TEXT_OR_JSON,
        OUTPUT,
        NO_CACHE,
        SPECS,
    ),
    run=cmd_audit_note)

AUDIT_CONSUMERS = Command(
    "consumers", help="keys each dump tool needs that a kernel does not emit",
    description="For each dump tool in specs/consumers.yaml (makedumpfile, crash, drgn, libkdumpfile, "
                "kexec-tools), list the keys it reads on this machine that the kernel does not emit, required "
                "ones first, each with the tool's source line that reads it. Without --config, keys that "
                "depend on options are listed with their condition. Without --arch, every machine the specs "
                "know; without --kernel-version, the newest version the specs describe. Exit status 1 when a "
                "required key is missing.",
    options=(
        option("--arch", help="kernel ARCH or machine name (x86_64, aarch64, i686, ppc64le, s390x, ...)"),
        KERNEL_VERSION,
        CONFIG,
        TEXT_OR_JSON,
        OUTPUT,
        SPECS,
    ),
    run=cmd_audit_consumers)

AUDIT = Command(
    "audit", help="check the specs against kernel sources, captured notes and the dump tools' needs",
    description="Audits: `source` compares the specs with a kernel source tree, `note` compares a captured "
                "VMCOREINFO with what vmci resolves from the vmlinux, `consumers` lists the keys each dump tool "
                "needs that a kernel does not emit.",
    subcommands=(AUDIT_SOURCE, AUDIT_NOTE, AUDIT_CONSUMERS))

COVERAGE = Command(
    "coverage", help="architectures x kernel versions x config variants: entries emitted and consumer gaps",
    description="A matrix of every machine the specs know, every kernel version at which a spec changes (and "
                "5.10, 6.1, 6.12, the newest) and the config variants (of 16: NUMA on/off; SPARSEMEM_VMEMMAP, "
                "SPARSEMEM_EXTREME, plain SPARSEMEM or FLATMEM; KALLSYMS on/off) the machine's Kconfig offers "
                "(its spec's kconfig-allows), on top of the machine's implied config and a base set: the number "
                "of entries emitted and, per dump tool, the required keys not emitted. The HTML report is one "
                "self-contained page with a filter by dump tool; its cells link to the spec lines behind them, "
                "relative to where it is written.",
    options=(option("--format", choices=("text", "json", "html"), default="text"), OUTPUT, SPECS),
    run=cmd_coverage)

DIFF = Command(
    "diff", help="two kernels' VMCOREINFO entry by entry: added, removed, changed, in kernel order",
    description="Compare two kernels' VMCOREINFO. A and B are each a vmlinux (values resolved with "
                "--config-a/--config-b or the image's IKCONFIG), a captured VMCOREINFO (text, note, vmcore, kdump "
                "file, /proc/kcore) or ARCH@VERSION (x86_64@6.1: the entries the specs give, with their C and "
                "conditions). Prints the entries added (+), removed (-), changed (~) and moved (>) in kernel "
                "order. Exit status 1 when they differ, as diff(1).",
    options=(
        option("a", metavar="A", help="vmlinux, VMCOREINFO file or ARCH@VERSION (- for standard input)"),
        option("b", metavar="B", help="vmlinux, VMCOREINFO file or ARCH@VERSION (- for standard input)"),
        option("--config-a", metavar="PATH", help="config of A (a vmlinux or ARCH@VERSION; - for standard input)"),
        option("--config-b", metavar="PATH", help="config of B (a vmlinux or ARCH@VERSION; - for standard input)"),
        option("--kernel-version-a", metavar="VER", help="override the version read from A's banner"),
        option("--kernel-version-b", metavar="VER", help="override the version read from B's banner"),
        option("--all", action="store_true", help="also list the entries that are the same"),
        TEXT_OR_JSON,
        OUTPUT,
        NO_CACHE,
        SPECS,
    ),
    run=cmd_diff)
