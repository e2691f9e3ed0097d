"""Kconfig conditions: their own small algebra, one satisfiability search, one printer.

A condition is a C preprocessor expression over CONFIG_ symbols, read the way the
kernel's own `#if`/`#ifdef` read it after include/generated/autoconf.h: a bool or
tristate option that is `y` is defined as 1; one that is `m` defines only
CONFIG_X_MODULE (so CONFIG_X is false in built-in code, which is where VMCOREINFO is
emitted); an int, hex or string option is defined with its value; anything unset is
undefined, which `#if` reads as 0 (include/linux/kconfig.h for IS_ENABLED/IS_BUILTIN).

The tree (`Expr`) has seven shapes: a constant, a symbol, a test (`defined(X)`,
`IS_ENABLED(X)`, `IS_BUILTIN(X)`), a comparison with a number, not, and n-ary and/or.
Nodes are interned: building an equal node twice gives the same object, so equality is
identity and a node's symbols are computed once. The satisfiability search remembers
its answer per distinct question; specs ask the same few questions thousands of times.

`Condition` is the value the model and every stage hold: a node, or none for a
condition that always holds. `render` prints a node in one of three dialects: the
text specs are written in, `#if` C, and the Python of the generated package.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import (Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from vmci.lang import cexpr
from vmci.lang.kconfig import KernelConfig
from vmci.runtime import config_enabled, config_number, config_set  # as the generated package reads them
from vmci.errors import UnusableInput

Facts = Mapping[str, Optional[str]]  # CONFIG_ name -> its value ("y", "m", "12"); None: unset
Choices = Sequence[Sequence[str]]  # Kconfig choice groups: exactly one option of each is set

COMPARISONS = ("==", "!=", "<", ">", "<=", ">=")
TESTS = ("defined", "IS_ENABLED", "IS_BUILTIN")


class ConditionError(UnusableInput, ValueError):
    """A condition that is not in the accepted subset; `column` is 1-based."""

    def __init__(self, message: str, column: int = 1):
        super().__init__(message)
        self.message = message
        self.column = column


# --- the tree ----------------------------------------------------------------------------

_INTERNED: Dict[tuple, Expr] = {}


class Expr:
    """A condition node. Build nodes with the functions below, never directly."""

    __slots__ = ("symbols", "__weakref__")
    symbols: FrozenSet[str]  # the CONFIG_ names it reads

    def _fields(self) -> tuple:
        raise NotImplementedError

    def __reduce__(self) -> tuple:
        return (_rebuild, (type(self), self._fields()))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {render(self)}>"


def _intern(cls: type, fields: tuple) -> Expr:
    key = (cls,) + fields
    node = _INTERNED.get(key)
    if node is None:
        node = object.__new__(cls)
        node._set(*fields)
        _INTERNED[key] = node
    return node


def _rebuild(cls: type, fields: tuple) -> Expr:
    return _intern(cls, fields)


class Const(Expr):
    __slots__ = ("value", "text")
    value: bool
    text: str  # as written: "0", "1"

    def _set(self, value: bool, text: str) -> None:
        self.value, self.text, self.symbols = value, text, frozenset()

    def _fields(self) -> tuple:
        return (self.value, self.text)


class Symbol(Expr):
    """CONFIG_X: true when X is y or has a value (not for m)."""

    __slots__ = ("name",)
    name: str

    def _set(self, name: str) -> None:
        self.name, self.symbols = name, frozenset((name,))

    def _fields(self) -> tuple:
        return (self.name,)


class Test(Expr):
    """defined(CONFIG_X) and IS_BUILTIN(CONFIG_X) read as CONFIG_X; IS_ENABLED(CONFIG_X)
    is also true for m."""

    __slots__ = ("function", "name")
    function: str
    name: str

    def _set(self, function: str, name: str) -> None:
        self.function, self.name, self.symbols = function, name, frozenset((name,))

    def _fields(self) -> tuple:
        return (self.function, self.name)


class Compare(Expr):
    """CONFIG_X <op> number, X read as a number (y is 1, unset and m are 0)."""

    __slots__ = ("name", "op", "value", "text")
    name: str
    op: str
    value: int
    text: str  # the number as written

    def _set(self, name: str, op: str, value: int, text: str) -> None:
        self.name, self.op, self.value, self.text = name, op, value, text
        self.symbols = frozenset((name,))

    def _fields(self) -> tuple:
        return (self.name, self.op, self.value, self.text)


class Not(Expr):
    __slots__ = ("operand",)
    operand: Expr

    def _set(self, operand: Expr) -> None:
        self.operand, self.symbols = operand, operand.symbols

    def _fields(self) -> tuple:
        return (self.operand,)


class _Nary(Expr):
    __slots__ = ("parts",)
    parts: Tuple[Expr, ...]

    def _set(self, parts: Tuple[Expr, ...]) -> None:
        self.parts, self.symbols = parts, frozenset().union(*(p.symbols for p in parts))

    def _fields(self) -> tuple:
        return (self.parts,)


class And(_Nary):
    __slots__ = ()


class Or(_Nary):
    __slots__ = ()


def const(value: bool, text: Optional[str] = None) -> Expr:
    return _intern(Const, (value, text if text is not None else str(int(value))))


def symbol(name: str) -> Expr:
    return _intern(Symbol, (name,))


def test(function: str, name: str) -> Expr:
    return _intern(Test, (function, name))


def compare(name: str, op: str, value: int, text: str) -> Expr:
    return _intern(Compare, (name, op, value, text))


def not_(operand: Expr) -> Expr:
    return _intern(Not, (operand,))


def _nary(cls: type, parts: Iterable[Expr]) -> Expr:
    flat: List[Expr] = []
    for part in parts:  # (a && b) && c is a && b && c: the same text, one level
        flat.extend(part.parts if isinstance(part, cls) else (part,))  # type: ignore[attr-defined]
    if not flat:
        raise ValueError("an empty conjunction or disjunction")
    return flat[0] if len(flat) == 1 else _intern(cls, (tuple(flat),))


def and_(parts: Iterable[Expr]) -> Expr:
    return _nary(And, parts)


def or_(parts: Iterable[Expr]) -> Expr:
    return _nary(Or, parts)


FALSE_NODE = const(False, "0")


def conjuncts(node: Optional[Expr]) -> Tuple[Expr, ...]:
    """The top-level && operands (none for a condition that always holds)."""
    if node is None:
        return ()
    return node.parts if isinstance(node, And) else (node,)


def negation(node: Expr) -> Expr:
    """!A; !!A is A."""
    return node.operand if isinstance(node, Not) else not_(node)


# --- from the C expression parser ---------------------------------------------------------

def from_text(text: str) -> Expr:
    """Parse a condition; ConditionError names the first problem (and its column)."""
    try:
        node = cexpr.parse_expression(text)
    except cexpr.CExprError as error:
        raise ConditionError(error.message, error.column)
    for name in cexpr.names_in(node):
        if not name.startswith("CONFIG_"):
            raise ConditionError(f"{name!r} is not a CONFIG_ symbol; conditions are over Kconfig options only")
    for call in cexpr.calls_in(node):
        if call not in TESTS:
            raise ConditionError(f"{call}() is not allowed in a condition (use CONFIG_X, defined(), IS_ENABLED())")
    return _convert(node)


def _convert(node: cexpr.Node) -> Expr:
    if isinstance(node, cexpr.Name):
        return symbol(node.id)
    if isinstance(node, cexpr.Num):
        return const(node.value != 0, node.text)
    if isinstance(node, cexpr.Call):
        if len(node.args) != 1 or not isinstance(node.args[0], cexpr.Name):
            raise ConditionError(f"{node.function}() takes one CONFIG_ symbol")
        return test(node.function, node.args[0].id)
    if isinstance(node, cexpr.Unary) and node.op == "!":
        return not_(_convert(node.operand))
    if isinstance(node, cexpr.Binary) and node.op in ("&&", "||"):
        parts = (_convert(node.left), _convert(node.right))
        return and_(parts) if node.op == "&&" else or_(parts)
    if isinstance(node, cexpr.Binary) and node.op in COMPARISONS:
        if isinstance(node.left, cexpr.Name) and isinstance(node.right, cexpr.Num):
            return compare(node.left.id, node.op, node.right.value, node.right.text)
        raise ConditionError("a comparison must be CONFIG_X <op> number")
    raise ConditionError("conditions may use only CONFIG_ symbols, !, &&, ||, comparisons with numbers, defined()")


# --- values ------------------------------------------------------------------------------

_COMPARE: Dict[str, Callable[[int, int], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


def evaluate(node: Expr, values: Facts) -> bool:
    """The condition's value in a config (`values`: name -> raw value; absent or None: unset)."""
    if isinstance(node, Symbol):
        return config_set(values, node.name)
    if isinstance(node, And):
        return all(evaluate(part, values) for part in node.parts)
    if isinstance(node, Or):
        return any(evaluate(part, values) for part in node.parts)
    if isinstance(node, Not):
        return not evaluate(node.operand, values)
    if isinstance(node, Test):
        return config_enabled(values, node.name) if node.function == "IS_ENABLED" else config_set(values, node.name)
    if isinstance(node, Compare):
        return _COMPARE[node.op](config_number(values, node.name), node.value)
    assert isinstance(node, Const)
    return node.value


