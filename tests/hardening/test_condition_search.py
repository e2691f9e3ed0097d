"""The overlap checks' satisfiability search prunes; it must agree with enumerating
every assignment (the definition), which is what it replaced."""
import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from vmci.lang.condition import Condition
from vmci.lang.kconfig import KernelConfig

SYMBOLS = ["CONFIG_A", "CONFIG_B", "CONFIG_C", "CONFIG_D", "CONFIG_E"]
atoms = st.one_of(
    st.sampled_from(SYMBOLS),
    st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(["==", "!=", "<", ">", "<=", ">="]),
              st.integers(0, 5)).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
    st.sampled_from(SYMBOLS).map(lambda s: f"defined({s})"),
    st.sampled_from(SYMBOLS).map(lambda s: f"IS_ENABLED({s})"),
    st.sampled_from(["0", "1"]))
conditions = st.recursive(atoms, lambda inner: st.one_of(
    inner.map(lambda c: f"!({c})"),
    st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})")),
    max_leaves=8).map(Condition.parse)
groups = st.lists(st.lists(st.sampled_from(SYMBOLS), min_size=2, max_size=3, unique=True), max_size=2)


def brute_force(conditions, choices):
    """Every assignment of y, m, unset and the numbers around each comparison."""
    texts = [c.text for c in conditions if c.node is not None]
    if not texts:
        return True
    symbols = sorted(set().union(*(c.symbols() for c in conditions)))
    values = []
    for name in symbols:
        numbers = {int(n) + d for text in texts for n in re.findall(rf"\b{name} [=!<>]=? (\d+)", text) for d in (-1, 0, 1)}
        values.append([None, "y", "m"] + [str(n) for n in sorted(numbers) if n >= 0])
    for assignment in itertools.product(*values):
        config = KernelConfig({k: v for k, v in zip(symbols, assignment) if v is not None})
        ok = True
        for group in choices:
            if not set(group) & set(symbols):
                continue
            chosen = sum(1 for option in group if config.is_enabled(option))
            if chosen > 1 or (chosen == 0 and all(option in symbols for option in group)):
                ok = False
        if ok and all(c.evaluate(config) for c in conditions):
            return True
    return False


@settings(max_examples=600, deadline=None, database=None, derandomize=True)
@given(st.lists(conditions, min_size=1, max_size=3), groups)
def test_search_agrees_with_enumeration(conditions, choices):
    first, *others = conditions
    assert first.satisfiable_with(*others, choices=choices) == brute_force(conditions, choices)
