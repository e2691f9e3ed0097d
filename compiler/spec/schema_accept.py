"""The spec schema compiled into plain Python that answers one question: does a
document satisfy it?

jsonschema walks the schema anew for every value it checks (a validator object per
step, references looked up by URI, `unevaluatedProperties` re-walking every `allOf`
branch of an entry): checking the 11 shipped spec files cost 0.13 s, with 0.05 s more
to import it, in every run that reads a spec file it has not seen (the first run, and
the one after an edit). Compiled once into closures, the same check costs a few
milliseconds. A document this accepts needs nothing more; one it refuses goes to
jsonschema (spec/schema.py), whose errors name the place and the rule, so the messages
are jsonschema's as before.

The compiler takes only the keywords it implements, each with jsonschema's semantics
(draft 2020-12, as jsonschema 4 implements it: the types of its type checker, its
`equal` that keeps `true` apart from `1`, its annotation rules for
`unevaluatedProperties`), and raises UnsupportedSchema on any other: a schema that
grows a keyword it does not know is then checked by jsonschema alone, never judged by a
partial reading of it. tests/spec/test_schema_accept.py holds both to the same answer
on the shipped specs and on mutations of them.
"""
from __future__ import annotations

import operator
import re
from typing import Any, Callable, Dict, FrozenSet, List, Optional

# A compiled subschema: None when the instance fails it, else the names of the
# instance's properties it evaluated (what `unevaluatedProperties` beside it may skip).
Evaluated = Optional[FrozenSet[str]]
Check = Callable[[Any], Evaluated]

NOTHING: FrozenSet[str] = frozenset()

# keywords that only annotate: they never change whether an instance is valid
_ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default",
                "deprecated", "readOnly", "writeOnly"}
_KEYWORDS = {"type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
             "minItems", "uniqueItems", "items", "required", "dependentRequired", "properties",
             "additionalProperties", "unevaluatedProperties", "$ref", "allOf", "anyOf", "oneOf",
             "not", "if", "then", "else"} | _ANNOTATIONS


class UnsupportedSchema(Exception):
    """The schema uses what this compiler does not implement (jsonschema checks alone)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# jsonschema's type checker (jsonschema/_types.py): an integer is an int that is not a
# bool, or a float with no fraction (1.0)
_TYPES: Dict[str, Callable[[Any], bool]] = {
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: (isinstance(value, int) and not isinstance(value, bool))
    or (isinstance(value, float) and value.is_integer()),
    "null": lambda value: value is None,
    "number": _is_number,
    "object": lambda value: isinstance(value, dict),
    "string": lambda value: isinstance(value, str),
}


def json_equal(one: Any, two: Any) -> bool:
    """Equality as JSON Schema means it (jsonschema's _utils.equal): true is not 1, and
    lists and objects compare member by member so."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(json_equal(one[key], two[key]) for key in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return bool(one == two)


def _unique(items: List[Any]) -> bool:
    return all(not json_equal(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items)))


def _accept(instance: Any) -> Evaluated:
    return NOTHING


def _refuse(instance: Any) -> Evaluated:
    return None