def simplify(node: Expr, facts: Facts) -> Union[bool, Expr]:
    """Evaluate what `facts` decide; keep the rest as a residual condition (a part that
    names no symbol, such as a literal `0`, stays as written unless its whole is decided)."""
    if node.symbols and node.symbols <= facts.keys():
        return evaluate(node, facts)
    if isinstance(node, Not):
        inner = simplify(node.operand, facts)
        return (not inner) if isinstance(inner, bool) else not_(inner)
    if isinstance(node, (And, Or)):
        absorbing = isinstance(node, Or)
        left: List[Expr] = []
        for part in node.parts:
            verdict = simplify(part, facts)
            if isinstance(verdict, bool):
                if verdict == absorbing:
                    return absorbing
                continue
            left.append(verdict)
        if not left:
            return not absorbing
        return _nary(type(node), left)
    return node


# --- the search --------------------------------------------------------------------------

MAX_SEARCH_STEPS = 200_000  # assignments the lint's overlap checks try before answering "may overlap"
# settled formulas one search remembers: the audit's questions (5.10, 6.12, 7.3 trees)
# need at most about 1,000; a question of 200,000 steps could otherwise keep millions
MAX_SETTLED = 50_000


class TooLarge(ValueError):
    """A question beyond the search's bounds (too many symbols or steps)."""


