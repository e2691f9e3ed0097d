"""A parser for the C expressions that specs carry.

Specs hold C in three places: Kconfig conditions (``CONFIG_NUMA && !CONFIG_FLATMEM``),
the value a kernel macro is given (``sizeof(dev_info->subsystem)``, ``(unsigned long)
VMALLOC_START``) and the expressions vmci evaluates against a vmlinux (``1UL << PG_head``).
All of them go through this one parser: it accepts a single C expression and nothing else
(no statements, no braces, no string or character literals, no comments, no
preprocessor), so a spec cannot smuggle code into generated C or Python.

The grammar is C's expression grammar restricted to what those places need: integer
literals, identifiers, calls, member access (``.`` and ``->``), indexing, unary and binary
operators, the conditional operator, casts to simple type names, ``sizeof`` and
``offsetof``; plain assignment is accepted only when the caller asks for a statement.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Tuple, Union
from vmci.errors import UnusableInput

MAX_EXPRESSION_LENGTH = 1000
MAX_NESTING = 48
# The deepest tree an expression may parse into. Parentheses and unary operators are
# bounded by MAX_NESTING while parsing; a chain of binary operators (1+1+...+1) is not,
# and every walker of the tree (to_c, names_in, the evaluator, the Kconfig code)
# recurses once or twice per level of it.
MAX_TREE_DEPTH = 200


class CExprError(UnusableInput, ValueError):
    """An expression that is not in the accepted C subset; `column` is 1-based."""

    def __init__(self, message: str, column: int = 1):
        super().__init__(message)
        self.message = message
        self.column = column


# --- AST ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Num:
    value: int
    suffix: str  # normalised: "", "u", "l", "ul", "ll", "ull"
    text: str


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+", "~", "!", "&", "*"
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Conditional:
    test: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True)
class Call:
    function: str
    args: Tuple[Node, ...]


@dataclass(frozen=True)
class Member:
    base: Node
    member: str
    arrow: bool


@dataclass(frozen=True)
class Index:
    base: Node
    index: Node


@dataclass(frozen=True)
class TypeName:
    """A C type name as written: `base` like "unsigned long" or "struct page", plus `pointers`."""

    base: str
    pointers: int = 0

    def __str__(self) -> str:
        return self.base + (" " + "*" * self.pointers if self.pointers else "")


@dataclass(frozen=True)
class Cast:
    type: TypeName
    operand: Node


@dataclass(frozen=True)
class SizeofType:
    type: TypeName


@dataclass(frozen=True)
class SizeofExpr:
    operand: Node


@dataclass(frozen=True)
class Offsetof:
    type: TypeName
    member: str  # dotted path, e.g. "name.release"


@dataclass(frozen=True)
class Assign:
    target: Node
    value: Node


Node = Union[Num, Name, Unary, Binary, Conditional, Call, Member, Index, Cast, SizeofType,
             SizeofExpr, Offsetof, Assign]

# --- tokens ------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\n]+)
  | (?P<num>(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)(?:[uU](?:ll|LL|l|L)?|(?:ll|LL|l|L)[uU]?)?(?![\w]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!<>?:()\[\].,=])
""", re.VERBOSE)

# Identifiers that start a type name in a cast or sizeof. Kernel typedefs used in
# VMCOREINFO code are listed; `struct X`, `union X` and `enum X` are always types.
TYPE_WORDS = frozenset("""
    void char short int long signed unsigned float double _Bool bool
    u8 u16 u32 u64 s8 s16 s32 s64 __u8 __u16 __u32 __u64 __s8 __s16 __s32 __s64
    size_t ssize_t phys_addr_t resource_size_t uintptr_t pgd_t pud_t pmd_t pte_t p4d_t
    atomic_t atomic_long_t atomic64_t nodemask_t
""".split())
_TAG_WORDS = frozenset({"struct", "union", "enum"})
_QUALIFIERS = frozenset({"const", "volatile"})
C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch
    typedef union unsigned void volatile while _Bool _Complex _Imaginary asm typeof
