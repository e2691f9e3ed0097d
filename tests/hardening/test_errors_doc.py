"""docs/errors.md shows what vmci really prints: every example in it is produced again
from its input (tests/hardening/error_catalog.py), with its exit status, and the
document covers every case of the catalog. `python tests/hardening/error_catalog.py >
docs/errors.md` rewrites it after a message changes."""
import os
import re

import pytest

import error_catalog as C
from hardening_support import ROOT, have_gcc

pytestmark = pytest.mark.skipif(not have_gcc(), reason="gcc is not installed")

with open(os.path.join(ROOT, "docs", "errors.md"), encoding="utf-8") as handle:
    DOC = handle.read()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return C.fixture_bytes(str(tmp_path_factory.mktemp("errors-fixture")))


@pytest.mark.parametrize("index", range(len(C.CASES)), ids=[f"{i}-{c.pick[:30]}" for i, c in enumerate(C.CASES)])
def test_example_is_what_vmci_prints(index, image, tmp_path):
    case = C.CASES[index]
    code, line = C.example(case, str(tmp_path), image)
    assert code == case.expect_code, line
    assert "Traceback" not in line
    # offsets and sizes inside the fixture image follow the path it was compiled in
    # (DWARF records it), so numbers are compared as placeholders
    def shape(text):
        return re.sub(r"0x[0-9a-f]+|\b\d+\b", "N", text)
    assert shape(f"  $ vmci {' '.join(case.command)}\n  {C.shorten(line)}\n") in shape(DOC), \
        f"docs/errors.md lacks (or has another version of):\n{line}\n(regenerate it: see this file's doc)"


def test_the_document_is_the_catalog():
    assert DOC.startswith(C.HEADER)
    assert DOC.count("  $ vmci ") == len(C.CASES)
