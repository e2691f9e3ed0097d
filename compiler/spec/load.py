"""Load a specs directory: read, validate against the schema, build the model.

This is the front of the pipeline every subcommand starts with. Files that fail the
schema are reported and left out of the model, so one broken file does not hide the
problems of the others. load_specs_cached and load_checked_specs remember what each file
gave, by its contents, in one JSON file per specs directory (docs/limits.md).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from vmci.lang.condition import Condition, ConditionError
from vmci.resources import specs_dir
from vmci.spec.digest import code_digest, consumers_input, content_digest, emitter_inputs, place, specs_key
from vmci.spec.model import ConsumerRead, Emitter, SpecSet, build_consumers, build_emitter
from vmci.spec.yamlsource import Problem


def load_specs(directory: Optional[str] = None) -> Tuple[SpecSet, List[Problem]]:
    """The specs of `directory` (default: the embedded specs) and the problems found."""
    return _load(directory, _Memo())


def _load(directory: Optional[str], memo: _Memo) -> Tuple[SpecSet, List[Problem]]:
    """load_specs, taking each spec file from `memo` when its contents are those it knows."""
    directory = directory or specs_dir()
    problems: List[Problem] = []
    if not os.path.isdir(directory):
        return SpecSet([], directory=directory), [Problem(directory, 1, 1, "no such specs directory")]
    emitters = []
    inputs = emitter_inputs(directory)
    if not inputs:
        problems.append(Problem(directory, 1, 1, "no spec files (*.yaml) in this directory"))
    for path, shown in inputs:
        try:
            shown.encode("utf-8")
        except UnicodeEncodeError:  # a byte the file system gave back as a surrogate
            problems.append(Problem(shown.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace"), 1, 1,
                                    "the file name is not valid UTF-8; generated files name their spec, so spec "
                                    "file names must be text"))
            continue
        emitter, found = memo.spec_file(path, shown)
        problems += found
        if emitter is not None:
            emitters.append(emitter)
    specs = SpecSet(emitters, directory=directory)
    consumers = consumers_input(directory)
    if consumers is not None:
        specs.consumers, specs.tools, found = memo.consumers_file(*consumers)
        problems += found
    return specs, problems


def _load_spec_file(path: str, shown: str,
                    schemas_checked: Sequence[str] = ()) -> Tuple[Optional[Emitter], List[Problem]]:
    """One emitter file read, checked against the schema and built (None when it fails);
    `schemas_checked`: the schema levels this vmci checked in an earlier run."""
    # imported here: a command that takes the model from the cache needs neither
    from vmci.spec import schema
    from vmci.spec.schema import validate_document
    from vmci.spec.yamlsource import SpecLoadError, load_document

    schema.CHECKED_LEVELS.update(schemas_checked)

    try:
        document = load_document(path, shown)
    except SpecLoadError as error:
        return None, [error.problem]
    problems = validate_document(document)
    if problems:
        return None, problems
    return build_emitter(document, problems), problems


def _load_consumers_file(path: str, shown: str) -> Tuple[List[ConsumerRead], Dict[str, dict], List[Problem]]:
    from vmci.spec.yamlsource import SpecLoadError, load_document

    problems: List[Problem] = []
    try:
        document = load_document(path, shown)
    except SpecLoadError as error:
        return [], {}, [error.problem]
    consumers, tools = build_consumers(document, problems)
    return consumers, tools, problems


CACHE_FORMAT = "vmci-specs-cache/2"
# Only the classes of these packages may be named by a cache file (the model, its
# conditions and C expressions).
_MODEL_PACKAGES = ("vmci.spec.", "vmci.lang.")


def _model_classes() -> Dict[str, type]:
    """The classes a cached model may hold: those of the model's own modules that are
    built by plain object.__new__ (no class with a __new__ of its own, no exception).
    A name two modules share is left out, so a cache naming it is refused."""
    import inspect
    import sys

    from vmci.spec import kinds, model  # noqa: F401 - the modules the model is built from, loaded

    found: Dict[str, type] = {}
    shared = set()
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith(_MODEL_PACKAGES) or module is None:
            continue
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module_name and cls.__new__ is object.__new__ and \
                    not issubclass(cls, BaseException):
                tag = f"{module_name.rsplit('.', 1)[-1]}.{name}"
                if found.get(tag, cls) is not cls:
                    shared.add(tag)
                found[tag] = cls
    return {tag: cls for tag, cls in found.items() if tag not in shared}


def _encode(value: Any) -> Any:
    """The model as JSON: lists as arrays, scalars as themselves, tuples, sets, dicts and
    conditions as their text (`{"k": "CONFIG_X && !CONFIG_Y"}`), other objects tagged
    (`{"t": [...]}`, `{"s": [...]}`, `{"d": [[k, v], ...]}`,
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
    if isinstance(value, Condition):  # interned nodes: kept as the text they print, parsed back
        return {"k": value.text}
    cls = type(value)
    return {"c": f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}",
            "a": {name: _encode(item) for name, item in vars(value).items()}}


