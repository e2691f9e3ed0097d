"""Kernel configs and the Kconfig conditions specs are gated on.

A condition is a C preprocessor expression over CONFIG_ symbols, read the way the
kernel's own `#if`/`#ifdef` read it after include/generated/autoconf.h: a bool or
tristate option that is `y` is defined as 1; one that is `m` defines only
CONFIG_X_MODULE (so CONFIG_X is false in built-in code, which is where VMCOREINFO is
emitted); an int, hex or string option is defined with its value; anything unset is
undefined, which `#if` reads as 0. Conditions can be evaluated against a full config,
or partially against a few known facts (what `--arch x86_64` implies), leaving the rest
as a simplified residual condition for display.
"""
from __future__ import annotations

import gzip
import io
import itertools
import os
import re
import zlib
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Union

from vmci.lang import cexpr
from vmci.runtime import config_enabled, config_number, config_set  # the generated package reads .config the same way

_CONFIG_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET_LINE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
MAX_CONFIG_BYTES = 16 << 20


class ConfigError(Exception):
    """A config file that cannot be used; str() is one line naming the file and place."""


@dataclass
class KernelConfig:
    """A .config: option name -> raw value ("y", "m", "12", "0x1000", "\"text\"")."""

    values: Dict[str, str]
    source: str = "<config>"

    @classmethod
    def from_text(cls, text: str, source: str) -> "KernelConfig":
        values: Dict[str, str] = {}
        # kconfig (scripts/kconfig/confdata.c conf_read_simple) ends a line at "\n" alone
        # and drops a "\r" before it; str.splitlines() would also split a quoted value at
        # \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029, so that it could set other options
        for number, line in enumerate(text.split("\n"), 1):
            line = line.strip(" \t\r")
            if not line or _UNSET_LINE.match(line) or line.startswith("#"):
                continue
            match = _CONFIG_LINE.match(line)
            if not match:
                raise ConfigError(f"{source}:{number}: not a config line: {line[:60]!r}")
            values[match.group(1)] = match.group(2)
        if not values:
            raise ConfigError(f"{source}: no CONFIG_ options in it; is it a kernel .config?")
        return cls(values, source)

    @classmethod
    def from_file(cls, path: str) -> "KernelConfig":
        """The config in a file (`-`: standard input), plain or gzip-compressed."""
        from vmci.files.inputs import open_input, shown

        source, path = path, shown(path)
        try:
            with open_input(source) as handle:
                raw = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the config: {error.strerror or error}")
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; not a kernel config")
        if raw[:2] == b"\x1f\x8b":  # /proc/config.gz
            try:  # inflate no more than the limit: a small file can inflate to gigabytes
                with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
                    raw = stream.read(MAX_CONFIG_BYTES + 1)
            except (OSError, EOFError, zlib.error) as error:
                raise ConfigError(f"{path}: damaged gzip data: {error}")
            if len(raw) > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path}: inflates to more than {MAX_CONFIG_BYTES} bytes; not a kernel config")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise ConfigError(f"{path}:{line}: not a text config (invalid UTF-8)")
        return cls.from_text(text, path)

    def is_enabled(self, name: str) -> bool:
        """#ifdef semantics: true for y and for any value; false for m and unset."""
        return config_set(self.values, name)

    def int_value(self, name: str) -> int:
        """#if semantics: y is 1, numbers are themselves, anything else is 0."""
        return config_number(self.values, name)

    def with_changes(self, changes: Dict[str, Optional[str]]) -> "KernelConfig":
        values = dict(self.values)
        for name, value in changes.items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
        return KernelConfig(values, self.source)


# --- conditions ---------------------------------------------------------------------

Truth = Union[bool, "Condition"]


