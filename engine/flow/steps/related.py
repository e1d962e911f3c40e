"""Steps that find the ids of records related to the one in flight, on another connection:

- resolve_skus: each SKU of an order -> the merchant system's variant id (ID map first; on a miss,
  the connector's SKU index is read again, at most once per refresh window).
- link: the id of a record an earlier flow wrote (the merchant order a channel return belongs to).
- ensure: find a related record by its key, or create it (the buyer of an order, by email).
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
    EXPR,
    ON_RECORD,
    ROLE,
    Step,
    _check_mapping,
    _check_operation,
    _check_role,
)
from engine.flow.steps.sku_index import SKU_INDEX_OPTIONS, read_sku_index
from engine.lang.expr import Scope
from engine.lang.mapping import _truthy

CONTEXT_KEY = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
               "description": "Later steps and mappings read the result as var(KEY)."}


def _scope(record: Record, run: RunContext, role: str | None, **extra: Any) -> Scope:
    return Scope(record.data, record.data, None, {**run.mapping_context(role), **record.context, **extra})


@STEPS.register("resolve_skus", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity"],
    "properties": {
        "on": {**ROLE, "description": "The connection whose ids the SKUs are resolved to (the merchant system)."},
        "entity": {**ENTITY, "description": "The entity whose SKUs they are (product); its connector's sku_index "
                                            "says how to read them all when one is missing."},
        "skus": {**EXPR, **ON_RECORD, "default": "lines[].not_null(sku, '')",
                 "description": "The record's SKUs, one per line in line order (a line without one gives '' so it "
                                "is named, not dropped as a projection drops nulls)."},
        "field": {"type": "string", "default": "lines",
                  "description": "The list the SKUs are in, for error messages (lines[2].sku)."},
        "as": {**CONTEXT_KEY, "default": "variant_ids",
               "description": "var(KEY) is SKU -> id; var(KEY_refs) is SKU -> {id, other ids the index keeps}."},
        **SKU_INDEX_OPTIONS,
    }}, doc="Resolve each SKU of the record to the target's id; an unknown SKU sends the whole record to the "
            "dead-letter queue, naming the line.")
class ResolveSkus(Step):
    kind = "resolve_skus"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.skus = run.exprs.jmespath(options.get("skus", "lines[].not_null(sku, '')"))
        self.items = run.exprs.jmespath(options["items"]) if options.get("items") else None
        self.index: dict[str, dict] = {}  # read during this run (a dry run keeps it here only)
        self.refreshed = False

    def process(self, record: Record, run: RunContext) -> Record | None:
        conn = run.conn_name(self.options["on"])
        field = self.options.get("field", "lines")
        skus = self.skus.evaluate(_scope(record, run, self.options["on"])) or []
        refs: dict[str, dict] = {}
        missing: list[tuple[int, Any]] = []
        for index, sku in enumerate(skus):
            ref = self._known(run, conn, sku) if sku not in (None, "") else None
            if ref is None:
                missing.append((index, sku))
            else:
                refs[str(sku)] = ref
        if missing and any(sku not in (None, "") for _, sku in missing) and self._refresh(run, conn):
            still = []
            for index, sku in missing:
                ref = self._known(run, conn, sku) if sku not in (None, "") else None
                if ref is None:
                    still.append((index, sku))
                else:
                    refs[str(sku)] = ref
            missing = still
        if missing:
            raise RecordError(
                f"{len(missing)} line(s) with a SKU {conn} does not have; nothing was created", step="resolve_skus",
                field_errors=[{"field": f"{field}[{index}].sku",
                               "message": f"SKU {sku!r} is not in {conn}'s catalog" if sku not in (None, "")
                               else "the line has no SKU"} for index, sku in missing])
        key = self.options.get("as", "variant_ids")
        record.context[key] = {sku: ref["id"] for sku, ref in refs.items()}
        record.context[f"{key}_refs"] = refs
        return record

    def _known(self, run: RunContext, conn: str, sku: Any) -> dict | None:
        sku = str(sku)
        if sku in self.index:
            return self.index[sku]
        found = run.store.get_mapping("sku", conn, sku)
        if found is None:
            return None
        extra = {k: v for k, v in (found.get("extra") or {}).items() if k != "parent"}
        return {"id": found["remote_id"], **extra}

    def _refresh(self, run: RunContext, conn: str) -> bool:
        """Read the catalog's SKUs again: once per run, and at most once per refresh window."""
        if self.refreshed:
            return False
        self.refreshed = True

        def found(sku: str, remote_id: str, extra: dict) -> None:
            self.index[sku] = {"id": remote_id, **extra}

        return read_sku_index(run, self.options, self.items, conn, found)

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "on", ctx) + _check_operation(options, "operation", options.get("operation"),
                                                                  options.get("on"), ctx)


