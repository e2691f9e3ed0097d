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
