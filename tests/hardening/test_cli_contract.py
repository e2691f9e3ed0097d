"""Regression tests for inputs the fuzzers found: each ends in one line, never a traceback."""
import struct

import pytest

from elf_mutations import Mutator
from hardening_support import (FIXTURE_CONFIG, FIXTURE_SPECS, build_fixture, check_one_line_error, have_gcc,
                               run_cli)

needs_gcc = pytest.mark.skipif(not have_gcc(), reason="gcc is not installed")


@pytest.fixture(scope="module")
def fixture_image(tmp_path_factory):
    return build_fixture(str(tmp_path_factory.mktemp("hardening-fixture")))


def patched(fixture_image, tmp_path, patch, name="vmlinux"):
    with open(fixture_image, "rb") as handle:
        data = bytearray(handle.read())
    mutator = Mutator(bytes(data), dwarf=False)
    patch(mutator, data)
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


def symbol_entry(mutator, data, name):
    """File position of the .symtab entry of `name`."""
    symtab, strtab = mutator.sections[".symtab"], mutator.sections[".strtab"]
    for pos in range(symtab.offset, symtab.offset + symtab.size, 24):
        st_name, = struct.unpack_from("<I", data, pos)
        start = strtab.offset + st_name
        if st_name and data[start:data.index(b"\0", start)] == name.encode():
            return pos
    raise AssertionError(name)


def resolve(path, *extra):
    return run_cli(["resolve", "--vmlinux", path, "--config", FIXTURE_CONFIG, "--specs", FIXTURE_SPECS,
                    "--no-cache", *extra])


@needs_gcc
def test_damaged_symbol_table_found_while_reading_the_banner(fixture_image, tmp_path):
    """The banner is looked up in the symbol table before any entry is resolved."""
    def patch(mutator, data):
        struct.pack_into("<I", data, symbol_entry(mutator, data, "linux_banner"), 0x0FFFFFFF)  # its st_name
    path = patched(fixture_image, tmp_path, patch)
    check_one_line_error(resolve(path), "resolve", f"{path}: .symtab: symbol name offset 0xfffffff")


@needs_gcc
def test_control_characters_from_the_image_are_escaped(fixture_image, tmp_path):
    """A damaged image's section names reach the error line; an escape sequence there
    would drive the user's terminal. They are printed as \\xNN."""
    def patch(mutator, data):
        shstrtab = mutator.sections[".shstrtab"]
        start = data.index(b".symtab\0", shstrtab.offset)
        data[start:start + 7] = b"\x1b[2J\x07\r\n"[:7]
        struct.pack_into("<I", data, symbol_entry(mutator, data, "linux_banner"), 0x0FFFFFFF)
    path = patched(fixture_image, tmp_path, patch)
    result = resolve(path)
    check_one_line_error(result, "resolve", f"{path}: \\x1b[2J\\x07\\r : symbol name offset 0xfffffff")
    assert not [c for c in result.err[:-1] if ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0]
