"""Python from the model: one module per architecture emitter that, given a resolver over
a vmlinux and its config, produces the VMCOREINFO text that kernel writes, and one module
(`_general`) with what every architecture runs (the common list, printk's hook).

Each kernel function becomes a Python function that does what the kernel's does, for
every version the specs cover: its file's Makefile gate, its locals, then its entries in
emission order, each under the version bounds and Kconfig condition it has, with `call`
entries calling the other functions by name (`k.call`: the architecture's function, or
nothing, the kernel's __weak default, where no spec defines it). The macro definitions
in scope are a function of the same shape. Values are left to the resolver (the C
expression, the type printf reads it as); the runtime (vmci/runtime.py, which the
package holds as a verbatim copy, `_runtime.py`) formats, cuts and orders them as
`vmci resolve` does. The package imports nothing from vmci, so it can be read, vendored
and tested on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from vmci.lang import cexpr
from vmci.lang.condition import PYTHON, conjuncts, render
from vmci.lang.condition import negation as condition_negation
from vmci.lang.guards import Dialect, flatten, nest
from vmci.spec.kinds import Entry, Expr, ValueShape
from vmci.spec.model import Emitter, Function, SpecSet, Version, VersionRange
from vmci.emit.render import RenderError, c_ident, py_comment, py_string
from vmci.abi import COMMON_FUNCTION, CONVERSIONS

INDENT = "    "


@dataclass
class PyFunction:
    name: str
    doc: str
    rows: List[str]


@dataclass
class PyGeneralView:
    """What every architecture runs: the general specs' functions and macros."""
    specs: List[str]
    version_ranges: str  # the general emitters' ranges, Python text
    defines: List[str]
    gates: List[PyGate]
    functions: List[PyFunction]
    boot_function: str
    crash_functions: List[str]
    # the gate of the file that holds the boot function (without it, no VMCOREINFO) and
    # that file; None in specs that have no common list (then nothing is refused)
    common_gate: Optional[str]
    common_spec: Optional[str]


@dataclass
class PyModuleView:
    """One architecture: its machines, its own functions and macros."""
    emitter: Emitter
    module: str
    specs: List[str]
    doc: str
    machines: List[str]  # Machine(...) constructor text
    defines: List[str]
    image_base: List[str]
    gate: PyGate
    functions: List[PyFunction]


def module_name(emitter: Emitter) -> str:
    name = emitter.name.replace("-", "_")
    if not name.isidentifier() or not c_ident(name):
        raise RenderError(f"{emitter.path}: emitter name {emitter.name!r} cannot name a Python module")
    return name


# --- conditions ---------------------------------------------------------------------------

def version_atoms(versions: VersionRange) -> Tuple:
    atoms: Tuple = ()  # ("since", version), ("until", version): beside condition nodes in one guard
    if versions.since is not None:
        atoms += (("since", versions.since),)
    if versions.until is not None:
        atoms += (("until", versions.until),)
    return atoms


def negation(atom):
    if isinstance(atom, tuple) and atom[0] in ("since", "until"):
        return ("until" if atom[0] == "since" else "since", atom[1])
    if isinstance(atom, tuple):
        return None
    return condition_negation(atom)


def _version_args(version: Version) -> str:
    return ", ".join(str(int(part)) for part in version)


def py_atom(atom, parent: int = 0) -> str:
    if isinstance(atom, tuple):
        kind, value = atom
        if kind == "since":
            return f"k.since({_version_args(value)})"
        if kind == "until":
            return f"k.before({_version_args(value)})"
        if kind == "phase":
            return "k.at_crash"
        raise RenderError(f"unknown condition atom {atom!r}")
    return render(atom, PYTHON, parent)


def py_condition(atoms) -> str:
    return " and ".join(py_atom(atom, 2 if len(atoms) > 1 else 0) for atom in atoms)


def py_not(atoms) -> str:
    text = py_condition(atoms)
    return f"not ({text})" if len(atoms) > 1 or text.startswith("not ") else f"not {text}"


class PythonGuards(Dialect):
    """Guards as Python if/elif/else blocks, indented."""

    indent = INDENT
    else_line = "else:"

    def if_line(self, condition) -> str:
        return f"if {py_condition(condition)}:"

    def elif_line(self, condition) -> str:
        return f"elif {py_condition(condition)}:"


