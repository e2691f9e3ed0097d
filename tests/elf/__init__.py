"""Tests of vmci.elf (a package, so that this directory's conftest is
not imported as the top-level module ``conftest`` of tests/)."""
