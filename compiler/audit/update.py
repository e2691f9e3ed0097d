"""`vmci audit source TREE --update-specs`: edit the spec files so that they describe
the tree's version exactly.

The audit (source.py) has already aligned, per emitting function, the tree's ordered
emissions with the spec entries of the tree's version. Each drift it found becomes an
edit, the version being the tree's MAJOR.MINOR (V):

- an emission the specs lack: a new entry with `since: V` (and the tree's #if nesting
  as `when`), inserted where the kernel emits it: before the next entry both sides
  share, after the entries of other versions that stand there;
- a spec entry the tree does not emit: `until: V` (deleted instead when it begins at V);
- an entry whose condition, C arguments, format or place changed: closed with
  `until: V`, and a copy carrying the tree's version inserted at the tree's place with
  `since: V` (and the old entry's `until`, when it had one): two version ranges;
- an in-file define whose value changed, appeared or went away: the same, on `defines`;
- `audited:` (common.yaml) advances to V.

Edits are textual, line by line, on the block-style YAML the specs are written in: an
entry is the lines from its `- kind:` to the next item, and only the fields that change
are rewritten, so comments, quoting and layout stay and `git diff` shows only the
change. The result is validated and audited against the tree again before anything is
written; nothing is written when it does not validate. Drift that is not an edit of an
existing spec file (a file or function no spec names, an unreadable condition, a file
the specs give to another architecture) is reported, not guessed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple, Union

import yaml

from vmci.abi import COMMON_FUNCTION
from vmci.spec.kinds import Entry
from vmci.spec.model import Define, Emitter, SpecSet, Version, format_version
from vmci.audit.source import Drift, SourceAudit, TreeItem
from vmci.errors import UnusableInput

ENTRY_FIELDS = ("kind", "key", "name", "member", "format", "function", "c", "value", "when", "since", "until",
                "repeats", "runtime", "lint-ignore", "doc")
DEFINE_FIELDS = ("name", "value", "object", "when", "since", "until", "header", "in-file", "runtime", "doc")
CHANGED = ("condition", "argument", "format")


class UpdateError(UnusableInput):
    """The specs cannot be edited as asked; one line naming the file and place."""


def scalar(text: str) -> str:
    """`text` as a YAML scalar: plain when it reads back as the same string, else quoted."""
    text = str(text)
    try:
        plain = (yaml.safe_load(text) == text and text == text.strip() and "\n" not in text
                 and ": " not in text and " #" not in text)
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)


# --- the text of one spec file ----------------------------------------------------------

class _Block:
    """The fields of one block-style mapping that is an item of a list (`- key: ...`)."""

    def __init__(self, lines: List[str], dash: int):
        self.dash = dash
        self.indent = dash + 2
        self.fields: List[List] = []  # [key, lines]
        for number, line in enumerate(lines):
            if number == 0:
                line = line[:dash] + "  " + line[dash + 2:]
            match = re.match(r" {%d}([A-Za-z][A-Za-z0-9_-]*):(?: |$)" % self.indent, line)
            if match and len(line) - len(line.lstrip(" ")) == self.indent:
                self.fields.append([match.group(1), [line]])
            elif self.fields:
                self.fields[-1][1].append(line)
            else:
                raise ValueError("no field on the item's first line")

    def get(self, key: str) -> Optional[str]:
        for name, lines in self.fields:
            if name == key:
                return lines[0].split(":", 1)[1].strip()
        return None

    def set(self, key: str, value: Optional[str], order: Tuple[str, ...]) -> None:
        """Set a field to a scalar (already YAML text), or remove it with None."""
        for index, (name, _) in enumerate(self.fields):
            if name == key:
                if value is None:
                    del self.fields[index]
                else:
                    self.fields[index][1] = [f"{' ' * self.indent}{key}: {value}\n"]
                return
        if value is None:
            return
        rank = order.index(key) if key in order else len(order)
        position = len(self.fields)
        for index, (name, _) in enumerate(self.fields):
            if (order.index(name) if name in order else len(order)) > rank:
                position = index
                break
        self.fields.insert(position, [key, [f"{' ' * self.indent}{key}: {value}\n"]])

    def lines(self) -> List[str]:
        out = [line for _, lines in self.fields for line in lines]
        if out:
            out[0] = out[0][:self.dash] + "- " + out[0][self.dash + 2:]
        return out

    @classmethod
    def new(cls, dash: int, fields: List[Tuple[str, str]]) -> _Block:
        indent = " " * (dash + 2)
        return cls([f"{indent}{key}: {value}\n" for key, value in fields], dash)


class SpecText:
    """One spec file's lines and the edits planned on them, rendered in one pass."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, encoding="utf-8") as handle:
                self.lines = handle.read().splitlines(keepends=True)
        except OSError as error:
            raise UpdateError(f"{path}: cannot read ({error.strerror or error})")
        if self.lines and not self.lines[-1].endswith("\n"):
            self.lines[-1] += "\n"
        self.blocks: Dict[int, Tuple[int, Union[_Block, _RawLine]]] = {}  # start -> (end, block) of edited items
        self.deleted: Dict[int, int] = {}  # start -> end
        self.inserts: Dict[int, List[Tuple[int, List[str]]]] = {}  # position -> [(op, lines)]
        self.ops = 0
        self.at_start: Dict[int, List[int]] = {}  # start of an edited or deleted item -> its ops
        self.landed: Dict[int, int] = {}  # op -> line number in the new text

    def span(self, line: int, col: int) -> Tuple[int, int, int]:
        """(start, end, dash column) of the list item whose mapping begins at line:col."""
        start, dash = line - 1, col - 3
        text = self.lines[start] if 0 <= start < len(self.lines) else ""
        if dash < 0 or text[dash:dash + 2] != "- ":
            raise UpdateError(f"{self.path}:{line}: not a block-style list item; edit it by hand")
        end = start + 1
        while end < len(self.lines):
            current = self.lines[end]
            if current.strip() and len(current) - len(current.lstrip(" ")) <= dash:
                break
            end += 1
        while end > start + 1 and not self.lines[end - 1].strip():
            end -= 1
        return start, end, dash

    def block(self, line: int, col: int) -> Tuple[int, _Block]:
        """The item at line:col, as fields to edit (the same object on every call)."""
        start, end, dash = self.span(line, col)
        if start not in self.blocks:
            self.blocks[start] = (end, _Block(self.lines[start:end], dash))
        block = self.blocks[start][1]
        assert isinstance(block, _Block)  # a replaced line is never edited as a block again
        return start, block

    def end_of(self, line: int, col: int) -> int:
        return self.span(line, col)[1]

    def dash_of(self, line: int, col: int) -> int:
        return self.span(line, col)[2]

    def copy(self, line: int, col: int) -> _Block:
        """A fresh copy of the item at line:col as the file has it."""
        start, end, dash = self.span(line, col)
        return _Block(self.lines[start:end], dash)

    def delete(self, line: int, col: int) -> int:
        start, end, _ = self.span(line, col)
        self.deleted[start] = end
        self.blocks.pop(start, None)
        return self._op(start)

    def edited(self, start: int) -> int:
        return self._op(start)

    def insert(self, position: int, lines: List[str]) -> int:
        self.ops += 1
        self.inserts.setdefault(position, []).append((self.ops, lines))
        return self.ops

    def _op(self, start: int) -> int:
        self.ops += 1
        self.at_start.setdefault(start, []).append(self.ops)
        return self.ops

    def replace_line(self, line: int, text: str) -> int:
        start = line - 1
        self.blocks[start] = (start + 1, _RawLine(text))
        return self._op(start)

    def render(self) -> str:
        out: List[str] = []
        index = 0
        while index <= len(self.lines):
            for op, lines in self.inserts.get(index, []):
                self.landed[op] = len(out) + 1
                out.extend(lines)
            if index == len(self.lines):
                break
            for op in self.at_start.get(index, []):
                self.landed[op] = len(out) + 1
            if index in self.deleted:
                index = self.deleted[index]
            elif index in self.blocks:
                end, block = self.blocks[index]
                out.extend(block.lines())
                index = end
            else:
                out.append(self.lines[index])
                index += 1
        return "".join(out)

    @property
    def changed(self) -> bool:
        return bool(self.blocks or self.deleted or self.inserts)