class ConditionError(ValueError):
    def __init__(self, message: str, column: int = 1):
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass(frozen=True)
class Condition:
    """A parsed Kconfig condition. TRUE is the condition with no text."""

    node: Optional[cexpr.Node]

    @classmethod
    def parse(cls, text: Optional[str]) -> "Condition":
        if text is None or text == "":
            return TRUE
        try:
            node = cexpr.parse_expression(text)
        except cexpr.CExprError as error:
            raise ConditionError(error.message, error.column)
        _check_condition(node)
        return cls(node)

    @property
    def text(self) -> str:
        return "" if self.node is None else _render(self.node, 0)

    def __str__(self) -> str:
        return self.text or "always"

    def symbols(self) -> set:
        return set() if self.node is None else cexpr.names_in(self.node)

    def evaluate(self, config: KernelConfig) -> bool:
        if self.node is None:
            return True
        return bool(_eval(self.node, config))

    def simplify(self, facts: Dict[str, Optional[str]]) -> Truth:
        """Evaluate what `facts` decide (name -> value, None = unset); keep the rest."""
        if self.node is None:
            return True
        result = _simplify(self.node, facts)
        return result if isinstance(result, bool) else Condition(result)

    def __and__(self, other: "Condition") -> "Condition":
        if self.node is None:
            return other
        if other.node is None:
            return self
        # keep one copy of a conjunct both sides share (a call inherits its caller's gate)
        mine = _conjuncts(self.node)
        extra = [n for n in _conjuncts(other.node) if n not in mine]
        node = self.node
        for part in extra:
            node = cexpr.Binary("&&", node, part)
        return Condition(node)

    def negate(self) -> "Condition":
        if self.node is None:
            return Condition(cexpr.Num(0, "", "0"))
        return Condition(cexpr.Unary("!", self.node))

    def satisfiable_with(self, *others: "Condition", choices=(), max_symbols: int = 16) -> bool:
        """Whether this and the others can all hold for some config.

        `choices` are Kconfig choice groups: exactly one option of each is set. The
        search assigns one symbol at a time (y, unset, or a value a comparison names)
        and drops a branch as soon as a condition is decided false, so conditions that
        contradict each other early are cheap however many symbols they name. Beyond
        `max_symbols` symbols or MAX_SEARCH_STEPS steps it answers True: "they may
        overlap", the cautious answer for every check that asks."""
        nodes = [c.node for c in (self,) + others if c.node is not None]
        if not nodes:
            return True
        symbols = sorted(set().union(*(cexpr.names_in(n) for n in nodes)))
        if len(symbols) > max_symbols:
            return True  # too many to enumerate: assume they can overlap
        comparisons = _comparison_values(nodes)
        candidates = [sorted(comparisons.get(name, set()) | {"y", None}, key=str) for name in symbols]
        groups = [g for g in choices if set(g) & set(symbols)]
        steps = [0]

        def choices_ok(facts) -> bool:
            for group in groups:
                chosen = sum(1 for option in group if option in facts and facts[option] not in (None, "m", "n"))
                if chosen > 1:
                    return False
                # when every option of the group is being enumerated, one of them must be set
                if chosen == 0 and all(option in facts for option in group):
                    return False
            return True

        def search(index: int, facts: dict, pending: list) -> bool:
            steps[0] += 1
            if steps[0] > MAX_SEARCH_STEPS:
                raise _TooLong
            if not choices_ok(facts):
                return False
            if not pending:
                return True  # every condition holds whatever the symbols left are
            if index == len(symbols):
                return False
            name = symbols[index]
            for value in candidates[index]:
                facts[name] = value
                left = []
                for node in pending:
                    verdict = _decide(node, facts)
                    if verdict is False:
                        break
                    if verdict is not True:
                        left.append(verdict)
                else:
                    if search(index + 1, facts, left):
                        return True
                del facts[name]
            return False

        pending = []
        for node in nodes:  # constants (`0`, `1`) decide before any symbol does
            verdict = _decide(node, {})
            if verdict is False:
                return False
            if verdict is not True:
                pending.append(verdict)
        try:
            return search(0, {}, pending)
        except _TooLong:
            return True


class _TooLong(Exception):
    pass


def _decide(node: cexpr.Node, facts: Dict[str, Optional[str]]):
    """_simplify, and a residual that names no unknown symbol (`1`, `CONFIG_A || 0`
    once CONFIG_A is known) evaluated to a bool."""
    result = _simplify(node, facts)
    if not isinstance(result, bool) and all(name in facts for name in cexpr.names_in(result)):
        return bool(_eval(result, KernelConfig({k: v for k, v in facts.items() if v is not None})))
    return result


MAX_SEARCH_STEPS = 200_000  # assignments tried by one satisfiable_with() before it answers "may overlap"


TRUE = Condition(None)


def _choice_ok(group, config: "KernelConfig", enumerated) -> bool:
    chosen = sum(1 for option in group if config.is_enabled(option))
    if chosen > 1:
        return False
    # when every option of the group is being enumerated, one of them must be set
    return chosen == 1 or not all(option in enumerated for option in group)


def _conjuncts(node: cexpr.Node) -> list:
    if isinstance(node, cexpr.Binary) and node.op == "&&":
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]

_COMPARISONS = ("==", "!=", "<", ">", "<=", ">=")


def _check_condition(node: cexpr.Node) -> None:
    for name in cexpr.names_in(node):
        if not name.startswith("CONFIG_"):
            raise ConditionError(f"{name!r} is not a CONFIG_ symbol; conditions are over Kconfig options only")
    for call in cexpr.calls_in(node):
        if call not in ("defined", "IS_ENABLED", "IS_BUILTIN"):
            raise ConditionError(f"{call}() is not allowed in a condition (use CONFIG_X, defined(), IS_ENABLED())")
    _check_shape(node)


