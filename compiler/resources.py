"""Where the package's own data lives: the embedded specs, their schema, the templates.

They ship inside the installed package (`vmci.specs`, `vmci.templates`; in a checkout
the top-level `specs/` and `templates/` folders, mapped by pyproject.toml), and are found
through the import system, so an installed wheel and a checkout behave alike. A part
missing from the installation is an error that says so, never a silently smaller tool.
"""
from __future__ import annotations

import importlib.util
import os
from vmci.errors import UnusableInput


class PackageDataMissing(UnusableInput):
    """The installation lacks a part vmci ships with it (a broken or partial install)."""


def _package_dir(package: str, what: str) -> str:
    # the package's own folder, as importlib.resources.files() gives it for a package on
    # the file system, found without importing importlib.resources (and with it tempfile,
    # shutil, zipfile: a few milliseconds of every command that reads the embedded specs)
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = locations[0] if len(locations) == 1 else ""
    if not path or not os.path.isdir(path):
        raise PackageDataMissing(f"this installation of vmci has no {what} (package {package}); reinstall vmci")
    return path


def default_cache_dir() -> str:
    """Where vmci keeps what it learned from images and specs: $XDG_CACHE_HOME/vmci."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vmci")


def specs_dir() -> str:
    """The embedded specs directory (common.yaml, printk.yaml, arch/, schema/, consumers.yaml)."""
    return _package_dir("vmci.specs", "embedded specs")


def schema_dir() -> str:
    path = os.path.join(specs_dir(), "schema")
    if not os.path.isdir(path):
        raise PackageDataMissing("this installation of vmci has no spec schema (vmci.specs/schema); reinstall vmci")
    return path


def templates_dir() -> str:
    return _package_dir("vmci.templates", "templates")