class _RawLine:
    def __init__(self, text: str):
        self.text = text

    def lines(self) -> List[str]:
        return [self.text]


# --- from drift to edits ------------------------------------------------------------------

@dataclass
class Change:
    text: SpecText
    op: int
    message: str

    def __str__(self) -> str:
        return f"{self.text.path}:{self.text.landed.get(self.op, '?')}: {self.message}"


@dataclass
class Update:
    version: Version
    files: Dict[str, SpecText] = field(default_factory=dict)
    changes: List[Change] = field(default_factory=list)
    skipped: List[Drift] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _tree_fields(entry: Entry) -> List[Tuple[str, str]]:
    """The fields that say what a tree's macro use is: kind and its arguments."""
    return [("kind", entry.kind)] + [(name, scalar(value)) for name, value in entry.yaml_values()]


class _Planner:
    def __init__(self, specs: SpecSet, audit: SourceAudit):
        self.specs = specs
        self.audit = audit
        self.version = tuple(audit.version[:2])
        self.shown = format_version(self.version)
        self.update = Update(self.version)
        self.placed: set = set()  # the tree items an edit now describes
        self.tree_lacks: list = []

    def text(self, path: str) -> SpecText:
        if path not in self.update.files:
            self.update.files[path] = SpecText(path)
        return self.update.files[path]

    def change(self, text: SpecText, op: int, message: str) -> None:
        self.update.changes.append(Change(text, op, message))

    def since_or_after(self, versions) -> bool:
        """The item begins at (or after) the tree's version: edit it rather than split it."""
        return versions.since is not None and tuple(versions.since) >= self.version

    # entries ---------------------------------------------------------------------------
    def when_of(self, item: TreeItem) -> Optional[str]:
        return None if item.condition.condition.node is None else scalar(item.condition.condition.text)

    def close(self, entry, order, why: str) -> None:
        """until: V on a spec entry or define, or its deletion when it begins at V."""
        text = self.text(entry.where.file)
        label = entry.key if isinstance(entry, Entry) else f"define {entry.name}"
        if self.since_or_after(entry.versions):
            op = text.delete(entry.where.line, entry.where.col)
            self.change(text, op, f"removed {label} ({entry.versions}): {why}")
            return
        start, block = text.block(entry.where.line, entry.where.col)
        block.set("until", json.dumps(self.shown), order)
        self.change(text, text.edited(start), f"closed {label}: until {self.shown} ({why})")

    def plan(self) -> Update:
        by_kind: Dict[str, List[Drift]] = {}
        for drift in self.audit.drift:
            by_kind.setdefault(drift.kind, []).append(drift)
        changed = {id(d.spec_item.entry): d for kind in CHANGED for d in by_kind.get(kind, []) if d.spec_item}
        self.tree_lacks = [d.spec_item for d in by_kind.get("tree-lacks", []) if d.spec_item is not None]
        moved = {id(d.tree_item): d.spec_item for d in by_kind.get("order", [])}
        lacking = {id(d.tree_item) for d in by_kind.get("specs-lack", []) if d.tree_item is not None}
        handled = set()
        for alignment in self.audit.alignments:
            handled |= self.plan_function(alignment, changed, moved, lacking)
        for drift in by_kind.get("tree-lacks", []):
            if drift.spec_item is not None and id(drift.spec_item.entry) not in handled:
                self.close(drift.spec_item.entry, ENTRY_FIELDS, "the tree does not emit it")
                handled.add(id(drift.spec_item.entry))
            elif drift.spec_item is None:
                self.update.skipped.append(drift)
        for drift in by_kind.get("define", []):
            if not self.plan_define(drift):
                self.update.skipped.append(drift)
        for drift in self.audit.drift:
            if drift.kind in ("unreadable", "arch") or (drift.kind == "specs-lack" and id(drift.tree_item) not in
                                                         self.placed):
                self.update.skipped.append(drift)
        self.plan_audited()
        return self.update

    def plan_function(self, alignment, changed, moved, lacking) -> set:
        """Edits in one function; returns the spec entries it closed or edited."""
        function = next((f for f in alignment.emitter.functions if f.name == alignment.function), None)
        handled: Set[int] = set()
        if function is None or not function.entries:
            return handled
        kept = {}  # tree index -> spec entry that stays as it is (an anchor)
        for i, j in alignment.matched.items():
            entry = alignment.spec[j].entry
            if id(entry) not in changed:
                kept[i] = entry
        closing = set(changed) | {id(item.entry) for item in moved.values()} | \
            {id(item.entry) for item in self.tree_lacks}
        for i, item in enumerate(alignment.tree):
            template = None
            why = None
            if i in alignment.matched and id(alignment.spec[alignment.matched[i]].entry) in changed:
                drift = changed[id(alignment.spec[alignment.matched[i]].entry)]
                template = drift.spec_item.entry
                why = drift.kind
            elif id(item) in moved:
                template = moved[id(item)].entry
                why = "order"
            elif id(item) in lacking:
                why = "new"
            else:
                continue
            if item.condition.opaque:
                continue  # reported as unreadable
            if item.callee is not None and not any(f.name == item.callee for e in self.specs.emitters
                                                   for f in e.functions):
                continue  # a call of a function no spec describes: reported as specs-lack
            if why == "new":
                block = _Block.new(0, _tree_fields(item.entry) if item.entry else
                                   [("kind", "call"), ("function", scalar(item.callee))])
                block.set("when", self.when_of(item), ENTRY_FIELDS)
                block.set("since", json.dumps(self.shown), ENTRY_FIELDS)
                message = f"added {item.key} since {self.shown}" + \
                    (f" (if {item.condition})" if self.when_of(item) else "") + f" [tree {item.place}]"
            else:
                assert template is not None  # a changed or moved item has its spec entry
                handled.add(id(template))
                text = self.text(template.where.file)
                if why != "order" and self.since_or_after(template.versions):
                    start, block = text.block(template.where.line, template.where.col)
                    self.apply_tree(block, item)
                    self.change(text, text.edited(start), f"changed {item.key} ({why}, {template.versions}) "
                                                          f"to the tree's [tree {item.place}]")
                    self.placed.add(id(item))
                    continue
                self.close(template, ENTRY_FIELDS, {"order": "it moves", "condition": "its condition changes",
                                                    "argument": "its C changes", "format": "its format changes"}[why])
                block = text.copy(template.where.line, template.where.col)
                self.apply_tree(block, item)
                block.set("since", json.dumps(self.shown), ENTRY_FIELDS)
                until = template.versions.until
                block.set("until", json.dumps(format_version(until)) if until else None, ENTRY_FIELDS)
                message = f"added {item.key} since {self.shown}" + \
                    (f" until {format_version(until)}" if until else "") + \
                    {"order": ", at the tree's place", "condition": f", if {item.condition}",
                     "argument": ", with the tree's C", "format": ", with the tree's format"}[why] + \
                    f" [tree {item.place}]"
            previous = next((kept[k] for k in range(i - 1, -1, -1) if k in kept), None)
            text = self.text(function.entries[0].where.file)
            position, dash = self.place_after(text, function.entries, previous, closing)
            block = _Block(_reindent(block.lines(), block.dash, dash), dash)
            self.change(text, text.insert(position, block.lines()), message)
            self.placed.add(id(item))
        return handled

    def place_after(self, text: SpecText, entries: List[Entry], previous: Optional[Entry], closing: set):
        """(line index, dash column) where an entry that the kernel emits right after
        `previous` (None: first) goes: after it and after the emitting entries of other
        versions, or being closed, that follow it, so that old and new stand together."""
        index = 0 if previous is None else next(k for k, e in enumerate(entries) if e is previous) + 1
        while index < len(entries) and entries[index].emits and \
                (not entries[index].versions.contains(self.version) or id(entries[index]) in closing):
            index += 1
        if index < len(entries):
            where = entries[index].where
            return text.span(where.line, where.col)[0], text.dash_of(where.line, where.col)
        where = entries[-1].where
        return text.end_of(where.line, where.col), text.dash_of(where.line, where.col)

    def apply_tree(self, block: _Block, item: TreeItem) -> None:
        """The tree's kind, arguments and condition on a copy of a spec entry."""
        if item.entry is not None:
            fresh = dict(_tree_fields(item.entry))
            if block.get("kind") != item.entry.kind:
                for key in ("key", "name", "member", "format", "c", "value"):
                    block.set(key, None, ENTRY_FIELDS)
            for key, value in fresh.items():
                if block.get(key) is None or _unquote(block.get(key)) != _unquote(value):
                    block.set(key, value, ENTRY_FIELDS)
        block.set("when", self.when_of(item), ENTRY_FIELDS)

    # defines ---------------------------------------------------------------------------
    def plan_define(self, drift: Drift) -> bool:
        if drift.defines is None:
            return False
        mine, theirs, emitter = drift.defines
        if theirs and not mine:
            for define in theirs:
                self.close(define, DEFINE_FIELDS, "the emitting file no longer #defines it"
                           if not define.function_like else "the emitting file neither defines nor #defines it")
            return True
        if len(mine) != 1:
            return False
        value = scalar(mine[0].value)
        if not theirs:
            block = _Block.new(0, [("name", scalar(drift.key)), ("value", value),
                                   ("since", json.dumps(self.shown)), ("in-file", "true")])
            self.insert_define(emitter, block, f"added define {drift.key} = {mine[0].value} since {self.shown} "
                                               f"(in-file) [tree {drift.tree_place}]", after=None)
            return True
        keep_when = len(theirs) == 1
        for define in theirs:
            if self.since_or_after(define.versions) and keep_when:
                text = self.text(define.where.file)
                start, block = text.block(define.where.line, define.where.col)
                block.set("value", value, DEFINE_FIELDS)
                self.change(text, text.edited(start), f"changed define {drift.key} to {mine[0].value} "
                                                      f"[tree {drift.tree_place}]")
                return True
        for define in theirs:
            self.close(define, DEFINE_FIELDS, "its value changes")
        template = theirs[-1]
        block = self.text(template.where.file).copy(template.where.line, template.where.col)
        block.set("value", value, DEFINE_FIELDS)
        block.set("since", json.dumps(self.shown), DEFINE_FIELDS)
        until = template.versions.until
        block.set("until", json.dumps(format_version(until)) if until else None, DEFINE_FIELDS)
        if not keep_when:
            block.set("when", None, DEFINE_FIELDS)
        self.insert_define(emitter, block, f"added define {drift.key} = {mine[0].value} since {self.shown} "
                                           f"[tree {drift.tree_place}]", after=template)
        return True

    def insert_define(self, emitter: Emitter, block: _Block, message: str, after: Optional[Define]) -> None:
        text = self.text(emitter.path)
        if after is None:
            same = [d for d in emitter.defines if d.name == _unquote(block.get("name"))]
            after = same[-1] if same else (emitter.defines[-1] if emitter.defines else None)
        if after is None:  # no defines yet: a `defines:` list before `functions:`
            position = next((i for i, line in enumerate(text.lines) if line.startswith("functions:")), None)
            if position is None:
                raise UpdateError(f"{emitter.path}: no top-level `functions:` line to put `defines:` before")
            lines = ["defines:\n"] + _reindent(block.lines(), block.dash, 2) + ["\n"]
        else:
            position = text.end_of(after.where.line, after.where.col)
            dash = text.dash_of(after.where.line, after.where.col)
            lines = _reindent(block.lines(), block.dash, dash)
        self.change(text, text.insert(position, lines), message)

    # audited ---------------------------------------------------------------------------
    def plan_audited(self) -> None:
        carrier = next((e for e in self.specs.emitters if e.audited is not None), None)
        if carrier is not None:
            audited = carrier.audited
            assert audited is not None and carrier.audited_where is not None  # set together by the model
            if tuple(audited[:2]) >= self.version:
                if tuple(audited[:2]) > self.version:
                    self.update.notes.append(
                        f"Linux {self.shown} is older than the audited {format_version(audited)} "
                        f"({carrier.audited_where}): what changed at {self.shown} now holds for the later versions "
                        f"too, unless a later entry says otherwise")
                return
            text = self.text(carrier.path)
            op = text.replace_line(carrier.audited_where.line, f"audited: {json.dumps(self.shown)}\n")
            self.change(text, op, f"audited: {format_version(audited)} -> {self.shown}")
            return
        common = next((e for e in self.specs.general_emitters()
                       if any(f.name == COMMON_FUNCTION for f in e.functions)), None)
        if common is None:
            return
        text = self.text(common.path)
        position = next((i + 1 for i, line in enumerate(text.lines) if line.startswith("since:")), None)
        if position is None:
            position = next(i for i, line in enumerate(text.lines) if line.startswith("emitter:")) + 1
        self.change(text, text.insert(position, [f"audited: {json.dumps(self.shown)}\n"]),
                    f"audited: {self.shown} (recorded)")