@STEPS.register("link", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity", "key", "as"],
    "properties": {
        "on": {**ROLE, "description": "The connection the related record was written to."},
        "entity": {**ENTITY, "description": "Its entity (its ID map is read)."},
        "key": {**EXPR, **ON_RECORD, "description": "Its key, from this record (e.g. order_id)."},
        "as": {**CONTEXT_KEY, "description": "var(KEY) is the related record's id on that connection."},
        "optional": {"type": "boolean", "default": False,
                     "description": "Go on without it (var(KEY) null) instead of failing the record."},
        "actions": ACTIONS,
    }}, doc="Find the id of a related record an earlier flow wrote (e.g. the merchant order of a return).")
class Link(Step):
    kind = "link"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.key = run.exprs.jmespath(options["key"])

    def process(self, record: Record, run: RunContext) -> Record | None:
        conn, entity = run.conn_name(self.options["on"]), self.options["entity"]
        key = self.key.evaluate(_scope(record, run, self.options["on"]))
        remote_id = run.store.get_remote_id(entity, conn, str(key)) if key not in (None, "") else None
        if remote_id is None and not self.options.get("optional"):
            raise RecordError(f"{entity} {key} is not in {conn} yet (the flow that writes it has not run, or it "
                              f"failed); replay this record after it is", step="link", retryable=True,
                              field_errors=[{"field": self.options["key"], "message": f"no {entity} {key} on {conn}"}])
        record.context[self.options["as"]] = remote_id
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "on", ctx)


@STEPS.register("ensure", options_schema={
    "type": "object", "additionalProperties": False, "required": ["to", "entity", "key", "record", "as"],
    "properties": {
        "to": {**ROLE, "description": "The connection the related record lives on."},
        "entity": {**ENTITY, "description": "Its entity (e.g. customer); lookup, create and mapping come from the "
                                            "role's connector (entities.<entity>) when not written here."},
        "key": {**EXPR, **ON_RECORD, "description": "What identifies it (e.g. the buyer's email); null: none."},
        "record": {**EXPR, **ON_RECORD, "description": "The canonical related record, built from this one."},
        "as": {**CONTEXT_KEY, "description": "var(KEY) is its id (null when there is none)."},
        "when": {**EXPR, **ON_RECORD, "description": "Only when this is true."},
        "mapping": {"type": "string", "description": "Canonical record -> create body."},
        "lookup": {"type": "object", "additionalProperties": False, "required": ["operation", "id"],
                   "description": "Search the connection before creating (merge with what is there).",
                   "properties": {"operation": {"type": "string"},
                                  "query": {**EXPR, "description": "Search query; var('key') is the key."},
                                  "body": {**EXPR, "description": "Search body; var('key') is the key."},
                                  "id": {**EXPR, "description": "A found record's id."},
                                  "match": {**EXPR, "description": "True for a found record that is this one."}}},
        "create": {"type": "object", "additionalProperties": False, "required": ["operation", "id"],
                   "properties": {"operation": {"type": "string"}, "id": EXPR,
                                  "mapping": {"type": "string", "description": "(default: mapping)"}}},
        "actions": ACTIONS,
    }}, doc="Find a related record by its key (ID map, then a search), or create it once; its id goes to var(KEY).")