""".split())


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    column: int


def _tokenize(text: str) -> list:
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise CExprError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise CExprError(f"unexpected character {text[pos]!r}", pos + 1)
        kind = match.lastgroup
        assert kind is not None  # every alternative of _TOKEN is a named group
        if kind != "ws":
            tokens.append(_Tok(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(_Tok("end", "", len(text) + 1))
    return tokens


def _parse_int(text: str) -> Tuple[int, str]:
    body = text.rstrip("uUlL")
    suffix = text[len(body):].lower()
    suffix = "".join(sorted(suffix, key=lambda c: c != "u"))  # "lu" -> "ul"
    if body.lower().startswith("0x"):
        value = int(body, 16)
    elif len(body) > 1 and body.startswith("0"):
        value = int(body, 8)
    else:
        value = int(body)
    return value, suffix


# Binary operator precedence, lowest first (C's table without assignment and comma).
_BINARY_LEVELS = [
    ("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", ">", "<=", ">="),
    ("<<", ">>"), ("+", "-"), ("*", "/", "%"),
]


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    # helpers
    @property
    def tok(self) -> _Tok:
        return self.tokens[self.pos]

    def _peek(self, offset: int = 1) -> _Tok:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def _next(self) -> _Tok:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _expect(self, text: str) -> _Tok:
        if self.tok.text != text:
            raise CExprError(f"expected {text!r}, found {self.tok.text or 'end of expression'!r}",
                             self.tok.column)
        return self._next()

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise CExprError(f"expression nested deeper than {MAX_NESTING} levels", self.tok.column)

    # grammar
    def parse(self, allow_assign: bool) -> Node:
        node = self.conditional()
        if allow_assign and self.tok.text == "=":
            if not isinstance(node, (Name, Member, Index, Unary)) or (
                    isinstance(node, Unary) and node.op != "*"):
                raise CExprError("only a variable, member or element can be assigned to",
                                 self.tok.column)
            self._next()
            node = Assign(node, self.conditional())
        if self.tok.kind != "end":
            raise CExprError(f"unexpected {self.tok.text!r} after the expression", self.tok.column)
        return node

    def conditional(self) -> Node:
        self._enter()
        test = self.binary(0)
        if self.tok.text == "?":
            self._next()
            then = self.conditional()
            self._expect(":")
            node: Node = Conditional(test, then, self.conditional())
        else:
            node = test
        self.depth -= 1
        return node

    def binary(self, level: int) -> Node:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.tok.kind == "op" and self.tok.text in _BINARY_LEVELS[level]:
            op = self._next().text
            left = Binary(op, left, self.binary(level + 1))
        return left

    def _starts_type(self, offset: int = 0) -> bool:
        tok = self._peek(offset)
        return tok.kind == "ident" and (tok.text in TYPE_WORDS or tok.text in _TAG_WORDS
                                        or tok.text in _QUALIFIERS)

    def type_name(self) -> TypeName:
        words = []
        while self.tok.kind == "ident" and self.tok.text in _QUALIFIERS:
            self._next()
        if self.tok.kind == "ident" and self.tok.text in _TAG_WORDS:
            tag = self._next().text
            if self.tok.kind != "ident" or self.tok.text in C_KEYWORDS:
                raise CExprError(f"expected a {tag} name", self.tok.column)
            words = [tag, self._next().text]
        else:
            while self.tok.kind == "ident" and self.tok.text in TYPE_WORDS:
                words.append(self._next().text)
            if not words:
                raise CExprError("expected a type name", self.tok.column)
        while self.tok.kind == "ident" and self.tok.text in _QUALIFIERS:
            self._next()
        pointers = 0
        while self.tok.text == "*":
            self._next()
            pointers += 1
        return TypeName(" ".join(words), pointers)

    def unary(self) -> Node:
        self._enter()
        tok = self.tok
        if tok.kind == "op" and tok.text in ("-", "+", "~", "!", "&", "*"):
            self._next()
            node: Node = Unary(tok.text, self.unary())
        elif tok.text == "sizeof":
            self._next()
            if self.tok.text == "(" and self._starts_type(1):
                self._next()
                node = SizeofType(self.type_name())
                self._expect(")")
            else:
                node = SizeofExpr(self.unary())
        elif tok.text == "(" and self._starts_type(1):
            self._next()
            type_name = self.type_name()
            self._expect(")")
            node = Cast(type_name, self.unary())
        else:
            node = self.postfix()
        self.depth -= 1
        return node

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self.tok.text == "[":
                self._next()
                self._enter()
                index = self.conditional()
                self.depth -= 1
                self._expect("]")
                node = Index(node, index)
            elif self.tok.text in (".", "->"):
                arrow = self._next().text == "->"
                if self.tok.kind != "ident":
                    raise CExprError("expected a member name", self.tok.column)
                node = Member(node, self._next().text, arrow)
            else:
                return node

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "num":
            self._next()
            value, suffix = _parse_int(tok.text)
            return Num(value, suffix, tok.text)
        if tok.kind == "ident":
            if tok.text in C_KEYWORDS:
                raise CExprError(f"C keyword {tok.text!r} is not allowed here", tok.column)
            self._next()
            if tok.text == "offsetof" and self.tok.text == "(":
                return self._offsetof()
            if self.tok.text == "(":
                self._next()
                args = []
                if self.tok.text != ")":
                    args.append(self.conditional())
                    while self.tok.text == ",":
                        self._next()
                        args.append(self.conditional())
                self._expect(")")
                return Call(tok.text, tuple(args))
            return Name(tok.text)
        if tok.text == "(":
            self._next()
            node = self.conditional()
            self._expect(")")
            return node
        raise CExprError(f"unexpected {tok.text or 'end of expression'!r}", tok.column)

    def _offsetof(self) -> Node:
        self._expect("(")
        type_name = self.type_name()
        self._expect(",")
        parts = []
        while True:
            if self.tok.kind != "ident":
                raise CExprError("expected a member name", self.tok.column)
            parts.append(self._next().text)
            if self.tok.text != ".":
                break
            self._next()
        self._expect(")")
        return Offsetof(type_name, ".".join(parts))


def parse_expression(text: str, allow_assign: bool = False) -> Node:
    """Parse one C expression; raise CExprError naming the column of the first problem."""
    if not isinstance(text, str) or not text.strip():
        raise CExprError("empty expression")
    node = _Parser(text).parse(allow_assign)
    if tree_depth(node) > MAX_TREE_DEPTH:
        raise CExprError(f"expression nested deeper than {MAX_TREE_DEPTH} levels "
                         f"(each operator of a chain such as a + b + c is a level)")
    return node


def _children(node: Node) -> tuple:
    if isinstance(node, (Unary, Cast, SizeofExpr)):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Conditional):
        return (node.test, node.then, node.otherwise)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Member):
        return (node.base,)
    if isinstance(node, Index):
        return (node.base, node.index)
    if isinstance(node, Assign):
        return (node.target, node.value)
    return ()


def tree_depth(node: Node) -> int:
    """Levels of the tree under `node` (a leaf is 1), without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(current))
    return deepest


