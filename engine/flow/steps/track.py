"""track: read remote state (listing status, audit) back onto the ID map."""

from __future__ import annotations

import time
from typing import Any

from engine.errors import Problem
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import EXPR, ROLE, Step, _check_role
from engine.lang.expr import Scope
from engine.state.store import utc_rfc3339


@STEPS.register("track", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity", "id", "fields"],
    "properties": {
        "on": ROLE,
        "entity": {"type": "string", "description": "The entity whose ID map entries receive the values."},
        "id": {**EXPR, "description": "The remote id in the pulled record."},
        "fields": {"type": "object", "additionalProperties": EXPR,
                   "description": "Name -> expression; stored with the ID map entry (listing status, audit...)."},
        "seen_at": {"type": "string",
                    "description": "Also store, under this name, when the values were recorded (RFC 3339, UTC). "
                                   "Set only when a value changed, so re-reading an unchanged record writes nothing."},
    }}, doc="Read back remote state (listing status, audit result) onto the ID map entry it belongs to.")
class Track(Step):
    kind = "track"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.id = run.exprs.jmespath(options["id"])
        self.fields = {name: run.exprs.jmespath(expr) for name, expr in options["fields"].items()}

    def process(self, record: Record, run: RunContext) -> Record | None:
        entity, conn = self.options["entity"], run.conn_name(self.options["on"])
        scope = Scope(record.data, record.data, None, {})
        remote_id = str(self.id.evaluate(scope))
        key = run.store.find_key_by_remote_id(entity, conn, remote_id)
        values = {name: expr.evaluate(scope) for name, expr in self.fields.items()}
        record.detail.update(values)
        record.remote_id = remote_id
        if key is None:  # not listed by this connector (made by hand in the seller center)
            record.action = "untracked"
            return record
        record.key = key
        mapping = run.store.get_mapping(entity, conn, key) or {}
        stored = mapping.get("extra") or {}
        if mapping.get("remote_id") == remote_id and all(stored.get(k) == v for k, v in values.items()):
            # Polls overlap and webhooks repeat: the same state again is not a change.
            record.action = "unchanged"
            return record
        record.action = "tracked"
        if not run.dry_run:
            extra = {**stored, **values}
            if self.options.get("seen_at"):
                extra[self.options["seen_at"]] = utc_rfc3339(run.now() if run.now else time.time())
            run.store.map_id(entity, conn, key, remote_id, extra)
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "on", ctx)