class Ensure(Step):
    kind = "ensure"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        compile_ = run.exprs.jmespath
        self.key = compile_(options["key"])
        self.record = compile_(options["record"])
        self.when = compile_(options["when"]) if options.get("when") else None
        lookup = options.get("lookup") or {}
        self.lookup = {k: compile_(v) for k, v in lookup.items() if k in ("query", "body", "id", "match")}
        create = options.get("create") or {}
        self.create_id = compile_(create["id"]) if create.get("id") else None
        mapping = create.get("mapping") or options.get("mapping")
        self.plan = run.plans.get(mapping) if mapping else None

    def process(self, record: Record, run: RunContext) -> Record | None:
        role, name = self.options["to"], self.options["as"]
        record.context[name] = None
        scope = _scope(record, run, role)
        if self.when is not None and not _truthy(self.when.evaluate(scope)):
            return record
        key = self.key.evaluate(scope)
        if key in (None, ""):
            return record
        key = str(key)
        entity, conn = self.options["entity"], run.conn_name(role)
        known = run.store.get_remote_id(entity, conn, key)
        if known is not None:
            record.context[name] = known
            return record
        related = self.record.evaluate(scope)
        found = self._search(related, key, record, run)
        if found is not None:
            record.context[name] = found
            if not run.dry_run:
                run.store.map_id(entity, conn, key, found, {"found": True})
            return record
        if run.dry_run:
            record.detail[f"{entity}_to_create"] = key
            return record
        record.context[name] = self._create(related, key, record, run, entity, conn)
        return record

    def _search(self, related: Any, key: str, record: Record, run: RunContext) -> str | None:
        lookup = self.options.get("lookup")
        if not lookup:
            return None
        context = {**run.mapping_context(self.options["to"]), **record.context, "key": key}
        scope = Scope(related, related, None, context)
        where = "query" if "query" in self.lookup else "body"
        response = run.connection(self.options["to"]).call(lookup["operation"],
                                                           **{where: self.lookup[where].evaluate(scope)})
        for found in response.records:
            found_scope = Scope(found, found, None, context)
            if "match" in self.lookup and not _truthy(self.lookup["match"].evaluate(found_scope)):
                continue
            value = self.lookup["id"].evaluate(found_scope)
            if value not in (None, ""):
                return str(value)
        return None

    def _create(self, related: Any, key: str, record: Record, run: RunContext, entity: str, conn: str) -> str:
        if self.plan is None or self.create_id is None:
            raise RecordError(f"no way to create {entity} {key} on {conn}", step="ensure")
        scope_name = f"create:{entity}:{conn}"
        ticket = run.store.begin_once(scope_name, key)
        if ticket.status == "in_progress" and run.exclusive:
            run.store.fail_once(scope_name, key, "left in progress by a run that ended without finishing it")
            ticket = run.store.begin_once(scope_name, key)
        if ticket.status == "done":
            return ticket.result["remote_id"]
        if ticket.status == "in_progress":
            raise RecordError(f"another worker is creating {entity} {key}", step="ensure", retryable=True)
        try:
            result = self.plan.apply(related, {**run.mapping_context(self.options["to"]), **record.context})
            if result.errors:
                raise RecordError(f"mapping {self.plan.name} failed", step="ensure",
                                  field_errors=[e.as_dict() for e in result.errors])
            response = run.connection(self.options["to"]).call(self.options["create"]["operation"],
                                                               body=result.output)
            remote_id = self.create_id.evaluate(Scope(response.record, response.record, None, {}))
            if remote_id in (None, ""):
                raise RecordError(f"{self.options['create']['operation']} returned no id", step="ensure")
            remote_id = str(remote_id)
            run.store.map_id(entity, conn, key, remote_id)
        except Exception as exc:
            run.store.fail_once(scope_name, key, str(exc)[:500])
            raise
        run.store.complete_once(scope_name, key, {"remote_id": remote_id})
        return remote_id

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "to", ctx) + _check_mapping(options, "mapping", ctx)
        for key in ("lookup", "create"):
            node = options.get(key)
            if isinstance(node, dict):
                found += _check_operation(node, "operation", node.get("operation"), options.get("to"), ctx)
        return found
