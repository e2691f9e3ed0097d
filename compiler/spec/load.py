"""Load a specs directory: read, validate against the schema, build the model.

This is the front of the pipeline every subcommand starts with. Files that fail the
schema are reported and left out of the model, so one broken file does not hide the
problems of the others.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from vmci.spec.yamlsource import Problem
from vmci.spec.model import SpecSet, build_consumers, build_emitter, spec_files
from vmci.resources import schema_dir, specs_dir

# What `--specs` means when not given: the specs embedded in the package. Resolved when
# used, so that a broken installation is reported by the command that needs them.
DEFAULT_SPECS_DIR = None


def load_specs(directory: Optional[str] = None) -> Tuple[SpecSet, List[Problem]]:
    """The specs of `directory` (default: the embedded specs) and the problems found."""
    directory = directory or specs_dir()
    # imported here: a warm `resolve` takes the model from the cache and needs neither
    from vmci.spec.yamlsource import SpecLoadError, load_document
    from vmci.spec.schema import validate_document

    problems: List[Problem] = []
    if not os.path.isdir(directory):
        return SpecSet([], directory=directory), [Problem(directory, 1, 1, "no such specs directory")]
    emitters = []
    paths = spec_files(directory)
    if not paths:
        problems.append(Problem(directory, 1, 1, "no spec files (*.yaml) in this directory"))
    for path in paths:
        shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
        try:
            shown.encode("utf-8")
        except UnicodeEncodeError:  # a byte the file system gave back as a surrogate
            problems.append(Problem(shown.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace"), 1, 1,
                                    "the file name is not valid UTF-8; generated files name their spec, so spec "
                                    "file names must be text"))
            continue
        try:
            document = load_document(path, shown)
        except SpecLoadError as error:
            problems.append(error.problem)
            continue
        found = validate_document(document)
        problems += found
        if not found:
            emitters.append(build_emitter(document, problems))
    specs = SpecSet(emitters, directory=directory)
    consumers_path = os.path.join(directory, "consumers.yaml")
    if os.path.lexists(consumers_path):  # a broken link is reported, not taken for no file
        try:
            document = load_document(consumers_path, os.path.relpath(consumers_path))
            specs.consumers, specs.tools = build_consumers(document, problems)
        except SpecLoadError as error:
            problems.append(error.problem)
    return specs, problems


CACHE_FORMAT = "vmci-specs-cache/1"


def _model_classes() -> Dict[str, type]:
    """The classes a cached model may hold: those of the model's own modules that are
    built by plain object.__new__ (no class with a __new__ of its own, no exception)."""
    import inspect

    from vmci.lang import cexpr
    from vmci.lang import kconfig
    from vmci.spec import model
    found = {}
    for module in (model, kconfig, cexpr):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and cls.__new__ is object.__new__ and \
                    not issubclass(cls, BaseException):
                found[f"{module.__name__.rsplit('.', 1)[-1]}.{name}"] = cls
    return found


def _encode(value: Any) -> Any:
    """The model as JSON: lists as arrays, scalars as themselves, tuples, sets, dicts and
    objects tagged (`{"t": [...]}`, `{"s": [...]}`, `{"d": [[k, v], ...]}`,
    `{"c": "model.Emitter", "a": {attribute: value}}`)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, tuple):
        return {"t": [_encode(item) for item in value]}
    if isinstance(value, (set, frozenset)):
        return {"s": [_encode(item) for item in sorted(value, key=repr)], "f": isinstance(value, frozenset)}
    if isinstance(value, dict):
        return {"d": [[_encode(k), _encode(v)] for k, v in value.items()]}
    cls = type(value)
    return {"c": f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}",
            "a": {name: _encode(item) for name, item in vars(value).items()}}


class _BadCache(Exception):
    pass