def _settle(node: Expr, facts: Facts) -> Union[bool, Expr]:
    """Simplify by the facts; a condition left without symbols is decided outright."""
    if facts and not node.symbols.isdisjoint(facts.keys()):
        verdict = simplify(node, {k: v for k, v in facts.items() if k in node.symbols})
        if isinstance(verdict, bool):
            return verdict
        node = verdict
    if not node.symbols:
        return evaluate(node, {})
    return node


def _domain(nodes: Sequence[Expr]) -> Dict[str, List[Optional[str]]]:
    """The values worth trying per symbol: y and unset; m under IS_ENABLED(); for a
    comparison with n: n, n+1 and n-1 (not below 0)."""
    values: Dict[str, set] = {}

    def walk(node: Expr) -> None:
        if isinstance(node, Symbol):
            values.setdefault(node.name, set())
        elif isinstance(node, Test):
            values.setdefault(node.name, set())
            if node.function == "IS_ENABLED":
                values[node.name].add("m")
        elif isinstance(node, Compare):
            n = node.value
            values.setdefault(node.name, set()).update({str(n), str(n + 1), str(max(n - 1, 0))})
        elif isinstance(node, Not):
            walk(node.operand)
        elif isinstance(node, (And, Or)):
            for part in node.parts:
                walk(part)

    for node in nodes:
        walk(node)
    return {name: ["y", None] + sorted(extra - {"y"}) for name, extra in values.items()}