def names_in(node: Node) -> set:
    """Every identifier the expression reads (not member names, not called functions)."""
    found: set = set()
    _walk_names(node, found, set())
    return found


def calls_in(node: Node) -> set:
    """Every function name the expression calls."""
    found: set = set()
    _walk_names(node, set(), found)
    return found


def _walk_names(node: Node, names: set, calls: set) -> None:
    if isinstance(node, Name):
        names.add(node.id)
    elif isinstance(node, Call):
        calls.add(node.function)
        for arg in node.args:
            _walk_names(arg, names, calls)
    elif isinstance(node, (Unary, Cast, SizeofExpr)):
        _walk_names(node.operand, names, calls)
    elif isinstance(node, Binary):
        _walk_names(node.left, names, calls)
        _walk_names(node.right, names, calls)
    elif isinstance(node, Conditional):
        for part in (node.test, node.then, node.otherwise):
            _walk_names(part, names, calls)
    elif isinstance(node, Member):
        _walk_names(node.base, names, calls)
    elif isinstance(node, Index):
        _walk_names(node.base, names, calls)
        _walk_names(node.index, names, calls)
    elif isinstance(node, Assign):
        _walk_names(node.target, names, calls)
        _walk_names(node.value, names, calls)


def to_c(node: Node) -> str:
    """Render an AST back to C, fully parenthesised where precedence could matter."""
    if isinstance(node, Num):
        return node.text
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Unary):
        return f"{node.op}{_wrap(node.operand)}"
    if isinstance(node, Binary):
        return f"{_wrap(node.left)} {node.op} {_wrap(node.right)}"
    if isinstance(node, Conditional):
        return f"{_wrap(node.test)} ? {_wrap(node.then)} : {_wrap(node.otherwise)}"
    if isinstance(node, Call):
        return f"{node.function}({', '.join(to_c(a) for a in node.args)})"
    if isinstance(node, Member):
        return f"{_wrap(node.base)}{'->' if node.arrow else '.'}{node.member}"
    if isinstance(node, Index):
        return f"{_wrap(node.base)}[{to_c(node.index)}]"
    if isinstance(node, Cast):
        return f"({node.type}){_wrap(node.operand)}"
    if isinstance(node, SizeofType):
        return f"sizeof({node.type})"
    if isinstance(node, SizeofExpr):
        return f"sizeof({to_c(node.operand)})"
    if isinstance(node, Offsetof):
        return f"offsetof({node.type}, {node.member})"
    if isinstance(node, Assign):
        return f"{to_c(node.target)} = {to_c(node.value)}"
    raise TypeError(node)


def _wrap(node: Node) -> str:
    text = to_c(node)
    if isinstance(node, (Binary, Conditional, Assign, Cast)):
        return f"({text})"
    return text


C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_c_identifier(text: object) -> bool:
    return isinstance(text, str) and bool(C_IDENTIFIER.match(text)) and text not in C_KEYWORDS


def parse_type_name(text: str) -> TypeName:
    """Parse a declaration type such as "struct dev_printk_info *" or "u64"."""
    parser = _Parser(text)
    type_name = parser.type_name()
    if parser.tok.kind != "end":
        raise CExprError(f"unexpected {parser.tok.text!r} after the type", parser.tok.column)
    return type_name
