"""fetch: read reference data a record needs (a category's required attributes, its rules) from a
connection, so `check` rules can hold the record to it before anything is written.

Reference data is shared by many records, so each distinct request is made once per run and
reused; a run of 5,000 products in 12 categories makes 12 calls, not 5,000.
"""

from __future__ import annotations

import hashlib
import json
import time
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
from engine.lang.expr import Scope
from engine.lang.mapping import _truthy


@STEPS.register("fetch", options_schema={
    "type": "object", "additionalProperties": False, "required": ["from", "context_key"],
    "anyOf": [{"required": ["operation"]}, {"required": ["entity", "id"]}],
    "properties": {
        "from": ROLE,
        "entity": {**ENTITY, "description": "Read one record of this entity the way the role's connector declares "
                                            "it (entities.<entity>.get), instead of operation:."},
        "id": {**EXPR, **ON_RECORD, "description": "With entity: the id of the record to read."},
        "canonical": {"type": "boolean", "default": False,
                      "description": "With entity: map what was read to canonical (the connector's to_canonical)."},
        "mapping": {"type": "string", "description": "Apply this mapping to the result (set by canonical: true)."},
        "fresh": {"type": "boolean", "default": False,
                  "description": "Read again for every record instead of once per run (records that change "
                                 "while the run writes, e.g. an order's packages)."},
        "cache_hours": {"type": "number", "minimum": 0, "default": 0,
                        "description": "Keep each answer in the state store this long and reuse it in later runs "
                                       "(reference data that rarely changes: a category's attributes). 0: once "
                                       "per run only. Numbers in a kept answer come back as text."},
        "operation": {"type": "string", "description": "A read operation of the role's connector."},
        "path_params": {"type": "object", "additionalProperties": {**EXPR, **ON_RECORD},
                        "description": "Path parameter -> expression over the record (var() reads flow options)."},
        "query": {"type": "object", "additionalProperties": {**EXPR, **ON_RECORD}, "description": "Query parameter -> expression."},
        "when": {**EXPR, **ON_RECORD, "description": "Fetch only when this is truthy (e.g. the category is mapped)."},
        "result": {**EXPR, "default": "@", "description": "What to keep, evaluated on the response's records (or "
                                                         "its record when the operation declares no records)."},
        "context_key": {"type": "string", "description": "Later rules and mappings read the result as var(KEY)."},
        "actions": ACTIONS,
    }}, doc="Read reference data once per distinct request and per run (or per cache_hours across runs); rules "
            "and mappings see it as var(KEY).")
class Fetch(Step):
    kind = "fetch"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.context = run.mapping_context(options["from"])
        self.path_params = {k: run.exprs.jmespath(v) for k, v in (options.get("path_params") or {}).items()}
        self.query = {k: run.exprs.jmespath(v) for k, v in (options.get("query") or {}).items()}
        self.when = run.exprs.jmespath(options["when"]) if options.get("when") else None
        self.result = run.exprs.jmespath(options.get("result", "@"))
        self.plan = run.plans.get(options["mapping"]) if options.get("mapping") else None
        self.cache: dict[str, Any] = {}  # one run's responses, by request

    def process(self, record: Record, run: RunContext) -> Record | None:
        scope = Scope(record.data, record.data, None, {**self.context, **record.context})
        if self.when is not None and not _truthy(self.when.evaluate(scope)):
            return record
        path_params = {k: e.evaluate(scope) for k, e in self.path_params.items()}
        query = {k: e.evaluate(scope) for k, e in self.query.items()}
        missing = [k for k, v in path_params.items() if v in (None, "")]
        if missing:
            raise RecordError(f"{self.options['operation']} needs {', '.join(missing)}, and the record gives none",
                              step="fetch")
        request = json.dumps([path_params, query], sort_keys=True, default=str)
        if request not in self.cache and not self.options.get("fresh"):
            kept = self._kept(run, request)
            if kept is not None:
                self.cache[request] = kept
        if request not in self.cache or self.options.get("fresh"):
            response = run.connection(self.options["from"]).call(
                self.options["operation"], path_params=path_params, query={k: v for k, v in query.items()
                                                                           if v is not None})
            data = response.selection
            value = self.result.evaluate(Scope(data, data, None, {}))
            if self.plan is not None and value is not None:
                mapped = self.plan.apply(value, {**self.context, **record.context})
                if mapped.errors:
                    raise RecordError(f"mapping {self.plan.name} failed on what {self.options['operation']} read",
                                      step="fetch", field_errors=[e.as_dict() for e in mapped.errors])
                value = mapped.output
            self.cache[request] = value
            self._keep(run, request, value)
        record.context[self.options["context_key"]] = self.cache[request]
        return record

    # Answers kept across runs: kv namespace "fetch", keyed by connection, operation and a digest
    # of the request, with the time they were read.
    def _cache_key(self, run: RunContext, request: str) -> str:
        digest = hashlib.sha256(request.encode("utf-8")).hexdigest()[:32]
        return f"{run.conn_name(self.options['from'])}:{self.options['operation']}:{digest}"

    def _kept(self, run: RunContext, request: str) -> Any:
        hours = float(self.options.get("cache_hours") or 0)
        if hours <= 0:
            return None
        entry = run.store.kv_get("fetch", self._cache_key(run, request))
        now = run.now() if run.now else time.time()
        if not entry or now - float(entry.get("at", 0)) > hours * 3600:
            return None
        return entry.get("value")

    def _keep(self, run: RunContext, request: str, value: Any) -> None:
        if float(self.options.get("cache_hours") or 0) <= 0 or run.dry_run or self.options.get("fresh"):
            return
        now = run.now() if run.now else time.time()
        run.store.kv_set("fetch", self._cache_key(run, request), {"at": now, "value": value})

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return (_check_role(options, "from", ctx) + _check_mapping(options, "mapping", ctx)
                + _check_operation(options, "operation", options.get("operation"), options.get("from"), ctx))
