"""decide: choose what happens to a record from rules written in the flow (skip an unpaid order,
cancel one the channel cancelled, create the rest), so a flow's business rules are YAML."""

from __future__ import annotations

from typing import Any

from engine.errors import Problem, did_you_mean
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import ACTIONS, EXPR, ON_RECORD, ROLE, TEMPLATE, Step, _check_role, _problem
from engine.flow.steps.push import BUILT_IN_WRITES
from engine.lang.expr import ExprEvalError, Scope
from engine.lang.mapping import _truthy

ACTION = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
          "description": "The action: skip (nothing to do; the record is done), or a write of the flow's push step "
                         "(create, update, cancel, refund, approve, ...)."}


@STEPS.register("decide", options_schema={
    "type": "object", "additionalProperties": False, "required": ["rules"],
    "properties": {
        "market": {**ROLE, "description": "Whose region and currency the rules see as var('region')/var('currency')."},
        "rules": {"type": "array", "minItems": 1, "description": "Checked in order; the first whose `when` holds decides.",
                  "items": {"type": "object", "additionalProperties": False, "required": ["when", "action"],
                            "properties": {
                                "when": {**EXPR, **ON_RECORD, "description": "Over the record; var() reads flow "
                                                                             "options and what earlier steps found "
                                                                             "(remote_id, fetched records)."},
                                "action": ACTION,
                                "reason": {**TEMPLATE, **ON_RECORD,
                                           "description": "Shown in the run report, e.g. why a record is skipped."}}}},
        "default": {**ACTION, "description": "When no rule holds (unset: the action an earlier step chose, e.g. "
                                             "diff's create or update)."},
        "actions": ACTIONS,
    }}, doc="Choose the record's action from rules in the flow: skip it, or run one of the push step's writes.")
class Decide(Step):
    kind = "decide"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.context = run.mapping_context(options.get("market"))
        self.rules = [(run.exprs.jmespath(rule["when"]), rule["action"],
                       run.exprs.template(rule["reason"]) if rule.get("reason") else None)
                      for rule in options["rules"]]

    def process(self, record: Record, run: RunContext) -> Record | None:
        scope = Scope(record.data, record.data, None, {**self.context, **record.context,
                                                       "remote_id": record.remote_id})
        for index, (when, action, reason) in enumerate(self.rules):
            try:
                holds = _truthy(when.evaluate(scope))
            except ExprEvalError as exc:
                from engine.errors import RecordError

                raise RecordError(f"decide rule {index + 1} could not be evaluated: {exc}", step="decide") from exc
            if holds:
                record.action = action
                if reason is not None:
                    record.detail["reason"] = reason.evaluate(scope)
                return record
        if self.options.get("default"):
            record.action = self.options["default"]
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "market", ctx)
        steps = [next(iter(step)) for step in (ctx["flow"].get("steps") or []) if isinstance(step, dict)]
        if "push" not in steps and any(rule.get("action") != "skip" for rule in options.get("rules") or []):
            found.append(_problem(options, "rules", "decide chooses writes, but the flow has no push step",
                                  "add a push step, or make every rule's action skip"))
            return found
        # With a merchant binding the push is resolved: every action chosen must be one of its writes.
        pushes = [step.options for step in ctx.get("steps") or [] if step.kind == "push"]
        if not ctx.get("bindings") or not pushes:
            return found
        writes = {"skip"} | {name for name in BUILT_IN_WRITES if pushes[-1].get(name)}
        writes |= set(pushes[-1].get("writes") or {})
        chosen = [(rule, "action") for rule in options.get("rules") or [] if isinstance(rule, dict)]
        chosen += [(options, "default")] if options.get("default") else []
        for node, key in chosen:
            action = node.get(key)
            if action not in writes:
                found.append(_problem(node, key, f"the push step has no write {action!r} for "
                                                 f"{pushes[-1].get('entity')}",
                                      did_you_mean(action, sorted(writes)) or "writes: " + ", ".join(sorted(writes))))
        return found
