"""pull: read records page by page from a role's connection, optionally only what changed since
the last complete read."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from engine.decimal_json import refused_error
from engine.errors import Problem, RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import ENTITY, EXPR, ROLE, Step, _check_operation, _check_role, _problem
from engine.http import NotFoundError, ValidationFailedError
from engine.lang.expr import ExprEvalError, Scope
from engine.lang.functions import parse_datetime, rfc3339
from engine.lang.mapping import _truthy

log = logging.getLogger(__name__)

# How values are written into one query parameter, for APIs whose filters are expressions (OData
# `$filter`): each value through `each`, joined with `join`, the result through `template`
# (`{value}` is replaced), and `combine` joins it to a value the parameter already has.
PARAM_FORMAT = {
    "each": {"type": "string", "description": "Each value written as this text, `{value}` replaced by it "
                                              "(e.g. `ID eq {value}`)."},
    "template": {"type": "string", "description": "The (joined) value written as this text, `{value}` replaced "
                                                  "by it (e.g. `UpdateDateUtc ge {value}`)."},
    "combine": {"type": "string", "description": "When the parameter already has a value (the read's own "
                                                 "filter), both are kept, each in parentheses, joined by this "
                                                 "(e.g. ` and `); unset: this value replaces it."},
}


def format_param(spec: dict, values: list[str], default_join: str = ",") -> str:
    """Several values for one query parameter, written the way `spec` (PARAM_FORMAT) says."""
    each = spec.get("each")
    parts = [each.replace("{value}", v) for v in values] if each else list(values)
    text = spec.get("join", default_join).join(parts)
    template = spec.get("template")
    return template.replace("{value}", text) if template else text


def paginated(conn: Any, operation: str) -> bool:
    """True when the connection's operation pages (its answers may hold part of what was asked)."""
    find = getattr(conn, "operation", None)
    return find is not None and getattr(find(operation), "paginator", None) is not None


def put_param(query: dict | None, name: str, value: Any, spec: dict) -> dict:
    """`query` with `value` in parameter `name`, combined with what is there when `spec` says how."""
    out = dict(query or {})
    combine = spec.get("combine")
    if combine and out.get(name) not in (None, ""):
        value = f"({out[name]}){combine}({value})"
    out[name] = value
    return out


SINCE = {
    "type": "object", "additionalProperties": False, "required": ["cursor"],
    "description": "Incremental read: send the stored cursor (minus the overlap) as a lower bound on the "
                   "records' update time. The first run reads everything; the cursor moves only after a "
                   "run read every page and ended without a connection-level failure.",
    "properties": {
        "cursor": {"type": "string", "description": "Cursor name in the state store (per flow and connection)."},
        "body": {"type": "string", "description": "Body field that takes the lower bound (e.g. update_time_ge)."},
        "query": {"type": "string", "description": "Query parameter that takes the lower bound (e.g. updated_at_min)."},
        "from": {**EXPR, "description": "The record's update time, as the list returns it (a connector's read "
                                        "declares it as changed_since.from)."},
        "format": {"enum": ["unix", "rfc3339"], "default": "unix",
                   "description": "How the bound is sent: Unix seconds or RFC 3339 text."},
        "template": PARAM_FORMAT["template"],
        "combine": PARAM_FORMAT["combine"],
        "overlap_seconds": {"type": "integer", "minimum": 0, "default": 0,
                            "description": "Read this far back before the cursor, for records written in the "
                                           "same second or indexed late; re-read records must be idempotent."},
        "overlap_option": {"type": "string",
                           "description": "Flow option that, when the merchant sets it, replaces overlap_seconds."},
    },
}


