"""Read the VMCOREINFO emissions out of one kernel C file.

An emission is a use of a `VMCOREINFO_*()` macro or a call of
`vmcoreinfo_append_str()` inside a function body. For each one this records the
function it is in, its line, its arguments as C text, and the preprocessor condition
around it (the `#if`/`#ifdef`/`#ifndef`/`#elif`/`#else` nesting at that point, in the
specs' condition syntax). It also records the calls each function makes (so a caller's
condition can be carried into the function it calls) and the object-like `#define`s
of the file (the kernel defines some emitted values right in the emitting file).

This is a lexer, not a C parser: it needs only comments, string literals, directives,
braces and parentheses, which is all that places a macro use in a function and under
an `#if`. The macro definitions in include/linux/crash_core.h (vmcore_info.h) are
directives, so they are never mistaken for emissions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from vmci.lang import cexpr
from vmci.lang.condition import TRUE, Condition, ConditionError

APPEND_FUNCTION = "vmcoreinfo_append_str"
MACRO_PREFIX = "VMCOREINFO_"
# The bytes that tell a file may emit; a cheap test before lexing.
MARKERS = (b"VMCOREINFO_", b"vmcoreinfo_append_str")


@dataclass(frozen=True)
class PreprocessorCondition:
    """The condition an `#if` nesting puts on a line.

    `condition` is exact when `opaque` is empty; `opaque` lists the directives whose
    test is not a Kconfig condition (`#ifdef __powerpc64__`), which vmci cannot compare.
    """

    condition: Condition = TRUE
    opaque: Tuple[str, ...] = ()

    def __and__(self, other: PreprocessorCondition) -> PreprocessorCondition:
        return PreprocessorCondition(self.condition & other.condition, self.opaque + other.opaque)

    def __str__(self) -> str:
        text = str(self.condition)
        return text + "".join(f" && <{item}>" for item in self.opaque)


@dataclass
class Emission:
    """One VMCOREINFO macro use or vmcoreinfo_append_str() call in a C file."""

    file: str
    line: int
    function: str
    macro: str  # VMCOREINFO_SYMBOL, ..., or vmcoreinfo_append_str
    args: List[str]  # each argument as C text, whitespace collapsed
    literal: Optional[str]  # the format string of vmcoreinfo_append_str, escapes decoded
    condition: PreprocessorCondition

    @property
    def place(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class CallSite:
    file: str
    line: int
    function: str  # the caller
    callee: str
    condition: PreprocessorCondition


@dataclass
class FileDefine:
    file: str
    line: int
    name: str
    value: str
    function_like: bool = False


@dataclass
class ScannedFile:
    path: str
    emissions: List[Emission] = field(default_factory=list)
    calls: List[CallSite] = field(default_factory=list)
    defines: List[FileDefine] = field(default_factory=list)
    function_lines: dict = field(default_factory=dict)  # every function defined in the file -> line
    function_returns: dict = field(default_factory=dict)  # function -> the C of each `return EXPR;`
    problems: List[str] = field(default_factory=list)  # "file:line: message"


class _Token:
    __slots__ = ("kind", "text", "line", "start", "end")

    def __init__(self, kind, text, line, start, end):
        self.kind, self.text, self.line, self.start, self.end = kind, text, line, start, end


_LEXEME = re.compile(r"""
    (?P<newline>\n)
  | (?P<space>[ \t\r\f\v]+|\\\n)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<char>'(?:\\.|[^'\\\n])*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.])*)
  | (?P<punct>->|\+\+|--|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||\#\#|[-+*/%=&|^!~<>?:;,.(){}\[\]\#])
  | (?P<other>.)
""", re.X)


def strip_comments(text: str) -> str:
    """Comments become spaces (newlines kept, so line numbers and offsets hold)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join("\n" if ch == "\n" else " " for ch in text[i:end]))
            i = end
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in "/\"'":
                j += 1
            if j == i:
                j += 1
            out.append(text[i:j])
            i = j
    return "".join(out)


