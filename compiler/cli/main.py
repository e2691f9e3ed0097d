"""The `vmci` command: parse arguments, call one stage, print, exit.

Exit status: 0 success; 1 the input was understood and found wanting (spec problems,
entries that could not be resolved, drift); 2 the input could not be used at all
(missing or damaged file, bad arguments). Every failure is one line naming the file and
place; no traceback reaches the user.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from vmci import __version__
from vmci.files.inputs import NotRegularFile
from vmci.lang.kconfig import ConfigError, KernelConfig
from vmci.spec.lint import check_specs, errors_in
from vmci.cli.entry import EXIT_INTERRUPTED
from vmci.files.output import printable
from vmci.resources import PackageDataMissing, default_cache_dir
from vmci.spec.model import format_version, kernel_version_from_banner, parse_kernel_version
from vmci.select import SelectionError, find_target, select_entries
from vmci.spec.load import DEFAULT_SPECS_DIR, load_specs

EXIT_OK, EXIT_FOUND, EXIT_UNUSABLE = 0, 1, 2




class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit 2."""


def _read_tree_version(tree: str) -> Optional[tuple]:
    """The tree's version from its top Makefile (the audit's reader), None when unreadable."""
    from vmci.audit.tree import TreeError, version_of
    from vmci.files.inputs import NotRegularFile, open_regular

    path = os.path.join(tree, "Makefile")
    try:
        with open_regular(path, "r", encoding="utf-8", errors="replace") as handle:
            return version_of(handle.read(4096), path)
    except (NotRegularFile, TreeError) as error:
        raise UsageError(str(error))
    except OSError:
        return None


def _load_specs_or_fail(directory: Optional[str], use_cache: bool = True):
    """The model (from vmci's spec cache unless use_cache is false), or the spec errors on
    standard error and exit status 1."""
    if use_cache:
        from vmci.spec.load import load_specs_cached
        specs, problems = load_specs_cached(directory, default_cache_dir())
    else:
        specs, problems = load_specs(directory)
    errors = errors_in(problems)
    if errors:
        for problem in errors:
            print(printable(str(problem)), file=sys.stderr)
        raise SystemExit(EXIT_FOUND)
    return specs


def _load_config(path: Optional[str]) -> Optional[KernelConfig]:
    if path is None:
        return None
    try:
        return KernelConfig.from_file(path)
    except ConfigError as error:
        raise UsageError(str(error))


def _kernel_version(text: str):
    try:
        return parse_kernel_version(text)
    except ValueError as error:
        raise UsageError(str(error))


def warn_if_unaudited(command: str, specs, version) -> None:
    """One line on standard error when the kernel is newer than what the specs were
    checked against: the answer is given, but what that kernel changed is not in it."""
    audited = specs.unaudited(version)
    if audited is not None:
        newest, where = audited
        print(printable(f"vmci {command}: warning: Linux {format_version(version)} is newer than "
                        f"{format_version(newest)}, the newest version these specs were audited against ({where}); "
                        f"entries it added or changed are not described"), file=sys.stderr)


# --- subcommands --------------------------------------------------------------------------

def cmd_validate(args) -> int:
    if args.specs_positional and args.specs and args.specs_positional != args.specs:
        raise UsageError(f"two specs directories given: {args.specs_positional} and --specs {args.specs}")
    directory = args.specs or args.specs_positional
    symbols = version = None
    if not args.kernel_src:
        from vmci.spec.load import load_checked_specs
        specs, problems, checks, _ = load_checked_specs(directory, default_cache_dir())
        problems += checks
    else:
        from vmci.spec.load import load_specs_cached
        specs, problems = load_specs_cached(directory, default_cache_dir())
        if not os.path.isdir(args.kernel_src):
            raise UsageError(f"{args.kernel_src}: not a directory (--kernel-src takes a kernel source tree)")
        from vmci.audit.kconfig_rules import kconfig_symbols

        try:
            symbols = kconfig_symbols(args.kernel_src)
        except NotRegularFile as error:
            raise UsageError(str(error))
        if not symbols:
            raise UsageError(f"{args.kernel_src}: no Kconfig files found; is it a kernel source tree?")
        version = _read_tree_version(args.kernel_src)
        problems += check_specs(specs, symbols, version)
    errors = errors_in(problems)
    warnings = len(problems) - len(errors)
    entries = sum(1 for _ in specs.all_entries())
    if args.format == "json":
        from vmci.jsonformat import document, spec_location
        _write(args.output, document("validate", {
            "spec_files": len(specs.emitters), "entries": entries, "errors": len(errors), "warnings": warnings,
            "problems": [{"severity": problem.severity, "check": problem.check or None, "message": problem.message,
                          "spec": spec_location(problem, specs.directory)} for problem in problems],
        }))
    else:
        _write(args.output, "".join(printable(str(problem)) + "\n" for problem in problems))
    print(f"{len(specs.emitters)} spec files, {entries} entries: {len(errors)} errors, {warnings} warnings",
          file=sys.stderr)
    failed = errors or (args.werror and warnings)
    return EXIT_FOUND if failed else EXIT_OK