@STEPS.register("pull", options_schema={
    "type": "object", "additionalProperties": False, "required": ["from"],
    "anyOf": [{"required": ["entity"]}, {"required": ["operation"]}],
    "properties": {
        "from": ROLE,
        "entity": {**ENTITY, "description": "Read this entity the way the role's connector declares it "
                                            "(entities.<entity>.reads): operation, filters, detail, events."},
        "read": {"type": "string", "default": "all",
                 "description": "Which of the connector's named reads: all (default), live (for sale), ..."},
        "operation": {"type": "string", "description": "A paginated list operation of the connector (instead of "
                                                       "entity:, for a merchant's own flows)."},
        "query": {"type": "object", "description": "Extra query parameters."},
        "body": {"type": "object", "description": "Request body (search filters)."},
        "key": {**EXPR, "description": "The record's key (default: id)."},
        "items": {**EXPR, "description": "Records inside each pulled record, each then its own record (e.g. "
                                        "the fulfillments of an order: `fulfillments[].merge(@, {order: root()})`; "
                                        "root() is the pulled record)."},
        "detail": {"type": "object", "additionalProperties": False, "required": ["operation", "param"],
                   "description": "Fetch each record's full detail by id (when the list returns summaries).",
                   "properties": {"operation": {"type": "string", "description": "The operation that reads one record."},
                                  "param": {"type": "string", "description": "Its parameter that takes the key."},
                                  "in": {"enum": ["path", "query"], "default": "path",
                                         "description": "Where the key goes: a path parameter, or a query "
                                                        "parameter of a batch read (the first record returned)."},
                                  "when": {**EXPR, "description": "Only for list records where this is true "
                                                                  "(the summary lacks what is needed)."}}},
        "get": {"type": "object", "additionalProperties": False, "required": ["operation", "param"],
                "description": "How an event's record is read (the entity's get:), when the list needs no detail.",
                "properties": {"operation": {"type": "string"}, "param": {"type": "string"},
                               "in": {"enum": ["path", "query"], "default": "path"},
                               "result": {"type": "string", "description": "Unused by pull (fetch reads it)."},
                               "many": {"type": "boolean", "default": False,
                                        "description": "An id names a group of records, and every record the "
                                                       "read returns is one (an inventory item's levels at every "
                                                       "location); with in: query."},
                               "size": {"type": "integer", "minimum": 1, "default": 1,
                                        "description": "With many: ids per call, joined with commas."},
                               "join": {"type": "string", "default": ",",
                                        "description": "With many: several ids in one parameter, joined by this."},
                               **PARAM_FORMAT}},
        "scope": {**EXPR, "description": "Read only within these values (e.g. the locations a flow maps): an "
                                        "expression over the flow options that gives a list of ids; the "
                                        "connector's read names the parameter that takes them (its scope:)."},
        "scope_param": {"type": "object", "additionalProperties": False, "required": ["query"],
                        "description": "Where the scope's values go (from the connector's read: scope:).",
                        "properties": {"query": {"type": "string", "description": "The query parameter."},
                                       "join": {"type": "string", "default": ",",
                                                "description": "Several values in one parameter, joined by this."},
                                       "size": {"type": "integer", "minimum": 1, "default": 50,
                                                "description": "At most this many values per read."},
                                       **PARAM_FORMAT}},
        "since": SINCE,
        "events": {"type": "object", "additionalProperties": False, "required": ["id"],
                   "description": "Inbound events (webhooks) that name a changed record: each named record is "
                                  "read again with the detail operation and goes through the same steps.",
                   "properties": {"id": {**EXPR, "description": "The record's id in the event payload."},
                                  "when": {**EXPR, "description": "Only events where this is true."}}},
    }}, doc="Read records page by page from a role's connection; with `since`, only what changed.")
