"""The Python API of vmci (docs/api.md): the specs, the entries one kernel emits, the
lines a vmlinux resolves to, and VMCOREINFO notes, as plain typed records.

    import vmci
    specs = vmci.load_specs()
    entries = vmci.select_entries(specs, "x86_64", "6.1", config="/boot/config-6.1.0-57-cloud-amd64")
    result = vmci.resolve_vmlinux("vmlinux", config="config")
    note = vmci.build_note(result.text)

Every function raises `vmci.VmciError` (vmci.errors; one line naming the file and place)
for input it cannot use, and nothing else for bad input. Spec places are relative to the specs
directory, as in the JSON output (docs/json.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

from vmci.errors import SpecProblems, UnusableInput, VmciError
from vmci.lang.kconfig import ConfigError, KernelConfig
from vmci.spec.model import SpecSet, format_version, parse_kernel_version

PathLike = Union[str, "os.PathLike[str]"]
ConfigArgument = Union[None, PathLike, KernelConfig, Dict[str, str]]

__all__ = [
    "VmciError", "SpecPlace", "Entry", "Line", "Resolution", "Note", "Image", "KernelConfig", "SpecSet",
    "load_specs", "select_entries", "resolve_vmlinux", "build_note", "build_elf_core", "read_note", "open_image",
]


@dataclass(frozen=True)
class SpecPlace:
    """A place in a spec file; `file` is relative to the specs directory."""
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Entry:
    """One VMCOREINFO line a kernel emits, as the specs describe it."""
    key: str
    kind: str
    value_format: Optional[str]  # the printf conversion: "%lx", "%lu", "%s", ...
    condition: Optional[str]  # the Kconfig condition still open (None: none, or decided by the config)
    c: str  # the C statement of the generated kernel file
    emitter: str
    function: str
    runtime_reason: Optional[str]  # set when the spec says the value is fixed only at run time
    consumers: Tuple[str, ...]  # the dump tools that read the key
    spec: SpecPlace


@dataclass(frozen=True)
class Line:
    """One line vmci resolved from a vmlinux."""
    key: str
    value: Optional[str]  # as the kernel formats it; None when it could not be resolved
    kind: str
    source: str  # dwarf, symtab, expr, runtime, image, elf-note, config, unresolved
    runtime_reason: Optional[str]  # why the running kernel's value may differ from the image's
    reason: Optional[str]  # why it could not be resolved
    spec: SpecPlace

    @property
    def runtime(self) -> bool:
        return self.runtime_reason is not None


@dataclass(frozen=True)
class Resolution:
    """What a vmlinux resolves to: its lines in the kernel's order, and the kernel."""
    vmlinux: str
    build_id: Optional[str]
    arch: str
    machine: str
    kernel_version: str
    config: str  # where the config came from
    lines: Tuple[Line, ...]
    text: bytes  # the VMCOREINFO text, byte for byte as the kernel writes it

    @property
    def unresolved(self) -> List[Line]:
        return [line for line in self.lines if line.value is None]

    def values(self) -> Dict[str, Optional[str]]:
        """key -> value (the last, for a key the kernel writes twice)."""
        return {line.key: line.value for line in self.lines}


@dataclass(frozen=True)
class Note:
    """The VMCOREINFO found in a file: a text, note, ELF core, kdump or flattened dump."""
    path: str
    kind: str  # text, note, elf-core, kcore, kdump, flattened
    where: str  # where in the file it was found, in words
    text: str  # exactly as the kernel wrote it
    lines: Tuple[Tuple[str, str], ...]  # (key, value) in order

    def values(self) -> Dict[str, str]:
        return dict(self.lines)


# --- specs and entries ------------------------------------------------------------------

def load_specs(directory: Optional[PathLike] = None) -> SpecSet:
    """The specs (default: the ones vmci ships), schema-valid and without errors."""
    from vmci.spec.lint import errors_in
    from vmci.spec.load import load_specs as load

    specs, problems = load(os.fspath(directory) if directory is not None else None)
    errors = errors_in(problems)
    if errors:
        raise SpecProblems(errors, f"{len(errors)} errors in the specs; the first: {errors[0]}")
    return specs