PYTHON_GUARDS = PythonGuards()


class Rows(list):
    """The rows of one statement, and what it is about (a key, a macro), so that only
    alternatives for the same thing share an if/elif/else chain."""

    def __init__(self, rows, topic):
        super().__init__(rows)
        self.topic = topic


def topic(payload) -> object:
    return payload.topic


# --- statements ------------------------------------------------------------------------------

def expression_text(node: Optional[cexpr.Node], entry: Entry) -> str:
    if node is None:
        raise RenderError(f"{entry.where}: {entry.key}: no expression for the value")
    return py_string(cexpr.to_c(node))


def entry_call(entry: Entry) -> str:
    """The runtime's call for an entry, by its value shape (spec/kinds.py)."""
    shape = entry.value_shape
    if shape is ValueShape.CALL:
        return f"k.call({py_string(c_ident(entry.c_call().function))})"
    if shape is ValueShape.STATEMENT:
        node = next((arg.node for arg in entry.c_call().args if isinstance(arg, Expr)), None)
        return f"f.statement({expression_text(node, entry)})"
    key = py_string(entry.key)
    if shape is ValueShape.BUILD_ID:
        return f"f.build_id({key})"
    if shape is ValueShape.FLAG:
        return f"f.flag({key})"
    if shape is ValueShape.STRING:
        return f"f.string({key}, {expression_text(entry.value_expression(), entry)})"
    if shape is not ValueShape.INTEGER or entry.format not in CONVERSIONS:
        raise RenderError(f"{entry.where}: {entry.key}: no C type for the conversion {entry.format!r}")
    return f"f.line({key}, {py_string(entry.format)}, {expression_text(entry.value_expression(), entry)})"


@dataclass
class PyGate:
    """Whether the kernel builds the file that holds an emitter's functions, in this
    version: its version range, the file of each version, and that file's Makefile gate."""
    name: str
    doc: str
    rows: List[str]


def gate_name(emitter: Emitter) -> str:
    return f"_builds_{module_name(emitter)}"


def gate_view(emitter: Emitter, spec_path: str) -> PyGate:
    rows = []
    emitter_atoms = version_atoms(emitter.versions)
    if emitter_atoms:
        rows += [f"if {py_not(emitter_atoms)}:", f"{INDENT}return False"]
    for i, source in enumerate(emitter.sources):
        atoms = version_atoms(source.versions)
        keyword = "if" if i == 0 else "elif"
        test = py_condition(atoms) if atoms else "True"
        rows.append(f"{keyword} {test}:  # {py_comment(source.file)}")
        gate = conjuncts(source.gate.node)
        rows.append(f"{INDENT}return {py_condition(gate) if gate else 'True'}")
    rows.append("return False")
    return PyGate(gate_name(emitter), py_comment(f"Whether the kernel builds the file of {spec_path}."), rows)


def function_view(emitter: Emitter, function: Function, spec_path: str) -> PyFunction:
    rows = [f"# {py_comment(spec_path)}", f"if not {gate_name(emitter)}(k):", f"{INDENT}return"]
    local_items = []
    for local in function.locals:
        record = (f"local[{py_string(c_ident(local.name))}] = Local({py_string(local.name)}, "
                  f"{py_string(str(local.type))}, "
                  f"{py_string(cexpr.to_c(local.init)) if local.init is not None else 'None'})")
        local_items.append((version_atoms(local.versions) + conjuncts(local.when.node),
                            Rows([record], local.name)))
    rows.append("local = {}")
    flatten(nest(local_items, negation, topic), PYTHON_GUARDS, rows)
    rows.append("f = k.enter(local)")
    phase = (("phase", "crash"),) if function.phase != "boot" else ()
    items = []
    for entry in function.entries:
        atoms = version_atoms(entry.versions) + conjuncts(entry.when.node)
        if entry.emits:
            atoms = phase + atoms
        items.append((atoms, Rows([entry_call(entry)], entry.key)))
    flatten(nest(items, negation, topic), PYTHON_GUARDS, rows)
    return PyFunction(c_ident(function.name), py_comment(function.doc), rows)


