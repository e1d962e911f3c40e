"""The step vocabulary. Each kind is declared once: its options schema (used by `connector
validate` and the docs) and its class. Steps compile their expressions when the flow is built.

A flow reads like: pull -> map -> validate -> check -> match -> diff -> (upload_images) -> map ->
push, with `track` for status read-back and `acknowledge` for inbound events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from ..errors import Problem, RecordError
from ..expr import ExprEvalError, Scope
from ..mapping import _truthy
from ..state.hashing import content_hash
from ..validate import _did_you_mean
from ..yamlpos import YDict, format_path, locate
from .context import RunContext
from .record import Record
from .registry import STEPS

ROLE = {"type": "string", "description": "A flow role (see the flow's `roles:`)."}
EXPR = {"type": "string", "description": "JMESPath expression."}
ACTIONS = {"type": "array", "items": {"enum": ["create", "update", "price_update", "inventory_update"]},
           "description": "Run this step only for records whose planned action is one of these."}


def _problem(options: Any, key: str, message: str, hint: str = "") -> Problem:
    return Problem(message, locate(options, [key]), format_path([*getattr(options, "path", ()), key]), hint)


def _check_role(options: Any, key: str, ctx: dict) -> list[Problem]:
    role = options.get(key)
    if role is not None and role not in ctx["roles"]:
        return [_problem(options, key, f"unknown role {role!r}", "roles of this flow: " + ", ".join(ctx["roles"]))]
    return []


def _check_operation(options: Any, key: str, op: Any, role: str | None, ctx: dict) -> list[Problem]:
    """With a merchant binding, the operation must exist in the bound connector."""
    connection = (ctx.get("bindings") or {}).get(role) if role else None
    validator = ctx["validator"]
    if not connection or op is None:
        return []
    connector = validator.project.get("connector", connection["connector"])
    if connector is None:
        return []
    ops = list((connector.doc.get("operations") or {}).keys())
    if op not in ops:
        return [_problem(options, key, f"connector {connector.name!r} has no operation {op!r}",
                         _did_you_mean(op, ops))]
    return []


def _check_mapping(options: Any, key: str, ctx: dict) -> list[Problem]:
    name = options.get(key)
    validator = ctx["validator"]
    if name is not None and validator.project.get("mapping", name) is None:
        return [_problem(options, key, f"unknown mapping {name!r}",
                         _did_you_mean(name, validator.project.names("mapping")))]
    return []


class Step:
    kind = ""

    def __init__(self, options: dict, run: RunContext) -> None:
        self.options = options
        self.only = set(options.get("actions") or [])

    def applies(self, record: Record) -> bool:
        return not self.only or record.action in self.only

    def process(self, record: Record, run: RunContext) -> Record | None:
        raise NotImplementedError

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return []


# ---------------------------------------------------------------------------------------- pull


@STEPS.register("pull", options_schema={
    "type": "object", "additionalProperties": False, "required": ["from", "operation"],
    "properties": {
        "from": ROLE,
        "operation": {"type": "string", "description": "A paginated list operation of the connector."},
        "query": {"type": "object", "description": "Extra query parameters."},
        "body": {"type": "object", "description": "Request body (search filters)."},
        "key": {**EXPR, "description": "The record's key (default: id)."},
        "detail": {"type": "object", "additionalProperties": False, "required": ["operation", "param"],
                   "description": "Fetch each record's full detail by id (when the list returns summaries).",
                   "properties": {"operation": {"type": "string"}, "param": {"type": "string"}}},
    }}, doc="Read records page by page from a role's connection.")
class Pull(Step):
    kind = "pull"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.key = run.exprs.jmespath(options.get("key", "id"))

    def records(self, run: RunContext) -> Iterator[Record]:
        conn = run.connection(self.options["from"])
        detail = self.options.get("detail")
        count = 0
        for page in conn.paginate(self.options["operation"], query=self.options.get("query"),
                                  body=self.options.get("body")):
            for item in page.records:
                if detail:
                    item = conn.call(detail["operation"], path_params={detail["param"]: self._key(item)}).record
                yield Record(key=self._key(item), native=item, data=item)
                count += 1
                if run.limit is not None and count >= run.limit:
                    return

    def _key(self, item: Any) -> str:
        value = self.key.evaluate(Scope(item, item, None, {}))
        if value is None:
            raise RecordError("the record has no key", step="pull")
        return str(value)

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "from", ctx)
        found += _check_operation(options, "operation", options.get("operation"), options.get("from"), ctx)
        if options.get("detail"):
            found += _check_operation(options["detail"], "operation", options["detail"].get("operation"),
                                      options.get("from"), ctx)
        return found


# ---------------------------------------------------------------------------------------- map


@STEPS.register("map", options_schema={
    "type": "object", "additionalProperties": False, "required": ["mapping"],
    "properties": {
        "mapping": {"type": "string", "description": "Mapping name."},
        "market": {**ROLE, "description": "Whose region and currency the mapping sees as var('region')/var('currency')."},
        "actions": ACTIONS,
    }}, doc="Apply a compiled mapping. Field errors send the record to the dead-letter queue.")
class Map(Step):
    kind = "map"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.plan = run.plans[options["mapping"]]
        self.base_context = run.mapping_context(options.get("market"))
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
        return _check_mapping(options, "mapping", ctx) + _check_role(options, "market", ctx)


# ---------------------------------------------------------------------------------------- validate


@STEPS.register("validate", options_schema={
    "type": "object", "additionalProperties": False, "required": ["entity"],
    "properties": {"entity": {"type": "string", "description": "Canonical entity name."}},
}, doc="Check the record against its canonical JSON Schema; every violation is a field error.")
class Validate(Step):
    kind = "validate"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.validator = run.schemas.canonical.validator(options["entity"])

    def process(self, record: Record, run: RunContext) -> Record | None:
        errors = sorted(self.validator.iter_errors(record.data), key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            raise RecordError(f"{len(errors)} field(s) do not fit the canonical {self.options['entity']}",
                              step="validate", field_errors=[
                                  {"field": format_path(e.absolute_path) or "(record)", "message": e.message}
                                  for e in errors])
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        names = ctx["validator"].schemas.canonical.entity_names()
        if options["entity"] not in names:
            return [_problem(options, "entity", f"unknown canonical entity {options['entity']!r}",
                             "known: " + ", ".join(names))]
        return []


# ---------------------------------------------------------------------------------------- check


RULE = {
    "type": "object", "additionalProperties": False, "required": ["name", "assert", "message"],
    "properties": {
        "name": {"type": "string"},
        "when": {**EXPR, "description": "Apply the rule only when this is truthy (e.g. a region test)."},
        "assert": {**EXPR, "description": "Must be truthy for the record to pass."},
        "field": {"type": "string", "description": "The field the error is reported on."},
        "message": {"type": "string", "description": "Shown in the dead letter; {{ }} templates allowed."},
    },
}


@STEPS.register("check", options_schema={
    "type": "object", "additionalProperties": False, "required": ["rules"],
    "properties": {
        "market": {**ROLE, "description": "Whose region the rules see as var('region')."},
        "rules": {"type": "array", "minItems": 1, "items": RULE},
    }}, doc="Business rules (channel listing requirements, region limits) checked before anything is sent.")
class Check(Step):
    kind = "check"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.context = run.mapping_context(options.get("market"))
        self.rules = [
            (rule["name"], run.exprs.jmespath(rule["when"]) if rule.get("when") else None,
             run.exprs.jmespath(rule["assert"]), rule.get("field", ""), run.exprs.template(rule["message"]))
            for rule in options["rules"]
        ]

    def process(self, record: Record, run: RunContext) -> Record | None:
        scope = Scope(record.data, record.data, None, {**self.context, **record.context})
        failures = []
        for name, when, test, field, message in self.rules:
            try:
                if when is not None and not _truthy(when.evaluate(scope)):
                    continue
                passed = _truthy(test.evaluate(scope))
            except ExprEvalError as exc:
                passed, message_text = False, f"rule could not be evaluated: {exc}"
            else:
                message_text = message.evaluate(scope) if not passed else ""
            if not passed:
                failures.append({"field": field or "(record)", "rule": name, "message": message_text})
        if failures:
            raise RecordError(f"{len(failures)} rule(s) failed", step="check", field_errors=failures)
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        from ..expr import ExprCompileError

        found = _check_role(options, "market", ctx)
        exprs = ctx["validator"].exprs
        for index, rule in enumerate(options.get("rules") or []):
            for key in ("when", "assert"):
                if key in rule:
                    try:
                        exprs.jmespath(rule[key])
                    except ExprCompileError as exc:
                        found.append(Problem(str(exc), locate(options, ["rules", index, key]),
                                             format_path([*options.path, "rules", index, key]), exc.hint))
        return found


# ---------------------------------------------------------------------------------------- match


@STEPS.register("match", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity"],
    "properties": {
        "on": {**ROLE, "description": "The connection whose ids are looked up."},
        "entity": {"type": "string"},
        "skus": {**EXPR, "description": "The record's SKUs (default variants[].sku): checked for duplicates and "
                                        "given to later mappings as the sku_ids table of known remote SKU ids."},
    }}, doc="Find the record's remote id in the ID map; refuse SKUs another record already owns.")
class Match(Step):
    kind = "match"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.skus = run.exprs.jmespath(options.get("skus", "variants[].sku"))
        self.claimed: dict[str, str] = {}  # SKUs seen in this run -> record key

    def process(self, record: Record, run: RunContext) -> Record | None:
        entity, conn = self.options["entity"], run.conn_name(self.options["on"])
        record.remote_id = run.store.get_remote_id(entity, conn, record.key)
        skus = self.skus.evaluate(Scope(record.data, record.data, None, {})) or []
        duplicates = []
        for sku in skus:
            owned = run.store.find_key_by_remote_id("sku_owner", conn, sku)
            owner = self.claimed.get(sku) or (owned.rsplit("#", 1)[0] if owned else None)
            if owner is not None and owner != record.key:
                duplicates.append({"field": "variants.sku", "message": f"SKU {sku!r} is already used by {entity} {owner}"})
        if duplicates:
            raise RecordError("duplicate SKU across products", step="match", field_errors=duplicates)
        for sku in skus:
            self.claimed[sku] = record.key
        record.context["skus"] = list(skus)
        sku_ids = {}
        for sku in skus:
            remote = run.store.get_remote_id("sku", conn, sku)
            if remote:
                sku_ids[sku] = remote
        record.context["sku_ids"] = sku_ids
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "on", ctx)


# ---------------------------------------------------------------------------------------- diff


@STEPS.register("diff", options_schema={
    "type": "object", "additionalProperties": False, "required": ["on", "entity", "parts"],
    "properties": {
        "on": ROLE,
        "entity": {"type": "string"},
        "parts": {
            "type": "object", "required": ["content"],
            "description": "Named JMESPath projections hashed separately. `content` changes mean a full update; "
                           "a change in another part alone means that part's action (price -> price_update, "
                           "inventory -> inventory_update).",
            "additionalProperties": EXPR,
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
        snapshot = run.store.kv_get(f"snapshot:{entity}:{conn}", record.key)
        record.previous = snapshot.get("record") if snapshot else None
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


# ---------------------------------------------------------------------------------------- upload_images


@STEPS.register("upload_images", options_schema={
    "type": "object", "additionalProperties": False, "required": ["to", "operation", "urls", "context_key", "result"],
    "properties": {
        "to": ROLE,
        "operation": {"type": "string", "description": "A multipart upload operation."},
        "urls": {**EXPR, "description": "The image URLs of the record."},
        "file_field": {"type": "string", "default": "data"},
        "form": {"type": "object", "description": "Other multipart fields, e.g. {use_case: MAIN_IMAGE}."},
        "result": {**EXPR, "description": "What to keep from the upload response record (e.g. uri)."},
        "context_key": {"type": "string", "description": "Later mappings read URL -> result from this context table."},
        "actions": ACTIONS,
    }}, doc="Fetch each image once and upload it to the channel; results are cached in the ID map by URL.")
class UploadImages(Step):
    kind = "upload_images"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.urls = run.exprs.jmespath(options["urls"])
        self.result = run.exprs.jmespath(options["result"])
        self.fetcher = httpx.Client(timeout=30, follow_redirects=True)

    def process(self, record: Record, run: RunContext) -> Record | None:
        conn_name = run.conn_name(self.options["to"])
        table = {}
        for url in self.urls.evaluate(Scope(record.data, record.data, None, {})) or []:
            known = run.store.get_remote_id("image", conn_name, url)
            if known:
                table[url] = known
                continue
            if run.dry_run:
                table[url] = f"(would upload {url})"
                continue
            try:
                fetched = self.fetcher.get(url)
                fetched.raise_for_status()
            except httpx.HTTPError as exc:
                raise RecordError(f"image {url} could not be fetched: {exc}", step="upload_images",
                                  field_errors=[{"field": "images", "message": f"cannot fetch {url}"}],
                                  retryable=True) from None
            name = url.rsplit("/", 1)[-1].split("?")[0] or "image.jpg"
            files = {self.options.get("file_field", "data"): (name, fetched.content,
                                                              fetched.headers.get("content-type", "image/jpeg"))}
            response = run.connection(self.options["to"]).call(self.options["operation"], files=files,
                                                                body=self.options.get("form"))
            value = self.result.evaluate(Scope(response.record, response.record, None, {}))
            if not value:
                raise RecordError(f"image upload of {url} returned no {self.options['result']}", step="upload_images")
            run.store.map_id("image", conn_name, url, str(value))
            table[url] = str(value)
        record.context[self.options["context_key"]] = table
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "to", ctx) + _check_operation(options, "operation", options.get("operation"),
                                                                  options.get("to"), ctx)


# ---------------------------------------------------------------------------------------- push

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


# ---------------------------------------------------------------------------------------- track


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
