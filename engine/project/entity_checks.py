"""A connector's `entities:` block checked on its own, before any merchant binds it: every operation,
mapping and rules file it names exists, every expression compiles, and each read, write and look-up
has the shape of the step options it becomes. A mistake is reported at its line in the connector,
not first found when some merchant's flow resolves against it."""

from __future__ import annotations

from typing import Any

from engine.errors import Problem, did_you_mean
from engine.project.yamlpos import problem_at

EXPR_KEYS = ("key", "title", "skus")


def check_entities(validator: Any, document: Any) -> list[Problem]:
    from engine.flow import steps as _steps  # noqa: F401  (registers the step kinds)
    from engine.flow.registry import STEPS
    from engine.project.schemas import _problem

    doc = document.doc
    entities = doc.get("entities") or {}
    operations = list((doc.get("operations") or {}).keys())
    project = validator.project
    found: list[Problem] = []
    pull = STEPS.get("pull").options_schema["properties"]
    push = STEPS.get("push").options_schema["properties"]
    write_schema, lookup_schema = push["create"], push["lookup_existing"]
    read_schema = {"properties": {"detail": pull["detail"], "events": pull["events"],
                                  "changed_since": {"properties": {"from": pull["since"]["properties"]["from"]}}}}

    def operation(node: Any, key: str = "operation") -> None:
        name = node.get(key) if isinstance(node, dict) else None
        if name is not None and name not in operations:
            found.append(problem_at(node, [key], f"connector {document.name!r} has no operation {name!r}",
                             did_you_mean(name, operations)))

    def named(node: Any, key: str, kind: str) -> None:
        name = node.get(key)
        if name is not None and project.get(kind, name) is None:
            found.append(problem_at(node, [key], f"unknown {kind} {name!r}", did_you_mean(name, project.names(kind))))

    for decl in entities.values():
        if not isinstance(decl, dict):
            continue
        validator._compile_step_expressions(decl, {"properties": {k: {"x-expression": "jmespath"} for k in EXPR_KEYS}})
        named(decl, "to_canonical", "mapping")
        named(decl, "from_canonical", "mapping")
        named(decl, "rules", "rules")
        for read in (decl.get("reads") or {}).values():
            operation(read)
            operation(read.get("detail") or {})
            validator._compile_step_expressions(read, read_schema)
        for write in (decl.get("writes") or {}).values():
            errors = list(validator.schemas.validator("entity:write", write_schema).iter_errors(write))
            found.extend(_problem(write, error) for error in errors)
            if not errors:
                operation(write)
                named(write, "mapping", "mapping")
                validator._compile_step_expressions(write, write_schema)
        lookup = decl.get("lookup")
        if isinstance(lookup, dict):
            errors = list(validator.schemas.validator("entity:lookup", lookup_schema).iter_errors(lookup))
            found.extend(_problem(lookup, error) for error in errors)
            if not errors:
                operation(lookup)
                validator._compile_step_expressions(lookup, lookup_schema)
        if isinstance(decl.get("images"), dict):
            operation(decl["images"])
        if isinstance(decl.get("costs"), dict):
            operation(decl["costs"])
            validator._compile_step_expressions(decl["costs"], STEPS.get("price").options_schema["properties"]["costs"])
    return found
