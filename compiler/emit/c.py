"""Kernel C from the model: the view model the C templates render.

For one kernel version, each emitter that has a source file in that version becomes one
C file: the common emitter in the shape of kernel/vmcore_info.c (kernel/crash_core.c
before 6.9), every other emitter (printk's hook, each architecture) as its file's
function. Entries become the kernel's VMCOREINFO_*() macros or vmcoreinfo_append_str()
calls in emission order, `call` entries calls, `statement` entries statements, under
`#ifdef`/`#if` guards built from their conditions (guards.py); an in-file define is
written right before the first statement that uses it, as the kernel does, and an in-file
helper (a define with `helper`) as the file's static inline function, before the
functions: its value is only resolve's stand-in and never becomes C.

C text comes only from parsed expressions (cexpr.to_c) and checked identifiers; keys
and formats become C string literals through one escaping function.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from vmci.abi import COMMON_FUNCTION
from vmci.lang import cexpr
from vmci.lang.condition import PREPROCESSOR, Expr, Not, Symbol, conjuncts, render
from vmci.lang.guards import Block, Dialect, flatten, nest
from vmci.spec.kinds import BuildIdEntry, CArg, Entry, Ident, Literal
from vmci.spec.model import Define, Emitter, Function, Local, Version, format_version
from vmci.emit.render import RenderError, c_comment, c_ident, c_string

TAB = 8
LINE_LIMIT = 80


@dataclass
class FunctionView:
    name: str
    signature: str
    doc: str
    declarations: List[str]  # locals, with their guards
    body: List[str]  # statements and preprocessor lines, indented


@dataclass
class BuildIdHelperView:
    name: str
    append: str  # the statement that appends the line, e.g. VMCOREINFO_BUILD_ID(build_id);


@dataclass
class CFileView:
    emitter: Emitter
    version: str
    kernel_file: str
    spec: str
    includes: List[str]
    file_defines: List[str]  # in-file defines no statement uses, after the includes
    helpers: List[str]  # the file's static inline helpers, before the functions
    functions: Dict[str, FunctionView]
    extra_functions: List[FunctionView] = field(default_factory=list)  # outside the common frame
    # Before 5.14 the frame's add_build_id_vmcoreinfo() scans the notes and appends BUILD-ID
    build_id_helper: Optional[BuildIdHelperView] = None

    @property
    def is_common(self) -> bool:
        return COMMON_FUNCTION in self.functions


# --- C text of one statement -----------------------------------------------------------

def expression(node: Optional[cexpr.Node], entry: Entry) -> str:
    if node is None:
        raise RenderError(f"{entry.where}: {entry.key}: no C expression")
    return cexpr.to_c(node)


def statement(entry: Entry) -> Tuple[str, List[str]]:
    """The call the kernel writes for an entry (its kind's c_call): (function or macro,
    arguments)."""
    if entry.emits and entry.value_shape is None:
        raise RenderError(f"{entry.where}: {entry.key}: {entry.format!r} is not a printf conversion")
    call = entry.c_call()
    return (c_ident(call.function) if call.function else ""), [_argument(arg, entry) for arg in call.args]


def _argument(arg: CArg, entry: Entry) -> str:
    if isinstance(arg, Ident):
        return c_ident(arg.name)
    if isinstance(arg, Literal):
        return c_string(arg.text)
    return expression(arg.node, entry)


def call_text(name: str, args: Sequence[str]) -> str:
    """The statement's C on one line, without the semicolon."""
    return f"{name}({', '.join(args)})" if name else args[0]


def c_text(entry: Entry) -> str:
    """The C statement the generated file holds for an entry, on one line, without the
    semicolon (`vmci list` and `vmci diff` show it)."""
    return call_text(*statement(entry))


