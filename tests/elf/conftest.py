"""Fixtures for the vmlinux reader tests (helpers live in elf_support)."""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elf_support import build_fixture  # noqa: E402  (one module, as the tests import it)


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("elf-fixtures"))


@pytest.fixture(scope="session")
def native_exe(fixture_dir):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    return build_fixture(fixture_dir)