def satisfying_config(nodes: Sequence[Expr], facts: Optional[Facts] = None, max_symbols: int = 64,
                      max_steps: Optional[int] = None) -> Optional[Dict[str, Optional[str]]]:
    """An assignment (symbol -> value, None = unset) under which every condition holds,
    or None when there is none. `facts` are values fixed beforehand. Symbols not in the
    assignment do not matter.

    A small DPLL: branch on the symbol that occurs in the most undecided conditions, try
    its values in `_domain` order, simplify every condition and drop a branch as soon as
    one is false. Raises TooLarge beyond `max_symbols` symbols or `max_steps` branches."""
    fixed = dict(facts or {})
    live: List[Expr] = []
    for node in nodes:
        verdict = _settle(node, fixed)
        if verdict is False:
            return None
        if verdict is not True:
            live.append(verdict)
    domain = _domain(live)
    if len(domain) > max_symbols:
        raise TooLarge(f"{len(domain)} symbols are too many to decide")
    steps = [0]
    # what a formula becomes when one symbol takes one value: the search settles the same
    # formula with the same value on every branch that leaves it untouched (nodes are
    # interned, so the formula itself is the key)
    settled: Dict[Tuple[Expr, str, Optional[str]], Union[bool, Expr]] = {}

    def search(formulas: List[Expr], assigned: Dict[str, Optional[str]]) -> Optional[Dict[str, Optional[str]]]:
        if not formulas:
            return dict(assigned)
        counts: Dict[str, int] = {}
        for formula in formulas:
            for name in formula.symbols:
                counts[name] = counts.get(name, 0) + 1
        name = max(sorted(counts), key=lambda n: counts[n])
        for value in domain.get(name, ["y", None]):
            steps[0] += 1
            if max_steps is not None and steps[0] > max_steps:
                raise TooLarge(f"more than {max_steps} steps to decide")
            remaining: List[Expr] = []
            for formula in formulas:
                if name in formula.symbols:
                    key = (formula, name, value)
                    verdict = settled.get(key)
                    if verdict is None:
                        verdict = _settle(formula, {name: value})
                        if len(settled) < MAX_SETTLED:
                            settled[key] = verdict
                else:
                    verdict = formula
                if verdict is False:
                    break
                if verdict is not True:
                    remaining.append(verdict)
            else:
                assigned[name] = value
                found = search(remaining, assigned)
                if found is not None:
                    return found
                del assigned[name]
        return None

    found = search(live, {})
    if found is not None:
        found.update(fixed)
    return found


def choice_rules(choices: Choices, names: FrozenSet[str]) -> List[Expr]:
    """Kconfig choice groups as conditions over `names`: at most one option of a group
    is set, and when every option is among the names, one of them is."""
    rules: List[Expr] = []
    for group in choices:
        options = [symbol(option) for option in group if option in names]
        rules += [not_(and_(pair)) for pair in itertools.combinations(options, 2)]
        if options and len(options) == len(group):
            rules.append(or_(options))
    return rules


_SATISFIABLE: Dict[tuple, bool] = {}
MAX_REMEMBERED = 20_000  # answers kept at once (the shipped specs ask 333 distinct questions)


def satisfiable(nodes: Sequence[Expr], choices: Choices = (), max_symbols: int = 16) -> bool:
    """Whether the conditions can all hold in some config (choice groups respected).

    Beyond `max_symbols` symbols or MAX_SEARCH_STEPS steps it answers True: "they may
    overlap", the cautious answer for every check that asks. Remembered per question."""
    key = (tuple(nodes), tuple(map(tuple, choices)), max_symbols)
    known = _SATISFIABLE.get(key)
    if known is not None:
        return known
    names = frozenset().union(*(node.symbols for node in nodes))
    formulas = list(nodes) + choice_rules([g for g in choices if not names.isdisjoint(g)], names)
    if len(names) > max_symbols:
        answer = True  # too many to enumerate: assume they can overlap
    elif _contradictory(formulas):
        answer = False
    else:
        try:
            answer = satisfying_config(formulas, max_symbols=max_symbols, max_steps=MAX_SEARCH_STEPS) is not None
        except TooLarge:
            answer = True
    if len(_SATISFIABLE) >= MAX_REMEMBERED:
        _SATISFIABLE.clear()  # specs repeat a few hundred questions; a flood of new ones is not worth keeping
    _SATISFIABLE[key] = answer
    return answer


def _contradictory(nodes: Sequence[Expr]) -> bool:
    """The cheap proof before a search: a false constant, or A and !A, among the
    top-level conjuncts (a define's condition against its own negation)."""
    seen = set()
    for node in nodes:
        for part in conjuncts(node):
            if isinstance(part, Const) and not part.value:
                return True
            seen.add(part)
    return any(isinstance(part, Not) and part.operand in seen for part in seen)


# --- the printer -------------------------------------------------------------------------

class Dialect:
    """How one language writes a condition's leaves and connectives."""

    def __init__(self, and_word: str, or_word: str, not_word: str, symbol: Callable[[str], str],
                 test: Callable[[str, str], str], const: Callable[[Const], str],
                 compare: Callable[[Compare], str]):
        self.and_word, self.or_word, self.not_word = and_word, or_word, not_word
        self.symbol, self.test, self.const, self.compare = symbol, test, const, compare


# as specs write it (and the audit shows it)
DISPLAY = Dialect("&&", "||", "!", lambda name: name, lambda f, name: f"{f}({name})",
                  lambda node: node.text, lambda node: f"{node.name} {node.op} {node.text}")