def _check_shape(node: cexpr.Node) -> None:
    if isinstance(node, cexpr.Name):
        return
    if isinstance(node, cexpr.Num):
        return
    if isinstance(node, cexpr.Call):
        if len(node.args) != 1 or not isinstance(node.args[0], cexpr.Name):
            raise ConditionError(f"{node.function}() takes one CONFIG_ symbol")
        return
    if isinstance(node, cexpr.Unary) and node.op == "!":
        _check_shape(node.operand)
        return
    if isinstance(node, cexpr.Binary) and node.op in ("&&", "||"):
        _check_shape(node.left)
        _check_shape(node.right)
        return
    if isinstance(node, cexpr.Binary) and node.op in _COMPARISONS:
        if isinstance(node.left, cexpr.Name) and isinstance(node.right, cexpr.Num):
            return
        raise ConditionError("a comparison must be CONFIG_X <op> number")
    raise ConditionError("conditions may use only CONFIG_ symbols, !, &&, ||, comparisons with numbers, defined()")


def _atom_value(node: cexpr.Node, config: KernelConfig):
    if isinstance(node, cexpr.Name):
        return config.is_enabled(node.id)
    if isinstance(node, cexpr.Call):
        name = node.args[0].id
        if node.function == "IS_ENABLED":
            return config_enabled(config.values, name)
        return config.is_enabled(name)
    return None


def _eval(node: cexpr.Node, config: KernelConfig):
    if isinstance(node, cexpr.Num):
        return node.value != 0
    atom = _atom_value(node, config)
    if atom is not None:
        return atom
    if isinstance(node, cexpr.Unary):
        return not _eval(node.operand, config)
    if node.op == "&&":
        return _eval(node.left, config) and _eval(node.right, config)
    if node.op == "||":
        return _eval(node.left, config) or _eval(node.right, config)
    left, right = config.int_value(node.left.id), node.right.value
    return {"==": left == right, "!=": left != right, "<": left < right, ">": left > right,
            "<=": left <= right, ">=": left >= right}[node.op]


def _simplify(node: cexpr.Node, facts: Dict[str, Optional[str]]):
    names = cexpr.names_in(node)
    if names and all(name in facts for name in names):
        return bool(_eval(node, KernelConfig({k: v for k, v in facts.items() if v is not None})))
    if isinstance(node, cexpr.Unary):
        inner = _simplify(node.operand, facts)
        return (not inner) if isinstance(inner, bool) else cexpr.Unary("!", inner)
    if isinstance(node, cexpr.Binary) and node.op in ("&&", "||"):
        left, right = _simplify(node.left, facts), _simplify(node.right, facts)
        absorbing = node.op == "||"
        for side, other in ((left, right), (right, left)):
            if isinstance(side, bool):
                return absorbing if side == absorbing else other
        return cexpr.Binary(node.op, left, right)
    return node


def _comparison_values(nodes: Iterable[cexpr.Node]) -> Dict[str, set]:
    """Values worth trying for symbols compared with numbers (n, n+1, n-1 as strings)."""
    found: Dict[str, set] = {}

    def walk(node):
        if isinstance(node, cexpr.Binary):
            if node.op in _COMPARISONS and isinstance(node.left, cexpr.Name):
                n = node.right.value
                found.setdefault(node.left.id, set()).update({str(n), str(n + 1), str(max(n - 1, 0))})
            else:
                walk(node.left)
                walk(node.right)
        elif isinstance(node, cexpr.Unary):
            walk(node.operand)

    for node in nodes:
        walk(node)
    return found


_PRECEDENCE = {"||": 1, "&&": 2}


def _render(node: cexpr.Node, parent: int) -> str:
    if isinstance(node, cexpr.Binary) and node.op in _PRECEDENCE:
        mine = _PRECEDENCE[node.op]
        text = f"{_render(node.left, mine)} {node.op} {_render(node.right, mine)}"
        return f"({text})" if mine < parent else text
    if isinstance(node, cexpr.Unary):
        inner = _render(node.operand, 3)
        return f"!{inner}"
    if isinstance(node, cexpr.Binary):
        text = f"{node.left.id} {node.op} {node.right.text}"
        return f"({text})" if parent >= 3 else text
    return cexpr.to_c(node)


_KCONFIG_SYMBOL = re.compile(r"^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$", re.M)


def kconfig_symbols(kernel_tree: str) -> set:
    """Every option a kernel tree's Kconfig files declare, as CONFIG_ names.

    A Kconfig file that is not a regular file (a FIFO would block the read forever) is
    inputs.NotRegularFile: the symbols would be incomplete, and every option it declares
    would be reported unknown."""
    from vmci.files.inputs import open_regular

    symbols = set()
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