def _unquote(text: Optional[str]):
    if text is None:
        return None
    try:
        return str(yaml.safe_load(text))
    except yaml.YAMLError:
        return text


def _reindent(lines: List[str], old: int, new: int) -> List[str]:
    if old == new:
        return lines
    if new > old:
        return [" " * (new - old) + line if line.strip() else line for line in lines]
    return [line[old - new:] if line[:old - new].strip() == "" else line for line in lines]


def plan_update(specs: SpecSet, audit: SourceAudit) -> Update:
    return _Planner(specs, audit).plan()


def render_update(update: Update) -> Dict[str, str]:
    """path -> new text of every file the update edits."""
    return {path: text.render() for path, text in update.files.items() if text.changed}


def trial_copy(specs_directory: str, texts: Dict[str, str]) -> str:
    """A scratch copy of the specs directory with the edited texts in it (the caller
    removes it): the update is validated and audited there before anything is written."""
    copy = os.path.join(tempfile.mkdtemp(prefix="vmci-update-"), "specs")
    shutil.copytree(specs_directory, copy)
    base = os.path.abspath(specs_directory)
    for path, content in texts.items():
        relative = os.path.relpath(os.path.abspath(path), base)
        if relative.startswith(".."):
            raise UpdateError(f"{path}: outside the specs directory {specs_directory}")
        with open(os.path.join(copy, relative), "w", encoding="utf-8") as handle:
            handle.write(content)
    return copy