def _decode(value: Any, classes: Dict[str, type]) -> Any:
    """The inverse of _encode, checking as it goes: only the model's own classes are
    built, by object.__new__ and their attributes; no constructor or other code runs."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, list):
        return [_decode(item, classes) for item in value]
    if not isinstance(value, dict) or len(value) not in (1, 2):
        raise _BadCache("not a cached model value")
    if "t" in value and isinstance(value["t"], list):
        return tuple(_decode(item, classes) for item in value["t"])
    if "s" in value and isinstance(value["s"], list):
        items = [_decode(item, classes) for item in value["s"]]
        return frozenset(items) if value.get("f") is True else set(items)
    if "d" in value and isinstance(value["d"], list):
        if not all(isinstance(pair, list) and len(pair) == 2 for pair in value["d"]):
            raise _BadCache("a damaged mapping")
        return {_decode(k, classes): _decode(v, classes) for k, v in value["d"]}
    cls = classes.get(value.get("c")) if isinstance(value.get("c"), str) else None
    attributes = value.get("a")
    if cls is None or not isinstance(attributes, dict):
        raise _BadCache(f"an object of unknown class {value.get('c')!r}")
    built = object.__new__(cls)
    built.__dict__.update({name: _decode(item, classes) for name, item in attributes.items()})
    return built


def _read_cache(path: str, key: str) -> Optional[SpecSet]:
    """The cached model, or None when the file is absent, damaged, planted or stale."""
    import json

    from vmci.files.inputs import NotRegularFile, open_regular

    try:
        with open_regular(path) as handle:  # a FIFO planted there is not waited on
            document = json.loads(handle.read(64 << 20))
        if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT or document.get("key") != key:
            return None
        specs = _decode(document.get("model"), _model_classes())
    except (OSError, ValueError, RecursionError, _BadCache, TypeError, NotRegularFile):
        return None
    return specs if isinstance(specs, SpecSet) else None


def load_specs_cached(directory: Optional[str], cache_dir: str) -> Tuple[SpecSet, List[Problem]]:
    """load_specs, remembered across runs: schema validation dominates a warm `resolve`.

    The cache key hashes every spec file, the schema and the modules that build the model,
    so an edit to any of them rebuilds it. Only specs without problems are remembered. The
    cache is JSON that names only the model's own classes (never a pickle, whose loading
    runs whatever code the file names): a damaged, planted or stale file is ignored and
    rewritten.
    """
    import hashlib
    import json

    from vmci.files.inputs import NotRegularFile, open_regular

    directory = directory or specs_dir()
    schema = schema_dir()
    digest = hashlib.sha256()
    # spec places are shown relative to the working directory, so it is part of the key
    digest.update(os.getcwd().encode("utf-8", "surrogateescape") + b"\0")
    here = os.path.dirname(os.path.abspath(__file__))
    inputs = spec_files(directory) + [os.path.join(directory, "consumers.yaml")] + \
        sorted(os.path.join(schema, n) for n in os.listdir(schema)) + \
        [os.path.join(here, n) for n in ("model.py", "kconfig.py", "cexpr.py", "load.py", "schema.py", "specset.py")]
    for path in inputs:
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
        try:
            with open_regular(path) as handle:  # load_specs reports what is not a regular file
                digest.update(handle.read())
        except (OSError, NotRegularFile):
            digest.update(b"<absent>")
    key = digest.hexdigest()
    cache_path = os.path.join(cache_dir, f"specs-{key[:32]}.json")
    cached = _read_cache(cache_path, key)
    if cached is not None:
        return cached, []
    specs, problems = load_specs(directory)
    if not problems:
        from vmci.files.output import write_atomically
        try:
            os.makedirs(cache_dir, exist_ok=True)
            document = {"format": CACHE_FORMAT, "key": key, "model": _encode(specs)}
            write_atomically(cache_path, json.dumps(document, separators=(",", ":")).encode("utf-8"))
        except (OSError, ValueError, RecursionError):
            pass  # a read-only cache is no reason to fail
    return specs, problems
