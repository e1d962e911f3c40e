"""push: write a record exactly once per change (create, full update, or the parts that changed)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from engine.errors import Problem, RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import (
    ENTITY,
    EXPR,
    ROLE,
    Step,
    _check_mapping,
    _check_operation,
    _check_role,
    _problem,
)
from engine.http import AuthError, HttpCallError, ServerError, TransportError
from engine.lang.expr import Scope
from engine.lang.mapping import _truthy
from engine.project.yamlpos import YDict, plain

WRITE = {
    "type": "object", "additionalProperties": False, "required": ["operation"],
    "properties": {
        "operation": {"type": "string", "description": "The connector operation that makes this write."},
        "mapping": {"type": "string", "description": "Build the body from the canonical record with this mapping "
                                                     "(default: the body the flow's last map step made)."},
        "path_params": {"type": "object", "additionalProperties": EXPR,
                        "description": "Path parameter -> expression over {remote_id, key, record (the canonical "
                                       "record), body}; var() reads flow options and what earlier steps found "
                                       "(e.g. var('store_order_id')). Plain `remote_id` and `key` stay valid."},
        "query": {"type": "object", "additionalProperties": EXPR,
                  "description": "Query parameter -> expression, over the same scope as path_params."},
        "body": {"type": "object", "description": "A fixed body (instead of a mapping), e.g. {restock: true}."},
        "id": {**EXPR, "description": "Create: where the new remote id is in the response record."},
        "sku_ids": {**EXPR, "description": "Create/update: [{sku, id, ...}] in the response record. Other keys "
                                           "(e.g. an inventory item id) are kept with the SKU and given to later "
                                           "mappings in the sku_refs table: SKU -> {id, ...}."},
        "idempotency": {"type": "boolean", "description": "Send an idempotency key derived from the record key."},
        "each": {**EXPR, "description": "One call per item of this list (JMESPath on the body); each item is that "
                                        "call's body. Failed items are collected and reported together."},
        "item_path_params": {"type": "object", "additionalProperties": EXPR,
                             "description": "With each: path parameter -> JMESPath on the item."},
        "skip_unchanged": {"type": "boolean",
                           "description": "With each and mapping: send only the items that differ from those the "
                                          "same mapping makes from the record as last pushed."},
        "then": {"type": "array", "items": {"type": "string"},
                 "description": "Writes of this push to run after this one, with the ids it returned (e.g. stock "
                                "levels a product body cannot carry)."},
        "once": {"type": "boolean",
                 "description": "A side effect that must happen exactly once per record (cancel an order, refund a "
                                "return): claimed in the state store's ledger before the call, recorded after. "
                                "Creates always are."},
        "check_first": {"type": "boolean",
                        "description": "With once and lookup: read the channel before the first attempt too (the "
                                       "effect may have come from elsewhere, e.g. an order the merchant already "
                                       "cancelled by hand). On a create: look the object up (lookup_existing) "
                                       "before every create, not only after an unfinished one."},
        "lookup": {"type": "object", "additionalProperties": False, "required": ["operation", "match"],
                   "description": "With once: when an earlier attempt did not finish (crash, unknown outcome), "
                                  "read the channel first; a match means the write already happened.",
                   "properties": {
                       "operation": {"type": "string", "description": "A read operation of the connector."},
                       "path_params": {"type": "object", "additionalProperties": EXPR,
                                       "description": "As the write's path_params."},
                       "query": {"type": "object", "additionalProperties": EXPR,
                                 "description": "As the write's query."},
                       "match": {**EXPR, "description": "Over each record the read returns (or its one record): "
                                                        "true when it is this write's effect, e.g. "
                                                        "`cancelled_at != null`."},
                       "id": {**EXPR, "description": "The matched record's id, kept as the write's result."}}},
    },
}

NAMED = "^[a-z][a-z0-9_]*$"
BUILT_IN_WRITES = ("create", "update", "price_update", "inventory_update")


@STEPS.register("push", options_schema={
    "type": "object", "additionalProperties": False, "required": ["to", "entity"],
    "properties": {
        "to": ROLE,
        "entity": {**ENTITY, "description": "The entity written; without create:/update:..., the writes come "
                                            "from the role's connector (entities.<entity>.writes)."},
        "create": {**WRITE, "description": "A new record."},
        "update": {**WRITE, "description": "A full update of a known record (content changed)."},
        "price_update": {**WRITE, "description": "Prices only (only the price part changed)."},
        "inventory_update": {**WRITE, "description": "Stock only (only the inventory part changed)."},
        "lookup_existing": {"type": "object", "additionalProperties": False,
                            "description": "When an earlier attempt at a create did not finish (crash, unknown "
                                           "outcome), search the channel before creating again.",
                            "required": ["operation", "id"],
                            "anyOf": [{"required": ["skus"]}, {"required": ["match"]}],
                            "properties": {"operation": {"type": "string", "description": "A search or list "
                                                         "operation of the connector."},
                                           "body": {**EXPR, "description": "Search body (POST searches). Build it "
                                                    "from var('skus'), the canonical record's SKUs: by the time "
                                                    "the push runs the record is the channel's body."},
                                           "query": {**EXPR, "description": "Search query (GET lists)."},
                                           "path_params": {"type": "object", "additionalProperties": EXPR,
                                                           "description": "As a write's path_params (e.g. the "
                                                           "order whose refunds are listed)."},
                                           "id": {**EXPR, "description": "The remote id in a found record; null "
                                                  "skips the record. Sees the record context, e.g. var('skus')."},
                                           "skus": {**EXPR, "description": "The SKUs of a found record. A found "
                                                    "record is adopted only when its SKUs are exactly the "
                                                    "record's (var('skus'), from match); one that shares some "
                                                    "but not all is refused for a person to resolve."},
                                           "sku_ids": {**EXPR, "description": "[{sku, id, ...}] in a found record "
                                                       "(default: the create's sku_ids)."},
                                           "match": {**EXPR, "description": "Instead of skus: true for the found "
                                                     "record that is this one, e.g. its name or external "
                                                     "reference against var('key'). Sees flow options."}},
                            "oneOf": [{"required": ["body"]}, {"required": ["query"]}]},
        "writes": {"type": "object", "propertyNames": {"pattern": NAMED}, "additionalProperties": WRITE,
                   "description": "Other named writes (cancel, refund, approve...), run when an earlier step "
                                  "(decide) sets the record's action to that name. From the role's connector "
                                  "(entities.<entity>.writes) when not written here."},
        "quota": {"type": "object", "additionalProperties": False, "required": ["option"],
                  "description": "Daily limit on creates, read from the named flow option; the rest wait for the "
                                 "next UTC day.",
                  "properties": {"option": {"type": "string", "description": "The flow option holding the "
                                                                             "number of creates per UTC day."}}},
    }}, doc="Write the record: create, full update, or only the parts that changed. Exactly once per change.")
class Push(Step):
    kind = "push"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.writes = {}
        named = [(action, options.get(action)) for action in BUILT_IN_WRITES]
        named += list((options.get("writes") or {}).items())
        for action, spec in named:
            if spec:
                lookup = spec.get("lookup")
                self.writes[action] = {
                    "spec": spec,
                    "plan": run.plans.get(spec["mapping"]) if spec.get("mapping") else None,
                    "id": run.exprs.jmespath(spec["id"]) if spec.get("id") else None,
                    "sku_ids": run.exprs.jmespath(spec["sku_ids"]) if spec.get("sku_ids") else None,
                    "each": run.exprs.jmespath(spec["each"]) if spec.get("each") else None,
                    "item_params": {name: run.exprs.jmespath(expr)
                                    for name, expr in (spec.get("item_path_params") or {}).items()},
                    "path_params": {name: run.exprs.jmespath(expr)
                                    for name, expr in (spec.get("path_params") or {}).items()},
                    "query": {name: run.exprs.jmespath(expr) for name, expr in (spec.get("query") or {}).items()},
                    "lookup": {
                        "operation": lookup["operation"],
                        "path_params": {k: run.exprs.jmespath(v) for k, v in (lookup.get("path_params") or {}).items()},
                        "query": {k: run.exprs.jmespath(v) for k, v in (lookup.get("query") or {}).items()},
                        "match": run.exprs.jmespath(lookup["match"]),
                        "id": run.exprs.jmespath(lookup["id"]) if lookup.get("id") else None,
                    } if lookup else None,
                }
        lookup = options.get("lookup_existing")
        self.lookup = ({k: run.exprs.jmespath(lookup[k]) for k in ("body", "query", "id", "skus", "sku_ids", "match")
                        if k in lookup}
                       if lookup else None)
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
        done: set[str] = set()
        record.context["writes_not_needed"] = []
        for action in actions:
            self._write(action, record, run, entity, conn_name, done)
        self._remember(record, run, entity, conn_name)
        if set(record.context.pop("writes_not_needed")) >= set(actions):
            # Every write had happened already (an earlier run, or by hand): nothing was sent.
            record.action = "skip"
        return record

    # -- writes

    def _body(self, action: str, record: Record, run: RunContext) -> Any:
        write = self.writes[action]
        if write["spec"].get("body") is not None:
            return plain(write["spec"]["body"])
        plan = write["plan"]
        if plan is None:
            return record.data
        # `previous` is the record as last pushed: what the channel holds unless someone else changed
        # it since, which a compare-and-set write names as the value it replaces.
        result = plan.apply(record.canonical, {**run.mapping_context(self.options["to"]), **record.context,
                                               "previous": record.previous})
        if result.errors:
            raise RecordError(f"mapping {plan.name} failed", step="push", field_errors=[e.as_dict() for e in result.errors])
        return result.output

    def _scope(self, record: Record, run: RunContext, body: Any = None) -> Scope:
        """What a write's path and query expressions see: the record's ids, the canonical record,
        the body, and (through var()) the flow options and what earlier steps found."""
        data = {"remote_id": record.remote_id, "key": record.key, "record": record.canonical, "body": body}
        return Scope(data, data, None, {**run.mapping_context(self.options["to"]), **record.context})

    def _params(self, exprs: dict, scope: Scope, what: str) -> dict:
        values = {name: expr.evaluate(scope) for name, expr in exprs.items()}
        missing = sorted(name for name, value in values.items() if value in (None, ""))
        if missing:
            raise RecordError(f"no value for {what} {', '.join(missing)}", step="push",
                              field_errors=[{"field": name, "message": "the expression gave nothing"}
                                            for name in missing])
        return {name: str(value) if isinstance(value, int) else value for name, value in values.items()}

    def _path_params(self, write: dict, record: Record, run: RunContext, body: Any = None) -> dict:
        return self._params(write["path_params"], self._scope(record, run, body), "path parameter")

    def _write(self, action: str, record: Record, run: RunContext, entity: str, conn_name: str,
               done: set[str]) -> None:
        if action in done:  # already run as another write's `then`
            return
        done.add(action)
        write = self.writes[action]
        spec = write["spec"]
        if action == "create":
            self._create(write, record, run, entity, conn_name)
        elif write["each"] is not None:
            self._fan_out(action, write, record, run)
        elif spec.get("once"):
            self._once(action, write, record, run, entity, conn_name)
        else:
            self._call(action, write, record, run, conn_name)
        for follow in spec.get("then") or []:
            self._write(follow, record, run, entity, conn_name, done)
        if action == "create" and spec.get("then") and record.remote_id:
            # A create with follow-up writes is known as made only once they are done: a run that
            # stopped between them finds no ID, creates again (the ledger answers with the object
            # already made) and finishes the writes that were left.
            run.store.map_id(entity, conn_name, record.key, record.remote_id)

    def _call(self, action: str, write: dict, record: Record, run: RunContext, conn_name: str) -> Any:
        spec, conn = write["spec"], run.connection(self.options["to"])
        body = self._body(action, record, run)
        scope = self._scope(record, run, body)
        key = _idempotency_key(run.merchant, conn_name, action, record.key) if spec.get("idempotency") else None
        response = conn.call(spec["operation"], path_params=self._params(write["path_params"], scope, "path parameter"),
                             query=self._params(write["query"], scope, "query parameter") or None, body=body,
                             idempotency_key=key)
        if response.item_errors:
            raise RecordError(f"{spec['operation']} rejected {len(response.item_errors)} item(s)", step="push",
                              field_errors=[{"field": e.key or "(item)", "message": f"{e.code}: {e.message}"}
                                            for e in response.item_errors])
        if write["sku_ids"] is not None:
            self._map_skus(write["sku_ids"], response.record, run, conn_name, record)
        return response

    def _once(self, action: str, write: dict, record: Record, run: RunContext, entity: str, conn_name: str) -> None:
        """A side effect that must not happen twice (cancel, refund): claimed in the ledger before the
        call. After an attempt that did not finish, the write's lookup decides whether it happened."""
        scope, spec = f"{action}:{entity}:{conn_name}", write["spec"]
        ticket = run.store.begin_once(scope, record.key)
        if ticket.status == "in_progress" and run.exclusive:
            run.store.fail_once(scope, record.key, "left in progress by a run that ended without finishing it")
            ticket = run.store.begin_once(scope, record.key)
        if ticket.status == "done":
            record.detail[action] = ticket.result
            record.detail["reason"] = f"{action} already done"
            record.context["writes_not_needed"].append(action)
            return
        if ticket.status == "in_progress":
            raise RecordError(f"another worker is running {action} for {entity} {record.key}", step="push",
                              retryable=True)
        try:
            checked = ticket.attempts > 1 or spec.get("check_first")
            result = self._already_done(write, record, run) if checked else None
            if result is None:
                response = self._call(action, write, record, run, conn_name)
                found = write["id"].evaluate(Scope(response.record, response.record, None, {})) \
                    if write["id"] is not None else None
                result = {"id": None if found is None else str(found)}
        except Exception as exc:
            run.store.fail_once(scope, record.key, str(exc)[:500])
            raise
        run.store.complete_once(scope, record.key, result)
        record.detail[action] = result
        if result.get("found"):
            record.detail["reason"] = f"{action} found already done on the channel"
            record.context["writes_not_needed"].append(action)

    def _already_done(self, write: dict, record: Record, run: RunContext) -> dict | None:
        lookup = write["lookup"]
        if lookup is None:
            return None
        scope = self._scope(record, run)
        response = run.connection(self.options["to"]).call(
            lookup["operation"], path_params=self._params(lookup["path_params"], scope, "path parameter"),
            query=self._params(lookup["query"], scope, "query parameter") or None)
        candidates = response.records or ([response.record] if response.record is not None else [])
        context = {**run.mapping_context(self.options["to"]), **record.context, "key": record.key}
        for found in candidates:
            found_scope = Scope(found, found, None, context)
            if _truthy(lookup["match"].evaluate(found_scope)):
                found_id = lookup["id"].evaluate(found_scope) if lookup["id"] is not None else None
                return {"id": None if found_id is None else str(found_id), "found": True}
        return None

    def _fan_out(self, action: str, write: dict, record: Record, run: RunContext) -> None:
        """One call per item, for channels whose API takes one object per call (a variant's price, a
        stock level per item and location). Every item is tried; the failures are reported together
        so one rejected item does not hide the others, and the record is retried as a whole."""
        spec = write["spec"]
        items = list(enumerate(self._items(write, self._body(action, record, run))))
        if spec.get("skip_unchanged") and record.previous is not None and write["plan"] is not None:
            before = self._previous_items(action, write, record, run)
            if before is not None:
                items = [(index, item) for index, item in items if item not in before]
        conn, failures, retryable = run.connection(self.options["to"]), [], False
        for index, item in items:
            field = f"{spec['each']}[{index}]"
            params = self._path_params(write, record, run)
            for name, expr in write["item_params"].items():
                params[name] = expr.evaluate(Scope(item, item, None, {}))
            try:
                response = conn.call(spec["operation"], path_params=params, body=item)
            except HttpCallError as exc:
                failures.append({"field": field, "message": str(exc), "item": item})
                retryable = retryable or exc.retryable
                if isinstance(exc, AuthError):  # every further item would be refused the same way
                    break
                continue
            failures += [{"field": field, "message": f"{e.code}: {e.message}", "item": item}
                         for e in response.item_errors]
        if failures:
            raise RecordError(f"{spec['operation']} failed for {len(failures)} of {len(items)} item(s)",
                              step="push", field_errors=failures, retryable=retryable)

    def _items(self, write: dict, body: Any) -> list:
        items = write["each"].evaluate(Scope(body, body, None, {}))
        if items is None:
            return []
        if not isinstance(items, list):
            raise RecordError(f"`each: {write['spec']['each']}` gave {type(items).__name__}, not a list", step="push")
        return items

    def _previous_items(self, action: str, write: dict, record: Record, run: RunContext) -> list | None:
        """The items the write's mapping makes from the record as last pushed, with today's ids;
        None when that record no longer maps (everything is sent then)."""
        plan = write["plan"]
        result = plan.apply(record.previous, {**run.mapping_context(self.options["to"]), **record.context})
        return None if result.errors else self._items(write, result.output)

    def _create(self, write: dict, record: Record, run: RunContext, entity: str, conn_name: str) -> None:
        spec, conn = write["spec"], run.connection(self.options["to"])
        scope = f"create:{entity}:{conn_name}"
        ticket = run.store.begin_once(scope, record.key)
        if ticket.status == "in_progress" and run.exclusive:
            # This run holds the flow's lease, so the run that claimed this create is not running
            # any more (killed, crashed): its outcome is unknown. Release its claim and go on as
            # after any unfinished attempt: look the object up before creating.
            run.store.fail_once(scope, record.key, "left in progress by a run that ended without finishing it")
            ticket = run.store.begin_once(scope, record.key)
        if ticket.status == "done":  # created by an earlier run whose bookkeeping did not finish
            record.remote_id = ticket.result["remote_id"]
            record.context["remote_id"] = record.remote_id
            # Ledger entries written before sku_refs existed hold only SKU -> id.
            refs = ticket.result.get("sku_refs") or {sku: {"id": sku_id}
                                                     for sku, sku_id in (ticket.result.get("sku_ids") or {}).items()}
            self._keep_skus(refs, run, conn_name, record)
            if not spec.get("then"):
                run.store.map_id(entity, conn_name, record.key, record.remote_id)
            record.context["remote_id"] = record.context["created_id"] = record.remote_id
            record.context.setdefault("writes_not_needed", []).append("create")
            record.detail["reason"] = "created by an earlier run"
            return
        if ticket.status == "in_progress":
            raise RecordError(f"another worker is creating {entity} {record.key}", step="push", retryable=True)
        try:
            # Any earlier attempt that did not finish (a crash, or a call whose outcome is unknown)
            # may have created the object: look for it before creating again.
            # check_first: an API whose objects carry a unique business key is asked every time
            # (the object may have been made by another route, or a run with other state).
            found = self._find_existing(record, run) if ticket.attempts > 1 or spec.get("check_first") else None
            response = None
            if not found:
                key = _idempotency_key(run.merchant, conn_name, entity, record.key) if spec.get("idempotency") else None
                body = self._body("create", record, run)
                where = self._scope(record, run, body)

                def create() -> Any:
                    return conn.call(spec["operation"], body=body, idempotency_key=key,
                                     path_params=self._params(write["path_params"], where, "path parameter") or None,
                                     query=self._params(write["query"], where, "query parameter") or None)

                try:
                    response = create()
                except (ServerError, TransportError):
                    # No answer, or a server error: the create may have happened. With a lookup, look
                    # once and send it once more only if it is not there (what the next run would
                    # do), so a valid record is not dead-lettered for a fault of the moment.
                    if self.lookup is None:
                        raise
                    found = self._find_existing(record, run)
                    response = None if found else create()
            sku_expr = write["sku_ids"]
            if found:
                remote_id, response_record = found
                sku_expr = self.lookup.get("sku_ids") or sku_expr
            else:
                assert response is not None
                if response.item_errors:  # an all-or-none batch refused: nothing was created
                    raise RecordError(f"{spec['operation']} rejected {len(response.item_errors)} item(s)", step="push",
                                      field_errors=[{"field": e.key or "(item)", "message": f"{e.code}: {e.message}"}
                                                    for e in response.item_errors])
                response_record = response.record
                remote_id = write["id"].evaluate(Scope(response_record, response_record, None, {})) if write["id"] else None
                if not remote_id:
                    raise RecordError(f"{spec['operation']} returned no id", step="push")
            record.remote_id = str(remote_id)
            record.context["remote_id"] = record.remote_id  # the writes that follow (then:) see the new id
            refs = self._map_skus(sku_expr, response_record, run, conn_name, record) if sku_expr else {}
            if not spec.get("then"):
                run.store.map_id(entity, conn_name, record.key, record.remote_id)
        except Exception as exc:
            run.store.fail_once(scope, record.key, str(exc)[:500])
            raise
        run.store.complete_once(scope, record.key, {"remote_id": record.remote_id, "sku_refs": refs})
        record.context["created_id"] = record.remote_id  # for the create's follow-up writes (then:)
        self._count_create(run, conn_name)

    def _find_existing(self, record: Record, run: RunContext) -> tuple[str, Any] | None:
        """The object an unfinished earlier create made, found by the record's SKUs.

        Only an object whose SKUs are exactly the record's is adopted. Anything else the search
        returns (another product, or an unfiltered answer) is never taken for this record: that
        is how one listing once came to stand for several products."""
        if self.lookup is None:
            return None
        if "match" in self.lookup:
            return self._find_by_match(record, run)
        wanted = {str(sku) for sku in record.context.get("skus") or [] if sku not in (None, "")}
        if not wanted:
            return None  # nothing to key a search on; create
        lookup = self.options["lookup_existing"]
        scope = Scope(record.data, record.data, None, dict(record.context))
        where = "query" if "query" in self.lookup else "body"
        response = run.connection(self.options["to"]).call(lookup["operation"],
                                                           **{where: self.lookup[where].evaluate(scope)})
        for found in response.records:
            found_scope = Scope(found, found, None, dict(record.context))
            remote_id = self.lookup["id"].evaluate(found_scope)
            have = {str(sku) for sku in self.lookup["skus"].evaluate(found_scope) or [] if sku not in (None, "")}
            if not remote_id or not have & wanted:
                continue
            if have != wanted:
                raise RecordError(
                    f"{lookup['operation']} found {remote_id} holding SKUs {', '.join(sorted(have & wanted))} of "
                    f"this record but not the same set (it has {', '.join(sorted(have))}); not adopting it and "
                    f"not creating a second listing with those SKUs", step="push",
                    field_errors=[{"field": "variants.sku", "message": "resolve the partial listing on the channel "
                                   "(delete it or make its SKUs match), then replay this record"}])
            return str(remote_id), found
        return None

    def _find_by_match(self, record: Record, run: RunContext) -> tuple[str, Any] | None:
        """The object an unfinished create made, found by what identifies the record on the channel
        (an order's name or external reference): a search, then the `match` test on each result."""
        lookup = self.options["lookup_existing"]
        context = {**run.mapping_context(self.options["to"]), **record.context, "key": record.key,
                   "body": record.data, "record": record.canonical}
        scope = Scope(record.data, record.data, None, context)
        where = "query" if "query" in self.lookup else "body"
        params = {name: run.exprs.jmespath(expr) for name, expr in (lookup.get("path_params") or {}).items()}
        response = run.connection(self.options["to"]).call(
            lookup["operation"], path_params=self._params(params, self._scope(record, run, record.data),
                                                          "path parameter") or None,
            **{where: self.lookup[where].evaluate(scope)})
        for found in response.records:
            found_scope = Scope(found, found, None, context)
            if _truthy(self.lookup["match"].evaluate(found_scope)):
                remote_id = self.lookup["id"].evaluate(found_scope)
                if remote_id not in (None, ""):
                    return str(remote_id), found
        return None

    def _map_skus(self, expr: Any, response_record: Any, run: RunContext, conn_name: str, record: Record) -> dict:
        """Remember each SKU's remote id, and any other per-SKU id the response names (kept with
        the ID map entry, handed to later mappings as sku_refs). Returns SKU -> {id, ...}."""
        pairs = expr.evaluate(Scope(response_record, response_record, None, {})) or []
        refs = {}
        for pair in pairs:
            if isinstance(pair, dict) and pair.get("sku") and pair.get("id"):
                extra = {str(k): str(v) for k, v in pair.items() if k not in ("sku", "id") and v is not None}
                refs[str(pair["sku"])] = {"id": str(pair["id"]), **extra}
        self._keep_skus(refs, run, conn_name, record)
        return refs

    @staticmethod
    def _keep_skus(refs: dict, run: RunContext, conn_name: str, record: Record) -> None:
        """SKU -> {id, ...} into the ID map and into the record context for later writes' mappings."""
        for sku, ref in refs.items():
            extra = {k: v for k, v in ref.items() if k != "id"}
            run.store.map_id("sku", conn_name, sku, ref["id"], {"parent": record.remote_id, **extra})
        record.context["sku_ids"] = {**record.context.get("sku_ids", {}),
                                     **{sku: ref["id"] for sku, ref in refs.items()}}
        record.context["sku_refs"] = {**record.context.get("sku_refs", {}), **refs}

    def _remember(self, record: Record, run: RunContext, entity: str, conn_name: str) -> None:
        """After every write succeeded: hashes, snapshot and SKU ownership, so a re-run is a no-op."""
        for name, digest in record.hashes.items():
            run.store.set_hash(f"{entity}:{name}", conn_name, record.key, digest)
        run.store.set_snapshot(entity, conn_name, record.key, record.canonical)
        for sku in record.context.get("skus") or []:
            run.store.map_id("sku_owner", conn_name, f"{record.key}#{sku}", sku)

    # -- quota

    @staticmethod
    def _today() -> str:
        return datetime.now(UTC).date().isoformat()

    def _over_quota(self, run: RunContext, conn_name: str) -> bool:
        limit = run.options.get(self.quota_option) if self.quota_option else None
        if not limit:
            return False
        return run.store.creates_on(conn_name, self._today()) >= int(limit)

    def _count_create(self, run: RunContext, conn_name: str) -> None:
        if self.quota_option:
            run.store.count_create(conn_name, self._today())

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "to", ctx)
        if ctx.get("bindings") and "create" not in options:
            found.append(_problem(options, "entity", "no create write for this entity",
                                  "declare entities.<entity>.writes on the connector, or write create: here"))
        named = [(action, options.get(action)) for action in BUILT_IN_WRITES]
        named += list((options.get("writes") or {}).items())
        writes = {action for action, spec in named if isinstance(spec, dict)}
        for action, spec in named:
            if isinstance(spec, YDict):
                found += _check_operation(spec, "operation", spec.get("operation"), options.get("to"), ctx)
                found += _check_mapping(spec, "mapping", ctx)
                for key in ("item_path_params", "skip_unchanged"):
                    if key in spec and "each" not in spec:
                        found.append(_problem(spec, key, f"{key} needs each:", "add each: <list of call bodies>"))
                if spec.get("skip_unchanged") and "mapping" not in spec:
                    found.append(_problem(spec, "skip_unchanged", "skip_unchanged needs mapping:",
                                          "the items of the last pushed record are made with the write's mapping"))
                if action == "create" and "each" in spec:
                    found.append(_problem(spec, "each", "a create is one call", "fan out a follow-up write instead"))
                if "lookup" in spec and not spec.get("once"):
                    found.append(_problem(spec, "lookup", "lookup: is for writes with once: true",
                                          "add once: true, or remove the lookup"))
                if isinstance(spec.get("lookup"), YDict):
                    found += _check_operation(spec["lookup"], "operation", spec["lookup"].get("operation"),
                                              options.get("to"), ctx)
                for follow in spec.get("then") or []:
                    if follow == action or follow not in writes:
                        found.append(_problem(spec, "then", f"then: names {follow!r}, which is not another write "
                                                            f"of this push", "add that write or remove it"))
        lookup = options.get("lookup_existing")
        if isinstance(lookup, YDict):
            found += _check_operation(lookup, "operation", lookup.get("operation"), options.get("to"), ctx)
        return found


def _idempotency_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