def _place(where, specs: SpecSet) -> SpecPlace:
    from vmci.jsonformat import spec_location

    place = spec_location(where, specs.directory)
    assert place is not None  # an entry always has its place
    return SpecPlace(**place)


def _version(version: Union[str, Sequence[int]]):
    if not isinstance(version, str):
        return tuple(int(part) for part in version)
    try:
        return parse_kernel_version(version)
    except ValueError as error:
        raise UnusableInput(str(error))


def _config(config: ConfigArgument) -> Optional[KernelConfig]:
    if config is None or isinstance(config, KernelConfig):
        return config
    try:
        if isinstance(config, dict):
            text = "".join(f"{name}={value}\n" for name, value in config.items())
            return KernelConfig.from_text(text, "<dict>")
        return KernelConfig.from_file(os.fspath(config))
    except ConfigError as error:
        raise UnusableInput(str(error))


def select_entries(specs: SpecSet, arch: str, kernel_version: Union[str, Sequence[int]], config: ConfigArgument = None,
           at_crash: bool = False) -> List[Entry]:
    """The entries a kernel emits, in order: `arch` is a kernel ARCH or machine name
    (x86_64, aarch64, ...), `kernel_version` "6.1", "6.12.117", a release or a tuple;
    `config` a .config path, a KernelConfig or {CONFIG_NAME: value}. Without a config,
    the entries that depend on options carry their `condition`."""
    from vmci.emit.c import c_text
    from vmci.select import SelectionError, find_target, select_entries as selection

    version, kernel_config = _version(kernel_version), _config(config)
    try:
        target = find_target(specs, arch, kernel_config)
        selected = selection(specs, target, version, kernel_config, ("boot", "crash") if at_crash else ("boot",))
    except SelectionError as error:
        raise UnusableInput(str(error))
    return [Entry(key=item.entry.key, kind=item.entry.kind, value_format=item.entry.format or None,
                  condition=None if item.condition is True else str(item.condition), c=c_text(item.entry),
                  emitter=item.entry.emitter, function=item.entry.function, runtime_reason=item.entry.runtime,
                  consumers=tuple(sorted({read.tool for read in specs.readers_of(item.entry.key)})),
                  spec=_place(item.entry.where, specs))
            for item in selected]


# --- resolving a vmlinux ------------------------------------------------------------------

def default_cache_dir() -> str:
    from vmci.resources import default_cache_dir as cache_dir

    return cache_dir()


def resolve_vmlinux(vmlinux: PathLike, config: Optional[PathLike] = None,
            kernel_version: Union[None, str, Sequence[int]] = None, specs: Optional[SpecSet] = None,
            at_crash: bool = False, cache: bool = True) -> Resolution:
    """The VMCOREINFO lines of a vmlinux with DWARF: the architecture from its ELF header,
    the version from its banner (or `kernel_version`), the config from `config` or the
    one the image embeds. What the image taught is cached per build (~/.cache/vmci)
    unless `cache` is false. Lines that cannot be resolved are kept, with their reason."""
    from vmci.audit.image import ImageError, resolve_image
    from vmci.runtime import render

    specs = specs if specs is not None else load_specs()
    path = os.fspath(vmlinux)
    if kernel_version is not None and not isinstance(kernel_version, str):
        kernel_version = format_version(_version(kernel_version))
    try:
        image = resolve_image(specs, path, os.fspath(config) if config is not None else None, kernel_version,
                              ("boot", "crash") if at_crash else ("boot",),
                              cache_dir=default_cache_dir() if cache else None)
    except ImageError as error:
        raise UnusableInput(str(error))
    text = render(image.lines, partial=True).encode("utf-8")  # the unresolved lines keep their reason
    return Resolution(vmlinux=image.path, build_id=image.build_id, arch=image.arch, machine=image.machine,
                      kernel_version=format_version(image.version), config=image.config.source,
                      lines=tuple(Line(line.key, line.value, line.entry.kind, line.source, line.runtime, line.reason,
                                       _place(line.entry.where, specs)) for line in image.lines),
                      text=text)


