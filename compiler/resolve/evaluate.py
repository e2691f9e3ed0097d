"""Evaluate spec C expressions against one vmlinux, the way the kernel's C would.

The values VMCOREINFO carries are C expressions the kernel evaluates when it boots:
`(unsigned long)&node_states[N_ONLINE]`, `sizeof(dev_info->subsystem)`,
`(long)(PGTY_buddy << 24)`. vmci evaluates the same expressions with what the vmlinux
and config provide instead of a running kernel:

- integer arithmetic follows C on the target: `int` is 32 bits, `long` the machine
  word, constants take the first type their value fits, the usual arithmetic
  conversions apply, and results wrap as the target's compiler makes them wrap;
- identifiers are, in order: a local variable of the emitting function, a define from
  the specs, a CONFIG_ value, an enumerator in DWARF, a global variable;
- `sizeof`, `offsetof`, member access, indexing and `ARRAY_SIZE()` use DWARF types;
  `&x` uses the symbol table;
- reading a variable (lvalue to rvalue) reads the image's initial data. Such a value is
  what the kernel starts with, not necessarily what it has when VMCOREINFO is written,
  so the result is marked run-time, with the reason;
- an address of the image is where the kernel runs it: its vmlinux (link) address plus
  `load_offset` (the architecture's image base, plus a KASLR slide). Values carry how
  many times that offset is in them (`moves`: 1 for &x, 0 for x - y of two symbols), so
  the image's data is read at link addresses and the offset is added once, at the end,
  or before an operation that is not linear in it.

Anything that cannot be evaluated raises Unresolved with a reason a person can act on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Protocol, Set, Tuple, Union

from vmci.lang import cexpr
from vmci.elf import ARRAY, BASE, ENUM, FUNCTION, POINTER, STRUCT, UNION, CType, LookupFailure
from vmci.lang.kconfig import KernelConfig
from vmci.runtime import Unresolved  # the runtime's, so the generated package reports the same reasons

MAX_DEPTH = 64


@dataclass(frozen=True)
class IntType:
    bits: int
    signed: bool
    name: str

    def wrap(self, value: int) -> int:
        value &= (1 << self.bits) - 1
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    @property
    def rank(self) -> int:
        return self.bits


@dataclass
class Value:
    """An rvalue integer, a pointer, or an lvalue (an object at an address)."""

    kind: str  # "int", "pointer", "lvalue"
    value: int = 0  # the integer, the pointer's address, or the lvalue's address
    itype: Optional[IntType] = None  # for "int"
    ctype: Optional[CType] = None  # pointee for "pointer", object type for "lvalue"
    what: str = ""  # C text, for messages
    runtime: List[str] = field(default_factory=list)  # why the value depends on run time
    symbol: Optional[str] = None  # a global variable whose DWARF type is looked up only when needed
    moves: int = 0  # how many times the image's load offset is to be added to `value`


@dataclass
class Facts:
    """Which kinds of facts an evaluation used, to report where a value came from."""

    dwarf: bool = False
    symtab: bool = False
    image_data: bool = False


class Macro(Protocol):
    """A define in scope: spec.model.Define, or the image resolver's from a generated
    module's scope."""

    @property
    def function_like(self) -> bool: ...
    @property
    def value(self) -> Optional[cexpr.Node]: ...  # None: an object of the image, never in scope
    @property
    def runtime(self) -> Optional[str]: ...  # why its value is fixed only at run time


class Variable(Protocol):
    """A local variable of the emitting function (spec.model.Local, or the image resolver's)."""

    @property
    def type(self) -> cexpr.TypeName: ...
    @property
    def init(self) -> Optional[cexpr.Node]: ...


