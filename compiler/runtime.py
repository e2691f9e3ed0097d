# SPDX-License-Identifier: GPL-2.0-only
"""The VMCOREINFO runtime: what a kernel does with its lines once their values are known.

One module, two homes. It is `vmci.runtime`, with which `vmci resolve`
(vmci.resolve.engine) formats, cuts and orders its lines, and it is `_runtime.py` of the
generated Python package (generated/python/vmcoreinfo, installed as vmci.vmcoreinfo),
which `vmci generate` writes as a byte-for-byte copy of this file; `vmci generate
--check` fails when the copy differs. Edit it here. It imports nothing but abi.py, the
kernel's ABI facts, which generate copies beside it the same way; the relative import
finds vmci.abi in vmci and vmcoreinfo.abi in the generated package.

What it holds, each as the kernel does it:
- versions and .config values as a condition reads them (#ifdef, IS_ENABLED(), #if ==);
- a value printed by its printf conversion, and the build ID's %20phN;
- a line cut as vmcoreinfo_append_str() cuts it, the text stopped at VMCOREINFO_BYTES;
- a value that cannot be known for this kernel: Unresolved, with the reason
  `vmci resolve` prints; the line keeps the reason, and render() does not leave it out
  without saying so;
- the kernel and function scopes the generated modules run in (Kernel, Scope).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable, NamedTuple, Protocol, TypeVar

from .abi import BUILD_ID_WIDTH, CONVERSIONS, FLAG_VALUE, LINE_BUFFER_BYTES

Version = Sequence[int]


class Unresolved(LookupError):
    """A value that cannot be computed for this kernel; `reason` says why. A resolver
    of the generated package raises it (or any LookupError) when it has no answer."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def reason_of(error: LookupError) -> str:
    """The reason an Unresolved (or another LookupError a resolver raised) gives."""
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) else str(error)


# --- versions and Kconfig, as the kernel's conditions read them -------------------------------

def compare_version(version: Version, bound: Version) -> int:
    """-1, 0 or 1 as `version` is before, within or after `bound`; a version shorter
    than the bound stands for its whole series (6.1 is within 6.1.50's series, so a
    range that starts at 6.1.50 holds 6.1)."""
    length = min(len(version), len(bound))
    a, b = tuple(version[:length]), tuple(bound[:length])
    return (a > b) - (a < b)


def config_set(values: Mapping[str, str | None], name: str) -> bool:
    """#ifdef CONFIG_X: set to y or to a value; =m (only CONFIG_X_MODULE is defined)
    and unset are false."""
    value = values.get(name)
    return value is not None and value not in ("m", "n")


def config_enabled(values: Mapping[str, str | None], name: str) -> bool:
    """IS_ENABLED(CONFIG_X) (include/linux/kconfig.h): y or m."""
    return values.get(name) in ("y", "m")


def config_number(values: Mapping[str, str | None], name: str) -> int:
    """CONFIG_X in #if: y is 1, a number is itself, anything else is 0."""
    value = values.get(name)
    if value is None or value in ("m", "n"):
        return 0
    if value == "y":
        return 1
    try:
        return int(value, 0)
    except ValueError:
        return 0


# --- values ------------------------------------------------------------------------------------

def c_type(conversion: str) -> str:
    """The C type an integer conversion reads its argument as ("%lx": unsigned long)."""
    return CONVERSIONS[conversion].c_type


def format_value(conversion: str, number: int) -> str:
    """A number as the conversion prints it: %ld 12, %lx c, 0x%lx 0xc."""
    if CONVERSIONS[conversion].hexadecimal:
        return ("0x" if conversion.startswith("0x") else "") + format(number, "x")
    return str(number)


def parse_value(conversion: str, text: str) -> int | None:
    """The number a value prints, read back by its conversion; None when the text is
    not such a number."""
    try:
        return int(text, 16) if conversion.endswith("x") else int(text, 10)
    except (TypeError, ValueError):
        return None


def build_id_value(build_id: str | None) -> str:
    """The build ID as VMCOREINFO_BUILD_ID()'s %20phN prints it: 20 bytes in hex."""
    if not build_id:
        raise Unresolved("the vmlinux has no NT_GNU_BUILD_ID note")
    if len(build_id) != BUILD_ID_WIDTH:
        raise Unresolved(f"the build ID has {len(build_id) // 2} bytes; the kernel prints "
                         f"{BUILD_ID_WIDTH // 2} (%20phN)")
    return build_id


