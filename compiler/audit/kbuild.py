"""The Kconfig gate of a kernel C file, read from the tree's Kbuild makefiles.

A file is built when its directory's makefile adds its object to `obj-y` or to
`obj-$(CONFIG_X)` (built in only when X=y; `=m` makes a module, and VMCOREINFO is
emitted by built-in code), directly or through a composite object (`foo-y += bar.o`
with `obj-$(CONFIG_X) += foo.o`), possibly inside `ifdef`/`ifeq` blocks; and when every
directory above it is descended into the same way (arch/powerpc/Kbuild has
`obj-$(CONFIG_KEXEC_CORE) += kexec/`). The walk stops at a top-level directory or at
arch/<ARCH>/, which the architecture itself implies. Older architecture makefiles name
their directories by full path in the top-level lists instead (5.10's arch/ia64/Makefile:
`core-y += arch/ia64/kernel/ arch/ia64/mm/`), which gates them the same way.

Kernel quirk: object names may use a variable set in the architecture makefile,
`vmcore_info_$(BITS).o` on x86, where `BITS := 32` under `ifeq ($(CONFIG_X86_32),y)`
and 64 otherwise; such a name matches a file under the condition of the assignment.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from vmci.lang.condition import TRUE, Condition, any_of


@dataclass
class Gate:
    """The condition under which a file is built in, and where it was read."""

    condition: Condition
    places: List[str] = field(default_factory=list)  # makefile:line of each line used
    unknown: List[str] = field(default_factory=list)  # makefile constructs vmci cannot read

    def __str__(self) -> str:
        return str(self.condition)


_CONFIG_REF = re.compile(r"^\$\((CONFIG_[A-Za-z0-9_]+)\)$")
_SUBST_M_Y = re.compile(r"^\$\(subst m,y,\$\((CONFIG_[A-Za-z0-9_]+)\)\)$")


def makefile_condition(directive: str, argument: str) -> Optional[Condition]:
    """ifdef/ifndef/ifeq/ifneq over one CONFIG_ variable, or None when it is something else."""
    argument = argument.strip()
    if directive in ("ifdef", "ifndef"):
        if re.fullmatch(r"CONFIG_[A-Za-z0-9_]+", argument):
            # a make variable is defined for y and m alike
            text = f"IS_ENABLED({argument})"
            return Condition.parse(text if directive == "ifdef" else f"!{text}")
        return None
    match = re.fullmatch(r"\(\s*\$\((CONFIG_[A-Za-z0-9_]+)\)\s*,\s*(y|m|)\s*\)", argument) or \
        re.fullmatch(r"\(\s*(y|m|)\s*,\s*\$\((CONFIG_[A-Za-z0-9_]+)\)\s*\)", argument)
    if not match:
        return None
    name, value = (match.group(1), match.group(2)) if match.group(1).startswith("CONFIG_") else (match.group(2), match.group(1))
    if value == "m":
        return None
    # ifeq ($(CONFIG_X),y): X=y;  ifneq ($(CONFIG_X),): X is y or m
    base = name if value == "y" else f"IS_ENABLED({name})"
    positive = (directive == "ifeq") == (value == "y")
    return Condition.parse(base if positive else f"!{base}")


@dataclass
class _Line:
    number: int
    text: str
    condition: Condition
    unknown: List[str]


def makefile_lines(path: str, text: str) -> List[_Line]:
    """Logical lines (continuations joined, comments dropped) with the ifeq/ifdef
    condition each one is under."""
    lines: List[_Line] = []
    stack: List[Tuple[Optional[Condition], str, List[Optional[Condition]]]] = []  # None: unreadable
    raw = text.split("\n")
    index = 0
    while index < len(raw):
        number = index + 1
        line = raw[index]
        while line.endswith("\\") and index + 1 < len(raw):
            index += 1
            line = line[:-1] + " " + raw[index]
        index += 1
        line = re.sub(r"(?<!\\)#.*$", "", line).strip()
        if not line:
            continue
        words = line.split(None, 1)
        keyword, rest = words[0], (words[1] if len(words) > 1 else "")
        if keyword in ("ifdef", "ifndef", "ifeq", "ifneq"):
            stack.append((makefile_condition(keyword, rest), f"{path}:{number}: {line}", []))
            continue
        if keyword == "else" and stack:
            test, shown, earlier = stack.pop()
            earlier = earlier + [test if test is not None else None]
            inner = rest.split(None, 1)
            if inner and inner[0] in ("ifdef", "ifndef", "ifeq", "ifneq"):
                stack.append((makefile_condition(inner[0], inner[1] if len(inner) > 1 else ""),
                              f"{path}:{number}: {line}", earlier))
            else:
                stack.append((TRUE, f"{path}:{number}: else of {shown}", earlier))
            continue
        if keyword == "endif":
            if stack:
                stack.pop()
            continue
        condition, unknown = TRUE, []
        for test, shown, earlier in stack:
            for previous in earlier:
                if previous is None:
                    unknown.append(f"else of {shown}")
                else:
                    condition = condition & previous.negate()
            if test is None:
                unknown.append(shown)
            else:
                condition = condition & test
        lines.append(_Line(number, line, condition, unknown))
    return lines


# The top-level lists an architecture makefile adds its directories to by full path.
_TOP_LIST = re.compile(r"(core|drivers|libs)-(?:y|\$\((CONFIG_[A-Za-z0-9_]+)\))")
_ASSIGNMENT = re.compile(r"^([A-Za-z0-9_.$(/+-][^=]*?)\s*(:=|\+=|\?=|=)\s*(.*)$")


class Kbuild:
    """Reads the makefiles of one tree on demand. `read(relpath)` returns the text of a
    file of the tree or None."""

    def __init__(self, read: Callable[[str], Optional[str]]):
        self.read = read
        self._parsed: Dict[str, Optional[List[_Line]]] = {}

    def _lines(self, relpath: str) -> Optional[List[_Line]]:
        if relpath not in self._parsed:
            text = self.read(relpath)
            self._parsed[relpath] = None if text is None else makefile_lines(relpath, text)
        return self._parsed[relpath]

    def _kbuild_file(self, directory: str) -> Optional[str]:
        # kbuild reads Kbuild when a directory has one, else Makefile
        for name in ("Kbuild", "Makefile"):
            path = f"{directory}/{name}" if directory else name
            if self._lines(path) is not None:
                return path
        return None

    def variables(self, arch: Optional[str]) -> Dict[str, List[Tuple[str, Condition]]]:
        """Simple `VAR := value` assignments of the arch makefile, with their conditions."""
        found: Dict[str, List[Tuple[str, Condition]]] = {}
        if arch is None:
            return found
        for line in self._lines(f"arch/{arch}/Makefile") or []:
            match = re.match(r"^([A-Z][A-Z0-9_]*)\s*:?=\s*(\S+)$", line.text)
            if match and not line.unknown:
                found.setdefault(match.group(1), []).append((match.group(2), line.condition))
        return found

    def gate(self, relpath: str) -> Gate:
        """When the file at relpath (a .c file) is built into the kernel."""
        directory, name = os.path.split(relpath)
        target = os.path.splitext(name)[0] + ".o"
        arch = _arch_of(relpath)
        gate = self._object_gate(directory, target, arch)
        while directory and not _is_root_of_walk(directory):
            parent, base = os.path.split(directory)
            above = self._object_gate(parent, base + "/", arch, top=not parent)
            gate = Gate(gate.condition & above.condition, gate.places + above.places, gate.unknown + above.unknown)
            directory = parent
        return gate

    def _object_gate(self, directory: str, target: str, arch: Optional[str], top: bool = False) -> Gate:
        makefile = self._kbuild_file(directory)
        if makefile is None:
            if top:
                return Gate(TRUE)
            return Gate(TRUE, unknown=[f"{directory or '.'}: no Kbuild or Makefile"])
        lines = self._lines(makefile) or []
        variables = self.variables(arch)
        path_target = f"{directory}/{target}" if _is_root_of_walk(directory) and directory else None
        gate = self._find(lines, makefile, target, variables, depth=0, path_target=path_target)
        if gate is None:
            if top:
                return Gate(TRUE)  # the top-level directories are always descended into
            return Gate(TRUE, unknown=[f"{makefile}: {target} is not in any obj- line"])
        return gate

    def _find(self, lines: List[_Line], makefile: str, target: str, variables, depth: int,
              path_target: Optional[str] = None) -> Optional[Gate]:
        result: Optional[Gate] = None
        for line in lines:
            match = _ASSIGNMENT.match(line.text)
            if not match:
                continue
            left, value = match.group(1), match.group(3)
            for word in value.split():
                for expanded, word_condition in _expand(word, variables):
                    if expanded == target:
                        found = self._assignment_gate(lines, makefile, left, variables, depth)
                    elif expanded == path_target and (top := _TOP_LIST.fullmatch(left)):
                        config = top.group(2)
                        found = Gate(Condition.parse(config) if config else TRUE, [], [])
                    else:
                        continue
                    if found is None:
                        continue
                    condition = found.condition & line.condition & word_condition
                    place = f"{makefile}:{line.number}"
                    found = Gate(condition, [place] + found.places, line.unknown + found.unknown)
                    result = found if result is None else Gate(any_of([result.condition, found.condition]),
                                                                result.places + found.places,
                                                                result.unknown + found.unknown)
        return result

    def _assignment_gate(self, lines, makefile: str, left: str, variables, depth: int) -> Optional[Gate]:
        """The gate the left-hand side of `left += word` gives its words."""
        match = re.fullmatch(r"(obj|[A-Za-z0-9_]+)-(.+)", left)
        if not match:
            return None
        owner, suffix = match.groups()
        unknown: List[str]
        if suffix == "y":
            condition, unknown = TRUE, []
        elif suffix in ("m", "n", ""):
            return None
        elif suffix == "objs" and owner != "obj":
            condition, unknown = TRUE, []
        elif config_ref := _CONFIG_REF.match(suffix):
            condition, unknown = Condition.parse(config_ref.group(1)), []
        elif subst := _SUBST_M_Y.match(suffix):
            condition, unknown = Condition.parse(f"IS_ENABLED({subst.group(1)})"), []
        else:
            if owner in ("obj",) or suffix.startswith("$("):
                condition, unknown = TRUE, [f"{makefile}: cannot read the gate {left}"]
            else:
                return None  # ccflags-y, subdir-, always-y and the like
        if owner == "obj":
            return Gate(condition, [], unknown)
        if owner in ("lib", "core", "drivers", "libs", "head", "extra", "always", "targets", "subdir",
                     "ccflags", "asflags", "ldflags", "hostprogs", "userprogs", "clean"):
            return None
        if depth > 4:
            return Gate(TRUE, [], [f"{makefile}: composite objects nest too deep at {owner}.o"])
        composite = self._find(lines, makefile, owner + ".o", variables, depth + 1)
        if composite is None:
            return None
        return Gate(condition & composite.condition, composite.places, unknown + composite.unknown)


def _expand(word: str, variables) -> List[Tuple[str, Condition]]:
    references = re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", word)
    if not references:
        return [(word, TRUE)]
    results = [(word, TRUE)]
    for name in set(references):
        options = variables.get(name)
        if not options:
            return [(word, TRUE)]
        results = [(text.replace(f"$({name})", value), condition & option_condition)
                   for text, condition in results for value, option_condition in options]
    return results


def _arch_of(relpath: str) -> Optional[str]:
    parts = relpath.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "arch" else None


def _is_root_of_walk(directory: str) -> bool:
    parts = directory.split("/")
    return parts[0] == "arch" and len(parts) <= 2
