"""Validate loaded spec documents against the JSON Schema for their level.

jsonschema reports where in the data a rule failed; the loader's marks turn that into
file:line:col, and the schema's own `description`s turn terse rule names into advice
for the person editing the YAML. All errors are collected, never just the first.
"""
from __future__ import annotations

import json
import os
import re
from functools import cache
from typing import Any, Callable, List, Optional, Set

from vmci.spec.yamlsource import Document, Problem
from vmci.resources import schema_dir

KNOWN_LEVELS = ("vmci-1",)


# The levels whose schema was checked against JSON Schema's metaschema. The schema ships
# inside vmci, so spec/load.py's cache remembers that this vmci (by the digest of its
# modules and schema) checked it before, and adds the level here: a run that reads one
# edited spec file does not check the schema again (a third of that run's time).
CHECKED_LEVELS: Set[str] = set()


@cache
def _schema_document(level: str) -> dict:
    with open(os.path.join(schema_dir(), f"{level}.json"), encoding="utf-8") as handle:
        return json.load(handle)


def schema_for(level: str) -> dict:
    """The schema of `level`, checked against JSON Schema's metaschema (once per vmci)."""
    schema = _schema_document(level)
    if level not in CHECKED_LEVELS:
        import jsonschema

        jsonschema.Draft202012Validator.check_schema(schema)
        CHECKED_LEVELS.add(level)
    return schema


def ecma_pattern(pattern: str) -> str:
    """A JSON Schema (ECMA-262) pattern as a Python one: `$` outside a character class
    becomes `\\Z`, because Python's `$` also matches before a final newline."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            out.append("\\Z")
            continue
        out.append(char)
    return "".join(out)


@cache
def _compiled(pattern: str):
    return re.compile(ecma_pattern(pattern))


def _pattern(validator, pattern, instance, schema):
    import jsonschema

    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator(level: str):
    import jsonschema

    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})
    return cls(schema_for(level))


@cache
def _acceptor(level: str) -> Optional[Callable[[Any], bool]]:
    """The schema compiled to say yes or no (spec/schema_accept.py); None when it uses what
    that compiler does not implement, and jsonschema alone decides. It needs no metaschema
    check first: the compiler checks the form of every keyword it reads and refuses any
    other (the metaschema check, 0.04 s and jsonschema's import, is for jsonschema's own
    validator, which reads the schema as it comes)."""
    from vmci.spec.schema_accept import UnsupportedSchema, compile_acceptor

    try:
        return compile_acceptor(_schema_document(level), _compiled)
    except UnsupportedSchema:
        return None


def validate_document(document: Document) -> List[Problem]:
    data = document.data
    if not isinstance(data, dict):
        return [document.problem((), "a spec file must be a mapping with schema, emitter, sources and functions")]
    level = data.get("schema")
    if level not in KNOWN_LEVELS:
        return [document.problem(("schema",), f"unknown schema level {level!r}; this vmci knows {', '.join(KNOWN_LEVELS)} "
                                              "(write `schema: vmci-1` first in the file)")]
    accepts = _acceptor(level)
    if accepts is not None and accepts(data):
        return []  # the common case, without jsonschema; its errors are for a refused document
    problems = []
    for error in _validator(level).iter_errors(data):
        problems.extend(_describe(document, error))
    # one line per place and message, in file order
    unique = {(p.line, p.col, p.message): p for p in problems}
    return [unique[key] for key in sorted(unique)]


_UNEXPECTED = re.compile(r"\('([^']+)'(?:, '([^']+)')*(?: was| were) unexpected\)")


def _describe(document: Document, error) -> List[Problem]:
    path = tuple(error.absolute_path)
    where = _name_of(path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        names = re.findall(r"'([^']+)'", error.message.split("(", 1)[-1]) or ["?"]
        allowed = sorted(_allowed_properties(error))
        # a field of the entry's own kind is only "unevaluated" because another rule
        # for that kind failed (reported separately), not because it is unknown
        names = [name for name in names if name not in allowed]
        hint = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return [document.problem(path + (name, "@key"), f"unknown field {name!r} in {where}{hint}") for name in names]
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return [document.problem(path, f"{where} lacks the required field {name!r}") for name in missing]
    if error.validator == "allOf" or error.validator == "oneOf":
        # report the innermost cause when there is one
        causes = sorted(error.context, key=lambda e: len(e.absolute_path), reverse=True)
        if causes and error.validator == "allOf":
            return _describe(document, causes[0])
    message = _short_message(error)
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if description and error.validator in ("pattern", "enum", "const", "type", "oneOf", "minLength", "maxLength"):
        message += f" — {description}"
    return [document.problem(path, f"{where}: {message}")]


def _short_message(error) -> str:
    value = error.instance
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    if error.validator == "type":
        expected = error.validator_value
        if expected == "string" and isinstance(value, float):
            return f"YAML read this as the number {value}; versions and names must be quoted strings"
        return f"{shown} is not of type {expected}"
    if error.validator == "enum":
        return f"{shown} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "const":
        return f"{shown} must be {error.validator_value!r}"
    if error.validator == "pattern":
        return f"{shown} does not match {error.validator_value}"
    if error.validator == "oneOf":
        return f"{shown} is not a valid value"
    return error.message


def _allowed_properties(error) -> set:
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        then = part.get("then", {})
        condition = part.get("if", {}).get("properties", {}).get("kind", {})
        kinds = condition.get("enum") or [condition.get("const")]
        if isinstance(error.instance, dict) and error.instance.get("kind") in kinds:
            allowed |= set(then.get("properties", {}))
    return allowed


def _name_of(path: tuple) -> str:
    if not path:
        return "the file"
    parts: List[str] = []
    for part in path:
        parts.append(f"[{part}]" if isinstance(part, int) else (("." if parts else "") + str(part)))
    return "".join(parts)
