"""`vmci generate`: everything the specs produce, rendered into generated/.

    generated/c/<version>/<kernel path>   kernel C per kernel version: the common emitter as
                                          kernel/vmcore_info.c (kernel/crash_core.c before
                                          6.9), printk's hook, each architecture's function
    generated/c/vmcoreinfo_note.c         the ELF note builder in user-space C
    generated/python/vmcoreinfo/          per-architecture Python that produces VMCOREINFO
    generated/rst/vmcoreinfo.rst          the reference of every entry

The data flows one way: specs -> model (validated, semantically checked) -> view models
(emit_c, emit_python, emit_rst) -> templates (render.py) -> files. Output is
deterministic and carries a provenance header; only files whose content changed are
written, and `--check` lists the files that differ from what the specs give.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

from vmci.abi import DEFAULT_VMCOREINFO_BYTES, LINE_BUFFER_TEXT, NOTE_NAME, NOTE_TYPE, PINNED_VERSIONS
from vmci.emit.manifest import (MAX_MANIFEST_BYTES, NAME as MANIFEST, Manifest, OutputDirectory, OwnershipError, digest,
                       manifest_text, read_manifest)
from vmci.spec.model import SpecSet, Version, format_version
from vmci.errors import Findings, SpecProblems

# The emitters and Jinja2 (vmci.emit.c, .python, .rst, .render) are imported by the
# functions that render: `generate --check` whose outputs' digests are remembered renders
# nothing and needs none of them.

# Relative to the working directory: in a checkout, its generated/; an installed vmci
# has no checkout to write into.
DEFAULT_OUTPUT_DIR = "generated"



@dataclass(frozen=True)
class Output:
    path: str  # relative to the output directory, with /
    text: str


class GenerateError(Findings):
    """The specs cannot be generated from; the message names the file and place."""


# --- what to generate -------------------------------------------------------------------------

def spec_paths(specs: SpecSet) -> Dict[str, str]:
    """Each emitter's file as `specs/<path in the specs directory>`, whatever the cwd."""
    base = os.path.abspath(specs.directory)
    return {e.path: "specs/" + os.path.relpath(os.path.abspath(e.path), base).replace(os.sep, "/")
            for e in specs.emitters}


def version_bounds(specs: SpecSet) -> List[Version]:
    bounds: Set[Version] = set()
    for emitter in specs.emitters:
        ranges = [emitter.versions] + [s.versions for s in emitter.sources] + \
                 [e.versions for e in emitter.entries()] + [d.versions for d in emitter.defines] + \
                 [local.versions for f in emitter.functions for local in f.locals]
        bounds.update(v for r in ranges for v in (r.since, r.until) if v is not None)
    return sorted(bounds)


def covered(specs: SpecSet, version: Version) -> bool:
    return any(e.versions.contains(version) for e in specs.general_emitters())


def newest_version(specs: SpecSet) -> Version:
    """The newest kernel the specs describe: their highest version bound, or the version
    they were audited against (`audited:`) when that is newer: a release that changed no
    emission is still described."""
    bounds = [v for v in version_bounds(specs) if covered(specs, v)]
    audited = specs.audited()
    if audited is not None and covered(specs, audited[0][:2]):
        bounds.append(audited[0][:2])
    if not bounds:
        raise GenerateError(f"{specs.directory}: the specs name no kernel version")
    return max(bounds)


def default_versions(specs: SpecSet) -> List[Version]:
    return sorted({v for v in PINNED_VERSIONS if covered(specs, v)} | {newest_version(specs)})


def c_outputs(specs: SpecSet, version: Version, paths: Dict[str, str]) -> List[Output]:
    from vmci.emit import c as emit_c
    from vmci.emit.render import render

    outputs: Dict[str, Output] = {}
    for emitter in specs.emitters:
        path = emit_c.output_path(emitter, version)
        if path is None:
            continue
        if path in outputs:
            raise GenerateError(f"{emitter.path}: {path} is also the file of another spec in {format_version(version)}")
        view = emit_c.file_view(emitter, version, paths[emitter.path])
        assert view is not None  # output_path gave a path: the emitter has a source for the version
        template = "c/vmcore_info.c.j2" if view.is_common else "c/arch_vmcore_info.c.j2"
        outputs[path] = Output(path, render(template, file=view, note_type=NOTE_TYPE, line_buffer=LINE_BUFFER_TEXT))
    return list(outputs.values())


