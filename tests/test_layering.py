"""The two layering rules of docs/architecture.md, checked from the imports of every
module of compiler/ (the package vmci), including imports inside functions and
importlib.import_module("...") with a literal name:

- nothing outside vmci.cli imports vmci.cli (vmci.__main__, the program, excepted);
- vmci.elf, the ELF/DWARF reader, imports nothing else of vmci.
"""
import ast
import os
from typing import Iterator, List, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(ROOT, "compiler")
PROGRAM = "vmci.__main__"


def module_name(path: str) -> str:
    relative = os.path.relpath(path, PACKAGE_DIR)[:-len(".py")].split(os.sep)
    if relative[-1] == "__init__":
        relative.pop()
    return ".".join(["vmci", *relative])


def modules() -> List[Tuple[str, str]]:
    found = []
    for directory, subdirs, files in os.walk(PACKAGE_DIR):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        found += [(module_name(os.path.join(directory, name)), os.path.join(directory, name))
                  for name in sorted(files) if name.endswith(".py")]
    return found


def imported(module: str, source: str, is_package: bool = False) -> Iterator[Tuple[int, str]]:
    """(line, module name) for each import in `source`, wherever it stands; for
    `from X import Y` both X and X.Y, since Y may be a module."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) \
                and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module":
            yield node.lineno, node.args[0].value


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(module: str, source: str, is_package: bool = False) -> List[str]:
    """Each import in `module`'s source that breaks a layering rule, as `line: what`."""
    found = []
    for line, name in imported(module, source, is_package):
        if within(name, "vmci.cli") and not within(module, "vmci.cli") and module != PROGRAM:
            found.append(f"{line}: {module} imports the command line ({name})")
        if within(module, "vmci.elf") and within(name, "vmci") and not within(name, "vmci.elf"):
            found.append(f"{line}: {module} (the ELF reader) imports {name}")
    return sorted(set(found))


def test_the_package_keeps_its_layers():
    found = modules()
    names = {name for name, _ in found}
    # the walk sees the whole package, or the rules would hold of nothing
    assert {"vmci.cli.main", "vmci.cli.commands", "vmci.elf.elffile", "vmci.emit.generate", PROGRAM} <= names
    problems = []
    for name, path in found:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        problems += [f"{os.path.relpath(path, ROOT)}:{problem}"
                     for problem in violations(name, source, path.endswith("__init__.py"))]
    assert problems == []


@pytest.mark.parametrize("module, source", [
    ("vmci.emit.generate", "def run():\n    from vmci.cli.main import EXIT_OK\n"),
    ("vmci.note.build", "from vmci import cli\n"),
    ("vmci.audit", "import vmci.cli.audit\n"),
    ("vmci.audit.tree", "from ..cli import options\n"),
    ("vmci.spec.load", "import importlib\nimportlib.import_module('vmci.cli.spec')\n"),
    ("vmci.elf.elffile", "def f():\n    from vmci.files.inputs import open_regular\n"),
    ("vmci.elf.vmlinux", "from .. import errors\n"),
    ("vmci.elf.dwarf", "import vmci.spec.model\n"),
])
def test_a_broken_rule_is_found(module, source):
    is_package = module == "vmci.audit"
    assert len(violations(module, source, is_package)) >= 1


@pytest.mark.parametrize("module, source", [
    ("vmci.cli.resolve", "from vmci.cli.options import SPECS\nfrom vmci.elf import open_vmlinux\n"),
    (PROGRAM, "from vmci.cli.entry import main\n"),
    ("vmci.elf.vmlinux", "from vmci.elf.errors import DwarfError\nfrom . import cache\nimport os\n"),
    ("vmci.resolve.engine", "from vmci.elf import open_vmlinux\nfrom vmci.errors import Findings\n"),
])
def test_what_the_rules_allow(module, source):
    assert violations(module, source) == []
