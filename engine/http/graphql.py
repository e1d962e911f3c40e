"""GraphQL over HTTP as a request kind of the connector runtime, with its paginator and limiter.

An operation that declares `request: {kind: graphql, document: ..., variables: ...}` is sent as
`POST {"query": document, "variables": {...}}`. The variables are built by a JMESPath expression
over what the caller passed (`{path, query, body}`), so a flow's mapped body, a read's filters or a
record id become the operation's variables without the flow knowing the API speaks GraphQL. The
result is selected by the operation's `records`/`record` expressions, as for REST; `userErrors`
inside `data` become the operation's item errors (field-level record errors); top-level `errors`
are classified by the connector's `errors:` rules like any failed answer.

- `cursor_page_info` pages a connection through `pageInfo {hasNextPage endCursor}`, putting the
  cursor into a variable (`after`).
- `graphql_cost` paces calls by the calculated query cost: the bucket the server reports in
  `extensions.cost.throttleStatus` after every answer corrects the local model, a call waits until
  the bucket holds its expected cost (plus headroom), and a THROTTLED answer is retried after the
  time the bucket needs to refill that cost.

The documents are parsed when the connector is compiled (graphql-core), so a syntax error or an
undeclared variable is a `connector validate` error with its field path, never a run-time one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import jmespath
from graphql import GraphQLSyntaxError, OperationDefinitionNode, parse

from engine import decimal_json
from engine.http import notices
from engine.http.paginate import _MAX_PAGES, PAGINATORS, PageRequest, PageState, Paginator, _stop_schema
from engine.http.ratelimit import RATE_LIMITS, Limiter
from engine.registry import Registry

REQUEST_KINDS = Registry("request")


class RequestKind:
    """Interface of a request kind: `body(inputs, idempotency_key)` gives the JSON body to send."""

    idempotency_variable: str | None = None

    def body(self, path: Mapping[str, Any], query: Mapping[str, Any], body: Any,
             idempotency_key: str | None) -> Any:
        raise NotImplementedError


@REQUEST_KINDS.register(
    "graphql",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "graphql"},
            "document": {"type": "string", "description": "The query or mutation document (one operation); "
                         "checked for syntax when the connector is compiled."},
            "variables": {"type": "string", "default": "body",
                          "description": "JMESPath over {path, query, body} (what the caller passed: path "
                          "parameters, query filters, mapped body) giving the variables object."},
            "idempotency_variable": {"type": "string", "description": "The document variable that takes the "
                                     "idempotency key (used by `@idempotent(key: $NAME)`); the caller's stable "
                                     "key, or one generated per call and reused by its retries."},
            "user_errors": {"type": "string", "default": "data.*.userErrors[]",
                            "description": "JMESPath to the mutation's userErrors: each becomes a field-level "
                            "error of the record (field = the joined `field` path)."},
        },
        "required": ["kind", "document"],
        "additionalProperties": False,
    },
    doc="GraphQL over HTTP: POST {query, variables}; variables built by an expression; userErrors are "
        "record errors.",
)
class GraphQLRequest(RequestKind):
    def __init__(self, options: dict, expr: Callable[[str], Any] = jmespath.compile) -> None:
        self.document = options["document"]
        try:
            parsed = parse(self.document)
        except GraphQLSyntaxError as exc:
            raise ValueError(f"GraphQL syntax error: {exc.message} (line {exc.locations[0].line}, "
                             f"column {exc.locations[0].column})" if exc.locations else exc.message) from None
        ops = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
        if len(ops) != 1:
            raise ValueError(f"a document holds exactly one query or mutation, found {len(ops)}")
        self.declared = tuple(v.variable.name.value for v in ops[0].variable_definitions or ())
        self.is_mutation = ops[0].operation.value == "mutation"
        self.variables = expr(options.get("variables", "body"))
        self.idempotency_variable = options.get("idempotency_variable")
        if self.idempotency_variable and self.idempotency_variable not in self.declared:
            raise ValueError(f"idempotency_variable ${self.idempotency_variable} is not declared by the document")
        self.user_errors = options.get("user_errors", "data.*.userErrors[]")

    def body(self, path, query, body, idempotency_key):
        found = self.variables.search({"path": dict(path or {}), "query": dict(query or {}), "body": body})
        variables = {k: v for k, v in (found or {}).items() if k in self.declared} if isinstance(found, dict) else {}
        if self.idempotency_variable and idempotency_key:
            variables[self.idempotency_variable] = idempotency_key
        return {"query": self.document, "variables": variables}


@REQUEST_KINDS.register(
    "graphql_bulk",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "graphql_bulk"},
            "document": {"type": "string", "description": "The bulk query: one connection over every object "
                         "(e.g. `{ products { edges { node { id variants { edges { node { id sku } } } } } } }`)."},
            "start": {"type": "string", "description": "The operation that starts it (bulkOperationRunQuery, "
                      "taking the document as `body.query`; its record is the bulk operation)."},
            "poll": {"type": "string", "description": "The operation that reads the bulk operation by id (path "
                     "parameter `id`): {status, errorCode, url}."},
            "poll_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 2,
                             "description": "Wait between two polls."},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 14400,
                                "description": "Give up when the operation has not finished by then."},
            "children": {"type": "object", "additionalProperties": {"type": "string"},
                         "description": "Child line object type (from its gid) -> the field of its parent that "
                         "holds them, as `{nodes: [...]}` (the shape a paged read gives): e.g. "
                         "{ProductVariant: variants}."},
            "page_size": {"type": "integer", "minimum": 1, "default": 250,
                          "description": "Joined records handed to the flow at a time."},
        },
        "required": ["kind", "document", "start", "poll"],
        "additionalProperties": False,
    },
    doc="A full read as a bulk operation: start it, poll it, stream its JSONL line by line, children joined "
        "to their parents by __parentId.",
)
class GraphQLBulkRead(RequestKind):
    """The result file is never loaded: lines are read one at a time and a record is handed on as
    soon as the next top-level line starts, so memory holds one page of records at a time."""

    streams = True
    TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")

    def __init__(self, options: dict, expr: Callable[[str], Any] = jmespath.compile) -> None:
        self.document = options["document"]
        try:
            parse(self.document)
        except GraphQLSyntaxError as exc:
            raise ValueError(f"GraphQL syntax error in the bulk query: {exc.message}") from None
        self.start, self.poll = options["start"], options["poll"]
        self.poll_seconds = float(options.get("poll_seconds", 2))
        self.timeout = float(options.get("timeout_seconds", 14400))
        self.children = dict(options.get("children") or {})
        self.page_size = int(options.get("page_size", 250))

    def body(self, path, query, body, idempotency_key):
        return {"query": self.document}

    def pages(self, conn: Any, op: str) -> Iterator[list]:
        from engine.http.errors import HttpCallError, PaginationError, TransportError

        started = conn.call(self.start, body={"query": self.document})
        if started.item_errors:
            raise HttpCallError(f"{op}: the bulk operation was refused: {started.item_errors[0].message}", op=op)
        operation = started.record or {}
        ident, waited = operation.get("id"), 0.0
        if not ident:
            raise HttpCallError(f"{op}: the bulk operation start returned no id", op=op)
        try:
            while operation.get("status") not in self.TERMINAL:
                if waited >= self.timeout:
                    raise HttpCallError(f"{op}: bulk operation {ident} did not finish in {self.timeout:.0f} s",
                                        op=op, retryable=True)
                # Until the next poll, or until the platform's finish webhook names this operation
                # (a connector's webhooks.notices, heard by `connector serve` in this process).
                notices.wait(ident, self.poll_seconds, conn.sleep)
                waited += self.poll_seconds
                operation = conn.call(self.poll, path_params={"id": ident}).record or {}
        finally:
            notices.forget(ident)
        if operation["status"] != "COMPLETED":
            raise HttpCallError(f"{op}: bulk operation {ident} ended {operation['status']}"
                                f" ({operation.get('errorCode') or 'no error code'})", op=op)
        url = operation.get("url")
        if not url:  # nothing matched: the platform gives no file
            return
        try:
            # A signed download URL: no credentials are sent with it.
            with conn._client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise HttpCallError(f"{op}: the bulk result answered HTTP {response.status_code}", op=op,
                                        status=response.status_code, retryable=response.status_code >= 500)
                page: list = []
                for record in self._join(response.iter_lines(), op, PaginationError):
                    page.append(record)
                    if len(page) >= self.page_size:
                        yield page
                        page = []
                if page:
                    yield page
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__} while reading the bulk result", op=op) from None

    def _join(self, lines: Iterator[str], op: str, error: type) -> Iterator[dict]:
        root: dict | None = None
        known: dict[str, dict] = {}  # ids of the current record's objects, for grandchildren
        for line in lines:
            if not line.strip():
                continue
            item = decimal_json.loads(line, keep_refused=True)
            parent_id = item.pop("__parentId", None)
            if parent_id is None:
                if root is not None:
                    yield root
                root, known = item, {str(item.get("id")): item}
                continue
            parent = known.get(str(parent_id))
            if parent is None:
                raise error(f"bulk result: a line names parent {parent_id}, which is not the record being read "
                            "(the file is read in order: a parent, then its children)", op=op)
            kind = str(item.get("id", "")).split("/")[3] if str(item.get("id", "")).count("/") >= 4 else ""
            field = self.children.get(kind)
            if field is None:
                raise error(f"bulk result: child line of type {kind or '(no id)'} has no field in `children`", op=op)
            parent.setdefault(field, {"nodes": []})["nodes"].append(item)
            if item.get("id"):
                known[str(item["id"])] = item
        if root is not None:
            yield root


def build_request_kind(options: dict, expr: Callable[[str], Any]) -> RequestKind:
    return REQUEST_KINDS.get(options["kind"]).impl(options, expr)


# --------------------------------------------------------------------------------- pagination


@PAGINATORS.register(
    "cursor_page_info",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "cursor_page_info"},
            "page_info_path": {"type": "string", "description": "JMESPath to the connection's pageInfo "
                               "{hasNextPage, endCursor} in the answer body."},
            "cursor_variable": {"type": "string", "default": "after",
                                "description": "Variable that takes the end cursor of the page before."},
            "page_size_variable": {"type": "string", "default": "first", "description": "Variable for the page size."},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 250, "description": "Page size to request."},
            "stop_on": _stop_schema(["no_next_page", "empty_page", "repeated_token"], ["no_next_page"]),
            "max_pages": _MAX_PAGES,
        },
        "required": ["kind", "page_info_path", "stop_on"],
        "additionalProperties": False,
    },
)
class PageInfoPaginator(Paginator):
    """GraphQL connection paging: `pageInfo.hasNextPage` false ends it, otherwise the next request
    sends `endCursor` in the cursor variable (the body's `variables`)."""

    def __init__(self, options: dict, expr: Callable[[str], Any] = jmespath.compile) -> None:
        super().__init__(options, expr)
        self.page_info = self.expr(options["page_info_path"])
        self.cursor_variable = options.get("cursor_variable", "after")
        self.size_variable = options.get("page_size_variable", "first")

    def _with(self, body: Any, values: dict) -> dict:
        body = dict(body or {})
        body["variables"] = {**(body.get("variables") or {}), **values}
        return body

    def first(self, query, body):
        values = {self.size_variable: self.page_size} if self.page_size else {}
        current = (body or {}).get("variables") or {}
        values = {k: v for k, v in values.items() if current.get(k) is None}
        return PageRequest(dict(query), self._with(body, values) if values else body)

    def next(self, request, body, headers, records, state: PageState):
        info = self.page_info.search(body) if body is not None else None
        if not isinstance(info, dict) or not info.get("hasNextPage") or not info.get("endCursor"):
            state.stopped_by = "no_next_page"
            return None
        if "empty_page" in self.stop_on and not records:
            state.stopped_by = "empty_page"
            return None
        cursor = str(info["endCursor"])
        return PageRequest(dict(request.query), self._with(request.body, {self.cursor_variable: cursor}), marker=cursor)


# --------------------------------------------------------------------------------- rate limit


@RATE_LIMITS.register(
    "graphql_cost",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "graphql_cost"},
            "maximum": {"type": "number", "exclusiveMinimum": 0,
                        "description": "Bucket size in cost points until an answer reports maximumAvailable."},
            "restore_rate": {"type": "number", "exclusiveMinimum": 0,
                             "description": "Points restored per second until an answer reports restoreRate."},
            "cost_path": {"type": "string", "default": "extensions.cost",
                          "description": "JMESPath to {requestedQueryCost, actualQueryCost, throttleStatus"
                          "{maximumAvailable, currentlyAvailable, restoreRate}} in every answer."},
            "default_cost": {"type": "number", "minimum": 0, "default": 50,
                             "description": "Expected cost of an operation before its first answer tells it."},
            "headroom": {"type": "number", "minimum": 0, "default": 50,
                         "description": "Points kept in the bucket for other clients of the same app and for "
                         "a query that costs more than last time: a call waits until the bucket holds its "
                         "cost plus this."},
        },
        "required": ["kind", "maximum", "restore_rate"],
        "additionalProperties": False,
    },
    doc="Calculated query cost bucket, corrected from every answer's cost extension; paced so it never empties.",
)
class GraphQLCost(Limiter):
    def __init__(self, options: dict, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.clock, self.sleep = clock, sleep
        self.maximum = float(options["maximum"])
        self.restore = float(options["restore_rate"])
        self.cost_path = jmespath.compile(options.get("cost_path", "extensions.cost"))
        self.default_cost = float(options.get("default_cost", 50))
        self.headroom = float(options.get("headroom", 50))
        self._available = self.maximum
        self._stamp = clock()
        self._costs: dict[str, tuple[float, float]] = {}  # op -> (requested, charged), learned from answers
        self._in_flight: dict[int, float] = {}  # thread id -> points reserved by its call
        self._need_after_throttle: dict[int, float] = {}
        self._lock = threading.Lock()

    @property
    def available(self) -> float:
        with self._lock:
            self._restore(self.clock())
            return self._available

    def _restore(self, now: float) -> None:
        self._available = min(self.maximum, self._available + (now - self._stamp) * self.restore)
        self._stamp = now

    def acquire(self) -> float:
        return self.acquire_for(None)

    def acquire_for(self, op: str | None) -> float:
        blocked = self._wait_block()
        with self._lock:
            now = self.clock()
            self._restore(now)
            # The server admits a query when the bucket holds its requested cost, and charges what
            # the answer actually cost: wait for the first (plus headroom), reserve the second.
            requested, cost = self._costs.get(op or "", (self.default_cost, self.default_cost))
            cost = min(cost, self.maximum)
            need = min(requested + self.headroom, self.maximum)
            # Reserve now (the level may go below `need`: later callers queue behind the reservation).
            wait = max(0.0, (need - self._available) / self.restore)
            self._available -= cost
            self._in_flight[threading.get_ident()] = cost
        if wait > 0:
            self.sleep(wait)
        return blocked + wait

    def observe_body(self, op: str | None, body: Any) -> None:
        cost = self.cost_path.search(body) if isinstance(body, dict) else None
        me = threading.get_ident()
        with self._lock:
            self._in_flight.pop(me, None)
            if not isinstance(cost, dict):
                return
            status = cost.get("throttleStatus") or {}
            self._restore(self.clock())
            if status.get("maximumAvailable"):
                self.maximum = float(status["maximumAvailable"])
            if status.get("restoreRate"):
                self.restore = float(status["restoreRate"])
            requested = cost.get("requestedQueryCost")
            actual = cost.get("actualQueryCost")
            if op and requested is not None:
                charged = actual if actual is not None else self._costs.get(op, (0.0, float(requested)))[1]
                self._costs[op] = (float(requested), float(charged))
            if status.get("currentlyAvailable") is not None:
                # The server's count is the truth at answer time; other calls still in flight are not
                # in it yet, so their reservations stay subtracted.
                pending = sum(self._in_flight.values())
                self._available = float(status["currentlyAvailable"]) - pending
            if actual is None and requested is not None:
                self._need_after_throttle[me] = float(requested)
            else:
                self._need_after_throttle.pop(me, None)

    def retry_wait(self) -> float | None:
        """After a THROTTLED answer: the time the bucket needs to hold the refused request's cost."""
        with self._lock:
            need = self._need_after_throttle.pop(threading.get_ident(), None)
            if need is None:
                return None
            self._restore(self.clock())
            return max(0.0, (min(need, self.maximum) - self._available) / self.restore)

    def penalize(self, seconds: float) -> None:
        # The refused call got no charge; its reservation is given back when it is sent again.
        super().penalize(seconds)
