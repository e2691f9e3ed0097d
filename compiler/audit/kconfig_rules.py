"""What a kernel tree's Kconfig files guarantee about its options, as conditions.

Comparing two conditions over CONFIG_ symbols "semantically" needs the relations
Kconfig itself enforces, or `CONFIG_KEXEC && CONFIG_CRASH_CORE` (a spec) and
`CONFIG_KEXEC` (arch/arm/kernel/Makefile) would look different although KEXEC selects
KEXEC_CORE, which selects CRASH_CORE. This module walks the Kconfig files the way
kconfig does for one architecture (from the top Kconfig, following `source` with
$(SRCARCH), carrying `if`, `menu` and `choice` dependencies) and turns what it finds
into conditions that hold in every config of that architecture:

- `depends on D` (with the enclosing if/menu/choice): CONFIG_S => D
- `select T [if C]`: CONFIG_S && C => CONFIG_T
- a prompt-less `def_bool E` (or bool with one `default E`): E && D => CONFIG_S
- a `choice`: at most one of its options is y

Conditions are read the way the specs read them: CONFIG_X is true when X=y. Kconfig's
tristate logic maps onto that soundly for `depends on` (S=y needs D=y, which implies the
translated D); `select ... if C` and defaults are used only where the translation is
exact (no negation of a tristate), and anything else (string comparisons, $(shell),
m) is left out. Leaving a rule out only makes the comparison stricter, never wrong.

`kconfig_symbols` lists every option a tree declares (for `vmci validate --kernel-src`).
"""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from vmci.lang import cexpr
from vmci.lang.condition import Condition, ConditionError


@dataclass
class _Definition:
    name: str
    file: str
    line: int
    type: str = ""  # bool, tristate, int, hex, string
    prompt: bool = False
    defaults: List[Tuple[str, Optional[str]]] = field(default_factory=list)  # (expr, if-cond)
    depends: List[str] = field(default_factory=list)  # own `depends on` and the enclosing ones
    selects: List[Tuple[str, Optional[str]]] = field(default_factory=list)


# --- Kconfig expressions -------------------------------------------------------------------

_KTOKEN = re.compile(r'\s*(?:(?P<op>&&|\|\||!=|<=|>=|[!()=<>])|(?P<sym>[A-Za-z0-9_]+)|(?P<str>"(?:\\.|[^"\\])*"|\'[^\']*\')|(?P<macro>\$\([^)]*\)))')


class _Untranslatable(Exception):
    pass