def _lines_and_directives(text: str):
    """Split comment-free text into (line, kind, payload, start offset) items: a directive
    ('#', its text with continuations joined) or code (the offset range of the line)."""
    offset = 0
    lines = text.split("\n")
    number = 0
    while number < len(lines):
        line = lines[number]
        start = offset
        if line.lstrip().startswith("#"):
            first = number
            joined = line
            while joined.endswith("\\") and number + 1 < len(lines):
                offset += len(lines[number]) + 1
                number += 1
                joined = joined[:-1] + " " + lines[number]
            offset += len(lines[number]) + 1
            yield first + 1, "#", joined.strip()[1:].strip(), start
            number += 1
            continue
        offset += len(line) + 1
        yield number + 1, "code", (start, start + len(line)), start
        number += 1


_DEFINED = re.compile(r"\bdefined\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)|\bdefined\s+([A-Za-z_][A-Za-z0-9_]*)")


def directive_condition(kind: str, argument: str) -> Tuple[Optional[Condition], str]:
    """The Condition an #if/#ifdef/#ifndef/#elif tests, or None when it is not a Kconfig
    condition; with the text shown for it."""
    argument = argument.strip()
    if kind in ("ifdef", "ifndef"):
        name = argument.split()[0] if argument.split() else ""
        text = name if kind == "ifdef" else f"!{name}"
    else:
        # `defined(CONFIG_X)` and `CONFIG_X` mean the same for a Kconfig symbol
        text = _DEFINED.sub(lambda m: m.group(1) or m.group(2), argument)
    try:
        return Condition.parse(text), text
    except (ConditionError, cexpr.CExprError):
        return None, f"#{kind} {argument}"


class _IfStack:
    """The #if nesting: each frame holds its earlier branches' tests and the current one."""

    def __init__(self):
        self.frames: List[dict] = []
        self._current: Optional[PreprocessorCondition] = None

    def push(self, test: Optional[Condition], text: str, line: int):
        self._current = None
        self.frames.append({"earlier": [], "test": test, "text": text, "line": line})

    def elif_(self, test: Optional[Condition], text: str) -> bool:
        if not self.frames:
            return False
        self._current = None
        frame = self.frames[-1]
        frame["earlier"].append((frame["test"], frame["text"]))
        frame["test"], frame["text"] = test, text
        return True

    def else_(self) -> bool:
        return self.elif_(TRUE, "")

    def pop(self) -> bool:
        if not self.frames:
            return False
        self._current = None
        self.frames.pop()
        return True

    def current(self) -> PreprocessorCondition:
        if self._current is None:
            self._current = self._compute()
        return self._current

    def _compute(self) -> PreprocessorCondition:
        condition = TRUE
        opaque: List[str] = []
        for frame in self.frames:
            for test, text in frame["earlier"]:
                if test is None:
                    opaque.append(f"not {text}")
                else:
                    condition = condition & test.negate()
            if frame["test"] is None:
                opaque.append(frame["text"])
            else:
                condition = condition & frame["test"]
        return PreprocessorCondition(condition, tuple(opaque))


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0", "r": "\r"}