# --- lines and the text ------------------------------------------------------------------------

class Line(NamedTuple):
    """One line the kernel appends: its key and value, or, when the value cannot be
    known, None and the reason."""

    key: str
    value: str | None
    reason: str | None = None

    @property
    def text(self) -> str:
        return f"{self.key}={self.value}\n"


class KeyValue(Protocol):
    """What the text is built from: a Line, or vmci.resolve.engine's ResolvedLine."""

    @property
    def key(self) -> str: ...
    @property
    def value(self) -> str | None: ...  # None: unresolved
    @property
    def reason(self) -> str | None: ...  # why it is unresolved


AnyLine = TypeVar("AnyLine", bound=KeyValue)


class Resolver(Protocol):
    """What the generated modules ask for one image (vmci.resolve.image_resolver's
    ImageResolver, or a tool's own); each raises LookupError, such as Unresolved, with
    the reason when it cannot answer."""

    def build_id(self) -> str | None: ...
    def string(self, expression: str, scope: Scope) -> str | None: ...
    def integer(self, expression: str, c_type: str, scope: Scope) -> int | None: ...


class UnresolvedLines(Unresolved):
    """render() was asked for the whole text, and some values are unresolved; `lines`
    are those lines, `reason` names each with its reason."""

    def __init__(self, lines: Sequence[KeyValue]):
        super().__init__("; ".join(describe_unresolved(line) for line in lines))
        self.lines = list(lines)


def describe_unresolved(line: KeyValue) -> str:
    """What `vmci resolve` says of an unresolved line (after the spec's place)."""
    return f"{line.key} not resolved: {line.reason}"


def unresolved(lines: Iterable[AnyLine]) -> list[AnyLine]:
    """The lines whose value is unknown, in order."""
    return [line for line in lines if line.value is None]


# include/linux/vmcore_info.h: VMCOREINFO_PAGESIZE(value) writes "PAGESIZE=%ld", and
# VMCOREINFO_BYTES is PAGE_SIZE: the PAGESIZE line says where the text stops.
PAGESIZE_KEY = "PAGESIZE"


def vmcoreinfo_bytes(lines: Iterable[KeyValue]) -> int | None:
    """VMCOREINFO_BYTES: the PAGESIZE line's value; None without one."""
    for line in lines:
        if line.key == PAGESIZE_KEY and line.value is not None:
            try:
                size = int(line.value)
            except ValueError:
                return None
            return size if size > 0 else None
    return None


def kernel_bytes(lines: Iterable[KeyValue], limit: int | None = None) -> tuple[bytes, bool]:
    """The bytes vmcoreinfo_append_str() leaves for these lines (anything with `key`
    and `value`), in their order, and whether the text reached `limit`
    (VMCOREINFO_BYTES: the kernel's WARN_ONCE "exceeds allocated size, truncating").
    Each line is formatted into `char buf[LINE_BUFFER_BYTES]` by vscnprintf: it keeps
    at most LINE_BUFFER_BYTES - 1 bytes, and a longer one loses its end and newline.
    Unresolved lines are left out: the caller reports them (render() does)."""
    data = bytearray()
    for line in lines:
        if line.value is None:
            continue
        text = f"{line.key}={line.value}\n".encode("utf-8", "replace")[:LINE_BUFFER_BYTES - 1]
        if limit is not None:
            text = text[:max(0, limit - len(data))]
        data += text
    return bytes(data), limit is not None and len(data) >= limit


def render(lines: Sequence[KeyValue], limit: int | None = None, partial: bool = False) -> str:
    """The VMCOREINFO text the kernel writes for these lines, cut as kernel_bytes()
    cuts it at `limit` (default: VMCOREINFO_BYTES from the PAGESIZE line). A line
    whose value is unresolved raises UnresolvedLines, naming each with its reason;
    with `partial` the text leaves them out, as `vmci resolve` writes it (it reports
    them on stderr and exits 1)."""
    missing = unresolved(lines)
    if missing and not partial:
        raise UnresolvedLines(missing)
    if limit is None:
        limit = vmcoreinfo_bytes(lines)
    return kernel_bytes(lines, limit)[0].decode("utf-8", "replace")