def _tokens(text: str) -> List[Tuple[str, str]]:
    out: List[Tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _KTOKEN.match(text, position)
        if not match or match.end() == position:
            raise _Untranslatable(text)
        kind = match.lastgroup
        assert kind is not None  # every alternative of _KTOKEN is a named group
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


class _KParser:
    """Kconfig expression -> (C condition text, exact, symbols).

    `exact` is False when the translation is only implied by the Kconfig value being y
    (a `!` over a tristate); it still is a sound `depends on`.
    """

    def __init__(self, text: str, types: Dict[str, str]):
        self.tokens = _tokens(text)
        self.index = 0
        self.types = types

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.index += 1
        return token

    def parse(self) -> Tuple[str, bool]:
        text, exact = self.disjunction()
        if self.index != len(self.tokens):
            raise _Untranslatable("trailing tokens")
        return text, exact

    def disjunction(self):
        text, exact = self.conjunction()
        while self.peek()[1] == "||":
            self.take()
            right, right_exact = self.conjunction()
            text, exact = f"({text} || {right})", exact and right_exact
        return text, exact

    def conjunction(self):
        text, exact = self.unary()
        while self.peek()[1] == "&&":
            self.take()
            right, right_exact = self.unary()
            text, exact = f"({text} && {right})", exact and right_exact
        return text, exact

    def unary(self):
        kind, value = self.peek()
        if value == "!":
            self.take()
            text, exact = self.unary()
            return f"!{text}", exact and self._all_bool(text)
        if value == "(":
            self.take()
            text, exact = self.disjunction()
            if self.take()[1] != ")":
                raise _Untranslatable("unbalanced")
            return f"({text})", exact
        return self.atom()

    def _all_bool(self, text: str) -> bool:
        return all(self.types.get(name) == "bool" for name in re.findall(r"CONFIG_([A-Za-z0-9_]+)", text))

    def atom(self):
        kind, value = self.take()
        if kind != "sym":
            raise _Untranslatable(str(value))
        operator = self.peek()[1]
        if operator in ("=", "!="):
            self.take()
            other_kind, other = self.take()
            if other_kind != "sym" or other not in ("y", "n") or value in ("y", "n", "m"):
                raise _Untranslatable("comparison")
            text = {("=", "y"): f"CONFIG_{value}", ("!=", "y"): f"!CONFIG_{value}",
                    ("=", "n"): f"!IS_ENABLED(CONFIG_{value})", ("!=", "n"): f"IS_ENABLED(CONFIG_{value})"}[(operator, other)]
            return text, True
        if operator in ("<", ">", "<=", ">="):
            raise _Untranslatable("comparison")
        if value == "y":
            return "1", True
        if value == "n":
            return "0", True
        if value == "m" or value.isdigit():
            raise _Untranslatable(value)
        return f"CONFIG_{value}", True


def translate(text: str, types: Dict[str, str]) -> Optional[Tuple[str, bool]]:
    try:
        return _KParser(text, types).parse()
    except _Untranslatable:
        return None


def _conjuncts(text: str) -> List[str]:
    """Split a Kconfig expression at its top-level &&."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0 and text.startswith("&&", i):
            parts.append(text[start:i])
            start = i + 2
            i += 1
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


# --- the walk ----------------------------------------------------------------------------

_ENTRY = re.compile(r"^(config|menuconfig)\s+([A-Za-z0-9_]+)\s*$")
_TYPE = re.compile(r'^(bool|tristate|int|hex|string)(?:\s+("(?:\\.|[^"\\])*"|\'[^\']*\'))?(?:\s+if\s+(.*))?$')
_DEF = re.compile(r"^(def_bool|def_tristate)\s+(.*?)(?:\s+if\s+(.*))?$")
_DEFAULT = re.compile(r"^default\s+(.*?)(?:\s+if\s+(.*))?$")
_SELECT = re.compile(r"^select\s+([A-Za-z0-9_]+)(?:\s+if\s+(.*))?$")
_SOURCE = re.compile(r'^(o?r?source)\s+"([^"]+)"')


class _Rule:
    """One guaranteed condition, parsed only when a comparison needs it."""

    __slots__ = ("text", "symbols", "_condition")

    def __init__(self, text: str):
        self.text = text
        self.symbols = frozenset(re.findall(r"CONFIG_[A-Za-z0-9_]+", text))
        self._condition: Optional[Condition] = None

    @property
    def condition(self) -> Optional[Condition]:
        if self._condition is None:
            try:
                self._condition = Condition.parse(self.text)
            except (ConditionError, cexpr.CExprError):
                return None
        return self._condition


class KconfigRules:
    """The conditions Kconfig guarantees for one architecture, indexed by symbol.

    A comparison needs the rules of a few dozen symbols out of some 18,000, so a
    symbol's rules are translated the first time `rules_about` asks for them (building
    them all took 0.5 s per architecture, 6.12)."""

    def __init__(self, arch: str, definitions: List[_Definition], choices: List[List[str]]):
        self.arch = arch
        self._types: Dict[str, str] = {}
        self._by_name: Dict[str, List[_Definition]] = {}
        for d in definitions:
            if d.type:
                self._types.setdefault(d.name, d.type)
            self._by_name.setdefault(d.name, []).append(d)
        # every CONFIG_ symbol some Kconfig file of this arch declares
        self.defined: Set[str] = {f"CONFIG_{n}" for n in self._by_name}
        self._translated: Dict[str, Optional[Tuple[str, bool]]] = {}
        self._rules: Dict[str, List[_Rule]] = {}
        # a choice's rules name two heads and are one object (relevant() counts a rule once)
        self._choice_rules: Dict[str, List[_Rule]] = {}
        for group in choices:
            members = [f"CONFIG_{m}" for m in group]
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    rule = _Rule(f"!({a} && {b})")
                    self._choice_rules.setdefault(a, []).append(rule)
                    self._choice_rules.setdefault(b, []).append(rule)
        self.always: Set[str] = self._always()  # bool symbols that are y in every config of this arch

    def _translate(self, text: str) -> Optional[Tuple[str, bool]]:
        # one arch's Kconfig repeats its dependencies thousands of times (6.12 x86:
        # 53,000 translations of far fewer texts); the answer depends on the text alone
        if text not in self._translated:
            self._translated[text] = translate(text, self._types)
        return self._translated[text]

    def _default(self, name: str) -> Optional[Tuple[str, bool]]:
        """A prompt-less bool with one default takes it when its dependencies hold:
        (the rule's text, whether the symbol is y in every config), or None."""
        defs = self._by_name[name]
        if any(d.prompt for d in defs) or self._types.get(name) != "bool":
            return None
        with_defaults = [d for d in defs if d.defaults]
        if len(with_defaults) != 1 or len(with_defaults[0].defaults) != 1 \
                or not all(not d.depends for d in defs if d is not with_defaults[0]):
            return None
        d = with_defaults[0]
        default_text, default_if = d.defaults[0]
        pieces = [default_text] + ([default_if] if default_if else []) + d.depends
        once = [self._translate(p) for p in pieces]
        translated = [t for t in once if t is not None and t[1]]
        if len(translated) != len(once):
            return None
        body = " && ".join(f"({t[0]})" for t in translated)
        symbol = f"CONFIG_{name}"
        return f"!({body}) || {symbol}", all(t[0] == "1" for t in translated)  # def_bool y, no dependencies

    def _always(self) -> Set[str]:
        always: Set[str] = set()
        for name, defs in self._by_name.items():
            # only `y` translates to "1": look no further at any other symbol
            if all(p.strip() == "y" for d in defs for default in d.defaults for p in default if p) \
                    and all(p.strip() == "y" for d in defs for p in d.depends):
                default = self._default(name)
                if default is not None and default[1]:
                    always.add(f"CONFIG_{name}")  # s390's KEXEC
        # what an always-y symbol selects unconditionally is always y too
        pending = list(always)
        while pending:
            for d in self._by_name.get(pending.pop()[len("CONFIG_"):], ()):
                for target, condition_text in d.selects:
                    if condition_text is None and f"CONFIG_{target}" not in always:
                        always.add(f"CONFIG_{target}")
                        pending.append(f"CONFIG_{target}")
        return always

    def rules_about(self, symbol: str) -> List[_Rule]:
        """The rules whose head is this CONFIG_ symbol: its `depends on`, its selects,
        its default, then the choices it is in."""
        if symbol not in self._rules:
            self._rules[symbol] = self._translate_rules(symbol) + self._choice_rules.get(symbol, [])
        return self._rules[symbol]

    def _translate_rules(self, symbol: str) -> List[_Rule]:
        defs = self._by_name.get(symbol[len("CONFIG_"):]) if symbol.startswith("CONFIG_") else None
        if not defs:
            return []
        found: List[_Rule] = []
        # depends on: S => OR over definitions of the AND of their translatable conjuncts
        alternatives: List[str] = []
        translatable = True
        for d in defs:
            parts = []
            for dependency in d.depends:
                for conjunct in _conjuncts(dependency):
                    translated = self._translate(conjunct)
                    if translated is not None:
                        parts.append(translated[0])
            if not parts:
                translatable = False
                break
            alternatives.append(" && ".join(parts))
        if translatable and alternatives:
            found.append(_Rule(f"!{symbol} || " + " || ".join(f"({a})" for a in alternatives)))
        # select T if C: S && C => T
        for d in defs:
            for target, condition_text in d.selects:
                if condition_text is None:
                    found.append(_Rule(f"!{symbol} || CONFIG_{target}"))
                    continue
                translated = self._translate(condition_text)
                if translated is not None and translated[1]:
                    found.append(_Rule(f"!({symbol} && {translated[0]}) || CONFIG_{target}"))
        default = self._default(symbol[len("CONFIG_"):])
        if default is not None:
            found.append(_Rule(default[0]))
        return found

    def facts(self, symbols: Iterable[str]) -> Dict[str, Optional[str]]:
        """What the arch fixes outright: undeclared symbols are unset, some are always y."""
        found: Dict[str, Optional[str]] = {}
        for name in symbols:
            if name in self.always:
                found[name] = "y"
            elif name not in self.defined:
                found[name] = None
        return found

    def relevant(self, symbols: Iterable[str], hops: int = 3, limit: int = 48) -> List[Condition]:
        """The rules about these symbols and, transitively (a few hops), the symbols they name."""
        wanted = set(symbols)
        chosen: List[Condition] = []
        seen: Set[int] = set()
        frontier = set(wanted)
        for _ in range(hops):
            added: Set[str] = set()
            for name in sorted(frontier):
                for rule in self.rules_about(name):
                    if id(rule) in seen:
                        continue
                    new = rule.symbols - wanted - added
                    if len(wanted) + len(added) + len(new) > limit or rule.condition is None:
                        continue
                    seen.add(id(rule))
                    chosen.append(rule.condition)
                    added |= new
            wanted |= added
            frontier = added
            if not frontier:
                break
        return chosen


class KconfigTree:
    """Parses each Kconfig file once; walks the files of an architecture on demand.

    Most of the tree is the same for every architecture: the top Kconfig sources
    arch/$(SRCARCH)/Kconfig, then init/, mm/, drivers/, fs/ ... whatever the arch. A
    file walked under the same enclosing dependencies whose walk never read $(SRCARCH)
    gives the same definitions for every architecture: its walk is kept and reused
    (the definitions are shared, not copied; nothing changes them after their walk)."""

    def __init__(self, read: Callable[[str], Optional[str]], kconfig_paths: Iterable[str]):
        self.read = read
        self.paths = sorted(kconfig_paths)
        self._cache: Dict[str, Optional[list]] = {}
        self._rules: Dict[str, KconfigRules] = {}
        # (path, enclosing dependencies, depth) -> the definitions and choices its walk adds
        self._shared: Dict[Tuple[str, Tuple[str, ...], int], Tuple[List[_Definition], List[List[str]]]] = {}

    def _statements(self, path: str) -> Optional[list]:
        if path not in self._cache:
            text = self.read(path)
            self._cache[path] = None if text is None else _statements(text)
        return self._cache[path]

    def rules(self, arch: str) -> KconfigRules:
        if arch not in self._rules:
            definitions: List[_Definition] = []
            choices: List[List[str]] = []
            self._walk("Kconfig", arch, [], definitions, choices, [], depth=0)
            self._rules[arch] = KconfigRules(arch, definitions, choices)
        return self._rules[arch]

    def _walk(self, path: str, arch: str, context: List[str], definitions, choices, choice_stack, depth: int) -> bool:
        """Add the definitions and choices of a file and what it sources; whether the
        walk read $(SRCARCH) (its result is then the architecture's own)."""
        if depth > 30:
            return False
        statements = self._statements(path)
        if statements is None:
            return False
        uses_arch = False
        stack: List[Tuple[str, Optional[str]]] = []  # ("if"/"menu"/"choice", dependency)
        current: Optional[_Definition] = None
        block: Optional[list] = None  # the menu/choice frame whose `depends on` lines we read
        for keyword, number, value in statements:
            if keyword == "property":
                if current is not None:
                    _apply(current, value)
                continue
            if keyword == "source":
                kind, written = value
                target = written.replace("$(SRCARCH)", arch).replace("$SRCARCH", arch)
                uses_arch = uses_arch or target != written
                if kind in ("rsource", "orsource"):
                    target = "/".join(path.split("/")[:-1] + [target])
                outer = context + [dep for _, dep in stack if dep]
                for found in self._glob(target):
                    uses_arch = self._walk_shared(found, arch, outer, definitions, choices, choice_stack,
                                                  depth + 1) or uses_arch
                current = block = None
            elif keyword == "config":
                current = _Definition(value, path, number, depends=context + [dep for _, dep in stack if dep])
                definitions.append(current)
                if choice_stack:
                    choice_stack[-1].append(value)
                block = None
            elif keyword == "depends":
                if current is not None:
                    current.depends.append(value)
                elif block is not None and stack:
                    kind, existing = stack[-1]
                    stack[-1] = (kind, value if existing is None else f"({existing}) && ({value})")
            elif keyword == "if":
                stack.append(("if", value))
                current = block = None
            elif keyword == "endif":
                _pop(stack, "if")
                current = block = None
            elif keyword == "menu":
                stack.append(("menu", None))
                current, block = None, stack
            elif keyword == "endmenu":
                _pop(stack, "menu")
                current = block = None
            elif keyword == "choice":
                stack.append(("choice", None))
                choice_stack.append([])
                current, block = None, stack
            elif keyword == "endchoice":
                _pop(stack, "choice")
                if choice_stack:
                    choices.append(choice_stack.pop())
                current = block = None
            else:  # comment, mainmenu
                current = block = None
        return uses_arch

    def _walk_shared(self, path: str, arch: str, context: List[str], definitions, choices, choice_stack,
                     depth: int) -> bool:
        """_walk, or what an earlier architecture's walk of the same file under the same
        context added. Only a walk outside any choice, that leaves no choice open, is
        kept: inside one, its options would belong to the enclosing choice as well."""
        key = (path, tuple(context), depth)
        if not choice_stack:
            shared = self._shared.get(key)
            if shared is not None:
                definitions.extend(shared[0])
                choices.extend(shared[1])
                return False
        first_definition, first_choice, open_choices = len(definitions), len(choices), len(choice_stack)
        uses_arch = self._walk(path, arch, context, definitions, choices, choice_stack, depth)
        if not uses_arch and open_choices == 0 and not choice_stack:
            self._shared[key] = (definitions[first_definition:], choices[first_choice:])
        return uses_arch

    def _glob(self, pattern: str) -> List[str]:
        if any(c in pattern for c in "*?["):
            return [p for p in self.paths if fnmatch.fnmatch(p, pattern)]
        return [pattern]


def _property(text: str) -> Optional[Tuple[str, object]]:
    """What a line inside a config entry says, or None for what the rules do not use."""
    match = _TYPE.match(text)
    if match:
        return "type", (match.group(1), bool(match.group(2)))
    match = _DEF.match(text)
    if match:
        return "def", ("bool" if match.group(1) == "def_bool" else "tristate", (match.group(2), match.group(3)))
    if text.startswith("prompt"):
        return "prompt", None
    match = _DEFAULT.match(text)
    if match:
        return "default", (match.group(1), match.group(2))
    match = _SELECT.match(text)
    if match:
        return "select", (match.group(1), match.group(2))
    return None


def _apply(current: _Definition, said: Tuple[str, Any]) -> None:
    kind, value = said
    if kind == "type":
        current.type = current.type or value[0]
        current.prompt = current.prompt or value[1]
    elif kind == "def":
        current.type = current.type or value[0]
        current.defaults.append(value[1])
    elif kind == "prompt":
        current.prompt = True
    elif kind == "default":
        current.defaults.append(value)
    else:
        current.selects.append(value)


_BLOCKS = frozenset(("endif", "menu", "endmenu", "choice", "endchoice", "comment", "mainmenu"))


def _statements(file_text: str) -> List[Tuple[str, int, Any]]:
    """A Kconfig file as (keyword, line number, value) for each statement the walk
    follows, read once per file whatever the number of architectures walked: `source`
    ((kind, path)), `config` (name), `depends` (expression), `if` (expression),
    `property` (_property's answer), and the block keywords (endif, menu, endmenu,
    choice, endchoice, comment, mainmenu; value None). Help text is left out."""
    out: List[Tuple[str, int, Any]] = []
    help_indent: Optional[int] = None
    for number, indent, text in _logical_lines(file_text):
        if help_indent is not None:
            if text == "" or indent >= help_indent:
                continue
            help_indent = None
        if text in ("help", "---help---") or text.startswith("help "):
            help_indent = indent + 1
            continue
        if not text:
            continue
        source = _SOURCE.match(text)
        if source:
            out.append(("source", number, (source.group(1), source.group(2))))
            continue
        entry = _ENTRY.match(text)
        if entry:
            out.append(("config", number, entry.group(2)))
            continue
        keyword = text.split()[0]
        if keyword == "if":
            out.append(("if", number, text[2:].strip()))
        elif keyword in _BLOCKS:
            out.append((keyword, number, None))
        elif keyword == "depends" and text.startswith("depends on"):
            out.append(("depends", number, text[len("depends on"):].strip()))
        else:
            found = _property(text)
            if found is not None:
                out.append(("property", number, found))
    return out


def _pop(stack, kind: str) -> None:
    for index in range(len(stack) - 1, -1, -1):
        if stack[index][0] == kind:
            del stack[index:]
            return


def _logical_lines(text: str) -> List[Tuple[int, int, str]]:
    """(line number, indentation width, stripped text without comment) per logical line."""
    out = []
    raw = text.split("\n")
    index = 0
    while index < len(raw):
        number = index + 1
        line = raw[index]
        while line.endswith("\\") and index + 1 < len(raw):
            index += 1
            line = line[:-1] + " " + raw[index].strip()
        index += 1
        expanded = line.expandtabs(8)
        indent = len(expanded) - len(expanded.lstrip())
        stripped = expanded.strip()
        if stripped.startswith("#"):
            stripped = ""
        elif "#" in stripped and '"' not in stripped:
            stripped = stripped.split("#", 1)[0].strip()
        out.append((number, indent, stripped))
    return out


# --- every option a tree declares (validate --kernel-src) ------------------------------

_KCONFIG_SYMBOL = re.compile(r"^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$", re.M)


def kconfig_symbols(kernel_tree: str) -> set:
    """Every option a kernel tree's Kconfig files declare, as CONFIG_ names.

    A Kconfig file that is not a regular file (a FIFO would block the read forever) is
    inputs.NotRegularFile: the symbols would be incomplete, and every option it declares
    would be reported unknown."""
    from vmci.files.inputs import open_regular

    symbols: Set[str] = set()
    for root, dirs, files in os.walk(kernel_tree):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("Kconfig"):
                try:
                    with open_regular(os.path.join(root, name), "r", encoding="utf-8", errors="replace") as handle:
                        symbols.update("CONFIG_" + s for s in _KCONFIG_SYMBOL.findall(handle.read()))
                except OSError:
                    continue
    return symbols
