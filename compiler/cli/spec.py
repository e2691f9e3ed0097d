"""`vmci validate` and `vmci list`: the specs checked, and the entries one kernel emits."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from vmci.errors import UsageError
from vmci.files.output import printable
from vmci.cli.options import AT_CRASH, CONFIG, KERNEL_VERSION, OUTPUT, SPECS, TEXT_OR_JSON, Command, option, warn, write
from vmci.lang.kconfig import KernelConfig
from vmci.resources import default_cache_dir
from vmci.select import find_target, select_entries, unaudited_warning
from vmci.spec.lint import check_specs, errors_in
from vmci.spec.load import load_checked_specs, load_specs_cached, load_valid_specs
from vmci.spec.model import format_version, parse_kernel_version

EXIT_OK, EXIT_FOUND = 0, 1


def cmd_validate(args: argparse.Namespace) -> int:
    if args.specs_positional and args.specs and args.specs_positional != args.specs:
        raise UsageError(f"two specs directories given: {args.specs_positional} and --specs {args.specs}")
    directory = args.specs or args.specs_positional
    if not args.kernel_src:
        specs, problems, checks, _ = load_checked_specs(directory, default_cache_dir())
        problems += checks
    else:
        specs, problems = load_specs_cached(directory, default_cache_dir())
        if not os.path.isdir(args.kernel_src):
            raise UsageError(f"{args.kernel_src}: not a directory (--kernel-src takes a kernel source tree)")
        from vmci.audit.kconfig_rules import kconfig_symbols
        from vmci.audit.tree import read_tree_version

        symbols = kconfig_symbols(args.kernel_src)
        if not symbols:
            raise UsageError(f"{args.kernel_src}: no Kconfig files found; is it a kernel source tree?")
        problems += check_specs(specs, symbols, read_tree_version(args.kernel_src))
    errors = errors_in(problems)
    warnings = len(problems) - len(errors)
    entries = sum(1 for _ in specs.all_entries())
    if args.format == "json":
        from vmci.jsonformat import document, spec_location
        write(args.output, document("validate", {
            "spec_files": len(specs.emitters), "entries": entries, "errors": len(errors), "warnings": warnings,
            "problems": [{"severity": problem.severity, "check": problem.check or None, "message": problem.message,
                          "spec": spec_location(problem, specs.directory)} for problem in problems],
        }))
    else:
        write(args.output, "".join(printable(str(problem)) + "\n" for problem in problems))
    print(f"{len(specs.emitters)} spec files, {entries} entries: {len(errors)} errors, {warnings} warnings",
          file=sys.stderr)
    failed = errors or (args.werror and warnings)
    return EXIT_FOUND if failed else EXIT_OK


def load_config(path: Optional[str]) -> Optional[KernelConfig]:
    """--config: the kernel .config, or None without one (a ConfigError is unusable input)."""
    return None if path is None else KernelConfig.from_file(path)


def kernel_version(text: str):
    """--kernel-version: a version or a release such as 6.1.0-57-cloud-amd64."""
    try:
        return parse_kernel_version(text)
    except ValueError as error:
        raise UsageError(str(error))


def cmd_list(args: argparse.Namespace) -> int:
    specs = load_valid_specs(args.specs, default_cache_dir())
    config = load_config(args.config)
    version = kernel_version(args.kernel_version)
    target = find_target(specs, args.arch, config)
    phases = ("boot", "crash") if args.at_crash else ("boot",)
    selected = select_entries(specs, target, version, config, phases)
    warn("list", unaudited_warning(specs, version))
    if args.format == "json":
        from vmci.jsonformat import document
        write(args.output, document("list", {
            "arch": target.arch,
            "machine": target.machine.name if target.machine else None,
            "kernel_version": format_version(version),
            "config": config.source if config else None,
            "at_crash": bool(args.at_crash),
            "entries": [_entry_json(specs, item) for item in selected],
        }))
    else:
        lines = []
        for item in selected:
            entry = item.entry
            condition = "" if item.condition is True else f"  [if {item.condition}]"
            lines.append(f"{entry.key:<44} {entry.format:<7} {entry.value_source}{condition}")
        write(args.output, "\n".join(lines) + ("\n" if lines else ""))
    return EXIT_OK


def _entry_json(specs, item) -> dict:
    from vmci.emit.c import c_text
    from vmci.jsonformat import spec_location

    entry = item.entry
    return {
        "key": entry.key,
        "kind": entry.kind,
        "value_format": entry.format or None,
        "value_source": entry.value_source,
        "c": c_text(entry),
        "condition": None if item.condition is True else str(item.condition),
        "runtime": entry.runtime is not None,
        "runtime_reason": entry.runtime,
        "emitter": entry.emitter,
        "function": entry.function,
        "spec": spec_location(entry.where, specs.directory),
        "doc": entry.doc,
        "consumers": sorted({read.tool for read in specs.readers_of(entry.key)}),
    }


VALIDATE = Command(
    "validate", help="check the specs against the schema and the semantic checks",
    description="Validate spec files: JSON Schema, then semantic checks and named lints. "
                "Each problem is printed as file:line:col: message.",
    options=(
        option("specs_positional", nargs="?", metavar="SPECS_DIR", help="specs directory (the same as --specs)"),
        SPECS,
        option("--kernel-src", metavar="DIR",
               help="kernel source tree whose Kconfig files define the known CONFIG_ symbols"),
        option("--werror", action="store_true", help="treat lint warnings as errors"),
        TEXT_OR_JSON.but(help="json: the problems as data (vmci-validate/1, docs/json.md)"),
        OUTPUT.but(help="write the problems to FILE instead of standard output (-: standard output)"),
    ),
    run=cmd_validate)

LIST = Command(
    "list", help="the entries one kernel emits, in order",
    description="List the entries that apply to an architecture, kernel version and config, "
                "in the exact order the kernel emits them, with how each value is obtained. "
                "Without --config, conditions are shown unevaluated.",
    options=(
        option("--arch", required=True, help="kernel ARCH (x86, arm64, arm, powerpc, riscv, s390, sh) or machine "
                                             "name (x86_64, i686, aarch64, ppc64le, s390x, riscv64)"),
        KERNEL_VERSION.but(required=True),
        CONFIG,
        TEXT_OR_JSON,
        AT_CRASH,
        OUTPUT,
        SPECS,
    ),
    run=cmd_list)