# The generated package's runtime and the ABI table it imports are vmci's own modules,
# copied byte for byte (vmci/runtime.py says why), not rendered: --check compares the
# copies like any other output.
COPIED_MODULES = {"_runtime.py": "runtime.py", "abi.py": "abi.py"}


def module_source(name: str) -> str:
    """The text of one of vmci's own modules, as installed."""
    import importlib.resources

    return importlib.resources.files("vmci").joinpath(name).read_bytes().decode("utf-8")


def python_outputs(specs: SpecSet, paths: Dict[str, str]) -> List[Output]:
    from vmci.emit import python as emit_python
    from vmci.emit.render import render

    modules = [emit_python.module_view(specs, e, paths) for e in specs.emitters if e.target is not None]
    names = [m.module for m in modules]
    if len(set(names)) != len(names):
        raise GenerateError("two architecture specs give the same Python module name: " + ", ".join(sorted(names)))
    all_specs = sorted(paths.values())
    package = "python/vmcoreinfo"
    outputs = [Output(f"{package}/__init__.py", render("python/__init__.py.j2", modules=modules, specs=all_specs,
                                                       elf_machines=emit_python.elf_machines(modules))),
               *(Output(f"{package}/{copy}", module_source(source)) for copy, source in COPIED_MODULES.items())]
    outputs.append(Output(f"{package}/_general.py", render("python/_general.py.j2",
                                                           general=emit_python.general_view(specs, paths))))
    outputs += [Output(f"{package}/{m.module}.py", render("python/module.py.j2", module=m)) for m in modules]
    return outputs


def outputs(specs: SpecSet, versions: Sequence[Version]) -> List[Output]:
    from vmci.emit import rst as emit_rst
    from vmci.emit.render import RenderError, render

    paths = spec_paths(specs)
    found: List[Output] = []
    try:
        for version in versions:
            found += c_outputs(specs, version, paths)
        found.append(Output("c/vmcoreinfo_note.c", render("c/vmcoreinfo_note.c.j2", note_name=NOTE_NAME,
                                                          note_type=NOTE_TYPE,
                                                          vmcoreinfo_bytes=DEFAULT_VMCOREINFO_BYTES)))
        found += python_outputs(specs, paths)
        found.append(Output("rst/vmcoreinfo.rst", render("rst/vmcoreinfo.rst.j2", specs=sorted(paths.values()),
                                                         sections=emit_rst.reference_view(specs, paths))))
    except RenderError as error:
        raise GenerateError(str(error))
    return sorted(found, key=lambda o: o.path)


# --- comparing and writing ----------------------------------------------------------------------
# What generate may touch is what its manifest names (manifest.py): never a file it did
# not write, never one changed by hand since, never anything through a link.

@dataclass
class Report:
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    left_alone: List[str] = field(default_factory=list)  # one warning each

    def warn(self, shown: str, path: str, why: str) -> None:
        self.left_alone.append(f"{shown}/{path}: {why}")


def _open_directory(directory: str, create: bool, force: bool) -> Tuple[Optional[OutputDirectory], Manifest]:
    """DIR and its manifest; OwnershipError when generate may not write into it."""
    if not os.path.lexists(directory) and not create:
        return None, Manifest()
    try:
        opened = OutputDirectory(directory, create)
    except OSError as error:
        raise OwnershipError(f"{directory}: cannot use as the output directory: {error.strerror or error}")
    try:
        manifest = read_manifest(opened)
        if not manifest.found and not force and not opened.is_empty():
            raise OwnershipError(f"{shown_directory(directory)}: not a directory vmci generate wrote (it has no {MANIFEST}) "
                                 f"and not empty; --force writes into it (replacing only the files generate gives)")
    except BaseException:
        opened.close()
        raise
    return opened, manifest


