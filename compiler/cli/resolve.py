"""`vmci resolve`: the exact VMCOREINFO text a kernel writes, from its vmlinux."""
from __future__ import annotations

import argparse
import os

from vmci.errors import UsageError
from vmci.files.output import printable
from vmci.cli.memo import Transcript
from vmci.cli.options import AT_CRASH, BANNER_VERSION, NO_CACHE, OUTPUT, SPECS, TEXT_OR_JSON, Command, option, warn
from vmci.resources import default_cache_dir

# The stages are imported where they are used: a resolve answered from its memo
# (cli/memo.py) needs none of them.

EXIT_OK, EXIT_FOUND = 0, 1


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
    from vmci.resolve.image import ImageError, image_facts
    from vmci.select import SelectionError

    try:
        target, version, config = image_facts(specs, vm, args.vmlinux, args.kernel_version, args.config)
    except ImageError as error:
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


def cmd_resolve(args: argparse.Namespace) -> int:
    from vmci.cli.memo import remembered, resolve_key
    from vmci.files.inputs import check_once

    check_once([args.vmlinux, args.config], ["--vmlinux", "--config"])
    return remembered("resolve", resolve_key, args, lambda say: _resolve_input(args, say))


def _resolve_input(args, say: Transcript) -> int:
    from vmci.files.inputs import local_file, named

    with local_file(args.vmlinux) as path:
        try:
            return _resolve_file(args, path, say)
        except UsageError as error:
            raise UsageError(named(str(error), path, args.vmlinux))


def _resolve_file(args, path: str, say: Transcript) -> int:
    from vmci.elf import ElfFormatError, LookupFailure, open_vmlinux
    from vmci.files.inputs import shown
    from vmci.resolve.engine import line_json
    from vmci.runtime import describe_unresolved, kernel_bytes, render, vmcoreinfo_bytes
    from vmci.select import unaudited_warning
    from vmci.spec.load import load_valid_specs
    from vmci.spec.model import format_version

    specs = load_valid_specs(args.specs, None if args.no_cache else default_cache_dir())
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    progress = _ResolveProgress()
    try:
        vm = open_vmlinux(path, cache_dir=None if args.no_cache else default_cache_dir(), progress=progress.scan,
                          lasting=path == args.vmlinux)  # not standard input's temporary copy
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
    warn("resolve", unaudited_warning(specs, version), say.line)
    unresolved = [line for line in lines if line.value is None]
    if args.format == "json":
        from vmci.jsonformat import document
        say.write(document("resolve", {
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
        say.write(render(lines, limit, partial=True))  # the unresolved are told below
        if kernel_bytes(lines, limit)[1]:
            say.line(f"vmci resolve: warning: the text reaches VMCOREINFO_BYTES ({limit}); the kernel truncates it "
                     f"there (WARN_ONCE \"vmcoreinfo data exceeds allocated size, truncating\"), and so does this "
                     f"output")
        runtime = [line.key for line in lines if line.runtime and line.value is not None]
        if runtime and not args.quiet:
            # the text stays the kernel's bytes; the boot-time values are told beside it
            say.line(printable(f"vmci resolve: {len(runtime)} "
                               f"{'line holds a value' if len(runtime) == 1 else 'lines hold values'} "
                               f"fixed at boot, given as the image starts them: {', '.join(runtime)} "
                               f"(--format json gives each reason)"))
    for line in unresolved:
        say.line(printable(f"{line.entry.where}: {describe_unresolved(line)}"))
    return EXIT_FOUND if unresolved else EXIT_OK


RESOLVE = Command(
    "resolve", help="the exact VMCOREINFO text a kernel writes, from its vmlinux",
    description="Resolve the specs against a vmlinux (DWARF and symbol table) and its config into "
                "the VMCOREINFO text the kernel writes, byte for byte. The architecture comes from the "
                "ELF header, the version from the image's banner. Values fixed only at run time "
                "(KASLR, boot-time allocations) are given as the image starts them: the text "
                "stays the kernel's bytes, one line on standard error names those lines, and JSON "
                "marks each runtime with its reason. Entries that apply but cannot be resolved are listed on standard "
                "error with the reason, and the exit status is 1.",
    options=(
        option("--vmlinux", required=True, metavar="PATH",
               help="the vmlinux with DWARF (Debian: linux-image-RELEASE-dbg); - reads it from standard input"),
        option("--config", metavar="PATH",
               help="the kernel .config, plain or gzip (- for standard input; default: the config the image embeds, "
                    "CONFIG_IKCONFIG)"),
        option("-q", "--quiet", action="store_true",
               help="no summary on standard error of the lines that hold values fixed at boot"),
        BANNER_VERSION,
        TEXT_OR_JSON,
        AT_CRASH,
        OUTPUT,
        NO_CACHE.but(help="do not read or write the caches (~/.cache/vmci): the per-build-ID answers, the "
                           "specs, and the output of a resolve run before with the same inputs"),
        option("--kaslr-offset", type=_kaslr_offset_argument, metavar="HEX",
               help="what the kernel writes when KASLR placed it so that its KERNELOFFSET line reads HEX: every "
                    "address of the image moves by HEX minus the line's value without KASLR"),
        SPECS,
    ),
    run=cmd_resolve)