class Pull(Step):
    kind = "pull"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.key = run.exprs.jmespath(options.get("key", "id"))
        detail = options.get("detail") or {}
        self.detail_when = run.exprs.jmespath(detail["when"]) if detail.get("when") else None
        since = options.get("since")
        self.since_from = run.exprs.jmespath(since["from"]) if since else None
        events = options.get("events") or {}
        self.event_id = run.exprs.jmespath(events["id"]) if events else None
        self.event_when = run.exprs.jmespath(events["when"]) if events.get("when") else None
        self.items = run.exprs.jmespath(options["items"]) if options.get("items") else None
        self.scope = run.exprs.jmespath(options["scope"]) if options.get("scope") else None
        self.newest: datetime | None = None  # newest update time read by this run
        self.complete = False  # every page was read (no limit, no failure)

    # -- reading

    def records(self, run: RunContext) -> Iterator[Record]:
        conn = run.connection(self.options["from"])
        detail = self.options.get("detail")
        query, body = self._request(run)
        self.newest, self.complete = None, False
        count = 0
        for page in self._pages(conn, run, query, body):
            for item in page.records:
                self._observe(item)
                error = None
                if detail and self._wants_detail(item):
                    try:
                        item = self._detail(conn, detail, item)
                    except ValidationFailedError as exc:
                        # The platform refuses to read this one record (frozen, under review): a dead
                        # letter for it, not the end of the run.
                        error = exc
                for record in self._records_of(item, error):
                    yield record
                    count += 1
                    if run.limit is not None and count >= run.limit:
                        return  # a partial read never moves the cursor
        self.complete = True
        if count == 0 and self.scope is not None:
            # A scoped read finding nothing at all is most often an id that does not exist (a
            # location copied from another shop): say so, since the run itself has nothing to fail.
            log.warning("%s: %s found nothing within %s: check that these ids exist at %s",
                        run.flow, self.options["operation"], ", ".join(self._scope_values(run)) or "(none)",
                        self.options["from"])

    def _pages(self, conn: Any, run: RunContext, query: dict | None, body: dict | None) -> Iterator[Any]:
        """The pages of the read; with a scope, of one read per batch of the scope's values."""
        if self.scope is None:
            yield from conn.paginate(self.options["operation"], query=query, body=body)
            return
        values = self._scope_values(run)
        param = self.options.get("scope_param") or {}
        size = int(param.get("size", 50))
        for start in range(0, len(values), size):
            scoped = put_param(query, param["query"], format_param(param, values[start:start + size]), param)
            yield from conn.paginate(self.options["operation"], query=scoped, body=body)

    def _scope_values(self, run: RunContext) -> list[str]:
        options = dict(run.options)
        found = self.scope.evaluate(Scope(options, options, None, options)) or []
        return list(dict.fromkeys(str(v) for v in (found if isinstance(found, list) else [found])
                                  if v not in (None, "")))

    def _records_of(self, item: Any, error: Exception | None) -> Iterator[Record]:
        error = error or refused_error(item)  # a number the JSON reader refused: this record's dead letter
        if self.items is None or error is not None:
            yield Record(key=self._key(item), native=item, data=item, read_error=error)
            return
        try:
            inner = self.items.evaluate(Scope(item, item, None, {})) or []
        except ExprEvalError as exc:
            yield Record(key=str(self._key(item)), native=item, data=item,
                         read_error=RecordError(f"items: {exc}", step="pull"))
            return
        for each in inner:
            yield Record(key=self._key(each), native=each, data=each)

    def event_records(self, run: RunContext, payloads: Iterable[Any]) -> Iterator[Record]:
        """The records named by inbound events (parsed payloads, already verified and stored), each
        read once with the detail operation. Feed them to ``FlowRun.run(records=...)``: the steps
        after the pull are the same as for a poll, and the poll's cursor does not move."""
        read_one = self.options.get("get") or self.options.get("detail")
        if self.event_id is None or not read_one:
            raise RecordError("this pull step takes no events (it needs events: and a get: or detail:)", step="pull")
        ids: dict[str, None] = {}
        for payload in payloads:
            scope = Scope(payload, payload, None, {})
            try:
                if self.event_when is not None and not _truthy(self.event_when.evaluate(scope)):
                    continue
                value = self.event_id.evaluate(scope)
            except ExprEvalError:
                continue  # an event of another shape (other topics share the endpoint)
            if value not in (None, ""):
                ids.setdefault(str(value), None)  # a burst of events about one record: one read
        conn, detail = run.connection(self.options["from"]), read_one
        if detail.get("many"):
            yield from self._read_groups(conn, detail, list(ids))
            return
        batch = conn.operation(detail["operation"]).batch if detail.get("in") == "query" else None
        if batch is not None and batch.field == detail["param"] and batch.where == "query" and batch.size > 1:
            # The read takes a list of ids (an order detail read of 50): a burst of events costs one
            # call per batch, not one per record.
            yield from self._read_batched(conn, detail, list(ids), batch.size)
            return
        for record_id in ids:
            try:
                item = self._read_one(conn, detail, record_id)
            except NotFoundError:
                item = None
            if item is None:
                continue  # no longer readable (deleted, frozen); the next poll reports what it can
            yield from self._records_of(item, None)

    def _read_batched(self, conn: Any, detail: dict, ids: list[str], size: int) -> Iterator[Record]:
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            try:
                found = conn.call(detail["operation"], query={detail["param"]: ",".join(chunk)}).records or []
            except NotFoundError:
                found = []
            by_key = {self._key(item): item for item in found}
            for record_id in chunk:  # in the events' order; ids not returned are no longer readable
                if record_id in by_key:
                    yield from self._records_of(by_key[record_id], None)

    def _read_groups(self, conn: Any, detail: dict, ids: list[str]) -> Iterator[Record]:
        """Each id names a group of records (an inventory item's levels): every record read is one,
        `size` ids per call."""
        size = int(detail.get("size", 1))
        pages = paginated(conn, detail["operation"])
        for start in range(0, len(ids), size):
            query = {detail["param"]: format_param(detail, ids[start:start + size])}
            try:
                if pages:  # every page: a record left unread would be taken as gone
                    found = [r for page in conn.paginate(detail["operation"], query=query) for r in page.records or []]
                else:
                    found = conn.call(detail["operation"], query=query).records or []
            except NotFoundError:
                continue
            for item in found:
                yield from self._records_of(item, None)

    def _request(self, run: RunContext) -> tuple[dict | None, dict | None]:
        query, body = self.options.get("query"), self.options.get("body")
        since = self.options.get("since")
        if not since:
            return query, body
        stored = run.store.get_cursor(run.flow, run.conn_name(self.options["from"]), since["cursor"])
        if stored is None:
            return query, body  # first run: read everything
        bound = parse_datetime(stored) - timedelta(seconds=self._overlap(run))
        value: Any = int(bound.timestamp()) if since.get("format", "unix") == "unix" else rfc3339(bound)
        if "body" in since:
            return query, {**(body or {}), since["body"]: value}
        if since.get("template"):
            value = since["template"].replace("{value}", str(value))
        return put_param(query, since["query"], value, since), body

    def _overlap(self, run: RunContext) -> int:
        since = self.options["since"]
        option = since.get("overlap_option")
        if option and run.options.get(option) is not None:
            return int(run.options[option])
        return int(since.get("overlap_seconds", 0))

    def _observe(self, item: Any) -> None:
        if self.since_from is None:
            return
        try:
            value = self.since_from.evaluate(Scope(item, item, None, {}))
            moment = None if value in (None, "") else parse_datetime(value)
        except (ExprEvalError, ValueError, OverflowError):
            # A record without a readable update time cannot move the cursor; it is still processed.
            return
        if moment is not None and (self.newest is None or moment > self.newest):
            self.newest = moment

    def _wants_detail(self, item: Any) -> bool:
        if self.detail_when is None:
            return True
        try:
            return _truthy(self.detail_when.evaluate(Scope(item, item, None, {})))
        except ExprEvalError:
            return True  # when in doubt, read the full record

    @staticmethod
    def _read_one(conn: Any, detail: dict, record_id: str) -> Any:
        if detail.get("in") == "query":
            response = conn.call(detail["operation"], query={detail["param"]: record_id})
            return next(iter(response.records), None)
        return conn.call(detail["operation"], path_params={detail["param"]: record_id}).record

    def _detail(self, conn: Any, detail: dict, item: Any) -> Any:
        try:
            found = self._read_one(conn, detail, self._key(item))
            return item if found is None else found
        except NotFoundError:
            # Gone between the list and the detail call (deleted, frozen): the list record is
            # still the best account of it.
            return item

    def _key(self, item: Any) -> str:
        value = self.key.evaluate(Scope(item, item, None, {}))
        if value is None:
            raise RecordError("the record has no key", step="pull")
        return str(value)

    # -- after the run

    def finish(self, run: RunContext) -> None:
        """Move the cursor to the newest update time read. The runner calls this only when the run
        ended without a connection-level failure; a dry run or a partial read leaves it alone."""
        since = self.options.get("since")
        if not since or run.dry_run or not self.complete or self.newest is None:
            return
        conn_name = run.conn_name(self.options["from"])
        stored = run.store.get_cursor(run.flow, conn_name, since["cursor"])
        if stored is not None and parse_datetime(stored) >= self.newest:
            return  # never move backwards (records read in the overlap are older)
        run.store.set_cursor(run.flow, conn_name, since["cursor"], rfc3339(self.newest))

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "from", ctx)
        if ctx.get("bindings") and "operation" not in options:
            found.append(_problem(options, "entity", "no operation to read with",
                                  "declare a read under the connector's entities, or name operation:"))
        found += _check_operation(options, "operation", options.get("operation"), options.get("from"), ctx)
        if options.get("detail"):
            found += _check_operation(options["detail"], "operation", options["detail"].get("operation"),
                                      options.get("from"), ctx)
        if options.get("events") and not (options.get("detail") or options.get("get")):
            found.append(_problem(options, "events", "events: needs detail: or get:, the operation that reads one "
                                                     "record", "add detail: {operation: ..., param: ...}"))
        if options.get("scope") and "operation" in options and not options.get("scope_param"):
            found.append(_problem(options, "scope", "this read takes no scope",
                                  "declare scope: {query: <parameter>} on the connector's read"))
        read_one = options.get("get") or options.get("detail") or {}
        if read_one.get("many") and read_one.get("in") != "query":
            found.append(_problem(options, "get" if options.get("get") else "detail",
                                  "many: true reads ids through a query parameter", "add in: query"))
        since = options.get("since")
        resolved = "operation" in options  # an entity read takes body/query/from from the connector
        if since and resolved and "from" not in since:
            found.append(_problem(options, "since", "`since` needs from:, the record's update time",
                                  "declare changed_since on the connector's read, or add from: here"))
        if since and resolved and ("body" in since) == ("query" in since):
            found.append(_problem(options, "since", "`since` needs exactly one of body: or query:",
                                  "name the body field (e.g. update_time_ge) or the query parameter "
                                  "(e.g. updated_at_min) that takes the lower bound"))
        option = since.get("overlap_option") if since else None
        if option and option not in (ctx["flow"].get("options") or {}):
            found.append(_problem(since, "overlap_option", f"the flow declares no option {option!r}",
                                  "declare it under the flow's options: (an integer number of seconds)"))
        return found