# the JSON scalars a cached model holds; such a value decodes to itself
_SCALARS = frozenset({type(None), bool, int, str})  # no float: the model holds none


class _BadCache(Exception):
    pass


def _decode(value: Any, classes: Dict[str, type]) -> Any:
    """The inverse of _encode, checking as it goes: only the model's own classes are
    built, by object.__new__ and their attributes; no constructor or other code runs."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:  # scalars are most of the model's values: taken as they are, no call
        return [item if type(item) in _SCALARS else _decode(item, classes) for item in value]
    if kind is not dict or len(value) not in (1, 2):
        raise _BadCache("not a cached model value")
    if "k" in value and isinstance(value["k"], str):
        try:
            return Condition.parse(value["k"])
        except ConditionError:
            raise _BadCache("a damaged condition") from None
    if "t" in value and isinstance(value["t"], list):
        return tuple(_decode(item, classes) for item in value["t"])
    if "s" in value and isinstance(value["s"], list):
        items = [_decode(item, classes) for item in value["s"]]
        return frozenset(items) if value.get("f") is True else set(items)
    if "d" in value and isinstance(value["d"], list):
        if not all(isinstance(pair, list) and len(pair) == 2 for pair in value["d"]):
            raise _BadCache("a damaged mapping")
        return {_decode(k, classes): _decode(v, classes) for k, v in value["d"]}
    tag = value.get("c")
    cls = classes.get(tag) if isinstance(tag, str) else None
    attributes = value.get("a")
    if cls is None or not isinstance(attributes, dict):
        raise _BadCache(f"an object of unknown class {tag!r}")
    built: Any = object.__new__(cls)
    built.__dict__.update({name: item if type(item) in _SCALARS else _decode(item, classes)
                           for name, item in attributes.items()})
    return built


def _decode_as(value: Any, classes: Dict[str, type], expected: type) -> Any:
    decoded = _decode(value, classes)
    if not isinstance(decoded, expected):
        raise _BadCache(f"a {type(decoded).__name__} where the cache holds a {expected.__name__}")
    return decoded


_PROBLEM_FIELDS = (str, int, int, str, str, str)


def _encode_problems(problems: List[Problem]) -> List[list]:
    return [[p.file, p.line, p.col, p.message, p.severity, p.check] for p in problems]


def _decode_problems(value: Any) -> List[Problem]:
    if not isinstance(value, list):
        raise _BadCache("problems are not a list")
    problems = []
    for item in value:
        if not (isinstance(item, list) and len(item) == len(_PROBLEM_FIELDS) and
                all(type(field) is kind for field, kind in zip(item, _PROBLEM_FIELDS))):
            raise _BadCache("a damaged problem")
        problems.append(Problem(*item))
    return problems


class _Memo:
    """What loading each spec file gave, by its name as shown and the SHA-256 of its
    contents: a cache file's entries are offered (`known`), and every file loaded is
    recorded (`files`), so that an edit to one file reloads that file only."""

    def __init__(self, known: Optional[Dict[str, Any]] = None, remember: bool = False,
                 schemas_checked: Sequence[str] = ()):
        self.known: Dict[str, Any] = known or {}
        self.remember = remember
        self.schemas_checked = schemas_checked
        self.files: Dict[str, Any] = {}  # shown -> [digest, encoded result, encoded problems]
        self.loaded = 0  # files read from YAML in this run

    def _digest(self, path: str) -> Optional[str]:
        return content_digest(path) if self.remember else None

    def spec_file(self, path: str, shown: str) -> Tuple[Optional[Emitter], List[Problem]]:
        digest = self._digest(path)
        hit = self.known.get(shown)
        if digest is not None and hit is not None and hit[0] == digest:
            self.files[shown] = hit[1]
            return hit[2], list(hit[3])
        emitter, problems = _load_spec_file(path, shown, self.schemas_checked)
        self.loaded += 1
        self.files[shown] = [digest, _encode(emitter), _encode_problems(problems)] if digest else [None]
        return emitter, problems

    def consumers_file(self, path: str, shown: str) -> Tuple[List[ConsumerRead], Dict[str, dict], List[Problem]]:
        digest = self._digest(path)
        hit = self.known.get(shown)
        if digest is not None and hit is not None and hit[0] == digest:
            self.files[shown] = hit[1]
            consumers, tools = hit[2]
            return consumers, tools, list(hit[3])
        consumers, tools, problems = _load_consumers_file(path, shown)
        self.loaded += 1
        self.files[shown] = [digest, _encode([consumers, tools]), _encode_problems(problems)] if digest else [None]
        return consumers, tools, problems


def _read_cache(path: str) -> Optional[Dict[str, Any]]:
    """The cache file's document with every file entry decoded and checked, or None when
    the file is absent, damaged or planted."""
    import json

    from vmci.files.inputs import NotRegularFile, open_regular

    try:
        with open_regular(path) as handle:  # a FIFO planted there is not waited on
            document = json.loads(handle.read(64 << 20))
        if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT or \
                not isinstance(document.get("key"), str) or not isinstance(document.get("files"), dict):
            return None
        classes = _model_classes()
        known = {}
        for shown, entry in document["files"].items():
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
                raise _BadCache("a damaged file entry")
            digest, result, problems = entry
            if os.path.basename(shown) == "consumers.yaml":
                consumers, tools = _decode_as(result, classes, list)
                if not (isinstance(consumers, list) and all(isinstance(c, ConsumerRead) for c in consumers) and
                        isinstance(tools, dict)):
                    raise _BadCache("damaged consumers")
                decoded: Any = (consumers, tools)
            else:
                decoded = None if result is None else _decode_as(result, classes, Emitter)
            known[shown] = (digest, entry, decoded, _decode_problems(problems))
        checks = document.get("checks")
        if not (isinstance(document.get("schemas_checked"), list) and
                all(isinstance(level, str) for level in document["schemas_checked"])):
            raise _BadCache("damaged schema levels")
        document["known"] = known
        document["checks"] = None if checks is None else _decode_problems(checks)
        return document
    except (OSError, ValueError, RecursionError, _BadCache, TypeError, NotRegularFile):
        return None


def load_specs_cached(directory: Optional[str], cache_dir: str) -> Tuple[SpecSet, List[Problem]]:
    """load_specs, remembered across runs (a warm `resolve`, `list` and `coverage` read
    no YAML). See load_checked_specs."""
    specs, problems, _, _ = _load_cached(directory, cache_dir, checks=False)
    return specs, problems


class CheckedSpecs(NamedTuple):
    specs: SpecSet
    problems: List[Problem]  # loading them (YAML, schema, model)
    checks: List[Problem]  # lint.check_specs on the model
    key: str  # a SHA-256 of every input of the above (spec files, vmci, the schema)


def load_checked_specs(directory: Optional[str], cache_dir: str) -> CheckedSpecs:
    """load_specs and then lint.check_specs on the model, both remembered across runs.

    One cache file per specs directory (and working directory, as spec places are shown
    relative to it) holds, for every spec file by the SHA-256 of its contents, the model
    built from it and the problems found in it, and the checks' problems under a key
    that hashes all of the specs. An edit to one file reloads that file only; the checks
    then run again over the whole model. Everything is keyed by vmci's version, its
    modules and the schema too, so a changed vmci never reads an older answer. The file
    is JSON that names only the model's own classes (never a pickle, whose loading runs
    whatever code the file names): a damaged, planted or stale file is ignored and
    rewritten.
    """
    specs, problems, checks, key = _load_cached(directory, cache_dir, checks=True)
    assert checks is not None
    return CheckedSpecs(specs, problems, checks, key)


def _load_cached(directory: Optional[str], cache_dir: str,
                 checks: bool) -> Tuple[SpecSet, List[Problem], Optional[List[Problem]], str]:
    import json
    import sys

    directory = directory or specs_dir()
    # one file per specs directory and working directory (spec places are shown relative
    # to it): a newer vmci or an edited spec replaces the file rather than adding one
    where = place(directory)
    cache_path = os.path.join(cache_dir, f"specs-{where[:32]}.json")
    code = code_digest().hexdigest()
    cached = _read_cache(cache_path) or {}
    same_vmci = cached.get("code") == code
    memo = _Memo(cached.get("known") if same_vmci else None, remember=True,
                 schemas_checked=cached.get("schemas_checked", []) if same_vmci else [])
    specs, problems = _load(directory, memo)
    if not os.path.isdir(directory):
        return specs, problems, ([] if checks else None), ""
    whole = specs_key(code, where, [(shown, entry[0]) for shown, entry in memo.files.items()])
    found = cached.get("checks") if cached.get("key") == whole else None
    computed = False
    if checks and found is None:
        from vmci.spec.lint import check_specs
        found, computed = check_specs(specs), True
    if computed or memo.loaded or cached.get("key") != whole:
        from vmci.files.output import write_atomically
        remembered = {shown: entry for shown, entry in memo.files.items() if entry[0] is not None}
        schema = sys.modules.get("vmci.spec.schema")
        checked = set(memo.schemas_checked) | (set(getattr(schema, "CHECKED_LEVELS", ())) if schema else set())
        document = {"format": CACHE_FORMAT, "code": code, "key": whole, "schemas_checked": sorted(checked),
                    "files": remembered, "checks": None if found is None else _encode_problems(found)}
        try:
            os.makedirs(cache_dir, exist_ok=True)
            new_place = not os.path.exists(cache_path)
            write_atomically(cache_path, json.dumps(document, separators=(",", ":")).encode("utf-8"))
            if new_place:
                _forget_old_places(cache_dir)
        except (OSError, ValueError, RecursionError):
            pass  # a read-only cache is no reason to fail
    return specs, problems, found, whole


MAX_REMEMBERED_PLACES = 64  # spec caches kept: one per specs directory and working directory


def _forget_old_places(cache_dir: str) -> None:
    """Keep the cache bounded: every new specs directory (a scratch copy, a test's
    temporary one) adds a file, so beyond MAX_REMEMBERED_PLACES the least recently
    written go. Only vmci's own spec caches (`specs-<32 hex>.json`) are touched."""
    from vmci.files.output import forget_oldest

    forget_oldest(cache_dir, r"specs-[0-9a-f]{32}\.json", MAX_REMEMBERED_PLACES)


def load_valid_specs(directory: Optional[str], cache_dir: Optional[str] = None) -> SpecSet:
    """The specs, schema-valid and without errors (warnings are validate's to tell);
    SpecProblems with the errors otherwise. With `cache_dir`, through the cache."""
    from vmci.errors import SpecProblems
    from vmci.spec.lint import errors_in

    specs, problems = load_specs_cached(directory, cache_dir) if cache_dir else load_specs(directory)
    errors = errors_in(problems)
    if errors:
        raise SpecProblems(errors)
    return specs
