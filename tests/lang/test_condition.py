"""The condition algebra: one tree, one printer with three dialects, one search."""
import copy
import pickle

import pytest

from vmci.lang import condition as algebra
from vmci.lang.condition import FALSE, PREPROCESSOR, PYTHON, TRUE, Condition, ConditionError, all_of, any_of, render
from vmci.lang.kconfig import KernelConfig


def test_equal_conditions_are_one_node_whatever_the_parentheses():
    a = Condition.parse("CONFIG_A && (CONFIG_B && CONFIG_C)")
    b = Condition.parse("(CONFIG_A && CONFIG_B) && CONFIG_C")
    assert a.node is b.node
    assert a.node.parts == tuple(Condition.parse(n).node for n in ("CONFIG_A", "CONFIG_B", "CONFIG_C"))
    assert a.text == "CONFIG_A && CONFIG_B && CONFIG_C"
    # a pickled or copied node is the interned one again
    assert pickle.loads(pickle.dumps(a)).node is a.node
    assert copy.deepcopy(a).node is a.node


@pytest.mark.parametrize("text, display, preprocessor, python", [
    ("CONFIG_A && !CONFIG_B", "CONFIG_A && !CONFIG_B", "defined(CONFIG_A) && !defined(CONFIG_B)",
     "k.on('CONFIG_A') and not k.on('CONFIG_B')"),
    ("CONFIG_A && (CONFIG_B || defined(CONFIG_C))", "CONFIG_A && (CONFIG_B || defined(CONFIG_C))",
     "defined(CONFIG_A) && (defined(CONFIG_B) || defined(CONFIG_C))",
     "k.on('CONFIG_A') and (k.on('CONFIG_B') or k.on('CONFIG_C'))"),
    ("!(CONFIG_LEVELS == 0x3) || IS_ENABLED(CONFIG_M)", "!(CONFIG_LEVELS == 0x3) || IS_ENABLED(CONFIG_M)",
     "!(CONFIG_LEVELS == 0x3) || IS_ENABLED(CONFIG_M)", "not (k.number('CONFIG_LEVELS') == 3) or k.enabled('CONFIG_M')"),
    ("!(CONFIG_A || IS_BUILTIN(CONFIG_B)) && 1", "!(CONFIG_A || IS_BUILTIN(CONFIG_B)) && 1",
     "!(defined(CONFIG_A) || IS_BUILTIN(CONFIG_B)) && 1", "not (k.on('CONFIG_A') or k.on('CONFIG_B')) and True"),
])
def test_one_printer_three_dialects(text, display, preprocessor, python):
    node = Condition.parse(text).node
    assert render(node) == display
    assert render(node, PREPROCESSOR) == preprocessor
    assert render(node, PYTHON) == python
    assert Condition.parse(display).node is node  # the display text parses back to the same node


def test_the_kernels_reading_of_y_m_and_numbers():
    config = KernelConfig({"CONFIG_Y": "y", "CONFIG_M": "m", "CONFIG_N": "12"})
    holds = {text: Condition.parse(text).evaluate(config) for text in (
        "CONFIG_Y", "CONFIG_M", "IS_ENABLED(CONFIG_M)", "IS_BUILTIN(CONFIG_M)", "defined(CONFIG_N)",
        "CONFIG_N == 12", "CONFIG_Y == 1", "CONFIG_M == 0", "CONFIG_UNSET", "!CONFIG_UNSET && CONFIG_N > 0x0b")}
    assert holds == {"CONFIG_Y": True, "CONFIG_M": False, "IS_ENABLED(CONFIG_M)": True,
                     "IS_BUILTIN(CONFIG_M)": False, "defined(CONFIG_N)": True, "CONFIG_N == 12": True,
                     "CONFIG_Y == 1": True, "CONFIG_M == 0": True, "CONFIG_UNSET": False,
                     "!CONFIG_UNSET && CONFIG_N > 0x0b": True}


def test_simplify_keeps_what_the_facts_do_not_decide():
    condition = Condition.parse("CONFIG_X86_64 && (CONFIG_SPARSEMEM || CONFIG_FLATMEM) && !CONFIG_KASAN")
    assert condition.simplify({"CONFIG_X86_64": "y"}).text == "(CONFIG_SPARSEMEM || CONFIG_FLATMEM) && !CONFIG_KASAN"
    assert condition.simplify({"CONFIG_X86_64": "y", "CONFIG_FLATMEM": "y"}).text == "!CONFIG_KASAN"
    assert condition.simplify({"CONFIG_X86_64": None}) is False
    assert condition.simplify({"CONFIG_X86_64": "y", "CONFIG_SPARSEMEM": "y", "CONFIG_KASAN": None}) is True


