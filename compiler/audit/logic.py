"""Decide whether two Kconfig conditions agree, and show a config where they do not.

Both conditions are over CONFIG_ symbols (condition.Condition). They agree when no
config that satisfies the context (the machine's implied config, the tree's Kconfig
rules) makes one true and the other false: condition.satisfying_config looks for one.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

from vmci.lang import condition as algebra
from vmci.lang.condition import TRUE, Condition, any_of

MAX_SYMBOLS = 64


def differ(a: Condition, b: Condition) -> Condition:
    """True exactly where a and b disagree."""
    return any_of([a & b.negate(), b & a.negate()])


def satisfying_config(formulas: Sequence[Condition], facts: Optional[Dict[str, Optional[str]]] = None
                      ) -> Optional[Dict[str, Optional[str]]]:
    """An assignment (symbol -> value, None = unset) making every formula true, or None.

    `facts` are values fixed beforehand. Symbols not in the returned assignment do not
    matter. More than MAX_SYMBOLS symbols is a ValueError."""
    nodes = [formula.node for formula in formulas if formula.node is not None]
    return algebra.satisfying_config(nodes, facts, max_symbols=MAX_SYMBOLS)


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