def shown_directory(directory: str) -> str:
    relative = os.path.relpath(directory)
    return directory if relative.startswith("..") else relative


def stale(outputs_: Sequence[Output], directory: str, prune: bool) -> List[Tuple[str, str]]:
    """(path, why) for each file that differs from what the specs give."""
    return stale_digests({o.path: digest(o.text.encode("utf-8")) for o in outputs_}, directory, prune)


def stale_digests(wanted: Dict[str, str], directory: str, prune: bool) -> List[Tuple[str, str]]:
    """stale() of the outputs with these digests ({path: digest})."""
    opened, manifest = _open_directory(directory, create=False, force=True)
    if opened is None:
        return sorted([(path, "missing") for path in wanted] + ([(MANIFEST, "missing")] if prune else []))
    problems = []
    with opened:
        for path, wanted_digest in wanted.items():
            found = opened.look(path)
            if found.state == "missing":
                problems.append((path, "missing"))
            elif found.state == "blocked":
                problems.append((found.blocked_at, found.reason))
            elif found.digest != wanted_digest:
                problems.append((path, "differs"))
        if prune:
            for path in sorted(set(manifest.files) | set(manifest.pending)):
                if path not in wanted and opened.look(path).state != "missing":
                    problems.append((path, "no longer generated"))
            if not manifest.found:
                problems.append((MANIFEST, "missing"))
            elif opened.read_small(MANIFEST, MAX_MANIFEST_BYTES) != manifest_text(wanted).encode("utf-8"):
                problems.append((MANIFEST, "differs"))
    return sorted(set(problems))


def write(outputs_: Sequence[Output], directory: str, prune: bool, force: bool) -> Report:
    """Write what changed into what generate owns; with `prune`, remove the files it
    wrote that the specs no longer give."""
    report = Report()
    shown = shown_directory(directory)
    opened, manifest = _open_directory(directory, create=True, force=force)
    assert opened is not None  # with create, the directory is made when missing
    with opened:
        files = dict(manifest.files)
        changes: Dict[str, bytes] = {}
        for output in outputs_:
            data = output.text.encode("utf-8")
            new = digest(data)
            found = opened.look(output.path)
            if found.state == "blocked":
                report.warn(shown, found.blocked_at, found.reason + "; left alone")
            elif found.state == "file" and found.digest == new:
                report.unchanged += 1
                files[output.path] = new
            elif found.state == "missing" or force or found.digest in manifest.recorded(output.path):
                changes[output.path] = data
            elif manifest.recorded(output.path):
                report.warn(shown, output.path, "changed since vmci generate wrote it; left alone (--force overwrites it)")
            else:
                report.warn(shown, output.path, "not written by vmci generate; left alone (--force overwrites it)")
        removals = []
        if prune:
            wanted = {o.path for o in outputs_}
            for path in sorted(set(manifest.files) | set(manifest.pending)):
                if path in wanted:
                    continue
                found = opened.look(path)
                if found.state == "file" and found.digest in manifest.recorded(path):
                    removals.append(path)
                elif found.state == "file":
                    report.warn(shown, path, "changed since vmci generate wrote it; not removed, and no longer generate's")
                    files.pop(path, None)
                elif found.state == "blocked":
                    report.warn(shown, found.blocked_at, found.reason + "; not removed")
                else:
                    files.pop(path, None)
        if changes or removals:  # first record what is about to be written, so that both states are generate's
            opened.write(MANIFEST, manifest_text(files, {**manifest.pending, **{p: digest(d) for p, d in changes.items()}})
                         .encode("utf-8"))
        for path, data in changes.items():
            blocked = opened.write(path, data)
            if blocked is not None:  # appeared since it was looked at
                report.warn(shown, blocked.blocked_at, blocked.reason + "; left alone")
                continue
            report.written += 1
            files[path] = digest(data)
        for path in removals:
            opened.remove(path)
            report.removed += 1
            files.pop(path, None)
        final = manifest_text(files).encode("utf-8")
        if opened.read_small(MANIFEST, MAX_MANIFEST_BYTES) != final:
            opened.write(MANIFEST, final)
    return report


