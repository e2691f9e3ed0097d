"""Kernel .config files: read (plain or gzip-compressed, as /proc/config.gz) and queried.

The conditions specs are gated on live in condition.py; the Kconfig files of a kernel
tree are read in audit/kconfig_rules.py.
"""
from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass
from typing import Dict, Optional

from vmci.runtime import config_number, config_set  # the generated package reads .config the same way
from vmci.errors import UnusableInput

_CONFIG_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET_LINE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
MAX_CONFIG_BYTES = 16 << 20


class ConfigError(UnusableInput):
    """A config file that cannot be used; str() is one line naming the file and place."""


@dataclass
class KernelConfig:
    """A .config: option name -> raw value ("y", "m", "12", "0x1000", "\"text\"")."""

    values: Dict[str, str]
    source: str = "<config>"

    @classmethod
    def from_text(cls, text: str, source: str) -> KernelConfig:
        values: Dict[str, str] = {}
        # kconfig (scripts/kconfig/confdata.c conf_read_simple) ends a line at "\n" alone
        # and drops a "\r" before it; str.splitlines() would also split a quoted value at
        # \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029, so that it could set other options
        for number, line in enumerate(text.split("\n"), 1):
            line = line.strip(" \t\r")
            if not line or _UNSET_LINE.match(line) or line.startswith("#"):
                continue
            match = _CONFIG_LINE.match(line)
            if not match:
                raise ConfigError(f"{source}:{number}: not a config line: {line[:60]!r}")
            values[match.group(1)] = match.group(2)
        if not values:
            raise ConfigError(f"{source}: no CONFIG_ options in it; is it a kernel .config?")
        return cls(values, source)

    @classmethod
    def from_file(cls, path: str) -> KernelConfig:
        """The config in a file (`-`: standard input), plain or gzip-compressed."""
        from vmci.files.inputs import open_input, shown

        source, path = path, shown(path)
        try:
            with open_input(source) as handle:
                raw = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the config: {error.strerror or error}")
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; not a kernel config")
        if raw[:2] == b"\x1f\x8b":  # /proc/config.gz
            try:  # inflate no more than the limit: a small file can inflate to gigabytes
                with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
                    raw = stream.read(MAX_CONFIG_BYTES + 1)
            except (OSError, EOFError, zlib.error) as error:
                raise ConfigError(f"{path}: damaged gzip data: {error}")
            if len(raw) > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path}: inflates to more than {MAX_CONFIG_BYTES} bytes; not a kernel config")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise ConfigError(f"{path}:{line}: not a text config (invalid UTF-8)")
        return cls.from_text(text, path)

    def is_enabled(self, name: str) -> bool:
        """#ifdef semantics: true for y and for any value; false for m and unset."""
        return config_set(self.values, name)

    def int_value(self, name: str) -> int:
        """#if semantics: y is 1, numbers are themselves, anything else is 0."""
        return config_number(self.values, name)

    def with_changes(self, changes: Dict[str, Optional[str]]) -> KernelConfig:
        values = dict(self.values)
        for name, value in changes.items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
        return KernelConfig(values, self.source)
