"""JSON Schemas: validating files against their kind's schema with file:line:col, and reading the
canonical entity schemas (for mapping checks and the validate step).

The schemas in schemas/ are the one definition of every file format; nothing else restates them.
Their pluggable parts (auth, paginator, rate-limit and step kinds, value forms, casts) are
generated from the registered kinds by engine/project/schema_gen.py (`connector schemas --write`).
"""

from __future__ import annotations

import difflib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from engine.errors import Problem
from engine.project.resources import schemas_dir
from engine.project.secrets import reference_issue, shape_of_secret
from engine.project.yamlpos import field_path, locate

FILE_KINDS = ("connector", "mapping", "flow", "merchant", "test", "rules", "price_rules")


class SchemaSet:
    """All schemas of one schemas/ folder, loaded once, with a shared $ref registry."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or schemas_dir()
        resources = []
        self.by_file: dict[str, dict] = {}
        for path in sorted(self.folder.rglob("*.schema.json")):
            contents = json.loads(path.read_text(encoding="utf-8"))
            self.by_file[str(path.relative_to(self.folder))] = contents
            if "$id" in contents:
                resources.append((contents["$id"], Resource.from_contents(contents)))
        self.registry: Registry = Registry().with_resources(resources)
        self._validators: dict[str, Draft202012Validator] = {}

    def file_schema(self, kind: str) -> dict | None:
        return self.by_file.get(f"{kind}.schema.json")

    def validator(self, key: str, schema: dict) -> Draft202012Validator:
        if key not in self._validators:
            self._validators[key] = Draft202012Validator(schema, registry=self.registry)
        return self._validators[key]

    # ------------------------------------------------------------------ file documents

    def check_document(self, doc: Any, kind: str) -> list[Problem]:
        schema = self.file_schema(kind)
        if schema is None:
            return [Problem(f"no schema for kind {kind!r}", getattr(doc, "loc", None))]
        validator = self.validator(f"file:{kind}", schema)
        problems = [_problem(doc, error) for error in validator.iter_errors(doc)]
        problems.sort(key=lambda p: (p.location.line, p.location.col) if p.location else (0, 0))
        return problems

    # ------------------------------------------------------------------ canonical entities

    @cached_property
    def canonical(self) -> CanonicalSchemas:
        return CanonicalSchemas(self)


def _narrow(error: ValidationError) -> tuple[ValidationError, list[str]]:
    """For anyOf/oneOf, the error of the branch that fits the value's type.

    A mapping given where "a string or a form" is allowed is judged against the form, so a bad
    `cast:` says so instead of "expected string". When no branch fits the value's type, the
    types the branches accept are returned for one "expected X or Y" message.
    """
    while error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        fitting = [subs for subs in branches.values()
                   if not any(s.validator == "type" and not s.relative_path for s in subs)]
        if not fitting:
            types = [t for subs in branches.values() for s in subs if s.validator == "type" and not s.relative_path
                     for t in (s.validator_value if isinstance(s.validator_value, list) else [s.validator_value])]
            return error, list(dict.fromkeys(types))
        error = best_match(fitting[0] if len(fitting) == 1 else error.context) or error
    return error, []


def _problem(doc: Any, error: ValidationError) -> Problem:
    outer = error
    error, types = _narrow(error)
    path = list(error.absolute_path)
    where = field_path(doc, path) or "(top level)"
    if types:
        hint = ("the value is empty; " if error.instance is None else "") + outer.schema.get("description", "")
        return Problem(f"expected {' or '.join(types)}, got {_type_name(error.instance)}", locate(doc, path),
                       where, hint.strip())
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted((error.schema.get("properties") or {}).keys())
        extras = [k for k in error.instance if k not in allowed]
        key = extras[0] if extras else None
        close = difflib.get_close_matches(str(key), allowed, n=1) if key is not None else []
        hint = f"did you mean {close[0]!r}?" if close else ("allowed keys: " + ", ".join(allowed) if allowed else "")
        empty = _empty_key_before(error.instance, key) if not close else None
        if empty is not None:
            return Problem(f"bad indentation: {empty!r} has nothing under it, because the lines after it are "
                           f"indented like it (so {key!r} lands beside it, where it is unknown)",
                           locate(doc, [*path, empty], key=True), field_path(doc, [*path, empty]),
                           f"indent the lines that belong to {empty!r} by 2 more spaces than {empty!r}")
        return Problem(f"unknown key {key!r}", locate(doc, [*path, key], key=True),
                       field_path(doc, [*path, key]), hint)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return Problem(f"missing required key {missing!r}", locate(doc, path), where,
                       f"add `{missing}:` here")
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Problem(f"expected {expected}, got {_type_name(error.instance)}", locate(doc, path), where,
                       _type_hint(expected, error.instance))
    if error.validator == "enum":
        options = ", ".join(map(str, error.validator_value))
        return Problem(f"{error.instance!r} is not one of the allowed values", locate(doc, path), where,
                       f"use one of: {options}")
    if error.validator == "pattern":
        hint = error.schema.get("description", "") or f"must match {error.validator_value}"
        if error.schema.get("writeOnly"):  # a secret's slot: whatever was typed there may be a secret
            issue = reference_issue(error.instance)
            if issue is not None:
                return Problem(issue[0], locate(doc, path), where, issue[1])
            return Problem(f"not a secret reference (got {shape_of_secret(error.instance)})", locate(doc, path),
                           where, hint + "; literal secrets are refused")
        if "propertyNames" in error.relative_schema_path:  # a key of the wrong form: point at the key
            return Problem(f"the key {error.instance!r} has the wrong form", locate(doc, [*path, error.instance],
                           key=True), field_path(doc, [*path, error.instance]), hint)
        return Problem(f"{error.instance!r} has the wrong form", locate(doc, path), where, hint)
    if error.validator == "not" and isinstance(error.validator_value, dict) and "required" in error.validator_value:
        keys = " and ".join(f"`{k}`" for k in error.validator_value["required"])
        return Problem(f"{keys} cannot be used here", locate(doc, path), where,
                       error.schema.get("description", "") or outer.schema.get("description", ""))
    return Problem(error.message, locate(doc, path), where, error.schema.get("description", ""))


def _empty_key_before(mapping: Any, key: Any) -> Any:
    """The key without a value written just before `key`, at the same column: a block that was
    meant to hold `key` but was not indented under it."""
    locs = getattr(mapping, "key_locs", None)
    if not locs or key not in locs:
        return None
    keys = list(mapping)
    index = keys.index(key)
    if index == 0:
        return None
    previous = keys[index - 1]
    before, here = locs.get(previous), locs[key]
    if mapping[previous] is None and before is not None and before.col == here.col and before.line < here.line:
        return previous
    return None


def _type_name(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (dict, "a mapping"), (list, "a list"), (str, "text"),
                       (int, "an integer"), (float, "a number"), (type(None), "null")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _type_hint(expected: str, value: Any) -> str:
    if "string" in expected and isinstance(value, int | float | bool):
        return "quote the value to make it text"
    if expected == "object" and isinstance(value, str | list):
        return "this key takes nested `name: value` keys, indented on the following lines"
    if expected == "array" and not isinstance(value, list):
        return "write a list: [a, b] or one '- item' per line"
    return ""


class CanonicalSchemas:
    """Navigate canonical entity schemas (following $ref) for mapping checks."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self._entities: dict[str, dict] = {}
        for name, contents in schemas.by_file.items():
            if name.startswith("canonical/") and not name.endswith("common.schema.json"):
                self._entities[Path(name).name.removesuffix(".schema.json")] = contents

    def entity_names(self) -> list[str]:
        return sorted(self._entities)

    def entity(self, name: str) -> Any:
        contents = self._entities.get(name)
        if contents is None:
            return None
        return (contents, self.schemas.registry.resolver(base_uri=contents.get("$id", "")))

    def validator(self, name: str) -> Draft202012Validator:
        return self.schemas.validator(f"canonical:{name}", self._entities[name])

    # nodes are (schema contents, resolver) pairs so relative $refs keep resolving

    def _deref(self, node: Any) -> list[Any]:
        contents, resolver = node
        seen = 0
        while isinstance(contents, dict) and "$ref" in contents and seen < 20:
            resolved = resolver.lookup(contents["$ref"])
            contents, resolver = resolved.contents, resolved.resolver
            seen += 1
        branches = [(contents, resolver)]
        if isinstance(contents, dict):
            for combinator in ("allOf", "anyOf", "oneOf"):
                for sub in contents.get(combinator, []):
                    branches.extend(self._deref((sub, resolver)))
        return branches

    def property(self, node: Any, name: str) -> Any:
        for contents, resolver in self._deref(node):
            props = contents.get("properties") if isinstance(contents, dict) else None
            if props and name in props:
                return (props[name], resolver)
        return None

    def property_names(self, node: Any) -> list[str]:
        names: set[str] = set()
        for contents, _ in self._deref(node):
            if isinstance(contents, dict):
                names.update((contents.get("properties") or {}).keys())
        return sorted(names)

    def is_open(self, node: Any) -> bool:
        """True when any key is allowed (free-form objects such as attributes or external ids)."""
        for contents, _ in self._deref(node):
            if isinstance(contents, dict) and (contents.get("properties") or contents.get("additionalProperties") is False):
                return False
        return True

    def items(self, node: Any) -> Any:
        if node is None:
            return None
        for contents, resolver in self._deref(node):
            if isinstance(contents, dict) and isinstance(contents.get("items"), dict):
                return (contents["items"], resolver)
        return None

    def required(self, node: Any) -> list[str]:
        if node is None:
            return []
        names: list[str] = []
        for contents, _ in self._deref(node):
            if isinstance(contents, dict):
                names.extend(contents.get("required", []))
        return names
