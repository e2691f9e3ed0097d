"""Load a specs directory: read, validate against the schema, build the model.

This is the front of the pipeline every subcommand starts with. Files that fail the
schema are reported and left out of the model, so one broken file does not hide the
problems of the others.
"""
from __future__ import annotations

import os
from typing import List, Tuple

from .load import Problem, SpecLoadError, load_document
from .model import SpecSet, build_consumers, build_emitter, spec_files
from .schema import validate_document

DEFAULT_SPECS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")


def load_specs(directory: str = DEFAULT_SPECS_DIR) -> Tuple[SpecSet, List[Problem]]:
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