# --- the generated modules' kernel and scopes ---------------------------------------------------

class Machine(NamedTuple):
    """A machine of an architecture's spec: its name, aliases and ELF identity."""

    name: str
    aliases: tuple[str, ...]
    elf_machine: int
    elf_class: int
    endianness: str


class Define(NamedTuple):
    """A macro of the specs in scope: its C value, whether it takes arguments, and why
    its value is fixed only at run time, if it is."""

    name: str
    function_like: bool
    value: str
    runtime: str | None


class Local(NamedTuple):
    """A local variable of the running function: its C type and initializer."""

    name: str
    type: str
    init: str | None


class Kernel:
    """One kernel as the generated modules see it: its version, .config values
    ({"CONFIG_X": "y"}), the resolver that answers for its image, and the lines its
    functions append, in order."""

    def __init__(self, resolver: Resolver, version: Version, config: Mapping[str, str], at_crash: bool = False):
        self.resolver = resolver
        self.version = tuple(version)
        self.config = config
        self.at_crash = at_crash
        self.lines: list[Line] = []
        self.defines: dict[str, Any] = {}
        self.image_base: str | None = None  # C: how far from its link addresses the image runs (None: 0)
        self.functions: dict[str, Callable[[Kernel], None]] = {}  # the general and the architecture's

    def call(self, name: str) -> None:
        """A call to a kernel function; one no spec defines is the kernel's empty __weak
        default (arch_crash_save_vmcoreinfo() of an architecture without entries)."""
        function = self.functions.get(name)
        if function is not None:
            function(self)

    # versions: since is inclusive, before (until) exclusive
    def since(self, *bound: int) -> bool:
        return compare_version(self.version, bound) >= 0

    def before(self, *bound: int) -> bool:
        return compare_version(self.version, bound) < 0

    def within(self, since: Version | None, until: Version | None) -> bool:
        return (since is None or self.since(*since)) and (until is None or self.before(*until))

    def on(self, name: str) -> bool:  # #ifdef CONFIG_X
        return config_set(self.config, name)

    def enabled(self, name: str) -> bool:  # IS_ENABLED(CONFIG_X)
        return config_enabled(self.config, name)

    def number(self, name: str) -> int:  # #if CONFIG_X == 4
        return config_number(self.config, name)

    def enter(self, local: dict[str, Any]) -> Scope:
        return Scope(self, local)


class Scope:
    """One running function: its local variables, and the lines it appends. A value
    the resolver cannot give (it raises LookupError, such as Unresolved, or answers
    None) becomes a line with no value and the reason."""

    def __init__(self, kernel: Kernel, local: dict[str, Any]):
        self.kernel = kernel
        self.local = local

    def _append(self, key: str, value: Callable[[], str | None], asked: str) -> None:
        try:
            text = value()
        except LookupError as error:
            self.kernel.lines.append(Line(key, None, reason_of(error)))
            return
        if text is None:
            self.kernel.lines.append(Line(key, None, f"the resolver has no value for {asked}"))
        else:
            self.kernel.lines.append(Line(key, text))

    def line(self, key: str, conversion: str, expression: str) -> None:
        read_as = c_type(conversion)

        def value() -> str | None:
            number = self.kernel.resolver.integer(expression, read_as, self)
            return None if number is None else format_value(conversion, number)
        self._append(key, value, expression)

    def string(self, key: str, expression: str) -> None:
        self._append(key, lambda: self.kernel.resolver.string(expression, self), expression)

    def build_id(self, key: str) -> None:
        self._append(key, lambda: build_id_value(self.kernel.resolver.build_id()), "the build ID")

    def flag(self, key: str) -> None:
        self.kernel.lines.append(Line(key, FLAG_VALUE))

    def statement(self, c: str) -> None:
        """A statement of the kernel's that appends nothing."""

    @property
    def defines(self) -> dict[str, Any]:
        return self.kernel.defines

    @property
    def image_base(self) -> str | None:
        return self.kernel.image_base