# --- the specs generate reads ----------------------------------------------------------------------

def load_checked_specs(directory: str) -> Tuple[SpecSet, str]:
    """The specs, schema-valid and without semantic errors, and the key of their inputs
    (spec/load.py); SpecProblems otherwise."""
    from vmci.resources import default_cache_dir
    from vmci.spec.lint import errors_in
    from vmci.spec.load import load_checked_specs as load

    specs, problems, checks, key = load(directory, default_cache_dir())
    if not errors_in(problems):
        problems += checks
    errors = errors_in(problems)
    if errors:
        raise SpecProblems(errors, f"{len(errors)} errors in the specs; nothing generated")
    return specs, key


# What `generate --check` compares the output directory with is the SHA-256 of each output,
# so they are remembered (in vmci's cache directory) under a key of everything the outputs
# are rendered from: the specs' key (their files, vmci's modules, the schema), the
# templates and the kernel versions. A hit renders nothing; a file changed by hand still
# differs from its remembered digest, and an edited spec or template is another key.
OUTPUTS_CACHE_FORMAT = "vmci-generate-cache/1"


def _outputs_key(specs_key: str, versions: Sequence[Version]) -> str:
    import hashlib

    from vmci.resources import templates_dir

    key = hashlib.sha256(f"{OUTPUTS_CACHE_FORMAT}\0{specs_key}\0{versions!r}\0".encode())
    base = templates_dir()
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(root, name)
            key.update(os.path.relpath(path, base).encode("utf-8", "surrogateescape") + b"\0")
            with open(path, "rb") as handle:
                key.update(handle.read())
    return key.hexdigest()


def _read_output_digests(path: str, key: str) -> Optional[Dict[str, str]]:
    """The remembered digests, or None when the file is absent, damaged or of another key."""
    import json

    from vmci.files.inputs import NotRegularFile, open_regular

    try:
        with open_regular(path) as handle:  # a FIFO planted there is not waited on
            document = json.loads(handle.read(1 << 20))
    except (OSError, ValueError, RecursionError, NotRegularFile):
        return None
    if not isinstance(document, dict) or document.get("format") != OUTPUTS_CACHE_FORMAT or \
            document.get("key") != key or not isinstance(document.get("outputs"), dict):
        return None
    found = document["outputs"]
    for name, value in found.items():
        parts = name.split("/")
        if not (isinstance(value, str) and name and ".." not in parts and "" not in parts and "\0" not in name):
            return None
    return found


def output_digests(specs: SpecSet, specs_key: str, versions: Sequence[Version]) -> Dict[str, str]:
    """{path: digest} of what outputs(specs, versions) gives, rendered only when no cache
    file remembers it; GenerateError as outputs() raises it."""
    import json

    from vmci.files.output import forget_oldest, write_atomically
    from vmci.resources import default_cache_dir
    from vmci.spec import load as spec_load
    from vmci.spec.digest import place

    key = _outputs_key(specs_key, versions) if specs_key else ""
    cache_dir = default_cache_dir()
    # one file per specs directory and working directory (the spec cache's place),
    # replaced when the key changes; as many kept as spec caches
    path = os.path.join(cache_dir, f"generate-{place(specs.directory)[:32]}.json")
    found = _read_output_digests(path, key) if key else None
    if found is not None:
        return found
    wanted = {output.path: digest(output.text.encode("utf-8")) for output in outputs(specs, versions)}
    if key:
        try:
            os.makedirs(cache_dir, exist_ok=True)
            new_place = not os.path.lexists(path)
            write_atomically(path, json.dumps({"format": OUTPUTS_CACHE_FORMAT, "key": key, "outputs": wanted},
                                              separators=(",", ":")).encode("utf-8"))
            if new_place:
                forget_oldest(cache_dir, r"generate-[0-9a-f]{32}\.json", spec_load.MAX_REMEMBERED_PLACES)
        except (OSError, ValueError):
            pass  # a read-only cache is no reason to fail
    return wanted
