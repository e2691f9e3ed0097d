"""Exceptions raised by the vmlinux reader.

Every problem with the *input file* is reported as :class:`ElfFormatError`;
every query that cannot be answered from an intact file is reported as
:class:`LookupFailure`.  No other exception type escapes the public API.
"""

from __future__ import annotations


class ElfFormatError(Exception):
    """The file is not a usable ELF image, or its DWARF is damaged."""

    def __init__(self, path: str, place: str, message: str) -> None:
        self.path = str(path)
        self.place = place
        self.message = message
        super().__init__(f"{self.path}: {place}: {message}")

    def __str__(self) -> str:  # one line, always
        return f"{self.path}: {self.place}: {self.message}".replace("\n", " ")


class LookupFailure(Exception):
    """A query (type, member, symbol, enumerator, ...) has no answer.

    ``reason`` is a short human readable sentence that names why.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __str__(self) -> str:
        return self.reason


class DwarfError(Exception):
    """Internal: damaged DWARF found while decoding; converted to
    :class:`ElfFormatError` (with the path) at the public boundary."""

    def __init__(self, place: str, message: str) -> None:
        self.place = place
        self.message = message
        super().__init__(f"{place}: {message}")
