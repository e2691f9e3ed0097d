"""The stable JSON every `--format json` output is written in.

Each document is one object whose first member names its format and version,
`"format": "vmci-<command>/<major>"`. One vocabulary serves every command (docs/json.md
lists it; `compiler/schemas/vmci-<command>-<major>.json` (shipped as `vmci/schemas/`; shared definitions in `vmci-common.json`) holds each document's JSON Schema):

    key, kind, value, value_format, source, runtime, runtime_reason, reason,
    arch, machine, kernel_version, config, vmlinux, build_id, spec

`spec` is a place in a spec file, relative to the specs directory, whatever the working
directory: {"file": "arch/x86_64.yaml", "line": 12, "column": 5}. A new member is an
additive change; a changed meaning bumps the major version.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

FORMAT_VERSIONS = {
    "list": 1, "resolve": 1, "validate": 1, "audit-source": 1, "audit-note": 1,
    "audit-consumers": 1, "coverage": 1, "diff": 1, "show": 1, "export": 1,
}


def format_name(command: str) -> str:
    return f"vmci-{command}/{FORMAT_VERSIONS[command]}"


def document(command: str, payload: Dict[str, Any]) -> str:
    """The JSON text of one output document: its format first, then the payload."""
    body: Dict[str, Any] = {"format": format_name(command)}
    body.update(payload)
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def spec_location(where: Any, specs_directory: Optional[str]) -> Dict[str, Any]:
    """A SpecLocation (file as loaded, line, col) as a place relative to the specs directory."""
    path = str(where.file)
    if specs_directory:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(specs_directory))
        if not relative.startswith(".."):
            path = relative
    return {"file": path.replace(os.sep, "/"), "line": where.line, "column": getattr(where, "col", 1)}
