"""The resolver the generated Python modules (generated/python/vmcoreinfo) ask for values:
one vmlinux and its config, through the same evaluator `vmci resolve` uses.

The generated module decides which lines a kernel writes, in which order, under which
conditions, and formats them (vmci.runtime, copied into the package); this object only
answers "what is this C expression in this image" for one scope of macros and local
variables. A value it cannot give raises Unresolved with the reason `vmci resolve` gives,
and the generated module keeps that reason on the line.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional

from vmci.lang import cexpr
from vmci.resolve.evaluate import Evaluator, Unresolved
from vmci.lang.kconfig import KernelConfig


@lru_cache(maxsize=4096)
def _parse(text: str) -> cexpr.Node:
    return cexpr.parse_expression(text)


@dataclass(frozen=True)
class _Define:
    name: str
    function_like: bool
    value: cexpr.Node
    runtime: Optional[str]


@dataclass(frozen=True)
class _Local:
    name: str
    type: cexpr.TypeName
    init: Optional[cexpr.Node]


class ImageResolver:
    def __init__(self, vm, config: KernelConfig, slide: int = 0):
        self.vm = vm
        self.config = config
        self.slide = slide  # a KASLR slide: how far the image runs from where it runs without KASLR
        self._defines_for = None
        self._defines: Dict[str, _Define] = {}
        self._load_offset = 0

    def _evaluator(self, scope) -> Evaluator:
        if scope.defines is not self._defines_for:
            self._defines = {name: _Define(d.name, d.function_like, _parse(d.value), d.runtime)
                             for name, d in scope.defines.items()}
            self._defines_for = scope.defines
            self._load_offset = self._image_offset(getattr(scope, "image_base", None))
        locals_ = {name: _Local(local.name, cexpr.parse_type_name(local.type),
                              None if local.init is None else _parse(local.init))
                   for name, local in scope.local.items()}
        return Evaluator(self.vm, self.config, self._defines, locals_, self._load_offset)

    def _image_offset(self, image_base: Optional[str]):
        """The image base (C, or None for 0) plus the slide; an Unresolved when the
        base cannot be computed (then only addresses of the image fail)."""
        if image_base is None:
            return self.slide
        evaluator = Evaluator(self.vm, self.config, self._defines)
        try:
            number, _ = evaluator.integer(_parse(image_base), evaluator.ULONG)
        except Unresolved as error:  # worded as resolve words it (which adds the spec's place)
            return Unresolved(f"the image base {image_base}: {error.reason}")
        return number + self.slide

    def build_id(self) -> Optional[str]:
        """The image's build ID as hex (the runtime checks its length)."""
        build_id: Optional[str] = self.vm.build_id
        return build_id

    def string(self, expression: str, scope) -> str:
        text, _ = self._evaluator(scope).string(_parse(expression))
        return text

    def integer(self, expression: str, c_type: str, scope) -> int:
        evaluator = self._evaluator(scope)
        itype = evaluator.int_type(c_type)
        if itype is None:
            raise ValueError(f"{c_type!r} is not an integer type")
        number, _ = evaluator.integer(_parse(expression), itype)
        return number