# a C preprocessor #if: CONFIG_X is defined(CONFIG_X)
PREPROCESSOR = Dialect("&&", "||", "!", lambda name: f"defined({name})", lambda f, name: f"{f}({name})",
                       lambda node: node.text, lambda node: f"{node.name} {node.op} {node.text}")
# the generated Python package's Kernel methods (templates/python: on, enabled, number)
PYTHON = Dialect("and", "or", "not ", lambda name: f"k.on({name!r})",
                 lambda f, name: f"k.{'enabled' if f == 'IS_ENABLED' else 'on'}({name!r})",
                 lambda node: "True" if node.value else "False",
                 lambda node: f"k.number({node.name!r}) {node.op} {node.value}")

_PRECEDENCE = {And: 2, Or: 1}


def render(node: Expr, dialect: Dialect = DISPLAY, parent: int = 0) -> str:
    """The condition as `dialect` writes it, parenthesised only where `parent` (the
    precedence around it: 0 none, 1 ||, 2 &&, 3 !) needs it."""
    if isinstance(node, (And, Or)):
        mine = _PRECEDENCE[type(node)]
        word = dialect.and_word if isinstance(node, And) else dialect.or_word
        text = f" {word} ".join(render(part, dialect, mine) for part in node.parts)
        return f"({text})" if mine < parent else text
    if isinstance(node, Not):
        return dialect.not_word + render(node.operand, dialect, 3)
    if isinstance(node, Compare):
        text = dialect.compare(node)
        return f"({text})" if parent >= 3 else text
    if isinstance(node, Symbol):
        return dialect.symbol(node.name)
    if isinstance(node, Test):
        return dialect.test(node.function, node.name)
    assert isinstance(node, Const)
    return dialect.const(node)


# --- the value stages hold ---------------------------------------------------------------

Truth = Union[bool, "Condition"]


@dataclass(frozen=True)
class Condition:
    """A parsed Kconfig condition. TRUE is the condition with no text."""

    node: Optional[Expr]

    @classmethod
    def parse(cls, text: Optional[str]) -> Condition:
        if text is None or text == "":
            return TRUE
        parsed = _PARSED.get(text)
        if parsed is None:
            parsed = _PARSED[text] = cls(from_text(text))
        return parsed

    @property
    def text(self) -> str:
        return "" if self.node is None else render(self.node)

    def __str__(self) -> str:
        return self.text or "always"

    def symbols(self) -> FrozenSet[str]:
        return frozenset() if self.node is None else self.node.symbols

    def evaluate(self, config: KernelConfig) -> bool:
        return True if self.node is None else evaluate(self.node, config.values)

    def simplify(self, facts: Facts) -> Truth:
        """Evaluate what `facts` decide (name -> value, None = unset); keep the rest."""
        if self.node is None:
            return True
        result = simplify(self.node, facts)
        return result if isinstance(result, bool) else Condition(result)

    def __and__(self, other: Condition) -> Condition:
        if self.node is None:
            return other
        if other.node is None:
            return self
        # keep one copy of a conjunct both sides share (a call inherits its caller's gate)
        mine = conjuncts(self.node)
        extra = [n for n in conjuncts(other.node) if n not in mine]
        return Condition(and_([self.node] + extra)) if extra else self

    def negate(self) -> Condition:
        return FALSE if self.node is None else Condition(not_(self.node))

    def conjuncts(self) -> Tuple[Expr, ...]:
        return conjuncts(self.node)

    def satisfiable_with(self, *others: Condition, choices: Choices = (), max_symbols: int = 16) -> bool:
        """Whether this and the others can all hold for some config (see `satisfiable`)."""
        nodes = [c.node for c in (self,) + others if c.node is not None]
        return satisfiable(nodes, choices, max_symbols) if nodes else True


_PARSED: Dict[str, Condition] = {}

TRUE = Condition(None)
FALSE = Condition(FALSE_NODE)


def all_of(conditions: Iterable[Condition]) -> Condition:
    """a && b && ...: TRUE when there is none."""
    nodes = [c.node for c in conditions if c.node is not None]
    return Condition(and_(nodes)) if nodes else TRUE


def any_of(conditions: Iterable[Condition]) -> Condition:
    """a || b || ...: TRUE when one always holds, FALSE when there is none; a part that
    is a false constant adds nothing."""
    nodes: List[Expr] = []
    for condition in conditions:
        if condition.node is None:
            return TRUE
        if not (isinstance(condition.node, Const) and not condition.node.value):
            nodes.append(condition.node)
    return Condition(or_(nodes)) if nodes else FALSE
