"""Minimal, readable guards for a sequence of conditional statements.

Each statement of a generated function carries the conditions it runs under, as a tuple
of conjuncts (the top-level `&&` operands of its Kconfig condition; the Python emitter
adds version bounds). Consecutive statements that share a leading conjunct share one
block, nested blocks hold what differs, and a block whose condition is the negation of
the one before it becomes its `#else` (or `#elif` for `!A && B` after `A`), the way the
kernel writes:

    #ifdef CONFIG_KALLSYMS
        ...
    #ifdef CONFIG_KALLSYMS_BASE_RELATIVE
        ...
    #else
        ...
    #endif
    #endif

Every transformation keeps the condition each statement runs under exactly as given.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, List, Optional, Sequence, Tuple, Union

from vmci.lang.condition import Expr, negation

Atom = Hashable  # a condition node, or an emitter's own atom (a version bound)


@dataclass
class Leaf:
    payload: Any  # what the caller guards (the C emitter: its lines; the Python one: its lines)


@dataclass
class Branch:
    condition: Optional[Tuple[Atom, ...]]  # None: the `else` branch
    children: List[Node]


@dataclass
class Block:
    branches: List[Branch] = field(default_factory=list)


Node = Union[Leaf, Block]


def expr_negation(atom: Atom) -> Optional[Atom]:
    """!A for a condition atom; !!A is A (None for an atom that is not a condition node)."""
    return negation(atom) if isinstance(atom, Expr) else None


def nest(items: Sequence[Tuple[Tuple[Atom, ...], object]],
         negation: Callable[[Atom], Optional[Atom]] = expr_negation,
         topic: Callable[[object], Hashable] = lambda payload: None) -> List[Node]:
    """Turn (conjuncts, payload) pairs, in order, into leaves and guarded blocks.

    Blocks become one if/elif/else chain only when `topic` gives no two payloads of
    the chain different topics (None: anything goes, the kernel's own habit)."""
    out: List[Node] = []
    i = 0
    while i < len(items):
        atoms, payload = items[i]
        if not atoms:
            out.append(Leaf(payload))
            i += 1
            continue
        head = atoms[0]
        j = i
        while j < len(items) and items[j][0] and items[j][0][0] == head:
            j += 1
        group = items[i:j]
        if all(other == atoms for other, _ in group):
            branch = Branch(atoms, [Leaf(p) for _, p in group])
        else:
            branch = Branch((head,), nest([(other[1:], p) for other, p in group], negation, topic))
        out.append(Block([branch]))
        i = j
    return _chain(out, negation, topic)


def _chain(nodes: List[Node], negation, topic) -> List[Node]:
    """Fold `#if A` followed by `#if !A && B` into `#if A ... #elif B`, `!A` into `#else`."""
    out: List[Node] = []
    for node in nodes:
        previous = out[-1] if out else None
        if (isinstance(node, Block) and isinstance(previous, Block) and len(node.branches) == 1
                and previous.branches[-1].condition is not None
                and len(_topics(previous, topic) | _topics(node, topic)) <= 1):
            residual = _residual_after(previous, node.branches[0].condition, negation)
            if residual is not None:
                previous.branches.append(Branch(residual or None, node.branches[0].children))
                continue
        out.append(node)
    return out


def _residual_after(block: Block, atoms: Optional[Tuple[Atom, ...]], negation) -> Optional[Tuple[Atom, ...]]:
    """What is left of `atoms` once it says that no earlier branch of `block` held;
    None when it does not say so (each earlier branch must be a single atom)."""
    remaining = list(atoms or ())
    for branch in block.branches:
        if branch.condition is None or len(branch.condition) != 1:
            return None
        negated = negation(branch.condition[0])
        if negated is None or negated not in remaining:
            return None
        remaining.remove(negated)
    return tuple(remaining)


def _topics(node: Node, topic) -> set:
    if isinstance(node, Leaf):
        found = topic(node.payload)
        return set() if found is None else {found}
    return set().union(*(_topics(child, topic) for branch in node.branches for child in branch.children))


class Dialect:
    """How a language writes a guarded block: its if, elif and else lines, how it closes a
    block, and how deep a branch's statements are indented (C's preprocessor does not
    indent; Python must)."""

    indent = ""
    else_line = "else"

    def if_line(self, condition: Tuple[Atom, ...]) -> str:
        raise NotImplementedError

    def elif_line(self, condition: Tuple[Atom, ...]) -> str:
        raise NotImplementedError

    def end_line(self, block: Block) -> Optional[str]:
        return None


def flatten(nodes: Sequence[Node], dialect: Dialect, rows: List[str], depth: int = 0) -> None:
    """Write the tree `nest` built as lines of one language, into `rows`."""
    pad = dialect.indent * depth
    for node in nodes:
        if isinstance(node, Leaf):
            rows.extend(pad + line for line in node.payload)
            continue
        for i, branch in enumerate(node.branches):
            if i == 0:
                assert branch.condition is not None  # nest() never opens a block with else
                rows.append(pad + dialect.if_line(branch.condition))
            elif branch.condition is None:
                rows.append(pad + dialect.else_line)
            else:
                rows.append(pad + dialect.elif_line(branch.condition))
            flatten(branch.children, dialect, rows, depth + 1)
        end = dialect.end_line(node)
        if end is not None:
            rows.append(pad + end)
