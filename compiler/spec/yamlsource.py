"""Load spec YAML safely, remembering where every value came from.

Specs are edited by hand, so every later error must name file:line:col. The loader
keeps a map from each value's path in the document (keys and list indices) to its
position. It is also the first line of defence against hostile input: it never
constructs arbitrary objects (safe scalars only), refuses anchors and aliases (specs
have no use for them, and they are how "billion laughs" documents explode), bounds the
file size and the nesting depth before building any tree, and rejects duplicate keys,
which YAML would otherwise silently collapse.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from vmci.errors import Findings
from vmci.spec.digest import MAX_SPEC_BYTES

if TYPE_CHECKING:
    import yaml

# PyYAML is imported by the first parse_document: a command that takes the model from
# vmci's spec cache (spec/load.py) reads no YAML and does not pay for the import.
_Loader: Any = None
_constructor: Any = None


def _import_yaml() -> None:
    global yaml, _Loader, _constructor
    if _Loader is not None:
        return
    import yaml
    try:  # libyaml is much faster; both give the same marks
        _Loader = yaml.CSafeLoader
    except AttributeError:  # pragma: no cover - depends on how PyYAML was built
        _Loader = yaml.SafeLoader
    _constructor = yaml.constructor.SafeConstructor()

MAX_NESTING = 32

Path = Tuple[Any, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about a spec file, printed as `file:line:col: message`."""

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"  # "error" or "warning"
    check: str = ""  # the named check, for lint findings

    def __str__(self) -> str:
        label = f"{self.severity} [{self.check}]" if self.check else self.severity
        return f"{self.file}:{self.line}:{self.col}: {label}: {self.message}"


class SpecLoadError(Findings):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class Document:
    """A loaded YAML file: plain data plus the position of every value."""

    path: str
    data: Any
    marks: Dict[Path, Tuple[int, int]] = field(default_factory=dict)
    quoted: set = field(default_factory=set)  # paths of quoted scalars (their text starts one column later)

    def where(self, path: Path) -> Tuple[int, int]:
        """(line, col) of the value at `path`, or of its nearest enclosing value."""
        path = tuple(path)
        while path:
            if path in self.marks:
                return self.marks[path]
            path = path[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, path: Path, message: str, **kwargs) -> Problem:
        line, col = self.where(path)
        return Problem(self.path, line, col, message, **kwargs)


class _Places:
    """Line and column of a YAML mark as editors, grep -n and sed count them.

    YAML also breaks lines at U+0085, U+2028, U+2029 and a lone CR, so the marks' own
    line numbers can run ahead of the file's; their character index cannot."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def of(self, mark) -> Tuple[int, int]:
        if mark is None:
            return 1, 1
        index = getattr(mark, "index", None)
        if not isinstance(index, int) or not 0 <= index <= len(self.text):
            return mark.line + 1, mark.column + 1
        line = bisect_right(self.starts, index)
        return line, index - self.starts[line - 1] + 1


def _syntax(path: str, error, places: _Places) -> SpecLoadError:
    message = f"YAML syntax: {error.problem}"
    if error.context and error.context_mark is not None:
        line, col = places.of(error.context_mark)
        message += f" ({error.context} at line {line}, column {col})"
    return _fail(path, error.problem_mark, message, places)


def _fail(path: str, mark, message: str, places: _Places) -> SpecLoadError:
    line, col = places.of(mark)
    return SpecLoadError(Problem(path, line, col, message))


def load_document(path: str, display_path: Optional[str] = None) -> Document:
    """Read and parse one spec file; raise SpecLoadError with a located message."""
    from vmci.files.inputs import NotRegularFile, check_regular, open_regular

    shown = display_path or path
    try:
        size = check_regular(path).st_size  # a FIFO would wait for a writer forever
        if size > MAX_SPEC_BYTES:
            raise SpecLoadError(Problem(shown, 1, 1, f"file is {size} bytes; specs are limited to {MAX_SPEC_BYTES}"))
        with open_regular(path) as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except NotRegularFile as error:
        raise SpecLoadError(Problem(shown, 1, 1, f"not a regular file ({error.kind})"))
    except OSError as error:
        raise SpecLoadError(Problem(shown, 1, 1, f"cannot read: {error.strerror or error}"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SpecLoadError(Problem(shown, line, 1, "not valid UTF-8"))
    return parse_document(text, shown)


def parse_document(text: str, path: str) -> Document:
    _import_yaml()
    places = _Places(text)
    _check_events(text, path, places)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise _yaml_error(path, text, error, places)
    document = Document(path, None)
    if node is None:
        raise SpecLoadError(Problem(path, 1, 1, "the file is empty"))
    document.data = _convert(node, (), document, places)
    return document


def _check_events(text: str, path: str, places: _Places) -> None:
    """Stream the parser's events once: refuse aliases, anchors and deep nesting early."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise _fail(path, event.start_mark, "YAML aliases (*name) are not allowed in specs", places)
            if getattr(event, "anchor", None):
                raise _fail(path, event.start_mark, "YAML anchors (&name) are not allowed in specs", places)
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_NESTING:
                    raise _fail(path, event.start_mark, f"nested deeper than {MAX_NESTING} levels", places)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as error:
        raise _yaml_error(path, text, error, places)


