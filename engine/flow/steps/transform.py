"""map, validate and check: turn a record into the canonical shape and hold it to the rules."""

from __future__ import annotations

from typing import Any

from engine.errors import Problem, RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import (
    ACTIONS,
    ENTITY,
    EXPR,
    ON_RECORD,
    ROLE,
    TEMPLATE,
    Step,
    _check_mapping,
    _check_role,
    _problem,
)
from engine.lang.expr import ExprEvalError, Scope
from engine.lang.mapping import _truthy
from engine.project.yamlpos import format_path


@STEPS.register("map", options_schema={
    "type": "object", "additionalProperties": False,
    "anyOf": [{"required": ["mapping"]}, {"required": ["entity", "from"]}, {"required": ["entity", "to"]}],
    "properties": {
        "mapping": {"type": "string", "description": "Mapping name (instead of entity:, for a merchant's own flows)."},
        "entity": ENTITY,
        "from": {**ROLE, "description": "Map the entity from this role's records to canonical, with the mapping "
                                        "its connector declares (entities.<entity>.to_canonical)."},
        "to": {**ROLE, "description": "Map canonical records to this role's write body "
                                      "(entities.<entity>.from_canonical)."},
        "market": {**ROLE, "description": "Whose region and currency the mapping sees as var('region')/var('currency')."},
        "actions": ACTIONS,
    }}, doc="Apply a compiled mapping. Field errors send the record to the dead-letter queue.")
class Map(Step):
    kind = "map"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.plan = run.plans[options["mapping"]]
        self.base_context = run.mapping_context(options.get("market"))
        self.canonical = bool((self.plan.target or {}).get("canonical"))

    def process(self, record: Record, run: RunContext) -> Record | None:
        result = self.plan.apply(record.data, {**self.base_context, **record.context})
        if result.errors:
            raise RecordError(f"mapping {self.plan.name} failed on {len(result.errors)} field(s)", step="map",
                              field_errors=[e.as_dict() for e in result.errors])
        record.data = result.output
        if self.canonical:
            record.canonical = result.output
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_mapping(options, "mapping", ctx) + _check_role(options, "market", ctx)
        for key in ("from", "to"):
            found += _check_role(options, key, ctx)
        return found




@STEPS.register("validate", options_schema={
    "type": "object", "additionalProperties": False, "required": ["entity"],
    "properties": {"entity": {"type": "string", "description": "Canonical entity name."}},
}, doc="Check the record against its canonical JSON Schema; every violation is a field error.")
class Validate(Step):
    kind = "validate"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.validator = run.schemas.canonical.validator(options["entity"])

    def process(self, record: Record, run: RunContext) -> Record | None:
        errors = sorted(self.validator.iter_errors(record.data), key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            raise RecordError(f"{len(errors)} field(s) do not fit the canonical {self.options['entity']}",
                              step="validate", field_errors=[
                                  {"field": format_path(e.absolute_path) or "(record)", "message": e.message}
                                  for e in errors])
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        names = ctx["schemas"].canonical.entity_names()
        if options["entity"] not in names:
            return [_problem(options, "entity", f"unknown canonical entity {options['entity']!r}",
                             "known: " + ", ".join(names))]
        return []




RULE = {
    "type": "object", "additionalProperties": False, "required": ["name", "message"],
    "oneOf": [{"required": ["assert"]}, {"required": ["violations"]}],
    "properties": {
        "name": {"type": "string", "description": "The rule's name, shown with its message in the dead letter."},
        "when": {**EXPR, **ON_RECORD, "description": "Apply the rule only when this is truthy (e.g. a region test)."},
        "assert": {**EXPR, **ON_RECORD, "description": "Must be truthy for the record to pass."},
        "violations": {**EXPR, **ON_RECORD, "description": "Instead of assert: the offending items (a list); the record passes "
                                              "when it is empty or null, and the message sees them as "
                                              "ctx.violations."},
        "field": {"type": "string", "description": "The field the error is reported on."},
        "message": {**TEMPLATE, **ON_RECORD, "description": "Shown in the dead letter; {{ }} templates allowed."},
    },
}


@STEPS.register("check", options_schema={
    "type": "object", "additionalProperties": False,
    "anyOf": [{"required": ["rules"]}, {"required": ["on", "entity"]}],
    "properties": {
        "on": {**ROLE, "description": "Apply the channel rules that this role's connector declares for the entity "
                                      "(entities.<entity>.rules), before the flow's own rules."},
        "entity": ENTITY,
        "market": {**ROLE, "description": "Whose region the rules see as var('region') (default: on)."},
        "rules": {"type": "array", "minItems": 1, "items": RULE,
                  "description": "The flow's own rules, checked after the channel's."},
        "actions": ACTIONS,
    }}, doc="Business rules (channel listing requirements, region limits) checked before anything is sent.")
class Check(Step):
    kind = "check"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.context = run.mapping_context(options.get("market"))
        self.rules = [
            (rule["name"], run.exprs.jmespath(rule["when"]) if rule.get("when") else None,
             run.exprs.jmespath(rule.get("assert") or rule["violations"]), "violations" in rule,
             rule.get("field", ""), run.exprs.template(rule["message"]))
            for rule in options["rules"]
        ]

    def process(self, record: Record, run: RunContext) -> Record | None:
        context = {**self.context, **record.context}
        scope = Scope(record.data, record.data, None, context)
        failures = []
        for name, when, test, lists_violations, field, message in self.rules:
            try:
                if when is not None and not _truthy(when.evaluate(scope)):
                    continue
                found = test.evaluate(scope)
                passed = not found if lists_violations else _truthy(found)
                shown = Scope(record.data, record.data, None, {**context, "violations": found}) \
                    if lists_violations else scope
                message_text = message.evaluate(shown) if not passed else ""
            except ExprEvalError as exc:
                passed, message_text = False, f"rule could not be evaluated: {exc}"
            if not passed:
                failures.append({"field": field or "(record)", "rule": name, "message": message_text})
        if failures:
            raise RecordError(f"{len(failures)} rule(s) failed", step="check", field_errors=failures)
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        # The rules' expressions are compiled by validate's pass over the options schema.
        return _check_role(options, "market", ctx) + _check_role(options, "on", ctx)
