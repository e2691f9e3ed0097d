"""Helpers of the generate tests: generating into a directory, compiling generated C,
and reading the VMCOREINFO calls out of preprocessed C."""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STUBS = os.path.join(HERE, "stubs")
GENERATED = os.path.join(ROOT, "generated")
SPECS = os.path.join(ROOT, "specs")


def vmci(*args, cwd=ROOT, timeout=600):
    result = subprocess.run([sys.executable, "-m", "vmci", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": ROOT})
    return result.returncode, result.stdout, result.stderr


def copy_specs(destination):
    shutil.copytree(SPECS, destination)
    return str(destination)


def includes_of(path):
    with open(path) as handle:
        text = handle.read()
    return re.findall(r"^#include <([^>]+)>", text, re.M), re.findall(r'^#include "([^"]+)"', text, re.M)


def config_symbols(path):
    with open(path) as handle:
        text = handle.read()
    lines = [line for line in text.splitlines() if line.startswith(("#if", "#elif"))]
    return sorted(set(re.findall(r"\bCONFIG_[A-Za-z0-9_]+", "\n".join(lines))))


def syntax_check(path, tmp_path, defines=()):
    """gcc -fsyntax-only of a generated kernel C file against the stub headers: every
    <header> it includes is the one stub; "local" headers come from tests/emit/stubs."""
    include = tmp_path / "include"
    system, _ = includes_of(path)
    for header in system:
        target = include / header
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text('#include "vmci_stub.h"\n')
    # -Wsign-compare is W=3 in the kernel (scripts/Makefile.extrawarn); the kernel's own
    # add_build_id_vmcoreinfo() (5.10 to 5.13), which the common frame carries, trips it
    command = ["gcc", "-fsyntax-only", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
               "-Wno-sign-compare", "-Werror",
               "-I", STUBS, "-I", str(include), "-iquote", STUBS] + [f"-D{d}" for d in defines] + [path]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stderr


# --- the VMCOREINFO calls of preprocessed C ---------------------------------------------------

_TOKEN = re.compile(r'''
    (?P<ws>\s+)
  | (?P<line>^\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<char>'(?:\\.|[^'\\\n])*')
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\.?[0-9](?:[eEpP][-+]|[A-Za-z0-9_.])*)
  | (?P<op>->|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||\+\+|--|[-+*/%&|^!~<>=?:;,.(){}\[\]])
''', re.VERBOSE | re.MULTILINE)


def tokens(text):
    found = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind not in ("ws", "line"):
            found.append(match.group())
    return found


def function_body(toks, name):
    """The tokens between the braces of the definition of `name`."""
    for i in range(len(toks) - 3):
        if toks[i] == name and toks[i + 1] == "(":
            j = toks.index(")", i)
            if toks[j + 1] == "{":
                depth, k = 0, j + 1
                while True:
                    depth += {"{": 1, "}": -1}.get(toks[k], 0)
                    if depth == 0:
                        return toks[j + 2:k]
                    k += 1
    raise LookupError(f"no definition of {name}()")


def _arguments(toks, start):
    """Arguments of the call whose "(" is at `start`, and the index after its ")"."""
    args, current, depth, i = [], [], 0, start
    while True:
        tok = toks[i]
        if tok in "([{" and len(tok) == 1:
            depth += 1
            if depth > 1:
                current.append(tok)
        elif tok in ")]}" and len(tok) == 1:
            depth -= 1
            if depth == 0:
                args.append(current)
                return args, i + 1
            current.append(tok)
        elif tok == "," and depth == 1:
            args.append(current)
            current = []
        else:
            current.append(tok)
        i += 1


def _literal(toks):
    if toks and all(t.startswith('"') for t in toks):
        return "".join(bytes(t[1:-1], "utf-8").decode("unicode_escape") for t in toks)
    return None


HOOKS = ("log_buf_vmcoreinfo_setup", "arch_crash_save_vmcoreinfo")


def vmcoreinfo_calls(body):
    """[(key, value C tokens)] for each vmcoreinfo_append_str() call, and (hook, "call")
    for the printk and architecture hooks, in order."""
    found, i = [], 0
    while i < len(body):
        tok = body[i]
        if tok == "vmcoreinfo_append_str" and body[i + 1] == "(":
            args, i = _arguments(body, i + 1)
            fmt = _literal(args[0])
            rest = args[1:]
            while "%s" in fmt.split("=", 1)[0] and rest and _literal(rest[0]) is not None:
                fmt = fmt.replace("%s", _literal(rest[0]), 1)
                rest = rest[1:]
            key, conversion = fmt.rstrip("\n").split("=", 1)
            found.append((key, conversion, " ".join(" ".join(arg) for arg in rest)))
            continue
        if tok in HOOKS and body[i + 1] == "(" and body[i + 2] == ")":
            found.append((tok, "call", ""))
            i += 3
            continue
        i += 1
    return found
