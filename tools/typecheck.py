#!/usr/bin/env python3
"""mypy on the package: `.venv/bin/python tools/typecheck.py [PATH...] [MYPY OPTION...]`.

The source folder compiler/ installs as the package `vmci` (pyproject.toml's package-dir),
and its modules import each other as `vmci.<stage>.<module>`. mypy names a file by its
folder (compiler.spec.model) and cannot follow the editable install's import hook, so a
plain `mypy compiler` finds none of those imports. This runs mypy's own build on every
file of compiler/ under the module name it installs as, with the settings of
pyproject.toml's [tool.mypy]. It always checks the whole package (an import reaches most
of it anyway); PATHs only narrow the errors shown to those files or folders.
Exit 0 when mypy reports no error, 1 when it does.
"""
import os
import sys

from mypy import build
from mypy.errors import CompileError
from mypy.main import process_options
from mypy.modulefinder import BuildSource

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE, PACKAGE = "compiler", "vmci"


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    paths = [os.path.normpath(a) for a in argv if not a.startswith("-")]
    options_only = [a for a in argv if a.startswith("-")]
    sources, options = process_options([*options_only, SOURCE])
    installed = [BuildSource(s.path, PACKAGE + (s.module or "").removeprefix(SOURCE), s.text) for s in sources]
    try:
        messages = build.build(installed, options).errors
    except CompileError as error:  # a syntax error or a module found twice stops the build
        messages = error.messages
    shown = [m for m in messages if not paths or any(m == p or m.startswith((p + ":", p + os.sep)) for p in paths)]
    for message in shown:
        print(message)
    errors = [m for m in shown if ": error:" in m]
    if errors:
        files = len({m.split(":", 1)[0] for m in errors})
        print(f"Found {len(errors)} error{'s' * (len(errors) != 1)} in {files} file{'s' * (files != 1)}"
              f" (checked {len(sources)} source files)")
        return 1
    print(f"Success: no issues found in {len(sources)} source files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