def wrap_call(name: str, args: Sequence[str], indent: int = TAB) -> str:
    """`name(args);` on one line, or continued under the opening parenthesis (kernel style)."""
    line = call_text(name, args) + ";"
    if not name or indent + len(line) <= LINE_LIMIT or len(args) < 2:
        return line
    column = indent + len(name) + 1
    continuation = "\t" * (column // TAB) + " " * (column % TAB)
    lines, current = [], f"{name}({args[0]},"
    for i, arg in enumerate(args[1:], 1):
        text = arg + (");" if i == len(args) - 1 else ",")
        lines.append(current)
        current = continuation + text
    lines.append(current)
    return "\n".join(lines)


def uses(entry: Entry) -> set:
    """The names an entry's kernel C mentions (macros included)."""
    return entry.c_names()


def define_line(define: Define) -> str:
    node = define.value
    if node is None:
        raise RenderError(f"{define.where}: {define.name} has no value to #define")
    value = cexpr.to_c(node)
    if not isinstance(node, (cexpr.Name, cexpr.Num, cexpr.Call, cexpr.Member, cexpr.Index)):
        value = f"({value})"
    return f"#define {c_ident(define.name)}{'()' if define.function_like else ''}\t{value}"


def type_text(type_name: cexpr.TypeName) -> str:
    """A C type followed by a space and its stars, ready for a name ("u64 ", "struct lowcore *")."""
    words = type_name.base.split()
    for word in words:
        if word not in cexpr.TYPE_WORDS and word not in ("struct", "union", "enum"):
            c_ident(word)
    return f"{' '.join(words)} {'*' * type_name.pointers}"


def helper_lines(define: Define) -> List[str]:
    """An in-file helper as the kernel writes it: a static inline function of no arguments."""
    helper = define.helper
    assert helper is not None  # called for the defines that have one
    return [f"static inline {type_text(helper.returns)}{c_ident(define.name)}(void)", "{",
            f"\treturn {cexpr.to_c(helper.body)};", "}"]


def declaration(local: Local) -> str:
    text = f"{type_text(local.type)}{c_ident(local.name)}"
    if local.init is not None:
        text += f" = {cexpr.to_c(local.init)}"
    return text + ";"


# --- guards --------------------------------------------------------------------------------

def opening(atoms: Tuple[Expr, ...], keyword: str = "if") -> str:
    """`#if`/`#elif` for a guard's conjuncts; `#ifdef X`/`#ifndef X` for a lone symbol, as
    the kernel writes them."""
    if keyword == "if" and len(atoms) == 1:
        atom = atoms[0]
        if isinstance(atom, Symbol):
            return f"#ifdef {c_ident(atom.name)}"
        if isinstance(atom, Not) and isinstance(atom.operand, Symbol):
            return f"#ifndef {c_ident(atom.operand.name)}"
    parent = 2 if len(atoms) > 1 else 0
    return f"#{keyword} " + " && ".join(render(atom, PREPROCESSOR, parent) for atom in atoms)


class PreprocessorGuards(Dialect):
    """Guards as the kernel writes them: #if/#elif/#else, and an #endif that names its
    condition when the block is long enough to need it."""

    else_line = "#else"

    def if_line(self, condition) -> str:
        return opening(condition)

    def elif_line(self, condition) -> str:
        return opening(condition, "elif")

    def end_line(self, block: Block) -> str:
        first = block.branches[0]
        atoms = [atom for atom in first.condition or () if isinstance(atom, Expr)]
        assert first.condition is not None and len(atoms) == len(first.condition)  # C guards only conditions
        nested = any(isinstance(child, Block) for b in block.branches for child in b.children)
        if len(block.branches) > 1 or nested:
            return f"#endif /* {c_comment(' && '.join(render(a, parent=2) for a in atoms))} */"
        return "#endif"


PREPROCESSOR_GUARDS = PreprocessorGuards()


# --- one function, one file -----------------------------------------------------------------

def _defines_before(entry: Entry, pending: Dict[str, List[Define]]) -> List[Define]:
    """The in-file defines the entry uses that are not written yet (and those they use)."""
    found: List[Define] = []

    def visit(names):
        for name in sorted(names):
            for define in pending.pop(name, []):
                if define.value is not None:
                    visit(cexpr.names_in(define.value) | cexpr.calls_in(define.value))
                found.append(define)

    visit(uses(entry))
    return found


def function_view(function: Function, version: Version, defines: Dict[str, List[Define]],
                  users: Dict[str, Tuple]) -> FunctionView:
    items = []
    for entry in function.entries:
        if not entry.versions.contains(version):
            continue
        atoms = conjuncts(entry.when.node)
        for define in _defines_before(entry, defines):
            scope = users.get(define.name, atoms)
            items.append((scope + tuple(a for a in conjuncts(define.when.node) if a not in scope),
                          [define_line(define)]))
        name, args = statement(entry)
        first, *continued = wrap_call(name, args).split("\n")
        items.append((atoms, ["\t" + first] + continued))
    body: List[str] = []
    flatten(nest(items), PREPROCESSOR_GUARDS, body)
    declarations: List[str] = []
    local_items = [(conjuncts(local.when.node), ["\t" + declaration(local)])
                   for local in function.locals if local.versions.contains(version)]
    flatten(nest(local_items), PREPROCESSOR_GUARDS, declarations)
    if declarations:
        declarations.append("")  # a blank line after the declarations
    return FunctionView(c_ident(function.name), f"void {c_ident(function.name)}(void)",
                        c_comment(function.doc), declarations, body)


def _users(emitter: Emitter, version: Version, in_file: Dict[str, List[Define]]) -> Dict[str, Tuple]:
    """For each in-file define, the conjuncts every statement that uses it shares."""
    shared: Dict[str, Tuple] = {}
    for function in emitter.functions:
        for entry in function.entries:
            if not entry.versions.contains(version):
                continue
            atoms = conjuncts(entry.when.node)
            for name in uses(entry) & set(in_file):
                previous = shared.get(name)
                shared[name] = atoms if previous is None else tuple(a for a in previous if a in atoms)
    return shared


def include_line(header: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.h", header) or ".." in header.split("/"):
        raise RenderError(f"{header!r} is not a header path")
    # a header named without a directory is the kernel directory's own ("kallsyms_internal.h")
    return f'#include "{header}"' if "/" not in header else f"#include <{header}>"


def file_view(emitter: Emitter, version: Version, spec_path: str) -> Optional[CFileView]:
    source = emitter.source_for(version)
    if source is None or not emitter.versions.contains(version):
        return None
    in_file: Dict[str, List[Define]] = {}
    helpers: List[str] = []
    for define in emitter.defines:
        if not define.in_file or define.is_object or not define.versions.contains(version):
            continue
        if define.helper is None:
            in_file.setdefault(define.name, []).append(define)
        elif define.when.node is not None:
            helpers += [opening(conjuncts(define.when.node))] + helper_lines(define) + ["#endif"]
        else:
            helpers += helper_lines(define)
    users = _users(emitter, version, in_file)
    # names are unique within a file: model.build_emitter refuses a second definition
    functions = {function.name: function_view(function, version, in_file, users) for function in emitter.functions}
    file_defines: List[str] = []
    for name in sorted(in_file):
        for define in in_file[name]:
            file_defines += ([opening(conjuncts(define.when.node)), define_line(define), "#endif"]
                             if define.when.node is not None else [define_line(define)])
    includes = [include_line(h) for h in source.includes]
    view = CFileView(emitter, format_version(version), source.file, spec_path, includes, file_defines, helpers,
                     functions)
    if view.is_common:
        build_id_helpers = [e for f in emitter.functions for e in f.entries
                            if isinstance(e, BuildIdEntry) and e.helper and e.versions.contains(version)]
        if build_id_helpers:
            helper = build_id_helpers[0]
            append = wrap_call(helper.macro, [expression(helper.c_node, helper)], indent=4 * TAB)
            view.build_id_helper = BuildIdHelperView(c_ident(helper.helper), append)
        view.extra_functions = [f for name, f in functions.items() if name not in COMMON_FRAME]
        for name in COMMON_FRAME:  # the kernel defines them whether or not a spec gives them entries
            functions.setdefault(name, FunctionView(name, f"void {name}(void)",
                                                    "No spec gives this function entries.", [], []))
    return view


# The functions of the common file's frame (templates/c/vmcore_info.c.j2) that have a
# slot for their entries; any other function of the common spec follows the frame.
COMMON_FRAME = (COMMON_FUNCTION, "crash_save_vmcoreinfo")


def output_path(emitter: Emitter, version: Version) -> Optional[str]:
    """c/<version>/<the kernel's path of the file>: the tree the files go into."""
    source = emitter.source_for(version)
    if source is None or not emitter.versions.contains(version):
        return None
    parts = source.file.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise RenderError(f"{source.where}: {source.file!r} is not a path inside a kernel tree")
    return f"c/{format_version(version)}/{source.file}"