class Evaluator:
    def __init__(self, vm, config: KernelConfig, defines: Mapping[str, Macro],
                 locals_: Optional[Mapping[str, Variable]] = None, load_offset: Union[int, Unresolved] = 0):
        self.vm = vm
        # run address minus link address of the image; an Unresolved when it is unknown
        self.load_offset = load_offset
        self.config = config
        self.defines = defines
        self.locals = locals_ or {}
        word = vm.elf_class
        self.INT = IntType(32, True, "int")
        self.UINT = IntType(32, False, "unsigned int")
        self.LONG = IntType(word, True, "long")
        self.ULONG = IntType(word, False, "unsigned long")
        self.LLONG = IntType(64, True, "long long")
        self.ULLONG = IntType(64, False, "unsigned long long")
        self.CHAR = IntType(8, True, "char")
        self.word_bytes = word // 8
        self.facts = Facts()
        self._active: Set[str] = set()
        self._type_cache: Dict[str, CType] = {}

    # --- public -------------------------------------------------------------------------
    def rvalue(self, node: cexpr.Node) -> Value:
        """Evaluate to an integer or pointer (reading memory for lvalues)."""
        return self._rvalue(self._eval(node, 0), 0)

    def integer(self, node: cexpr.Node, itype: Optional[IntType] = None) -> Tuple[int, List[str]]:
        """Evaluate and convert to `itype` (as the printf argument is converted)."""
        value = self.rvalue(node)
        target = itype or (value.itype if value.kind == "int" and value.itype is not None else self.ULONG)
        return target.wrap(self._materialize(value).value), value.runtime

    def string(self, node: cexpr.Node) -> Tuple[str, List[str]]:
        value = self._eval(node, 0)
        ctype = self._type_of(value) if value.kind == "lvalue" else None
        if ctype is None or ctype.resolved().kind != ARRAY:
            raise Unresolved(f"{cexpr.to_c(node)} is not a character array")
        array = ctype.resolved()
        length = array.length or 4096
        try:
            data = self.vm.read_memory(value.value, length)
        except LookupFailure as error:  # e.g. a debug-only image: the string is not in it
            raise Unresolved(f"{cexpr.to_c(node)}: {error.reason}")
        if data is None:
            raise Unresolved(f"{cexpr.to_c(node)} at {value.value:#x} is outside the image's data")
        self.facts.image_data = True
        return data.split(b"\0", 1)[0].decode("utf-8", "replace"), value.runtime

    # --- types ----------------------------------------------------------------------------
    _BASE_NAMES = {
        "char": ("CHAR",), "signed char": ("CHAR",), "unsigned char": (8, False),
        "short": (16, True), "short int": (16, True), "signed short": (16, True),
        "unsigned short": (16, False), "unsigned short int": (16, False),
        "int": ("INT",), "signed": ("INT",), "signed int": ("INT",),
        "unsigned": ("UINT",), "unsigned int": ("UINT",),
        "long": ("LONG",), "long int": ("LONG",), "signed long": ("LONG",), "unsigned long": ("ULONG",),
        "unsigned long int": ("ULONG",), "long unsigned int": ("ULONG",),
        "long long": ("LLONG",), "long long int": ("LLONG",), "unsigned long long": ("ULLONG",),
        "unsigned long long int": ("ULLONG",), "long long unsigned int": ("ULLONG",),
        "_Bool": (8, False), "bool": (8, False),
        "u8": (8, False), "s8": (8, True), "u16": (16, False), "s16": (16, True),
        "u32": (32, False), "s32": (32, True), "u64": ("ULLONG",), "s64": ("LLONG",),
        "__u8": (8, False), "__s8": (8, True), "__u16": (16, False), "__s16": (16, True),
        "__u32": (32, False), "__s32": (32, True), "__u64": ("ULLONG",), "__s64": ("LLONG",),
        "size_t": ("ULONG",), "ssize_t": ("LONG",), "uintptr_t": ("ULONG",),
        "resource_size_t": ("PHYS",), "phys_addr_t": ("PHYS",),
    }

    def int_type(self, name: str) -> Optional[IntType]:
        spec = self._BASE_NAMES.get(name)
        if spec is None:
            return None
        if spec == ("PHYS",):  # phys_addr_t is 64 bits when CONFIG_PHYS_ADDR_T_64BIT
            return self.ULLONG if self.config.is_enabled("CONFIG_PHYS_ADDR_T_64BIT") else self.ULONG
        if len(spec) == 1:
            found: IntType = getattr(self, str(spec[0]))
            return found
        bits, signed = spec
        assert isinstance(bits, int) and isinstance(signed, bool), spec
        return IntType(bits, signed, name)

    def find_type(self, spelling: str) -> CType:
        if spelling not in self._type_cache:
            self.facts.dwarf = True
            try:
                self._type_cache[spelling] = self.vm.find_type(spelling)
            except LookupFailure as error:
                raise Unresolved(error.reason)
        return self._type_cache[spelling]

    def _sizeof_type_name(self, type_name: cexpr.TypeName) -> int:
        if type_name.pointers:
            return self.word_bytes
        itype = self.int_type(type_name.base)
        if itype is not None:
            return itype.bits // 8
        ctype = self.find_type(type_name.base)
        return self._sizeof_ctype(ctype, type_name.base)

    def _sizeof_ctype(self, ctype: CType, what: str) -> int:
        resolved = ctype.resolved()
        if resolved.kind == ARRAY:
            if resolved.length is None:
                raise Unresolved(f"{what} is an array without a bound in DWARF")
            if resolved.target is None:
                raise Unresolved(f"{what} is an array without an element type in DWARF")
            return resolved.length * self._sizeof_ctype(resolved.target, what)
        size = resolved.size if resolved.size is not None else ctype.size
        if size is None and resolved.kind in (STRUCT, UNION) and resolved.name:
            size = self.find_type(f"{resolved.kind} {resolved.name}").size
        if size is None:
            raise Unresolved(f"the size of {what} is unknown (only a declaration in DWARF)")
        return size

    def _complete(self, ctype: CType) -> CType:
        """A struct reached through a pointer is shallow: look its definition up by name."""
        resolved = ctype.resolved()
        if resolved.kind in (STRUCT, UNION) and resolved.members is None and resolved.name:
            return self.find_type(f"{resolved.kind} {resolved.name}")
        return resolved

    def _int_type_of(self, ctype: CType) -> IntType:
        resolved = ctype.resolved()
        if resolved.kind == POINTER:
            return self.ULONG
        size = resolved.size or 4
        if resolved.kind == ENUM:  # GCC makes an enum unsigned unless a value is negative
            signed = any(value < 0 for _, value in (resolved.enumerators or ()))
        else:
            signed = (resolved.encoding or "").startswith("signed")
        return IntType(size * 8, signed, resolved.spelling())

    # --- evaluation -----------------------------------------------------------------------
    def _eval(self, node: cexpr.Node, depth: int) -> Value:
        if depth > MAX_DEPTH:
            raise Unresolved("expression nests too deeply (a define refers to itself?)")
        method = getattr(self, "_eval_" + type(node).__name__)
        return method(node, depth + 1)

    def _eval_Num(self, node: cexpr.Num, depth: int) -> Value:
        return Value("int", node.value, self._literal_type(node), what=node.text)

    def _literal_type(self, node: cexpr.Num) -> IntType:
        """C11 6.4.4.1: the first type in the suffix's list that holds the value."""
        decimal = not node.text.lower().startswith("0")
        suffix = node.suffix
        if suffix == "":
            order = [self.INT, self.LONG, self.LLONG] if decimal else \
                [self.INT, self.UINT, self.LONG, self.ULONG, self.LLONG, self.ULLONG]
        elif suffix == "u":
            order = [self.UINT, self.ULONG, self.ULLONG]
        elif suffix == "l":
            order = [self.LONG, self.LLONG] if decimal else [self.LONG, self.ULONG, self.LLONG, self.ULLONG]
        elif suffix == "ul":
            order = [self.ULONG, self.ULLONG]
        elif suffix == "ll":
            order = [self.LLONG] if decimal else [self.LLONG, self.ULLONG]
        else:
            order = [self.ULLONG]
        for itype in order:
            limit = 1 << (itype.bits - (1 if itype.signed else 0))
            if node.value < limit:
                return itype
        return self.ULLONG

    def _eval_Name(self, node: cexpr.Name, depth: int) -> Value:
        name = node.id
        if name in self.locals:
            return self._local(name, depth)
        if name in self.defines and not self.defines[name].function_like:
            return self._define(name, depth)
        if name.startswith("CONFIG_"):
            return self._config_value(name)
        if name == "NULL":
            return Value("pointer", 0, ctype=CType("void"), what="NULL")
        address = self.vm.symbol_address(name)
        if address is not None:
            # C gives enumerators and variables one namespace, so a symbol is never also an enumerator
            self.facts.symtab = True
            return Value("lvalue", address, what=name, symbol=name, moves=1)
        try:
            value = self.vm.enumerator(name)
        except LookupFailure:
            raise Unresolved(f"{name} is not a define in the specs, a symbol in the symbol table, "
                             f"or an enumerator in DWARF")
        self.facts.dwarf = True
        itype = self.INT if -(1 << 31) <= value < (1 << 31) else self.LONG
        return Value("int", itype.wrap(value), itype, what=name)

    def _type_of(self, value: Value) -> Optional[CType]:
        """The object's DWARF type; None for a linker symbol that has none (_stext)."""
        if value.ctype is None and value.symbol is not None:
            try:
                value.ctype = self.vm.variable_type(value.symbol)
                self.facts.dwarf = True
            except LookupFailure:
                value.symbol = None
        return value.ctype

    def _local(self, name: str, depth: int) -> Value:
        local = self.locals[name]
        type_name = local.type
        if local.init is None:
            raise Unresolved(f"local variable {name} has no initialiser in the spec")
        value = self._rvalue(self._eval(local.init, depth), depth)
        return self._convert(value, type_name, name)

    def _define(self, name: str, depth: int) -> Value:
        if name in self._active:
            raise Unresolved(f"define {name} refers to itself")
        define = self.defines[name]
        if define.value is None:
            raise Unresolved(f"{name} is an object of the image, not a macro")
        self._active.add(name)
        try:
            value = self._eval(define.value, depth)
        finally:
            self._active.discard(name)
        if define.runtime:
            value.runtime = value.runtime + [f"{name}: {define.runtime}"]
        return value

    def _config_value(self, name: str) -> Value:
        raw = self.config.values.get(name)
        if raw is None or raw in ("m", "n"):
            return Value("int", 0, self.INT, what=name)
        if raw == "y":
            return Value("int", 1, self.INT, what=name)
        try:
            node = cexpr.parse_expression(raw)
        except cexpr.CExprError:
            raise Unresolved(f"{name}={raw} is not a number")
        if not isinstance(node, cexpr.Num):
            raise Unresolved(f"{name}={raw} is not a number")
        return self._eval_Num(node, 0)

    def _eval_Call(self, node: cexpr.Call, depth: int) -> Value:
        name, args = node.function, node.args
        define = self.defines.get(name)
        if define is not None and define.function_like and not args:
            return self._define(name, depth)
        if name == "ARRAY_SIZE" and len(args) == 1:
            target = self._eval(args[0], depth)
            ctype = self._type_of(target) if target.kind == "lvalue" else None
            if ctype is None:
                raise Unresolved(f"ARRAY_SIZE({cexpr.to_c(args[0])}): not an array object")
            length = ctype.resolved().length if ctype.resolved().kind == ARRAY else None
            if length is None:
                raise Unresolved(f"{cexpr.to_c(args[0])} is an array without a bound in DWARF")
            return Value("int", length, self.ULONG, what=cexpr.to_c(node))
        numbers = [self._rvalue(self._eval(arg, depth), depth) for arg in args] if name in _INT_BUILTINS else None
        if numbers is not None and len(numbers) == _INT_BUILTINS[name]:
            return self._builtin(name, numbers)
        raise Unresolved(f"{name}() is a function the kernel runs at boot; give the entry a `value` "
                         f"or add a define for {name}() to the specs")

    def _builtin(self, name: str, args: List[Value]) -> Value:
        runtime = [r for a in args for r in a.runtime]
        v = [a.value for a in args]
        if name in ("GENMASK", "GENMASK_ULL"):
            itype = self.ULONG if name == "GENMASK" else self.ULLONG
            high, low = v
            mask = ((1 << (high + 1)) - 1) & ~((1 << low) - 1)
            return Value("int", itype.wrap(mask), itype, what=name, runtime=runtime)
        if name in ("BIT", "BIT_ULL"):
            itype = self.ULONG if name == "BIT" else self.ULLONG
            return Value("int", itype.wrap(1 << v[0]), itype, what=name, runtime=runtime)
        if name == "DIV_ROUND_UP":
            itype = self._common(args[0], args[1])
            return Value("int", itype.wrap((v[0] + v[1] - 1) // v[1]), itype, what=name, runtime=runtime)
        if name == "ALIGN":
            itype = self._common(args[0], args[1])
            return Value("int", itype.wrap((v[0] + v[1] - 1) & ~(v[1] - 1)), itype, what=name, runtime=runtime)
        if name in ("min", "max"):
            itype = self._common(args[0], args[1])
            pick = min(v) if name == "min" else max(v)
            return Value("int", itype.wrap(pick), itype, what=name, runtime=runtime)
        raise AssertionError(name)

    def _eval_Unary(self, node: cexpr.Unary, depth: int) -> Value:
        operand = self._eval(node.operand, depth)
        if node.op == "&":
            if operand.kind != "lvalue":
                raise Unresolved(f"&{cexpr.to_c(node.operand)}: not an object with an address")
            return Value("pointer", operand.value, ctype=operand.ctype, what=f"&{operand.what}",
                         runtime=operand.runtime, moves=operand.moves)
        if node.op == "*":
            pointer = self._rvalue(operand, depth)
            if pointer.kind != "pointer":
                raise Unresolved(f"*{cexpr.to_c(node.operand)}: not a pointer")
            return Value("lvalue", pointer.value, ctype=pointer.ctype, what=f"*{operand.what}", runtime=pointer.runtime,
                         moves=pointer.moves)
        value = self._rvalue(operand, depth)
        if node.op in ("-", "+"):  # linear: the offset's count follows the sign
            itype = self._promote(value.itype if value.kind == "int" else self.ULONG)
            sign = -1 if node.op == "-" else 1
            return Value("int", itype.wrap(sign * value.value), itype, runtime=value.runtime, moves=sign * value.moves)
        value = self._materialize(value)
        if node.op == "!":
            return Value("int", int(value.value == 0), self.INT, runtime=value.runtime)
        itype = self._promote(value.itype if value.kind == "int" else self.ULONG)
        return Value("int", itype.wrap(~value.value), itype, runtime=value.runtime)

    def _eval_Binary(self, node: cexpr.Binary, depth: int) -> Value:
        op = node.op
        left = self._rvalue(self._eval(node.left, depth), depth)
        if op in ("&&", "||"):
            left = self._materialize(left)
            if (left.value != 0) == (op == "||"):
                return Value("int", int(op == "||"), self.INT, runtime=left.runtime)
            right = self._materialize(self._rvalue(self._eval(node.right, depth), depth))
            return Value("int", int(right.value != 0), self.INT, runtime=left.runtime + right.runtime)
        right = self._rvalue(self._eval(node.right, depth), depth)
        runtime = left.runtime + right.runtime
        if left.kind == "pointer" or right.kind == "pointer":
            return self._pointer_arithmetic(op, left, right, runtime)
        if op in ("+", "-"):  # linear in the load offset: keep counting it
            itype = self._common(left, right)
            sign = 1 if op == "+" else -1
            return Value("int", itype.wrap(left.value + sign * right.value), itype, runtime=runtime,
                         moves=left.moves + sign * right.moves)
        left, right = self._materialize(left), self._materialize(right)
        if op in ("<<", ">>"):
            itype = self._promote(left.itype)
            count = right.value
            if count < 0 or count >= itype.bits:
                raise Unresolved(f"shift by {count} in {cexpr.to_c(node)} is undefined in C")
            number = left.value << count if op == "<<" else left.value >> count
            return Value("int", itype.wrap(number), itype, runtime=runtime)
        itype = self._common(left, right)
        a, b = itype.wrap(left.value), itype.wrap(right.value)
        if op in ("==", "!=", "<", ">", "<=", ">="):
            result = {"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
            return Value("int", int(result), self.INT, runtime=runtime)
        if op in ("/", "%") and b == 0:
            raise Unresolved(f"division by zero in {cexpr.to_c(node)}")
        if op == "/":
            number = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        elif op == "%":
            number = a - b * (abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1))
        else:
            number = {"*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[op]
        return Value("int", itype.wrap(number), itype, runtime=runtime)

    def _pointer_arithmetic(self, op: str, left: Value, right: Value, runtime) -> Value:
        if op in ("+", "-") and left.kind == "pointer" and right.kind == "int":
            right = self._materialize(right)
            size = self._sizeof_ctype(left.ctype, left.what) if left.ctype and left.ctype.kind != "void" else 1
            delta = right.value * size
            address = self.ULONG.wrap(left.value + delta if op == "+" else left.value - delta)
            return Value("pointer", address, ctype=left.ctype, runtime=runtime, moves=left.moves)
        left, right = self._materialize(left), self._materialize(right)
        if op in ("==", "!="):
            return Value("int", int((left.value == right.value) == (op == "==")), self.INT, runtime=runtime)
        raise Unresolved(f"pointer arithmetic {op} is not supported here")

    def _eval_Conditional(self, node: cexpr.Conditional, depth: int) -> Value:
        test = self._materialize(self._rvalue(self._eval(node.test, depth), depth))
        chosen = node.then if test.value != 0 else node.otherwise
        value = self._rvalue(self._eval(chosen, depth), depth)
        value.runtime = test.runtime + value.runtime
        return value

    def _eval_Cast(self, node: cexpr.Cast, depth: int) -> Value:
        value = self._rvalue(self._eval(node.operand, depth), depth)
        return self._convert(value, node.type, cexpr.to_c(node))

    def _convert(self, value: Value, type_name: cexpr.TypeName, what: str) -> Value:
        if type_name.pointers:
            pointee = CType("void") if type_name.base == "void" else None
            if pointee is None:
                itype = self.int_type(type_name.base)
                pointee = CType("base", type_name.base, itype.bits // 8) if itype else None
            if pointee is None:
                pointee = self.find_type(type_name.base)
            for _ in range(type_name.pointers - 1):
                pointee = CType(POINTER, size=self.word_bytes, target=pointee)
            return Value("pointer", self.ULONG.wrap(value.value), ctype=pointee, what=what, runtime=value.runtime,
                         moves=value.moves)
        itype = self.int_type(type_name.base)
        if itype is None:
            ctype = self.find_type(type_name.base)
            if ctype.resolved().kind not in (BASE, ENUM, POINTER):
                raise Unresolved(f"cannot convert to {type_name}")
            itype = self._int_type_of(ctype)
        if itype.bits < self.ULONG.bits:  # a narrower type cuts the address the kernel has
            value = self._materialize(value)
        return Value("int", itype.wrap(value.value), itype, what=what, runtime=value.runtime, moves=value.moves)

    def _eval_SizeofType(self, node: cexpr.SizeofType, depth: int) -> Value:
        return Value("int", self._sizeof_type_name(node.type), self.ULONG, what=cexpr.to_c(node))

    def _eval_SizeofExpr(self, node: cexpr.SizeofExpr, depth: int) -> Value:
        operand = self._eval(node.operand, depth)
        if operand.kind == "lvalue":
            ctype = self._type_of(operand)
            if ctype is None:
                raise Unresolved(f"the type of {cexpr.to_c(node.operand)} is not in DWARF")
            size = self._sizeof_ctype(ctype, cexpr.to_c(node.operand))
        elif operand.kind == "pointer":
            size = self.word_bytes
        else:
            assert operand.itype is not None  # an "int" value has its type
            size = operand.itype.bits // 8
        return Value("int", size, self.ULONG, what=cexpr.to_c(node))

    def _eval_Offsetof(self, node: cexpr.Offsetof, depth: int) -> Value:
        ctype = self.find_type(node.type.base)
        try:
            offset, _ = ctype.member(node.member)
        except LookupFailure as error:
            raise Unresolved(error.reason)
        return Value("int", offset, self.ULONG, what=cexpr.to_c(node))

    def _eval_Member(self, node: cexpr.Member, depth: int) -> Value:
        base = self._eval(node.base, depth)
        if node.arrow:
            base = self._rvalue(base, depth)
            if base.kind != "pointer":
                raise Unresolved(f"{cexpr.to_c(node.base)} is not a pointer")
            base = Value("lvalue", base.value, ctype=base.ctype, what=base.what, runtime=base.runtime, moves=base.moves)
        base_type = self._type_of(base) if base.kind == "lvalue" else None
        if base_type is None:
            raise Unresolved(f"{cexpr.to_c(node.base)} is not a struct object with a DWARF type")
        self.facts.dwarf = True
        try:
            offset, ctype = self._complete(base_type).member(node.member)
        except LookupFailure as error:
            raise Unresolved(error.reason)
        return Value("lvalue", base.value + offset, ctype=ctype, what=cexpr.to_c(node), runtime=base.runtime,
                     moves=base.moves)

    def _eval_Index(self, node: cexpr.Index, depth: int) -> Value:
        base = self._eval(node.base, depth)
        index = self._materialize(self._rvalue(self._eval(node.index, depth), depth))
        base_type = self._type_of(base) if base.kind == "lvalue" else None
        element: Optional[CType]
        if base_type is not None and base_type.resolved().kind == ARRAY:
            element = base_type.resolved().target
            address, moves = base.value, base.moves
        else:
            pointer = self._rvalue(base, depth)
            if pointer.kind != "pointer" or pointer.ctype is None:
                raise Unresolved(f"{cexpr.to_c(node.base)} is not an array or pointer with a DWARF type")
            element, address, moves = pointer.ctype, pointer.value, pointer.moves
        if element is None:
            raise Unresolved(f"{cexpr.to_c(node.base)} is an array without an element type in DWARF")
        size = self._sizeof_ctype(element, cexpr.to_c(node))
        return Value("lvalue", self.ULONG.wrap(address + index.value * size), ctype=element,
                     what=cexpr.to_c(node), runtime=base.runtime + index.runtime, moves=moves)

    def _eval_Assign(self, node, depth):
        raise Unresolved("an assignment has no value to emit")

    # --- conversions ------------------------------------------------------------------------
    def _rvalue(self, value: Value, depth: int) -> Value:
        if value.kind != "lvalue":
            return value
        ctype = self._type_of(value)
        if ctype is None:  # a linker symbol without a type: only its address is meaningful
            raise Unresolved(f"{value.what} has no DWARF type, so its value cannot be read (use &{value.what})")
        resolved = ctype.resolved()
        if resolved.kind == ARRAY:  # arrays decay to a pointer to their first element
            return Value("pointer", value.value, ctype=resolved.target, what=value.what, runtime=value.runtime,
                         moves=value.moves)
        if resolved.kind == FUNCTION:
            return Value("pointer", value.value, ctype=resolved, what=value.what, runtime=value.runtime,
                         moves=value.moves)
        if resolved.kind in (STRUCT, UNION):
            raise Unresolved(f"{value.what} is a {resolved.kind}, not a number")
        size = self._sizeof_ctype(ctype, value.what)
        try:
            raw = self.vm.read_memory(value.value, size)
        except LookupFailure as error:
            raise Unresolved(f"{value.what}: {error.reason}")
        if raw is None:
            raise Unresolved(f"{value.what} at {value.value:#x} is outside the image's initialised data")
        self.facts.image_data = True
        number = int.from_bytes(raw, "big" if self.vm.endianness == "big" else "little")
        reason = f"the initial value of {value.what} in the image; the kernel may change it at boot"
        if resolved.kind == POINTER:
            return Value("pointer", number, ctype=resolved.target, what=value.what, runtime=value.runtime + [reason])
        itype = self._int_type_of(ctype)
        return Value("int", itype.wrap(number), itype, what=value.what, runtime=value.runtime + [reason])

    def _materialize(self, value: Value) -> Value:
        """The value with the load offset added as often as it counts it: what the
        kernel computes, for an operation that is not linear in the offset."""
        if not value.moves:
            return value
        itype = value.itype if value.kind == "int" and value.itype else self.ULONG
        return Value(value.kind, itype.wrap(value.value + value.moves * self._offset(value)), value.itype, value.ctype,
                     value.what, value.runtime, value.symbol)

    def _offset(self, value: Value) -> int:
        if isinstance(self.load_offset, Unresolved):  # the image base could not be computed
            raise Unresolved(f"{value.what or 'the value'} is an address of the image: {self.load_offset.reason}")
        return self.load_offset

    def _promote(self, itype: Optional[IntType]) -> IntType:
        if itype is None:
            return self.INT
        return self.INT if itype.bits < 32 else itype

    def _common(self, left: Value, right: Value) -> IntType:
        """The usual arithmetic conversions (C11 6.3.1.8)."""
        a = self._promote(left.itype if left.kind == "int" else self.ULONG)
        b = self._promote(right.itype if right.kind == "int" else self.ULONG)
        if a == b:
            return a
        if a.signed == b.signed:
            return a if a.bits >= b.bits else b
        unsigned, signed = (a, b) if not a.signed else (b, a)
        if unsigned.bits >= signed.bits:
            return unsigned
        return signed  # the signed type is wider and can hold every unsigned value


_INT_BUILTINS = {"GENMASK": 2, "GENMASK_ULL": 2, "BIT": 1, "BIT_ULL": 1, "DIV_ROUND_UP": 2, "ALIGN": 2,
                 "min": 2, "max": 2}
