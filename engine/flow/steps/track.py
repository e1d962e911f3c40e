"""track: read remote state (listing status, audit) back onto the ID map."""

from __future__ import annotations

from typing import Any

from ...errors import Problem
from ...expr import Scope
from ..context import RunContext
from ..record import Record
from ..registry import STEPS
from .base import EXPR, ROLE, Step, _check_role


@STEPS.register("track", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity", "id", "fields"],
    "properties": {
        "on": ROLE,
        "entity": {"type": "string"},
        "id": {**EXPR, "description": "The remote id in the pulled record."},
        "fields": {"type": "object", "additionalProperties": EXPR,
                   "description": "Name -> expression; stored with the ID map entry (listing status, audit...)."},
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
        if key is None:
            record.action = "untracked"
            return record
        record.key, record.action = key, "tracked"
        if not run.dry_run:
            mapping = run.store.get_mapping(entity, conn, key) or {}
            run.store.map_id(entity, conn, key, remote_id, {**(mapping.get("extra") or {}), **values})
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "on", ctx)
