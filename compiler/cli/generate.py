"""`vmci generate`: everything the specs produce, rendered into generated/ (or --check)."""
from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional, Sequence

from vmci.errors import UnusableInput, UsageError
from vmci.files.output import printable
from vmci.cli.options import SPECS, Command, option
from vmci.abi import PINNED_VERSIONS
from vmci.emit.generate import (DEFAULT_OUTPUT_DIR, covered, default_versions, load_checked_specs, output_digests,
                                outputs, shown_directory, stale_digests, write)
from vmci.emit.manifest import NAME as MANIFEST
from vmci.spec.model import SpecSet, Version, format_version, parse_kernel_version

EXIT_OK, EXIT_FOUND = 0, 1


def _versions(specs: SpecSet, texts: Optional[Sequence[str]]) -> List[Version]:
    if not texts:
        return default_versions(specs)
    versions = []
    for text in texts:
        try:
            version = parse_kernel_version(text)
        except ValueError as error:
            raise UsageError(str(error))
        if not covered(specs, version):
            raise UsageError(f"kernel version {text} is outside the specs' versions")
        versions.append(version)
    return sorted(set(versions))


def cmd_generate(args: argparse.Namespace) -> int:
    specs, specs_key = load_checked_specs(args.specs)
    versions = _versions(specs, args.kernel_version)
    directory = args.output_dir
    prune = not args.kernel_version  # a chosen version writes a part; the rest stays as it is
    try:  # a GenerateError is a finding (exit 1), an OSError here unusable output (exit 2)
        if args.check:
            return _check(output_digests(specs, specs_key, versions), directory, prune)
        report = write(outputs(specs, versions), directory, prune=prune, force=args.force)
    except OSError as error:
        raise UnusableInput(f"{getattr(error, 'filename', None) or directory}: cannot write: "
                            f"{error.strerror or error}")
    for warning in report.left_alone:
        print(printable(f"vmci generate: warning: {warning}"), file=sys.stderr)
    left = f", {len(report.left_alone)} left alone" if report.left_alone else ""
    print(f"vmci generate: {report.written} written, {report.unchanged} unchanged, {report.removed} removed{left} "
          f"(kernel C for {', '.join(format_version(v) for v in versions)})", file=sys.stderr)
    return EXIT_FOUND if report.left_alone else EXIT_OK


def _check(found: Dict[str, str], directory: str, prune: bool) -> int:
    problems = stale_digests(found, directory, prune)
    for path, why in problems:
        print(printable(f"{shown_directory(directory)}/{path}: {why}"))
    if problems:
        print(f"vmci generate --check: {len(problems)} of {len(found)} files are stale; run `vmci generate`",
              file=sys.stderr)
        return EXIT_FOUND
    print(f"vmci generate --check: {len(found)} files up to date", file=sys.stderr)
    return EXIT_OK


GENERATE = Command(
    "generate", help="render kernel C, Python, the note builder and the reference from the specs",
    description="Render generated/ from the specs: kernel C per kernel version (the common list as "
                "kernel/vmcore_info.c, printk's hook, every architecture's arch_crash_save_vmcoreinfo()), "
                "Python modules that produce VMCOREINFO from a vmlinux, the ELF note builder in C, and the "
                "reference of every entry (reStructuredText). Only changed files are written. generate "
                "touches only the files it wrote (recorded with their SHA-256 in DIR/" + MANIFEST + "): a file "
                "changed by hand since is left alone with a warning (exit status 1), a directory without that "
                "manifest is written into only when it is new or empty, or with --force. Kernel C is "
                "written for " + ", ".join(format_version(v) for v in PINNED_VERSIONS) + " and the newest "
                "version the specs describe unless --kernel-version is given.",
    options=(
        option("--kernel-version", action="append", metavar="VER",
               help="write kernel C for this version instead (repeatable; 6.12, 6.12.117, or a release)"),
        option("--check", action="store_true",
               help="write nothing; list the files that differ from what the specs give and exit 1 if any"),
        option("-o", "--output-dir", default=DEFAULT_OUTPUT_DIR, metavar="DIR",
               help="where to write (default: generated/ in the current directory)"),
        option("--force", action="store_true",
               help="write into a directory generate does not own, and over files changed by hand or not "
                    "written by generate at the paths it writes (it still removes only the files it wrote)"),
        SPECS,
    ),
    run=cmd_generate)
