"""Load a specs directory: read, validate against the schema, build the model.

This is the front of the pipeline every subcommand starts with. Files that fail the
schema are reported and left out of the model, so one broken file does not hide the
problems of the others.
"""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

from .load import Problem
from .model import SpecSet, build_consumers, build_emitter, spec_files
from .resources import schema_dir, specs_dir

# What `--specs` means when not given: the specs embedded in the package. Resolved when
# used, so that a broken installation is reported by the command that needs them.
DEFAULT_SPECS_DIR = None


def load_specs(directory: Optional[str] = None) -> Tuple[SpecSet, List[Problem]]:
    """The specs of `directory` (default: the embedded specs) and the problems found."""
    directory = directory or specs_dir()
    # imported here: a warm `resolve` takes the model from the cache and needs neither
    from .load import SpecLoadError, load_document
    from .schema import validate_document

    problems: List[Problem] = []
    if not os.path.isdir(directory):
        return SpecSet([], directory=directory), [Problem(directory, 1, 1, "no such specs directory")]
    emitters = []
    paths = spec_files(directory)
    if not paths:
        problems.append(Problem(directory, 1, 1, "no spec files (*.yaml) in this directory"))
    for path in paths:
        shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
        try:
            shown.encode("utf-8")
        except UnicodeEncodeError:  # a byte the file system gave back as a surrogate
            problems.append(Problem(shown.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace"), 1, 1,
                                    "the file name is not valid UTF-8; generated files name their spec, so spec "
                                    "file names must be text"))
            continue
        try:
            document = load_document(path, shown)
        except SpecLoadError as error:
            problems.append(error.problem)
            continue
        found = validate_document(document)
        problems += found
        if not found:
            emitters.append(build_emitter(document, problems))
    specs = SpecSet(emitters, directory=directory)
    consumers_path = os.path.join(directory, "consumers.yaml")
    if os.path.exists(consumers_path):
        try:
            document = load_document(consumers_path, os.path.relpath(consumers_path))
            specs.consumers, specs.tools = build_consumers(document, problems)
        except SpecLoadError as error:
            problems.append(error.problem)
    return specs, problems


def load_specs_cached(directory: Optional[str], cache_dir: str) -> Tuple[SpecSet, List[Problem]]:
    """load_specs, remembered across runs: schema validation dominates a warm `resolve`.

    The cache key hashes every spec file, the schema and the modules that build the model,
    so an edit to any of them rebuilds it. Only specs without problems are remembered.
    """
    import hashlib
    import pickle

    directory = directory or specs_dir()
    schema = schema_dir()
    digest = hashlib.sha256()
    # spec places are shown relative to the working directory, so it is part of the key
    digest.update(os.getcwd().encode() + b"\0")
    here = os.path.dirname(os.path.abspath(__file__))
    inputs = spec_files(directory) + [os.path.join(directory, "consumers.yaml")] + \
        sorted(os.path.join(schema, n) for n in os.listdir(schema)) + \
        [os.path.join(here, n) for n in ("model.py", "kconfig.py", "cexpr.py", "load.py", "schema.py", "specset.py")]
    for path in inputs:
        digest.update(path.encode() + b"\0")
        try:
            with open(path, "rb") as handle:
                digest.update(handle.read())
        except OSError:
            digest.update(b"<absent>")
    cache_path = os.path.join(cache_dir, f"specs-{digest.hexdigest()[:32]}.pickle")
    try:
        with open(cache_path, "rb") as handle:
            return pickle.load(handle), []
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError):
        pass
    specs, problems = load_specs(directory)
    if not problems:
        from .output import write_atomically
        try:
            os.makedirs(cache_dir, exist_ok=True)
            write_atomically(cache_path, pickle.dumps(specs, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass  # a read-only cache is no reason to fail
    return specs, problems
