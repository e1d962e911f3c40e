"""filter: which records a flow syncs (only the products with a given tag, one category...).

A record the selection does not hold is skipped with its reason, never dead-lettered. On a channel
(`on:`), a record that was listed there and leaves the selection is taken off sale with the
connector's `deactivate` write (`leaving: deactivate`, the default), or left as it is
(`leaving: keep`); one that comes back into the selection is put on sale again with its `activate`
write. Either write ends the record's way through the flow for this run; the next run syncs it as
usual. Which records this step took off sale is kept in the state store's ID map (entity
`deactivated:<entity>`), so a second run writes nothing more.
"""

from __future__ import annotations

from typing import Any

from engine.errors import Problem, RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import (
    ACTIONS,
    ENTITY,
    ON_RECORD,
    ROLE,
    Step,
    _check_mapping,
    _check_operation,
    _check_role,
    _problem,
)
from engine.flow.steps.push import WRITE, Push
from engine.lang.expr import ExprEvalError, Scope
from engine.lang.mapping import _truthy

OPTION_REF = {"type": "object", "additionalProperties": False, "required": ["option"],
              "description": "The value of this flow option in each merchant binding (unset: the option's default; "
                             "with neither, as if this key were not written).",
              "properties": {"option": {"type": "string", "description": "A flow option (the flow's options:)."}}}
LEAVING = ("deactivate", "keep")


def parked_entity(entity: str) -> str:
    """The ID-map entity that holds the records the filter took off sale on a connection."""
    return f"deactivated:{entity}"


@STEPS.register("filter", options_schema={
    "type": "object", "additionalProperties": False, "required": ["when"],
    "properties": {
        "when": {"x-expression": "jmespath", **ON_RECORD, "anyOf": [{"type": "string"}, OPTION_REF],
                 "description": "JMESPath over the record (canonical, after map): the records for which it is truthy "
                                "are synced, e.g. `contains(tags, 'social')`. Or {option: NAME}: the merchant's "
                                "expression in that flow option; a binding that sets none syncs every record (the "
                                "step is left out)."},
        "on": {**ROLE, "description": "The channel: a record listed there (in its ID map) that leaves the selection "
                                      "is taken off sale there."},
        "entity": {**ENTITY, "description": "The entity listed on the channel (its ID map, and the connector's "
                                            "deactivate and activate writes)."},
        "leaving": {"anyOf": [{"enum": list(LEAVING)}, OPTION_REF],
                    "description": "A listed record that leaves the selection: deactivate (default with on:) takes it "
                                   "off sale with the connector's deactivate write, and puts it back with activate "
                                   "when it returns; keep leaves the listing as it is."},
        "writes": {"type": "object", "additionalProperties": False,
                   "description": "The deactivate and activate writes (from the connector's "
                                  "entities.<entity>.writes when not written here).",
                   "properties": {"deactivate": WRITE, "activate": WRITE}},
        "actions": ACTIONS,
    }}, doc="Sync only the records a selection holds; skip the rest, and take a listed one that leaves it off sale.")
class Filter(Step):
    kind = "filter"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.when = run.exprs.jmespath(options["when"])
        self.role = options.get("on")
        self.context = run.mapping_context(self.role)
        self.leaving = options.get("leaving") or ("deactivate" if self.role else "keep")
        writes = options.get("writes") or {}
        self.writer = Push({"to": self.role, "entity": options["entity"], "writes": writes}, run) \
            if self.role and self.leaving == "deactivate" and writes.get("deactivate") else None

    def process(self, record: Record, run: RunContext) -> Record | None:
        scope = Scope(record.data, record.data, None, {**self.context, **record.context})
        try:
            selected = _truthy(self.when.evaluate(scope))
        except ExprEvalError as exc:
            raise RecordError(f"the selection could not be evaluated: {exc}", step="filter") from exc
        if not self.role:
            if not selected:
                record.action, record.detail["reason"] = "skip", "not selected"
            return record
        entity, conn = self.options["entity"], run.conn_name(self.role)
        parked = run.store.get_remote_id(parked_entity(entity), conn, record.key) if self.writer else None
        if selected:
            if parked is None:
                return record
            if "activate" not in self.writer.writes:
                record.detail["reason"] = "back in the selection; the channel has no activate write: put it on " \
                                          "sale there by hand"
                return record
            self._write("activate", record, run, parked)
            if not run.dry_run:
                run.store.delete_mapping(parked_entity(entity), conn, record.key)
            record.action, record.done = "activate", True
            record.detail["reason"] = "back in the selection: put on sale again"
            return record
        record.action = "skip"
        remote_id = run.store.get_remote_id(entity, conn, record.key)
        if remote_id is None:
            record.detail["reason"] = "not selected"
        elif self.writer is None:
            record.detail["reason"] = "not selected; its listing is left as it is (leaving: keep)"
        elif parked is not None:
            record.detail["reason"] = "not selected; its listing was taken off sale earlier"
        else:
            self._write("deactivate", record, run, remote_id)
            if not run.dry_run:
                run.store.map_id(parked_entity(entity), conn, record.key, remote_id)
            record.action, record.done = "deactivate", True
            record.detail["reason"] = "left the selection: taken off sale"
        return record

    def _write(self, action: str, record: Record, run: RunContext, remote_id: str) -> None:
        """The connector's named write, made the way the push step makes it (operation, body mapping,
        item errors). A dry run only lists it."""
        record.remote_id = remote_id
        record.context["remote_id"] = remote_id
        record.previous = record.canonical  # the listing's content is not what changes (no field diff)
        if run.dry_run:
            run.planned.append({"key": record.key, "action": action,
                                "body": self.writer._body(action, record, run)})
            return
        record.context["writes_not_needed"] = []
        try:
            self.writer._write(action, record, run, self.options["entity"], run.conn_name(self.role), set())
        finally:
            record.context.pop("writes_not_needed", None)

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "on", ctx)
        declared = (ctx["flow"].get("options") or {})
        for key in ("when", "leaving"):
            ref = options.get(key)
            if isinstance(ref, dict) and "option" in ref and ref["option"] not in declared:
                found.append(_problem(ref, "option", f"the flow declares no option {ref['option']!r}",
                                      "declare it under the flow's options:"))
        if options.get("leaving") == "deactivate" and not options.get("on"):
            found.append(_problem(options, "leaving", "leaving: deactivate needs on: and entity:",
                                  "name the channel role whose listings are taken off sale, or use leaving: keep"))
        if options.get("on") and not options.get("entity"):
            found.append(_problem(options, "on", "on: needs entity:", "name the entity listed on the channel"))
        for spec in (options.get("writes") or {}).values():
            if isinstance(spec, dict):
                found += _check_operation(spec, "operation", spec.get("operation"), options.get("on"), ctx)
                found += _check_mapping(spec, "mapping", ctx)
        return found
