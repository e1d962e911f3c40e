"""push: write a record exactly once per change (create, full update, or the parts that changed)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from ...errors import Problem, RecordError
from ...expr import Scope
from ...yamlpos import YDict
from ..context import RunContext
from ..record import Record
from ..registry import STEPS
from .base import EXPR, ROLE, Step, _check_mapping, _check_operation, _check_role

WRITE = {
    "type": "object", "additionalProperties": False, "required": ["operation"],
    "properties": {
        "operation": {"type": "string"},
        "mapping": {"type": "string", "description": "Build the body from the canonical record with this mapping "
                                                     "(default: the body the flow's last map step made)."},
        "path_params": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Path parameter -> `remote_id` or `key`."},
        "id": {**EXPR, "description": "Create: where the new remote id is in the response record."},
        "sku_ids": {**EXPR, "description": "Create/update: [{sku, id}] pairs in the response record."},
        "idempotency": {"type": "boolean", "description": "Send an idempotency key derived from the record key."},
    },
}


@STEPS.register("push", options_schema={
    "type": "object", "additionalProperties": False, "required": ["to", "entity", "create"],
    "properties": {
        "to": ROLE,
        "entity": {"type": "string"},
        "create": WRITE, "update": WRITE, "price_update": WRITE, "inventory_update": WRITE,
        "lookup_existing": {"type": "object", "additionalProperties": False, "required": ["operation", "body", "id"],
                            "description": "After a crash during a create, search the channel before creating again.",
                            "properties": {"operation": {"type": "string"}, "body": EXPR, "id": EXPR,
                                           "sku_ids": EXPR}},
        "quota": {"type": "object", "additionalProperties": False, "required": ["option"],
                  "description": "Daily limit on creates, read from the named flow option; the rest wait for the "
                                 "next UTC day.",
                  "properties": {"option": {"type": "string"}}},
    }}, doc="Write the record: create, full update, or only the parts that changed. Exactly once per change.")
class Push(Step):
    kind = "push"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.writes = {}
        for action in ("create", "update", "price_update", "inventory_update"):
            spec = options.get(action)
            if spec:
                self.writes[action] = {
                    "spec": spec,
                    "plan": run.plans.get(spec["mapping"]) if spec.get("mapping") else None,
                    "id": run.exprs.jmespath(spec["id"]) if spec.get("id") else None,
                    "sku_ids": run.exprs.jmespath(spec["sku_ids"]) if spec.get("sku_ids") else None,
                }
        lookup = options.get("lookup_existing")
        self.lookup = {k: run.exprs.jmespath(lookup[k]) for k in ("body", "id", "sku_ids") if k in lookup} if lookup else None
        self.quota_option = (options.get("quota") or {}).get("option")

    def process(self, record: Record, run: RunContext) -> Record | None:
        entity, conn_name = self.options["entity"], run.conn_name(self.options["to"])
        actions = record.action.split("+")
        if actions == ["create"] and self._over_quota(run, conn_name):
            record.action = "queued"
            record.detail["reason"] = "daily listing quota reached; queued for the next day"
            return record
        for action in actions:
            if action not in self.writes:
                raise RecordError(f"the flow has no `{action}` write for {entity}", step="push")
        if run.dry_run:
            run.planned.append({"key": record.key, "action": record.action, "body": record.data})
            return record
        for action in actions:
            self._write(action, record, run, entity, conn_name)
        self._remember(record, run, entity, conn_name)
        return record

    # -- writes

    def _body(self, action: str, record: Record, run: RunContext) -> Any:
        plan = self.writes[action]["plan"]
        if plan is None:
            return record.data
        result = plan.apply(record.canonical, {**run.mapping_context(self.options["to"]), **record.context})
        if result.errors:
            raise RecordError(f"mapping {plan.name} failed", step="push", field_errors=[e.as_dict() for e in result.errors])
        return result.output

    def _path_params(self, spec: dict, record: Record) -> dict:
        values = {"remote_id": record.remote_id, "key": record.key}
        return {name: values[source] for name, source in (spec.get("path_params") or {}).items()}

    def _write(self, action: str, record: Record, run: RunContext, entity: str, conn_name: str) -> None:
        write = self.writes[action]
        spec, conn = write["spec"], run.connection(self.options["to"])
        if action == "create":
            self._create(write, record, run, entity, conn_name)
            return
        response = conn.call(spec["operation"], path_params=self._path_params(spec, record),
                             body=self._body(action, record, run))
        if response.item_errors:
            raise RecordError(f"{spec['operation']} rejected {len(response.item_errors)} item(s)", step="push",
                              field_errors=[{"field": e.key or "(item)", "message": f"{e.code}: {e.message}"}
                                            for e in response.item_errors])
        if write["sku_ids"] is not None:
            self._map_skus(write["sku_ids"], response.record, run, conn_name, record)

    def _create(self, write: dict, record: Record, run: RunContext, entity: str, conn_name: str) -> None:
        spec, conn = write["spec"], run.connection(self.options["to"])
        scope = f"create:{entity}:{conn_name}"
        ticket = run.store.begin_once(scope, record.key)
        if ticket.status == "done":  # created by an earlier run whose bookkeeping did not finish
            record.remote_id = ticket.result["remote_id"]
            for sku, sku_id in (ticket.result.get("sku_ids") or {}).items():
                run.store.map_id("sku", conn_name, sku, sku_id)
            run.store.map_id(entity, conn_name, record.key, record.remote_id)
            return
        if ticket.status == "in_progress":
            raise RecordError(f"another worker is creating {entity} {record.key}", step="push", retryable=True)
        try:
            found = self._find_existing(record, run) if ticket.recovered else None
            if found:
                remote_id, response_record = found
            else:
                key = _idempotency_key(run.merchant, conn_name, entity, record.key) if spec.get("idempotency") else None
                response = conn.call(spec["operation"], body=self._body("create", record, run), idempotency_key=key)
                response_record = response.record
                remote_id = write["id"].evaluate(Scope(response_record, response_record, None, {})) if write["id"] else None
                if not remote_id:
                    raise RecordError(f"{spec['operation']} returned no id", step="push")
            record.remote_id = str(remote_id)
            sku_ids = self._map_skus(write["sku_ids"], response_record, run, conn_name, record) if write["sku_ids"] else {}
            run.store.map_id(entity, conn_name, record.key, record.remote_id)
        except Exception as exc:
            run.store.fail_once(scope, record.key, str(exc)[:500])
            raise
        run.store.complete_once(scope, record.key, {"remote_id": record.remote_id, "sku_ids": sku_ids})
        self._count_create(run, conn_name)

    def _find_existing(self, record: Record, run: RunContext) -> tuple[str, Any] | None:
        if self.lookup is None:
            return None
        lookup = self.options["lookup_existing"]
        body = self.lookup["body"].evaluate(Scope(record.data, record.data, None, {}))
        response = run.connection(self.options["to"]).call(lookup["operation"], body=body)
        for found in response.records:
            remote_id = self.lookup["id"].evaluate(Scope(found, found, None, {}))
            if remote_id:
                return str(remote_id), found
        return None

    def _map_skus(self, expr: Any, response_record: Any, run: RunContext, conn_name: str, record: Record) -> dict:
        pairs = expr.evaluate(Scope(response_record, response_record, None, {})) or []
        sku_ids = {}
        for pair in pairs:
            if isinstance(pair, dict) and pair.get("sku") and pair.get("id"):
                sku_ids[str(pair["sku"])] = str(pair["id"])
                run.store.map_id("sku", conn_name, str(pair["sku"]), str(pair["id"]), {"parent": record.remote_id})
        record.context["sku_ids"] = {**record.context.get("sku_ids", {}), **sku_ids}
        return sku_ids

    def _remember(self, record: Record, run: RunContext, entity: str, conn_name: str) -> None:
        """After every write succeeded: hashes, snapshot and SKU ownership, so a re-run is a no-op."""
        for name, digest in record.hashes.items():
            run.store.set_hash(f"{entity}:{name}", conn_name, record.key, digest)
        run.store.kv_set(f"snapshot:{entity}:{conn_name}", record.key, {"record": record.canonical})
        for sku in record.context.get("skus") or []:
            run.store.map_id("sku_owner", conn_name, f"{record.key}#{sku}", sku)

    # -- quota

    def _quota_key(self, conn_name: str) -> str:
        return f"{conn_name}:{datetime.now(UTC).date().isoformat()}"

    def _over_quota(self, run: RunContext, conn_name: str) -> bool:
        limit = run.options.get(self.quota_option) if self.quota_option else None
        if not limit:
            return False
        used = (run.store.kv_get("listing_quota", self._quota_key(conn_name)) or {}).get("created", 0)
        return used >= int(limit)

    def _count_create(self, run: RunContext, conn_name: str) -> None:
        if not self.quota_option:
            return
        key = self._quota_key(conn_name)
        used = (run.store.kv_get("listing_quota", key) or {}).get("created", 0)
        run.store.kv_set("listing_quota", key, {"created": used + 1})

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "to", ctx)
        for action in ("create", "update", "price_update", "inventory_update"):
            spec = options.get(action)
            if isinstance(spec, YDict):
                found += _check_operation(spec, "operation", spec.get("operation"), options.get("to"), ctx)
                found += _check_mapping(spec, "mapping", ctx)
        return found


def _idempotency_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