def decode_string_literal(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


_NOT_CALLS = cexpr.C_KEYWORDS | {"sizeof", "defined", "__attribute__", "typeof", "__typeof__", "asm", "__asm__"}


def scan_c_file(path: str, text: str) -> ScannedFile:
    """Every emission, call and object-like #define in one C file."""
    scanned = ScannedFile(path)
    code = strip_comments(text)
    stack = _IfStack()
    tokens: List[_Token] = []
    conditions: List[PreprocessorCondition] = []  # the #if nesting at each token
    for line, kind, payload, _start in _lines_and_directives(code):
        if kind == "#":
            _directive(scanned, stack, payload, line, path)
            continue
        begin, end = payload
        for match in _LEXEME.finditer(code, begin, end):
            group = match.lastgroup
            if group in ("space", "newline"):
                continue
            tokens.append(_Token(group, match.group(), line, match.start(), match.end()))
            conditions.append(stack.current())
    if stack.frames:
        scanned.problems.append(f"{path}:{stack.frames[-1]['line']}: #if without #endif")
    _walk_tokens(scanned, tokens, conditions, code, path)
    return scanned


def _directive(scanned: ScannedFile, stack: _IfStack, payload: str, line: int, path: str) -> None:
    match = re.match(r"([A-Za-z_]+)\s*(.*)$", payload, re.S)
    if not match:
        return
    kind, argument = match.group(1), match.group(2)
    if kind in ("if", "ifdef", "ifndef"):
        test, shown = directive_condition(kind, argument)
        stack.push(test, shown, line)
    elif kind == "elif":
        test, shown = directive_condition("if", argument)
        if not stack.elif_(test, shown):
            scanned.problems.append(f"{path}:{line}: #elif without #if")
    elif kind == "else":
        if not stack.else_():
            scanned.problems.append(f"{path}:{line}: #else without #if")
    elif kind == "endif":
        if not stack.pop():
            scanned.problems.append(f"{path}:{line}: #endif without #if")
    elif kind == "define":
        name_match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(\(?)\s*(.*)$", argument, re.S)
        if name_match:
            scanned.defines.append(FileDefine(path, line, name_match.group(1),
                                              " ".join(name_match.group(3).split()), bool(name_match.group(2))))


def _walk_tokens(scanned: ScannedFile, tokens: List[_Token], conditions: List[PreprocessorCondition],
                 code: str, path: str) -> None:
    depth = 0
    function: Optional[str] = None
    candidate: Optional[str] = None  # at file scope: the last name called like a function
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if token.kind == "punct":
            if token.text == "{":
                if depth == 0:
                    previous = tokens[i - 1] if i else None
                    function = candidate if previous is not None and previous.text == ")" else None
                    if function:
                        scanned.function_lines.setdefault(function, token.line)
                depth += 1
            elif token.text == "}":
                depth = max(depth - 1, 0)
                if depth == 0:
                    function = None
                    candidate = None
            elif depth == 0 and token.text in (";", "="):
                candidate = None
            i += 1
            continue
        if token.kind == "ident" and token.text == "return" and function and depth == 1:
            end = i + 1  # a helper's `return EXPR;`, compared with the spec's `helper` body
            while end < len(tokens) and tokens[end].text != ";":
                end += 1
            text = code[tokens[i + 1].start:tokens[end - 1].end] if end > i + 1 else ""
            scanned.function_returns.setdefault(function, []).append(" ".join(text.split()))
        if token.kind != "ident" or following is None or following.text != "(":
            i += 1
            continue
        if depth == 0:
            if not token.text.startswith("__attribute__") and token.text not in _NOT_CALLS:
                candidate = token.text
            i += 1
            continue
        closing, args = _call_arguments(tokens, i + 1)
        if closing is None:
            scanned.problems.append(f"{path}:{token.line}: unbalanced parentheses after {token.text}")
            i += 1
            continue
        condition = conditions[i]
        caller = function or "<file scope>"
        if token.text == APPEND_FUNCTION or (token.text.startswith(MACRO_PREFIX) and token.text.upper() == token.text):
            texts = [_text(code, arg) for arg in args]
            literal = None
            if token.text == APPEND_FUNCTION:
                if args and all(t.kind == "string" for t in args[0]):
                    literal = "".join(decode_string_literal(t.text) for t in args[0])
            scanned.emissions.append(Emission(path, token.line, caller, token.text, texts, literal, condition))
        elif token.text not in _NOT_CALLS:
            scanned.calls.append(CallSite(path, token.line, caller, token.text, condition))
        i += 1  # arguments may hold calls too (rare for emitters); keep walking inside


def _call_arguments(tokens: List[_Token], open_index: int):
    """From the '(' at open_index: the index of its ')' and the token lists of the arguments."""
    nesting = 0
    args: List[List[_Token]] = [[]]
    for j in range(open_index, len(tokens)):
        text = tokens[j].text
        if text in "([{" and tokens[j].kind == "punct":
            nesting += 1
            if nesting == 1:
                continue
        elif text in ")]}" and tokens[j].kind == "punct":
            nesting -= 1
            if nesting == 0:
                return j, ([] if args == [[]] else args)
        elif text == "," and nesting == 1:
            args.append([])
            continue
        args[-1].append(tokens[j])
    return None, []


def _text(code: str, tokens: List[_Token]) -> str:
    if not tokens:
        return ""
    return " ".join(code[tokens[0].start:tokens[-1].end].split())