def _yaml_error(path: str, text: str, error: yaml.YAMLError, places: _Places) -> SpecLoadError:
    """One located line for any PyYAML error (their own str() spans several lines)."""
    if isinstance(error, yaml.MarkedYAMLError):
        return _syntax(path, error, places)
    if isinstance(error, yaml.reader.ReaderError):  # a character YAML does not allow
        # libyaml counts bytes of the UTF-8 text, the pure-Python reader characters
        if _Loader.__name__.startswith("C"):
            prefix = text.encode("utf-8", "surrogatepass")[:max(error.position, 0)].decode("utf-8", "replace")
        else:
            prefix = text[:max(error.position, 0)]
        line = prefix.count("\n") + 1
        col = len(prefix) - (prefix.rfind("\n") + 1) + 1
        character = error.character if isinstance(error.character, int) else ord(str(error.character)[:1] or "?")
        return SpecLoadError(Problem(path, line, col, f"YAML syntax: {error.reason} (character #x{character:04x})"))
    return SpecLoadError(Problem(path, 1, 1, "YAML syntax: " + " ".join(str(error).split())))


# YAML refuses raw control characters but builds them from escapes ("\0", "\e", "\N",
# "\L"); in a spec they can only be a mistake or an attack on what is generated from it.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# Unicode's direction controls (UAX #9: embeddings and overrides U+202A-U+202E, isolates
# U+2066-U+2069) make text display in another order than compilers read it
# (CVE-2021-42574, "Trojan Source"); gcc's -Werror=bidi-chars fails on them in a comment.
_DIRECTION_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class _Mark:
    """A place in the text, shaped as PyYAML's marks are (_Places.of reads them)."""

    index: int
    line: int = 0
    column: int = 0


def _literal_mark(character: str, mark, places: _Places):
    """Where `character` stands in the file, when it is written there as itself (not as
    an escape) in the scalar that starts at `mark`; else the scalar's start."""
    start = getattr(mark, "index", None)
    if isinstance(start, int):
        found = places.text.find(character, start)
        if found >= 0 and "\n\n" not in places.text[start:found]:
            return _Mark(found)
    return mark


def _check_text(text: str, mark, document: Document, places: _Places) -> None:
    direction = _DIRECTION_CONTROL.search(text)
    if direction:
        raise _fail(document.path, _literal_mark(direction.group(), mark, places), f"Unicode direction control "
                    f"U+{ord(direction.group()):04X} in a string (it makes text display in another order than "
                    f"it reads, \"Trojan Source\"); specs are plain text", places)
    found = _CONTROL.search(text)
    if found:
        raise _fail(document.path, mark, f"control character U+{ord(found.group()):04X} in a string; "
                                         f"specs are plain text (newlines and tabs allowed)", places)


# PyYAML resolves plain scalars by YAML 1.1: `1:30` is 90 (base 60), `1_2` is 12 and
# `017` is 15. YAML 1.2 and every other reader take them as text or 17, so a spec must
# not depend on either reading.
_YAML11_NUMBER = re.compile(r"[:_]|^[-+]?0[0-7]+$")

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:float",
}


def _convert(node, path: Path, document: Document, places: _Places) -> Any:
    document.marks[path] = places.of(node.start_mark)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and \
            node.tag not in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
        raise _fail(document.path, node.start_mark, f"YAML tag {node.tag!r} is not allowed in specs", places)
    if isinstance(node, yaml.MappingNode):
        result: Dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _fail(document.path, key_node.start_mark, "mapping keys must be plain strings", places)
            key = key_node.value
            _check_text(key, key_node.start_mark, document, places)
            if key in result:
                raise _fail(document.path, key_node.start_mark, f"duplicate key {key!r}", places)
            result[key] = _convert(value_node, path + (key,), document, places)
            # keys point at themselves, so "unknown field" errors land on the field
            document.marks[path + (key, "@key")] = places.of(key_node.start_mark)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (index,), document, places) for index, item in enumerate(node.value)]
    if node.style in ("'", '"'):
        document.quoted.add(path)
    _check_text(node.value, node.start_mark, document, places)
    if node.tag not in _SCALAR_TAGS:
        if node.tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"):
            return node.value  # timestamps, binary: keep the text, the schema judges it
        raise _fail(document.path, node.start_mark, f"YAML tag {node.tag!r} is not allowed in specs", places)
    if not node.style and node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and \
            _YAML11_NUMBER.search(node.value):
        raise _fail(document.path, node.start_mark, f"{node.value!r} is a YAML 1.1 number (base 60, a digit "
                                                    f"separator or a leading-zero octal) that YAML 1.2 reads "
                                                    f"differently; quote it, or write the number plainly", places)
    try:
        return _constructor.construct_object(node)
    except (yaml.YAMLError, ValueError, OverflowError):
        return node.value


def load_all(paths: List[str]) -> Tuple[List[Document], List[Problem]]:
    documents, problems = [], []
    for path in paths:
        try:
            documents.append(load_document(path))
        except SpecLoadError as error:
            problems.append(error.problem)
    return documents, problems