# --- notes -----------------------------------------------------------------------------------

def _text_bytes(text: Union[str, bytes]) -> bytes:
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def build_note(text: Union[str, bytes], big_endian: bool = False) -> bytes:
    """The ELF note record the kernel writes for VMCOREINFO text (append_elf_note()),
    as `vmci note -o` writes it (no terminating empty note)."""
    from vmci.note.build import build_note as record

    return record(_text_bytes(text), big_endian, final=False)


def build_elf_core(text: Union[str, bytes], machine: str, specs: Optional[SpecSet] = None) -> bytes:
    """A minimal ELF core of `machine` (x86_64, aarch64, s390x, ...) holding the note,
    which drgn, libkdumpfile and `vmci show` open."""
    from vmci.note.build import NoteError, build_note as record, elf_core, note_machine

    try:
        target = note_machine(specs if specs is not None else load_specs(), machine)
    except NoteError as error:
        raise UnusableInput(str(error))
    big_endian = target.endianness == "big"
    return elf_core(record(_text_bytes(text), big_endian), target.elf_class, big_endian, target.elf_machine)


def read_note(path: PathLike) -> Note:
    """The VMCOREINFO in a file: text, a raw note, an ELF vmcore, /proc/kcore, a
    kdump-compressed file or a flattened makedumpfile stream."""
    from vmci.note.read import NoteReadError, read_captured_note

    try:
        note = read_captured_note(os.fspath(path))
    except NoteReadError as error:
        raise UnusableInput(str(error))
    return Note(note.path, note.kind, note.where, note.text, tuple((line.key, line.value) for line in note.lines))


# --- the generated Python generator ------------------------------------------------------------

class Image:
    """A vmlinux opened for the generated generator (`vmci.vmcoreinfo`, docs/api.md):
    its ELF machine, kernel version, config and the resolver the generated modules ask.
    Use it as a context manager, or call close()."""

    def __init__(self, vmlinux: PathLike, config: ConfigArgument = None, cache: bool = True):
        from vmci.spec.model import kernel_version_from_banner
        from vmci.elf import ElfFormatError, open_vmlinux
        from vmci.resolve.image_resolver import ImageResolver

        path = os.fspath(vmlinux)
        if not os.path.exists(path):
            raise UnusableInput(f"{path}: no such file")
        try:
            self._vm = open_vmlinux(path, cache_dir=default_cache_dir() if cache else None)
        except ElfFormatError as error:
            raise UnusableInput(str(error))
        try:
            self.e_machine: int = self._vm.e_machine
            self.elf_class: int = self._vm.elf_class
            self.endianness: str = self._vm.endianness
            version = kernel_version_from_banner(self._vm.linux_banner())
            if version is None:
                raise UnusableInput(f"{path}: no linux_banner to read the kernel version from")
            self.kernel_version: Tuple[int, ...] = version
            kernel_config = _config(config)
            if kernel_config is None:
                embedded = self._vm.embedded_config()
                if embedded is None:
                    raise UnusableInput(f"{path}: the image embeds no config (CONFIG_IKCONFIG); give config=")
                kernel_config = KernelConfig.from_text(embedded, f"{path}:IKCONFIG")
            self.config: KernelConfig = kernel_config
            self.resolver = ImageResolver(self._vm, kernel_config)
        except (ElfFormatError, ConfigError) as error:
            self._vm.close()
            raise UnusableInput(str(error))
        except BaseException:
            self._vm.close()
            raise

    def close(self) -> None:
        self._vm.close()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_image(vmlinux: PathLike, config: ConfigArgument = None, cache: bool = True) -> Image:
    return Image(vmlinux, config, cache)
