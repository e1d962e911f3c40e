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
        # The mapped connection's own settings for its mappings (its connector's mapping_settings),
        # under the market's region and currency.
        own = run.connection_settings(options.get("from") or options.get("to"))
        self.base_context = {**own, **run.mapping_context(options.get("market"))}
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
    """The record is first held to the entity's schema compiled into Python code (fastjsonschema:
    one generated function, no per-record $ref look-ups), which says only whether it fits. Only a
    record that does not fit is walked again by jsonschema, for the full list of field errors;
    so the errors are jsonschema's, and a fitting record costs a few dict and regex checks.

    fastjsonschema knows drafts 4 to 7. A schema is compiled only when every keyword in it means
    the same in draft 7 as in 2020-12 (`FAST_KEYWORDS`, no `$ref` with validating siblings);
    other schemas, and a compile failure, leave the step on jsonschema alone.
    """

    kind = "validate"
    # Keywords whose draft-7 meaning (fastjsonschema's) is their 2020-12 meaning; `items` only as
    # one schema (an array of schemas is 2020-12's prefixItems), `format` is not asserted by either.
    FAST_KEYWORDS = frozenset({
        "type", "properties", "additionalProperties", "required", "items", "enum", "const", "pattern",
        "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "patternProperties",
        "propertyNames", "anyOf", "oneOf", "allOf", "not", "$ref", "$defs", "definitions", "format",
        "$schema", "$id", "$comment", "title", "description", "examples", "default", "deprecated",
        "readOnly", "writeOnly",
    })
    _ANNOTATIONS = frozenset({"$ref", "description", "title", "$comment", "examples", "deprecated"})

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.validator = run.schemas.canonical.validator(options["entity"])
        self.fits = self.fast_check(run.schemas, options["entity"], self.validator)

    @classmethod
    def fast_check(cls, schemas: Any, entity: str, validator: Any) -> Any:
        """The compiled check of one canonical entity, or None to use jsonschema alone. Compiled
        once per plan: kept on the plan's canonical schemas, beside their jsonschema validators."""
        canonical = schemas.canonical
        compiled = canonical.__dict__.setdefault("_fast_checks", {})
        if entity not in compiled:
            compiled[entity] = cls._compile(validator.schema, schemas.registry)
        return compiled[entity]

    @classmethod
    def _compile(cls, schema: dict, registry: Any) -> Any:
        try:
            import fastjsonschema
        except ImportError:
            return None
        documents: dict[str, Any] = {}

        def fetch(uri: str) -> Any:  # $refs to the other canonical files, from the loaded registry
            base = uri.split("#", 1)[0]
            if base not in documents:
                documents[base] = registry.contents(base)
            return documents[base]

        if not cls._draft7_safe(schema, fetch, set()):
            return None
        try:
            check = fastjsonschema.compile(schema, handlers={"https": fetch, "http": fetch},
                                           use_default=False, use_formats=False, detailed_exceptions=False)
        except Exception:  # noqa: BLE001  (any refusal leaves the step on jsonschema)
            return None

        def fits(instance: Any) -> bool:
            try:
                check(instance)
            except Exception:  # noqa: BLE001  (JsonSchemaValueException, or a value it cannot judge)
                return False
            return True

        return fits

    @classmethod
    def _draft7_safe(cls, node: Any, fetch: Any, seen: set[str], base: str = "") -> bool:
        if isinstance(node, list):
            return all(cls._draft7_safe(item, fetch, seen, base) for item in node)
        if not isinstance(node, dict):
            return True
        base = node.get("$id", base) if isinstance(node.get("$id"), str) else base
        for key, value in node.items():
            if key not in cls.FAST_KEYWORDS:
                return False
            if key == "$ref":
                if set(node) - cls._ANNOTATIONS:
                    return False  # 2020-12 applies a $ref's siblings, draft 7 ignores them
                target = value.split("#", 1)[0]
                if target and target not in seen:
                    seen.add(target)
                    from urllib.parse import urljoin

                    try:
                        document = fetch(urljoin(base, target))
                    except Exception:  # noqa: BLE001
                        return False
                    if not cls._draft7_safe(document, fetch, seen, urljoin(base, target)):
                        return False
            elif key == "items" and isinstance(value, list):
                return False
            elif key in ("properties", "patternProperties", "$defs", "definitions"):
                if not isinstance(value, dict) or not all(cls._draft7_safe(v, fetch, seen, base) for v in value.values()):
                    return False
            elif key in ("enum", "const", "examples", "default", "required", "type"):
                continue
            elif not cls._draft7_safe(value, fetch, seen, base):
                return False
        return True

    def process(self, record: Record, run: RunContext) -> Record | None:
        if self.fits is not None and self.fits(record.data):
            return record
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