class _Compiler:
    def __init__(self, root: dict, pattern: Callable[[str], Any]):
        self.root = root
        self.pattern = pattern  # a schema pattern -> a compiled Python regex (ECMA-262 `$`)
        self.refs: Dict[str, Check] = {}

    def ref(self, reference: Any) -> Check:
        if not isinstance(reference, str) or not re.fullmatch(r"#/\$defs/[A-Za-z0-9_-]+", reference):
            raise UnsupportedSchema(f"$ref {reference!r}")
        if reference not in self.refs:
            compiled: List[Check] = []
            # recursion-safe: the name is known before the target is compiled
            self.refs[reference] = lambda instance: compiled[0](instance)
            definitions = self.root.get("$defs")
            name = reference.rsplit("/", 1)[1]
            if not isinstance(definitions, dict) or name not in definitions:
                raise UnsupportedSchema(f"$ref {reference!r} names no definition")
            compiled.append(self.node(definitions[name]))
        return self.refs[reference]

    def nodes(self, schemas: Any) -> List[Check]:
        if not isinstance(schemas, list) or not schemas:
            raise UnsupportedSchema(f"{schemas!r} is not a non-empty list of schemas")
        return [self.node(schema) for schema in schemas]

    def node(self, schema: Any) -> Check:
        if schema is True:
            return _accept
        if schema is False:
            return _refuse
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"{schema!r} is not a schema")
        unknown = set(schema) - _KEYWORDS
        if unknown:
            raise UnsupportedSchema(f"keywords {sorted(unknown)}")
        tests = self._tests(schema)
        properties = schema.get("properties")
        if properties is not None:
            if not isinstance(properties, dict):
                raise UnsupportedSchema("properties")
            properties = {name: self.node(sub) for name, sub in properties.items()}
        additional = self.node(schema["additionalProperties"]) if "additionalProperties" in schema else None
        unevaluated = self.node(schema["unevaluatedProperties"]) if "unevaluatedProperties" in schema else None
        appliers = self._appliers(schema)

        def check(instance: Any) -> Evaluated:
            for test in tests:
                if not test(instance):
                    return None
            if not isinstance(instance, dict):
                for apply in appliers:
                    if apply(instance) is None:
                        return None
                return NOTHING
            evaluated = set()
            if properties is not None or additional is not None:
                for name, value in instance.items():
                    sub = properties.get(name) if properties is not None else None
                    if sub is None:
                        sub = additional
                    if sub is not None:
                        if sub(value) is None:
                            return None
                        evaluated.add(name)
            for apply in appliers:
                found = apply(instance)
                if found is None:
                    return None
                evaluated |= found
            if unevaluated is not None:
                for name, value in instance.items():
                    if name not in evaluated and unevaluated(value) is None:
                        return None
                return frozenset(instance)
            return frozenset(evaluated)

        return check

    def _tests(self, schema: dict) -> List[Callable[[Any], bool]]:
        """The keywords that only say yes or no of the instance itself."""
        tests: List[Callable[[Any], bool]] = []
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not names or any(name not in _TYPES for name in names):
                raise UnsupportedSchema(f"type {schema['type']!r}")
            kinds = [_TYPES[name] for name in names]
            tests.append(lambda value: any(kind(value) for kind in kinds))
        if "enum" in schema:
            choices = schema["enum"]
            if not isinstance(choices, list):
                raise UnsupportedSchema("enum")
            tests.append(lambda value: any(json_equal(value, choice) for choice in choices))
        if "const" in schema:
            constant = schema["const"]
            tests.append(lambda value: json_equal(value, constant))
        if "pattern" in schema:
            if not isinstance(schema["pattern"], str):
                raise UnsupportedSchema("pattern")
            try:
                regex = self.pattern(schema["pattern"])
            except re.error as error:
                raise UnsupportedSchema(f"pattern {schema['pattern']!r}: {error}")
            tests.append(lambda value: not isinstance(value, str) or regex.search(value) is not None)
        for keyword, holds in (("minLength", operator.ge), ("maxLength", operator.le)):
            if keyword in schema:
                tests.append(_bounded(str, len, holds, _count(schema[keyword], keyword)))
        for keyword, holds in (("minimum", operator.ge), ("maximum", operator.le)):
            if keyword in schema:
                if not _is_number(schema[keyword]):
                    raise UnsupportedSchema(keyword)
                tests.append(_bounded((int, float), _plain_number, holds, schema[keyword]))
        if "minItems" in schema:
            least = _count(schema["minItems"], "minItems")
            tests.append(lambda value: not isinstance(value, list) or len(value) >= least)
        if schema.get("uniqueItems") is True:
            tests.append(lambda value: not isinstance(value, list) or _unique(value))
        elif schema.get("uniqueItems", False) is not False:
            raise UnsupportedSchema("uniqueItems")
        if "items" in schema:
            item = self.node(schema["items"])
            tests.append(lambda value: not isinstance(value, list) or all(item(each) is not None for each in value))
        if "required" in schema:
            required = schema["required"]
            if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
                raise UnsupportedSchema("required")
            tests.append(lambda value: not isinstance(value, dict) or all(name in value for name in required))
        if "dependentRequired" in schema:
            dependent = schema["dependentRequired"]
            if not isinstance(dependent, dict) or not all(
                    isinstance(names, list) and all(isinstance(name, str) for name in names)
                    for names in dependent.values()):
                raise UnsupportedSchema("dependentRequired")
            pairs = list(dependent.items())
            tests.append(lambda value: not isinstance(value, dict) or all(
                all(name in value for name in names) for present, names in pairs if present in value))
        return tests

    def _appliers(self, schema: dict) -> List[Check]:
        """The keywords that apply subschemas to the instance in place: each gives the
        properties its valid subschemas evaluated (jsonschema's
        find_evaluated_property_keys_by_schema)."""
        appliers: List[Check] = []
        if "$ref" in schema:
            appliers.append(self.ref(schema["$ref"]))
        if "allOf" in schema:
            every = self.nodes(schema["allOf"])

            def all_of(instance: Any) -> Evaluated:
                evaluated: FrozenSet[str] = NOTHING
                for sub in every:
                    found = sub(instance)
                    if found is None:
                        return None
                    evaluated |= found
                return evaluated
            appliers.append(all_of)
        if "anyOf" in schema:
            some = self.nodes(schema["anyOf"])

            def any_of(instance: Any) -> Evaluated:
                found = [evaluated for evaluated in (sub(instance) for sub in some) if evaluated is not None]
                return frozenset().union(*found) if found else None
            appliers.append(any_of)
        if "oneOf" in schema:
            branches = self.nodes(schema["oneOf"])

            def one_of(instance: Any) -> Evaluated:
                found = [evaluated for evaluated in (sub(instance) for sub in branches) if evaluated is not None]
                return found[0] if len(found) == 1 else None
            appliers.append(one_of)
        if "not" in schema:
            negated = self.node(schema["not"])
            appliers.append(lambda instance: NOTHING if negated(instance) is None else None)
        if "if" in schema:
            condition = self.node(schema["if"])
            then = self.node(schema["then"]) if "then" in schema else _accept
            otherwise = self.node(schema["else"]) if "else" in schema else _accept

            def if_then_else(instance: Any) -> Evaluated:
                held = condition(instance)
                if held is None:
                    return otherwise(instance)
                found = then(instance)
                return None if found is None else held | found
            appliers.append(if_then_else)
        elif "then" in schema or "else" in schema:
            pass  # without `if`, JSON Schema ignores them
        return appliers


def _plain_number(value: Any) -> Any:
    return None if isinstance(value, bool) else value  # a bool is no number to JSON Schema


def _bounded(kind: Any, measure: Callable[[Any], Any], holds: Callable[[Any, Any], bool],
             bound: Any) -> Callable[[Any], bool]:
    """A bound on a measure of the instances of `kind` (others pass, as JSON Schema says)."""
    def test(value: Any) -> bool:
        if not isinstance(value, kind):
            return True
        measured = measure(value)
        return measured is None or holds(measured, bound)
    return test


def _count(value: Any, keyword: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UnsupportedSchema(keyword)
    return value


def compile_acceptor(schema: Any, pattern: Callable[[str], Any]) -> Callable[[Any], bool]:
    """A function that says whether an instance satisfies `schema` exactly as jsonschema
    (Draft 2020-12) would; `pattern` compiles a schema pattern to a Python regex.
    UnsupportedSchema when the schema goes beyond what is compiled here."""
    check = _Compiler(schema if isinstance(schema, dict) else {}, pattern).node(schema)
    return lambda instance: check(instance) is not None
