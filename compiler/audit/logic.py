"""Decide whether two Kconfig conditions agree, and show a config where they do not.

Both conditions are over CONFIG_ symbols (kconfig.Condition). They agree when no
config that satisfies the context (the machine's implied config, the tree's Kconfig
rules) makes one true and the other false. The search is a small DPLL: assign one
symbol at a time, simplify every formula with Condition.simplify, and prune as soon as
one becomes false. Symbols compared with numbers (CONFIG_PGTABLE_LEVELS == 3) range
over the numbers that matter; symbols under IS_ENABLED() also take the value m.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence

from vmci.lang import cexpr
from vmci.lang.kconfig import TRUE, Condition, KernelConfig

MAX_SYMBOLS = 64


def _or(a: Condition, b: Condition) -> Condition:
    if a.node is None or b.node is None:
        return TRUE
    return Condition(cexpr.Binary("||", a.node, b.node))


def any_of(conditions: Iterable[Condition]) -> Condition:
    result: Optional[Condition] = None
    for condition in conditions:
        result = condition if result is None else _or(result, condition)
    return result if result is not None else Condition(cexpr.Num(0, "", "0"))


def differ(a: Condition, b: Condition) -> Condition:
    """True exactly where a and b disagree."""
    return _or(a & b.negate(), b & a.negate())


def _domain(formulas: Sequence[Condition]) -> Dict[str, List[Optional[str]]]:
    values: Dict[str, set] = {}

    def walk(node, in_call=False):
        if isinstance(node, cexpr.Name):
            values.setdefault(node.id, set())
        elif isinstance(node, cexpr.Call):
            for arg in node.args:
                walk(arg, True)
                if isinstance(arg, cexpr.Name) and node.function == "IS_ENABLED":
                    values[arg.id].add("m")
        elif isinstance(node, cexpr.Unary):
            walk(node.operand, in_call)
        elif isinstance(node, cexpr.Binary):
            if node.op in ("==", "!=", "<", ">", "<=", ">=") and isinstance(node.left, cexpr.Name) \
                    and isinstance(node.right, cexpr.Num):
                n = node.right.value
                values.setdefault(node.left.id, set()).update({str(n), str(n + 1), str(max(n - 1, 0))})
            else:
                walk(node.left, in_call)
                walk(node.right, in_call)

    for formula in formulas:
        if formula.node is not None:
            walk(formula.node)
    return {name: ["y", None] + sorted(extra - {"y"}) for name, extra in values.items()}


def _settle(formula: Condition, facts: Dict[str, Optional[str]]):
    """Simplify by the facts; a formula left without symbols is decided outright."""
    if formula.node is None:
        return True
    names = formula.symbols()
    if facts and names & facts.keys():
        verdict = formula.simplify({k: v for k, v in facts.items() if k in names})
        if isinstance(verdict, bool):
            return verdict
        formula = verdict
    if not formula.symbols():
        return formula.evaluate(KernelConfig({}, "<none>"))
    return formula


def satisfying_config(formulas: Sequence[Condition], facts: Optional[Dict[str, Optional[str]]] = None
                      ) -> Optional[Dict[str, Optional[str]]]:
    """An assignment (symbol -> value, None = unset) making every formula true, or None.

    `facts` are values fixed beforehand. Symbols not in the returned assignment do not
    matter."""
    facts = dict(facts or {})
    live = []
    for formula in formulas:
        verdict = _settle(formula, facts)
        if verdict is False:
            return None
        if verdict is not True:
            live.append(verdict)
    domain = _domain(live)
    if len(domain) > MAX_SYMBOLS:
        raise ValueError(f"{len(domain)} symbols are too many to decide")
    found = _search(live, domain, {})
    if found is not None:
        found.update(facts)
    return found


def _search(formulas: List[Condition], domain, assigned) -> Optional[Dict[str, Optional[str]]]:
    if not formulas:
        return dict(assigned)
    # branch on the symbol that occurs in the most formulas
    counts: Dict[str, int] = {}
    for formula in formulas:
        for name in formula.symbols():
            counts[name] = counts.get(name, 0) + 1
    name = max(sorted(counts), key=lambda n: counts[n])
    for value in domain.get(name, ["y", None]):
        remaining = []
        for formula in formulas:
            verdict = _settle(formula, {name: value}) if name in formula.symbols() else formula
            if verdict is False:
                break
            if verdict is True:
                continue
            remaining.append(verdict)
        else:
            assigned[name] = value
            found = _search(remaining, domain, assigned)
            if found is not None:
                return found
            del assigned[name]
    return None


def where_they_differ(a: Condition, b: Condition, context: Sequence[Condition] = (),
                      facts: Optional[Dict[str, Optional[str]]] = None) -> Optional[Dict[str, Optional[str]]]:
    """A config under which a and b disagree (only the symbols of a and b), or None when
    they agree everywhere the context and the facts allow."""
    found = satisfying_config(list(context) + [differ(a, b)], facts)
    if found is None:
        return None
    shown = a.symbols() | b.symbols()
    return {name: value for name, value in found.items() if name in shown}


def describe(assignment: Dict[str, Optional[str]]) -> str:
    if not assignment:
        return "any config"
    parts = []
    for name in sorted(assignment):
        value = assignment[name]
        parts.append(f"{name}={value}" if value is not None else f"{name} unset")
    return ", ".join(parts)


def differing_config(a: Condition, b: Condition, context: Condition = TRUE, rules=None
                     ) -> Optional[Dict[str, Optional[str]]]:
    """Where a and b disagree in a config that satisfies `context` (a machine's implied
    config) and the Kconfig rules of the architecture (kconfig_rules.KconfigRules), or
    None when they agree in every such config."""
    symbols = a.symbols() | b.symbols() | context.symbols()
    formulas = [context]
    facts: Dict[str, Optional[str]] = {}
    if rules is not None:
        formulas += rules.relevant(symbols)
        every = set(symbols).union(*(f.symbols() for f in formulas))
        facts = rules.facts(every)
    return where_they_differ(a, b, formulas, facts)
