"""match and diff: find what the channel already has and decide what, if anything, to write."""

from __future__ import annotations

import uuid
from typing import Any

from engine.errors import Problem, RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import EXPR, ON_RECORD, ROLE, Step, _check_role
from engine.lang.expr import Scope
from engine.state.hashing import content_hash


@STEPS.register("match", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity"],
    "properties": {
        "on": {**ROLE, "description": "The connection whose ids are looked up."},
        "entity": {"type": "string", "description": "The entity whose ID map is read."},
        "skus": {**EXPR, **ON_RECORD, "description": "The record's SKUs (default variants[].sku): checked for duplicates and "
                                        "given to later mappings as the sku_ids table of known remote SKU ids "
                                        "(and sku_refs: SKU -> {id, other ids the push kept})."},
    }}, doc="Find the record's remote id in the ID map; refuse SKUs another record already owns.")
class Match(Step):
    kind = "match"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.skus = run.exprs.jmespath(options.get("skus", "variants[].sku"))
        # The SKUs claimed by this run's records are a table in the state store, not a dict here:
        # the check spans the whole catalog while the run holds one record. A real run holds the
        # flow's lease, so its table has one name per flow and mode (what a crashed run left there
        # is cleared when the next one starts); a dry run, which holds none, gets a name of its own.
        self.scope: str | None = None
        self.token = uuid.uuid4().hex

    def _scope(self, run: RunContext, conn: str) -> str:
        if self.scope is None:
            owner = f"dry:{self.token}" if run.dry_run else f"{run.flow}:{run.mode}"
            self.scope = f"{owner}:{self.options['entity']}:{conn}"
            run.store.clear_sku_claims(self.scope)
        return self.scope

    def close(self, run: RunContext) -> None:
        """The run has ended: its claims go."""
        if self.scope is not None:
            run.store.clear_sku_claims(self.scope)
            self.scope = None

    def process(self, record: Record, run: RunContext) -> Record | None:
        entity, conn = self.options["entity"], run.conn_name(self.options["on"])
        record.remote_id = run.store.get_remote_id(entity, conn, record.key)
        skus = self.skus.evaluate(Scope(record.data, record.data, None, {})) or []
        scope = self._scope(run, conn)
        claimed = run.store.sku_claims(scope, [str(sku) for sku in skus]) if skus else {}
        duplicates = []
        for sku in skus:
            owner = claimed.get(str(sku))
            if owner is None:
                owned = run.store.find_key_by_remote_id("sku_owner", conn, sku)
                owner = owned.rsplit("#", 1)[0] if owned else None
            if owner is not None and owner != record.key:
                duplicates.append({"field": "variants.sku", "message": f"SKU {sku!r} is already used by {entity} {owner}"})
        if duplicates:
            raise RecordError("duplicate SKU across products", step="match", field_errors=duplicates)
        unclaimed = [str(sku) for sku in skus if str(sku) not in claimed]
        if unclaimed:
            run.store.claim_skus(scope, unclaimed, record.key)
        record.context["skus"] = list(skus)
        record.context["remote_id"] = record.remote_id  # mappings tell a create from an update by it
        sku_ids, sku_refs = {}, {}
        for sku in skus:
            known = run.store.get_mapping("sku", conn, sku)
            if known:
                sku_ids[sku] = known["remote_id"]
                extra = {k: v for k, v in (known.get("extra") or {}).items() if k != "parent"}
                sku_refs[sku] = {"id": known["remote_id"], **extra}
        record.context["sku_ids"] = sku_ids
        record.context["sku_refs"] = sku_refs
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "on", ctx)




@STEPS.register("diff", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity", "parts"],
    "properties": {
        "on": ROLE,
        "entity": {"type": "string", "description": "The entity whose hashes and snapshot are compared."},
        "parts": {
            "type": "object", "required": ["content"],
            "description": "Named JMESPath projections hashed separately. `content` changes mean a full update; "
                           "a change in another part alone means that part's action (price -> price_update, "
                           "inventory -> inventory_update).",
            "additionalProperties": {**EXPR, **ON_RECORD},
        },
    }}, doc="Compare content hashes with the last successful push; unchanged records make no call.")
class Diff(Step):
    kind = "diff"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.parts = {name: run.exprs.jmespath(expr) for name, expr in options["parts"].items()}

    def process(self, record: Record, run: RunContext) -> Record | None:
        entity, conn = self.options["entity"], run.conn_name(self.options["on"])
        scope = Scope(record.data, record.data, None, {})
        record.hashes = {name: content_hash(expr.evaluate(scope)) for name, expr in self.parts.items()}
        record.previous = run.store.get_snapshot(entity, conn, record.key)
        if record.remote_id is None:
            record.action = "create"
            record.parts_changed = list(self.parts)
            return record
        changed = [name for name in self.parts
                    if run.store.get_hash(f"{entity}:{name}", conn, record.key) != record.hashes[name]]
        record.parts_changed = changed
        if not changed:
            record.action = "skip"
        elif "content" in changed:
            record.action = "update"
        else:
            record.action = "+".join(f"{name}_update" for name in changed)
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "on", ctx)