def cmd_list(args) -> int:
    specs = _load_specs_or_fail(args.specs)
    config = _load_config(args.config)
    version = _kernel_version(args.kernel_version)
    try:
        target = find_target(specs, args.arch, config)
        phases = ("boot", "crash") if args.at_crash else ("boot",)
        selected = select_entries(specs, target, version, config, phases)
    except SelectionError as error:
        raise UsageError(str(error))
    warn_if_unaudited("list", specs, version)
    if args.format == "json":
        from vmci.jsonformat import document
        _write(args.output, document("list", {
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
        _write(args.output, "\n".join(lines) + ("\n" if lines else ""))
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


def line_json(line, specs_directory: Optional[str]) -> dict:
    """One resolved line in the shared vocabulary (resolve, and the API's users)."""
    from vmci.jsonformat import spec_location

    return {"key": line.key, "value": line.value, "kind": line.entry.kind, "value_format": line.entry.format or None,
            "source": line.source, "runtime": line.runtime is not None, "runtime_reason": line.runtime,
            "reason": line.reason, "spec": spec_location(line.entry.where, specs_directory)}


class _ResolveProgress:
    """Overall progress of a resolve on a terminal: the entries done, and within an
    entry the DWARF scan a cold lookup makes (progress.py)."""

    def __init__(self):
        from vmci.cli.progress import Progress
        self.bar = Progress("vmci resolve:")
        self.done, self.total = 0, 0

    def entry(self, done: int, total: int, key: str) -> None:
        self.done, self.total = done, total
        self.bar.update(done / total if total else 0.0, key)

    def scan(self, done: int, total: int, what: str) -> None:
        if self.total:  # scans before the first entry (the banner, the config) are quick
            share = done / total if total else 1.0
            self.bar.update((self.done + share) / self.total, what)


def _resolve_image(args, specs, vm, progress=None):
    """The resolve steps that question the image; damage may surface in any of them."""
    from vmci.resolve.engine import resolve, resolve_with_kaslr_offset
    from vmci.select import find_target_by_elf

    if not vm.has_dwarf:
        raise UsageError(f"{args.vmlinux}: no DWARF (.debug_info): this looks like a stripped or boot image; "
                         f"use the vmlinux with debug info (Debian: linux-image-RELEASE-dbg)")
    try:
        target = find_target_by_elf(specs, vm.e_machine, vm.elf_class, vm.endianness)
    except SelectionError as error:
        raise UsageError(f"{args.vmlinux}: {error}")
    banner = vm.linux_banner()
    if args.kernel_version:
        version = _kernel_version(args.kernel_version)
    else:
        version = kernel_version_from_banner(banner)
        if version is None and vm.contents_stripped:
            raise UsageError(f"{args.vmlinux}: a debug-only image (its sections keep no code or data, as objcopy "
                             f"--only-keep-debug leaves them): the kernel version is not in it; pass --kernel-version")
        if version is None:
            raise UsageError(f"{args.vmlinux}: no linux_banner to read the kernel version from; pass --kernel-version")
    if args.config:
        config = _load_config(args.config)
        assert config is not None  # a path was given
    else:
        embedded = vm.embedded_config()
        if embedded is None:
            raise UsageError(f"{args.vmlinux}: the image embeds no config (CONFIG_IKCONFIG); pass --config PATH "
                             f"(the kernel's .config, e.g. /boot/config-RELEASE)")
        try:
            config = KernelConfig.from_text(embedded, f"{args.vmlinux}:IKCONFIG")
        except ConfigError as error:
            raise UsageError(str(error))
    slide = None
    try:
        phases = ("boot", "crash") if args.at_crash else ("boot",)
        if args.kaslr_offset is None:
            lines = resolve(specs, vm, target, version, config, phases, progress=progress)
        else:
            lines, slide = resolve_with_kaslr_offset(specs, vm, target, version, config, args.kaslr_offset, phases,
                                                     progress)
            if slide is None:
                raise UsageError(f"{args.vmlinux}: --kaslr-offset: this kernel reports no KASLR offset (no spec line "
                                 f"marked kaslr-offset applies to it, or it is unresolved)")
    except SelectionError as error:
        raise UsageError(str(error))
    vm.save_cache() if not args.no_cache else None
    return lines, target, version, config, slide


def _kaslr_offset_argument(text: str) -> int:
    """--kaslr-offset: the KERNELOFFSET value a KASLR-booted kernel wrote, in hex."""
    try:
        value = int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a hexadecimal number (KERNELOFFSET's value, e.g. 2b000000)")
    if value < 0 or value >= 1 << 64:
        raise argparse.ArgumentTypeError(f"{text!r} does not fit in 64 bits")
    return value


def cmd_resolve(args) -> int:
    from vmci.files.inputs import StdinTwice, check_once, local_file, named

    try:
        check_once([args.vmlinux, args.config], ["--vmlinux", "--config"])
    except StdinTwice as error:
        raise UsageError(str(error))
    with local_file(args.vmlinux) as path:
        try:
            return _resolve_file(args, path)
        except UsageError as error:
            raise UsageError(named(str(error), path, args.vmlinux))


def _resolve_file(args, path: str) -> int:
    from vmci.elf import ElfFormatError, LookupFailure, open_vmlinux
    from vmci.files.inputs import shown
    from vmci.runtime import describe_unresolved, kernel_bytes, render, vmcoreinfo_bytes

    specs = _load_specs_or_fail(args.specs, use_cache=not args.no_cache)
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    progress = _ResolveProgress()
    try:
        vm = open_vmlinux(path, cache_dir=None if args.no_cache else default_cache_dir(), progress=progress.scan)
    except ElfFormatError as error:
        raise UsageError(str(error))
    try:
        lines, target, version, config, slide = _resolve_image(argparse.Namespace(**dict(vars(args), vmlinux=path)),
                                                               specs, vm, progress.entry)
    except ElfFormatError as error:  # damage found while answering a question
        raise UsageError(str(error))
    except LookupFailure as error:
        raise UsageError(f"{path}: {error}")
    finally:
        progress.bar.finish()
        vm.close()
    warn_if_unaudited("resolve", specs, version)
    unresolved = [line for line in lines if line.value is None]
    if args.format == "json":
        from vmci.jsonformat import document
        _write(args.output, document("resolve", {
            "vmlinux": shown(args.vmlinux),
            "build_id": vm.build_id,
            "arch": target.arch,
            "machine": target.machine.name if target.machine else None,
            "kernel_version": format_version(version),
            "config": config.source.replace(path, shown(args.vmlinux)),
            "at_crash": bool(args.at_crash),
            "kaslr": None if slide is None else {"key": slide.line.key, "offset": f"{slide.offset:x}",
                                                 "slide": f"{slide.slide:x}"},
            "lines": [line_json(line, specs.directory) for line in lines],
            "unresolved": len(unresolved),
        }))
    else:
        limit = vmcoreinfo_bytes(lines)
        _write(args.output, render(lines, limit, partial=True))  # the unresolved are told below
        if kernel_bytes(lines, limit)[1]:
            print(f"vmci resolve: warning: the text reaches VMCOREINFO_BYTES ({limit}); the kernel truncates it there "
                  f"(WARN_ONCE \"vmcoreinfo data exceeds allocated size, truncating\"), and so does this output",
                  file=sys.stderr)
        runtime = [line.key for line in lines if line.runtime and line.value is not None]
        if runtime and not args.quiet:
            # the text stays the kernel's bytes; the boot-time values are told beside it
            print(printable(f"vmci resolve: {len(runtime)} {'line holds a value' if len(runtime) == 1 else 'lines hold values'} "
                            f"fixed at boot, given as the image starts them: {', '.join(runtime)} "
                            f"(--format json gives each reason)"), file=sys.stderr)
    for line in unresolved:
        print(printable(f"{line.entry.where}: {describe_unresolved(line)}"), file=sys.stderr)
    return EXIT_FOUND if unresolved else EXIT_OK


def _write(output: Optional[str], text: str) -> None:
    """The command's output to standard output or -o (output.write_output; an OutputError
    reaches main() as one line)."""
    from vmci.files.output import write_output
    write_output(output or "-", text.encode("utf-8"))


# --- argument parsing ------------------------------------------------------------------------

# the commands defined here: running one of them needs none of the later stages' modules
OWN_COMMANDS = ("validate", "list", "resolve")


def build_parser(later_stages: bool = True, command: Optional[str] = None) -> argparse.ArgumentParser:
    """The whole command line; without later_stages, only OWN_COMMANDS (what running
    one of them needs: importing every stage to list its commands costs a warm
    `vmci resolve` a third of its time). A `command` of a later stage imports that
    stage only (cli/commands.py)."""
    parser = argparse.ArgumentParser(
        prog="vmci", description="A declarative spec compiler for the Linux kernel's VMCOREINFO.",
        epilog="Exit status: 0 ok, 1 problems found (spec errors, unresolved entries, drift), 2 unusable input.")
    parser.add_argument("--version", action="version", version=f"vmci {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check the specs against the schema and the semantic checks",
                       description="Validate spec files: JSON Schema, then semantic checks and named lints. "
                                   "Each problem is printed as file:line:col: message.")
    p.add_argument("specs_positional", nargs="?", metavar="SPECS_DIR", help="specs directory (the same as --specs)")
    p.add_argument("--specs", default=DEFAULT_SPECS_DIR, metavar="DIR", help="specs directory (default: the specs embedded in vmci)")
    p.add_argument("--kernel-src", metavar="DIR", help="kernel source tree whose Kconfig files define the known CONFIG_ symbols")
    p.add_argument("--werror", action="store_true", help="treat lint warnings as errors")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the problems as data (vmci-validate/1, docs/json.md)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the problems to FILE instead of standard output (-: standard output)")
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("list", help="the entries one kernel emits, in order",
                       description="List the entries that apply to an architecture, kernel version and config, "
                                   "in the exact order the kernel emits them, with how each value is obtained. "
                                   "Without --config, conditions are shown unevaluated.")
    p.add_argument("--arch", required=True, help="kernel ARCH (x86, arm64, arm, powerpc, riscv, s390, sh) or machine "
                                                 "name (x86_64, i686, aarch64, ppc64le, s390x, riscv64)")
    p.add_argument("--kernel-version", required=True, metavar="VER", help="6.12, 6.12.117 or a release such as 6.1.0-57-cloud-amd64")
    p.add_argument("--config", metavar="PATH", help="the kernel .config (or config.gz; - for standard input)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--at-crash", action="store_true", help="include the lines appended at panic time (CRASHTIME)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output (- too; a "
                                                          "file is replaced atomically, a FIFO or device written in place)")
    p.add_argument("--specs", default=DEFAULT_SPECS_DIR, metavar="DIR", help="specs directory (default: the specs embedded in vmci)")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("resolve", help="the exact VMCOREINFO text a kernel writes, from its vmlinux",
                       description="Resolve the specs against a vmlinux (DWARF and symbol table) and its config into "
                                   "the VMCOREINFO text the kernel writes, byte for byte. The architecture comes from the "
                                   "ELF header, the version from the image's banner. Values fixed only at run time "
                                   "(KASLR, boot-time allocations) are given as the image starts them: the text "
                                   "stays the kernel's bytes, one line on standard error names those lines, and JSON "
                                   "marks each runtime with its reason. Entries that apply but cannot be resolved are listed on standard "
                                   "error with the reason, and the exit status is 1.")
    p.add_argument("--vmlinux", required=True, metavar="PATH",
                   help="the vmlinux with DWARF (Debian: linux-image-RELEASE-dbg); - reads it from standard input")
    p.add_argument("--config", metavar="PATH",
                   help="the kernel .config, plain or gzip (- for standard input; default: the config the image embeds, "
                        "CONFIG_IKCONFIG)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no summary on standard error of the lines that hold values fixed at boot")
    p.add_argument("--kernel-version", metavar="VER", help="override the version read from the image's banner")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--at-crash", action="store_true", help="include the lines appended at panic time (CRASHTIME)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output (- too; a "
                                                          "file is replaced atomically, a FIFO or device written in place)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the per-build-ID cache (~/.cache/vmci)")
    p.add_argument("--kaslr-offset", type=_kaslr_offset_argument, metavar="HEX",
                   help="what the kernel writes when KASLR placed it so that its KERNELOFFSET line reads HEX: every "
                        "address of the image moves by HEX minus the line's value without KASLR")
    p.add_argument("--specs", default=DEFAULT_SPECS_DIR, metavar="DIR", help="specs directory (default: the specs embedded in vmci)")
    p.set_defaults(run=cmd_resolve)

    # the later pipeline stages register their own subcommands
    if later_stages:
        from vmci.cli.commands import register_all
        register_all(sub, command)
    return parser


# The inputs and outputs of every command, by their argparse names: an output that is
# also an input is refused before the command starts (output.check_outputs).
_OUTPUT_OPTIONS = (("output", "-o"), ("elf_core", "--elf-core"))
_INPUT_OPTIONS = (("vmlinux", "--vmlinux"), ("config", "--config"), ("source", "--from"), ("file", "FILE"),
                  ("a", "A"), ("b", "B"), ("config_a", "--config-a"), ("config_b", "--config-b"),
                  ("kernel_tree", "KERNEL_TREE"))


def _is_spec_input(relative: str) -> bool:
    return relative.endswith((".yaml", ".yml", ".json"))


def _is_tree_input(relative: str) -> bool:
    from vmci.audit.tree import wanted
    return wanted(relative) is not None


def _check_outputs(args) -> None:
    from vmci.files.output import check_outputs

    given = lambda names: [(option, getattr(args, name, None)) for name, option in names]  # noqa: E731
    check_outputs(given(_OUTPUT_OPTIONS), given(_INPUT_OPTIONS),
                  [("--specs", getattr(args, "specs", None), _is_spec_input),
                   ("SPECS_DIR", getattr(args, "specs_positional", None), _is_spec_input),
                   ("KERNEL_TREE", getattr(args, "kernel_tree", None), _is_tree_input)])


def _check_working_directory() -> None:
    """Every command shows paths relative to the working directory; one that was removed
    while the shell stood in it is one line, not a traceback from the first relpath."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise UsageError("the working directory no longer exists; cd to a directory that does")
    except OSError as error:
        raise UsageError(f"cannot find the working directory: {error.strerror or error}")


def _command_name(args) -> str:
    sub = getattr(args, "audit_command", None)
    return f"{args.command} {sub}" if sub else args.command


def main(argv: Optional[List[str]] = None) -> int:
    from vmci.files.output import GuardedStdout, OutputError, discard_stdout

    words = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser(later_stages=not words or words[0] not in OWN_COMMANDS,
                              command=words[0] if words else None)
    except ImportError as error:  # a stage module missing from a broken installation
        print(printable(f"vmci: this installation of vmci is incomplete ({error}); reinstall vmci"), file=sys.stderr)
        return EXIT_UNUSABLE
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return EXIT_UNUSABLE
    stdout, sys.stdout = sys.stdout, GuardedStdout(sys.stdout)
    try:
        _check_working_directory()
        _check_outputs(args)
        code = args.run(args)
        sys.stdout.flush()  # a full disk shows here, while it can still be told
        return code
    except (UsageError, PackageDataMissing, OutputError) as error:
        if getattr(error, "stdout", False):
            discard_stdout()
        print(printable(f"vmci {_command_name(args)}: {error}"), file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print(f"vmci {_command_name(args)}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader stopped reading (vmci ... | head): so does vmci
        discard_stdout()
        return EXIT_OK
    finally:
        sys.stdout = stdout


if __name__ == "__main__":  # pragma: no cover
    # run the package's copy of this module, so that the stage modules' `cli.UsageError`
    # is the class main() catches (python -m would otherwise load this file twice)
    from vmci.cli.main import main as package_main
    sys.exit(package_main())