def test_and_keeps_one_copy_of_a_shared_conjunct_and_any_of_absorbs():
    gate = Condition.parse("CONFIG_A && CONFIG_B")
    assert (gate & Condition.parse("CONFIG_B && CONFIG_C")).text == "CONFIG_A && CONFIG_B && CONFIG_C"
    assert (gate & TRUE) is gate and (TRUE & gate) is gate
    assert any_of([gate, TRUE]) == TRUE
    assert any_of([]) == FALSE and FALSE.text == "0"
    assert any_of([FALSE, gate, Condition.parse("CONFIG_C || CONFIG_D")]).text == \
        "CONFIG_A && CONFIG_B || CONFIG_C || CONFIG_D"
    assert all_of([]) == TRUE
    assert all_of([gate, Condition.parse("CONFIG_C || CONFIG_D")]).text == "CONFIG_A && CONFIG_B && (CONFIG_C || CONFIG_D)"
    assert TRUE.negate() == FALSE and gate.negate().text == "!(CONFIG_A && CONFIG_B)"


def test_search_finds_a_config_or_proves_there_is_none():
    nodes = [Condition.parse(t).node for t in ("CONFIG_PGTABLE_LEVELS > 3", "!IS_BUILTIN(CONFIG_M)",
                                                 "IS_ENABLED(CONFIG_M) || CONFIG_B")]
    found = algebra.satisfying_config(nodes)
    assert found is not None
    config = KernelConfig({k: v for k, v in found.items() if v is not None})
    assert all(algebra.evaluate(node, config.values) for node in nodes)
    assert found["CONFIG_PGTABLE_LEVELS"] == "4"
    contradiction = [Condition.parse(t).node for t in ("CONFIG_A && CONFIG_B", "!CONFIG_A || CONFIG_N < 1",
                                                       "CONFIG_N >= 1")]
    assert algebra.satisfying_config(contradiction) is None
    # m makes IS_ENABLED true and CONFIG_X false: a tristate is not a bool
    assert Condition.parse("IS_ENABLED(CONFIG_X) && !CONFIG_X").satisfiable_with()
    with pytest.raises(algebra.TooLarge):
        algebra.satisfying_config([Condition.parse(" || ".join(f"CONFIG_{i}" for i in range(5))).node],
                                  max_symbols=4)


def test_the_search_answers_alike_whatever_it_remembers(monkeypatch):
    # pairwise exclusions over 8 symbols and one that needs 3 of them: many branches
    # settle the same formula with the same value, and the first config found is fixed
    names = [f"CONFIG_S{i}" for i in range(8)]
    texts = [f"!({a} && {b}) || CONFIG_WIDE" for i, a in enumerate(names) for b in names[i + 1:]]
    texts += ["(CONFIG_S1 && CONFIG_S4 && CONFIG_S6) || !CONFIG_WIDE", "CONFIG_WIDE || CONFIG_S7"]
    nodes = [Condition.parse(t).node for t in texts]
    questions = [nodes, nodes + [Condition.parse("!CONFIG_S1").node]]
    remembered = [algebra.satisfying_config(q) for q in questions]
    for question, found in zip(questions, remembered):
        assert found is not None and all(algebra.evaluate(node, found) for node in question)
    assert remembered[0]["CONFIG_WIDE"] == "y" and remembered[1]["CONFIG_S7"] == "y"
    monkeypatch.setattr(algebra, "MAX_SETTLED", 0)  # nothing remembered: every formula settled again
    assert [algebra.satisfying_config(q) for q in questions] == remembered
    assert algebra.satisfying_config(nodes + [Condition.parse("!CONFIG_WIDE && !CONFIG_S7").node]) is None


def test_choice_groups_bind_symbols_the_conditions_leave_free():
    # A unset forces D (one of A, D is set), and D forbids B (at most one of B, D): B must be unset
    first, second = Condition.parse("!CONFIG_A"), Condition.parse("!(CONFIG_D && !CONFIG_B)")
    assert second.satisfiable_with(first)
    assert not first.satisfiable_with(second, choices=[["CONFIG_A", "CONFIG_D"], ["CONFIG_B", "CONFIG_D"]])


@pytest.mark.parametrize("text, message", [
    ("CONFIG_A && FOO", "'FOO' is not a CONFIG_ symbol; conditions are over Kconfig options only"),
    ("IS_MODULE(CONFIG_A)", "IS_MODULE() is not allowed in a condition (use CONFIG_X, defined(), IS_ENABLED())"),
    ("CONFIG_A + 1", "conditions may use only CONFIG_ symbols, !, &&, ||, comparisons with numbers, defined()"),
    ("3 == CONFIG_A", "a comparison must be CONFIG_X <op> number"),
    ("defined(CONFIG_A, CONFIG_B)", "defined() takes one CONFIG_ symbol"),
])
def test_what_a_condition_may_not_say(text, message):
    with pytest.raises(ConditionError) as caught:
        Condition.parse(text)
    assert caught.value.message == message
