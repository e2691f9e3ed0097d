"""One kernel image as the audits use it: the lines vmci resolves from a vmlinux.

The same steps as `vmci resolve` (the machine from the ELF header, the version from the
banner, the config from --config or the image's IKCONFIG), as a function that returns
the resolved lines and raises ImageError, one line naming the file, for anything that
makes the image unusable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from vmci.lang.kconfig import KernelConfig
from vmci.spec.model import SpecSet, Version
from vmci.resolve.engine import ResolvedLine, Slide
# the image's questions and their errors are resolve's (vmci resolve asks them too); the
# audits take them from here
from vmci.resolve.image import ImageError, image_facts, load_config, parse_version_argument

__all__ = ["ImageError", "ResolvedImage", "load_config", "parse_version_argument", "resolve_image"]


@dataclass
class ResolvedImage:
    path: str
    machine: str
    arch: str
    version: Version
    config: KernelConfig
    lines: List[ResolvedLine]
    build_id: Optional[str] = None
    slide: Optional[Slide] = None  # the KASLR slide applied (read from a note), if any
    moved: List[str] = field(default_factory=list)  # the keys whose values the slide moved


def resolve_image(specs: SpecSet, path: str, config_path: Optional[str] = None,
                  kernel_version: Optional[str] = None, phases=("boot", "crash"),
                  cache_dir: Optional[str] = None, note_values: Optional[Dict[str, str]] = None) -> ResolvedImage:
    """The lines vmci resolves for the vmlinux at `path` (`-`: standard input). With
    `note_values` (a captured note's key -> value), the lines as that kernel wrote them:
    the KASLR slide is read from the note's KASLR offset line (KERNELOFFSET) and applied
    to every address of the image."""
    from vmci.files.inputs import local_file, named, shown

    with local_file(path) as actual:
        try:
            image = _resolve_image_file(specs, actual, config_path, kernel_version, phases, cache_dir, note_values,
                                        lasting=actual == path)
        except ImageError as error:
            raise ImageError(named(str(error), actual, path))
    if actual != path:
        image.path = shown(path)
        image.config.source = image.config.source.replace(actual, image.path)
    return image


def _resolve_image_file(specs: SpecSet, path: str, config_path: Optional[str], kernel_version: Optional[str],
                        phases, cache_dir: Optional[str], note_values: Optional[Dict[str, str]] = None,
                        lasting: bool = True) -> ResolvedImage:
    from vmci.elf import ElfFormatError, LookupFailure, open_vmlinux
    from vmci.resolve.engine import resolve
    from vmci.select import SelectionError

    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file")
    try:
        vm = open_vmlinux(path, cache_dir=cache_dir, lasting=lasting)  # lasting: not standard input's copy
    except ElfFormatError as error:
        raise ImageError(str(error))
    try:
        target, version, config = image_facts(specs, vm, path, kernel_version, config_path)
        slide, moved = None, []
        try:
            lines = resolve(specs, vm, target, version, config, phases)
            slide = _note_slide(lines, note_values, vm.elf_class)
            if slide is not None and slide.slide:
                slid = resolve(specs, vm, target, version, config, phases, slide.slide)
                moved = [b.key for a, b in zip(lines, slid) if a.value != b.value]
                lines = slid
        except SelectionError as error:
            raise ImageError(f"{path}: {error}")
        except (ElfFormatError, LookupFailure) as error:
            raise ImageError(str(error))
        if cache_dir:
            try:
                vm.save_cache()
            except OSError:
                pass  # a read-only cache is no reason to fail
    finally:
        vm.close()
    return ResolvedImage(path, target.machine.name if target.machine else target.arch, target.arch, version,
                         config, lines, vm.build_id, slide, moved)


def _note_slide(lines: List[ResolvedLine], note_values: Optional[Dict[str, str]], word_bits: int) -> Optional[Slide]:
    """The slide of the kernel that wrote the note: its KASLR offset line's value against
    the same line resolved without KASLR; None without a note or such a line."""
    from vmci.resolve.engine import kaslr_offset_line, slide_from
    from vmci.runtime import parse_value

    line = kaslr_offset_line(lines)
    if not note_values or line is None or line.key not in note_values:
        return None
    offset = parse_value(line.entry.format, note_values[line.key])
    return None if offset is None else slide_from(lines, offset, word_bits)