def defines_rows(emitters: Sequence[Emitter]) -> List[str]:
    items = []
    for emitter in emitters:
        for define in emitter.defines:
            if define.is_object:
                continue  # a variable of the image in this scope: no macro
            assert define.value is not None  # only an object has no value
            record = (f"found[{py_string(c_ident(define.name))}] = Define({py_string(define.name)}, "
                      f"{define.function_like}, {py_string(cexpr.to_c(define.value))}, "
                      f"{py_string(define.runtime) if define.runtime else 'None'})")
            items.append((version_atoms(define.versions) + conjuncts(define.when.node),
                          Rows([record], define.name)))
    rows = ["found = {}"]
    flatten(nest(items, negation, topic), PYTHON_GUARDS, rows)
    return rows + ["return found"]


def image_base_rows(emitter: Emitter) -> List[str]:
    items = [(version_atoms(base.versions) + conjuncts(base.when.node),
              Rows([f"return {py_string(cexpr.to_c(base.value))}"], "image base"))
             for base in emitter.image_bases]
    rows: List[str] = []
    flatten(nest(items, negation, topic), PYTHON_GUARDS, rows)
    return rows + ["return None"]


def _function_views(emitters: Sequence[Emitter], spec_paths: Dict[str, str]) -> List[PyFunction]:
    views: List[PyFunction] = []
    for owner in emitters:
        for function in owner.functions:
            views.append(function_view(owner, function, spec_paths[owner.path]))
    return views


def general_view(specs: SpecSet, spec_paths: Dict[str, str]) -> PyGeneralView:
    # the calls by name are unambiguous: a general spec's function is defined by no other
    # spec (lint._check_names), and no file defines a function twice (model.build_emitter)
    general = specs.general_emitters()
    crash = sorted({f.name for e in general for f in e.functions if f.phase == "crash"})
    ranges = py_tuple(dict.fromkeys(f"({_bound(e.versions.since)}, {_bound(e.versions.until)})" for e in general))
    # as select.check_builds_vmcoreinfo(): a kernel that does not build the file of the
    # common list writes no VMCOREINFO at all, which is refused, not an empty answer
    # (specs with no common list, which lint allows, refuse nothing, as select does; a
    # general function is defined by one spec only, lint._check_names)
    common = next((e for e in general if any(f.name == COMMON_FUNCTION for f in e.functions)), None)
    return PyGeneralView([spec_paths[e.path] for e in general], ranges, defines_rows(general),
                         [gate_view(e, spec_paths[e.path]) for e in general], _function_views(general, spec_paths),
                         COMMON_FUNCTION, crash, gate_name(common) if common else None,
                         spec_paths[common.path] if common else None)


def module_view(specs: SpecSet, emitter: Emitter, spec_paths: Dict[str, str]) -> PyModuleView:
    assert emitter.target is not None  # a module per architecture
    machines = [f"Machine({py_string(m.name)}, {py_tuple(py_string(a) for a in m.aliases)}, "
                f"{int(m.elf_machine)}, {int(m.elf_class)}, {py_string(m.endianness)})"
                for m in emitter.target.machines]
    return PyModuleView(emitter, module_name(emitter), [spec_paths[emitter.path]], py_comment(emitter.doc),
                        machines, defines_rows([emitter]), image_base_rows(emitter),
                        gate_view(emitter, spec_paths[emitter.path]),
                        _function_views([emitter], spec_paths))


def py_tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _bound(version: Optional[Version]) -> str:
    return "None" if version is None else f"({_version_args(version)})"


def elf_machines(modules: Sequence[PyModuleView]) -> List[Tuple[str, str]]:
    """(e_machine, class, byte order) -> module; the first emitter that claims one wins,
    as select.find_target_by_elf() decides."""
    found: Dict[Tuple, str] = {}
    for view in modules:
        assert view.emitter.target is not None  # a module per architecture
        for machine in view.emitter.target.machines:
            key = (int(machine.elf_machine), int(machine.elf_class), machine.endianness)
            found.setdefault(key, view.module)
    return [(f"({key[0]}, {key[1]}, {py_string(key[2])})", name) for key, name in found.items()]
