"""The stable JSON every `--format json` output is written in.

Each document is one object whose first member names its format and version,
`"format": "vmci-<command>/<major>"`. One vocabulary serves every command (docs/json.md
lists it; `compiler/schemas/vmci-<command>-<major>.json`, shipped as `vmci/schemas/`,
holds each document's JSON Schema; the definitions they share are in `vmci-common.json`):

    key, kind, value, value_format, source, runtime, runtime_reason, reason, condition,
    c, arch, machine, kernel_version, config, vmlinux, build_id, spec, kernel_location

`spec` is a place in a spec file, relative to the specs directory, whatever the working
directory: {"file": "arch/x86_64.yaml", "line": 12, "column": 5}. A new member is an
additive change; a changed meaning bumps the major version.
"""
from __future__ import annotations

import json
import math
import os
from json.encoder import encode_basestring as _escape  # json's C escaper, as ensure_ascii=False uses
from typing import Any, Dict, List, Optional

FORMAT_VERSIONS = {
    "list": 1, "resolve": 1, "validate": 1, "audit-source": 1, "audit-note": 1,
    "audit-consumers": 1, "coverage": 1, "diff": 1, "show": 1, "export": 1,
    "manifest": 1,  # generate's record of what it wrote (manifest.py), not a command's output
}


def format_name(command: str) -> str:
    return f"vmci-{command}/{FORMAT_VERSIONS[command]}"


def document(command: str, payload: Dict[str, Any]) -> str:
    """The JSON text of one output document: its format first, then the payload."""
    body: Dict[str, Any] = {"format": format_name(command)}
    body.update(payload)
    return dumps_indented(body) + "\n"


class _NotPlain(Exception):
    """A value _write leaves to json.dumps (a float that is no number, a subclass, a key
    that is not a string, a cycle)."""


def dumps_indented(value: Any) -> str:
    """json.dumps(value, indent=2, ensure_ascii=False), byte for byte, faster.

    json.dumps writes indented text with its pure-Python encoder (the C one only writes
    compact text), which costs `vmci coverage --format json` (1.2 MB) more than the
    coverage itself; this writer makes the same text from plain JSON values in one
    recursive pass, strings escaped by json's own (C) escaper. Anything else goes to
    json.dumps, so its errors and its spelling of unusual values stay."""
    parts: List[str] = []
    try:
        _write(value, "\n", parts)
    except (_NotPlain, RecursionError):
        return json.dumps(value, indent=2, ensure_ascii=False)
    return "".join(parts)


def _write(value: Any, newline: str, parts: List[str]) -> None:
    """Append the indented JSON of `value`; `newline` is a newline and the indent of the
    line `value` starts on."""
    kind = type(value)
    if kind is str:
        parts.append(_escape(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif kind is int:
        parts.append(int.__repr__(value))
    elif kind is float and math.isfinite(value):
        parts.append(float.__repr__(value))
    elif kind is dict:
        if not value:
            parts.append("{}")
            return
        inner = newline + "  "
        separator = "{" + inner
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            parts.append(separator)
            parts.append(_escape(key))
            parts.append(": ")
            _write(item, inner, parts)
            separator = "," + inner
        parts.append(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            parts.append("[]")
            return
        inner = newline + "  "
        if all(type(item) is str for item in value):  # most lists vmci writes: one line each
            parts.append("[" + inner + ("," + inner).join(map(_escape, value)) + newline + "]")
            return
        separator = "[" + inner
        for item in value:
            parts.append(separator)
            _write(item, inner, parts)
            separator = "," + inner
        parts.append(newline + "]")
    else:
        raise _NotPlain


def spec_location(where: Any, specs_directory: Optional[str]) -> Optional[Dict[str, Any]]:
    """A SpecLocation (file as loaded, line, col) as a place relative to the specs directory.

    The file as loaded is relative to the working directory of the load (or absolute), so
    it is made absolute here, in the same process, before it is made relative again."""
    if where is None:
        return None
    path = str(where.file)
    if specs_directory:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(specs_directory))
        if not relative.startswith(".."):
            path = relative
    return {"file": path.replace(os.sep, "/"), "line": where.line, "column": getattr(where, "col", 1)}


def kernel_location(place: Optional[str]) -> Optional[Dict[str, Any]]:
    """A place in a kernel source tree, `path/file.c:123` as the audit prints it, as
    {"file": "path/file.c", "line": 123} (no line when the place is a whole file)."""
    if not place:
        return None
    file, _, line = place.rpartition(":")
    if file and line.isdigit():
        return {"file": file, "line": int(line)}
    return {"file": place}


# --- the schemas -------------------------------------------------------------------------

def schema_name(command: str) -> str:
    return f"vmci-{command}-{FORMAT_VERSIONS[command]}.json"


def _schema_text(name: str) -> str:
    import importlib.resources

    from vmci.resources import PackageDataMissing

    try:
        return importlib.resources.files(__package__).joinpath("schemas", name).read_text("utf-8")
    except (OSError, ModuleNotFoundError):
        raise PackageDataMissing(f"this installation of vmci has no schema {name}; reinstall vmci")


def schema(command: str) -> Dict[str, Any]:
    """The JSON Schema of a command's document, from the package data (vmci/schemas/)."""
    return json.loads(_schema_text(schema_name(command)))


COMMON_SCHEMA = "vmci-common.json"


def check(body: Dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `body` is a valid document of the format
    it names (`format` tells the command and its version)."""
    import jsonschema

    name = body.get("format", "") if isinstance(body, dict) else ""
    command, _, major = name[len("vmci-"):].rpartition("/") if name.startswith("vmci-") else ("", "", "")
    if command not in FORMAT_VERSIONS or major != str(FORMAT_VERSIONS[command]):
        raise jsonschema.ValidationError(f"unknown format {name!r}")
    common = json.loads(_schema_text(COMMON_SCHEMA))
    validator_class = jsonschema.validators.validator_for(common)
    try:  # jsonschema 4.18 and later resolve references through a registry
        from referencing import Registry, Resource
        registry = Registry().with_resource(COMMON_SCHEMA, Resource.from_contents(common))
        validator = validator_class(schema(command), registry=registry, format_checker=jsonschema.FormatChecker())
    except ImportError:  # older jsonschema (Debian bookworm's 4.10)
        resolver = jsonschema.RefResolver.from_schema(schema(command), store={COMMON_SCHEMA: common})
        validator = validator_class(schema(command), resolver=resolver, format_checker=jsonschema.FormatChecker())
    validator.validate(body)
