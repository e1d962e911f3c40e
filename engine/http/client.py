"""Connection: one configured, authenticated, rate-limited HTTP client per merchant connection.

A call goes: fill the path, merge query/body defaults, serialize the body ONCE to bytes, then per
attempt: wait for the limiter, let the auth kind add/sign (fresh timestamp each time), send,
let the limiter read the answer's headers, classify the answer with the spec's `errors` rules and
either return, back off and resend, refresh the credential once and resend, or raise a typed error.

Thread-safe: the limiter and auth lock their own state, httpx.Client is shared, and a call keeps
its per-attempt state in locals.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from jsonschema import Draft202012Validator

from engine import decimal_json
from engine.errors import ConnectorError, Problem, SpecError
from engine.http.auth import AuthContext, MemoryTokenStore, OutboundRequest, TokenStore, build_auth
from engine.http.breaker import Breaker, BreakerPolicy, ConnectionDown
from engine.http.classify import classify, context
from engine.http.compile import CompiledConnector, CompiledOperation, compile_connector, field_path
from engine.http.errors import (
    AuthError,
    HttpCallError,
    PaginationError,
    RateLimitedError,
    Redactor,
    ServerError,
    TransportError,
    redact_url,
)
from engine.http.paginate import PageRequest, PageState
from engine.http.ratelimit import build_limiter
from engine.http.retry import parse_retry_after
from engine.lang.expr import ExprEvalError, Scope
from engine.project.hosts import declared_hosts, host_issue
from engine.project.secrets import REDACTOR

log = logging.getLogger("engine.http")


@dataclass(frozen=True)
class ItemError:
    key: str | None
    code: str | None
    message: str
    raw: Any = None


@dataclass
class Response:
    op: str
    status: int
    headers: httpx.Headers
    body: Any
    item_errors: list[ItemError] = field(default_factory=list)
    request_id: str | None = None
    attempts: int = 1
    url: str = ""  # redacted
    _op: CompiledOperation | None = field(default=None, repr=False)

    @property
    def records(self) -> list:
        """The operation's `records` selection (empty when absent)."""
        if self._op is None or self._op.records is None or self.body is None:
            return []
        found = self._op.records.search(self.body)
        return found if isinstance(found, list) else ([] if found is None else [found])

    @property
    def record(self) -> Any:
        """The operation's `record` selection, or the whole body when the op declares none."""
        if self._op is None or self._op.record is None:
            return self.body
        return self._op.record.search(self.body) if self.body is not None else None

    @property
    def selection(self) -> Any:
        """What the operation declares it returns: its `records` list, else its `record`."""
        if self._op is not None and self._op.records is not None:
            return self.records
        return self.record


@dataclass
class Page:
    number: int  # 1-based
    response: Response
    records: list
    stopped_by: str = ""  # the stop rule that made this the last page, "" otherwise


@dataclass
class ItemResult:
    item: Any
    ok: bool
    errors: list[ItemError] = field(default_factory=list)
    error: HttpCallError | None = None  # the whole request failed
    response: Response | None = None


@dataclass
class _Prepared:
    method: str
    url: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    content: bytes | None
    content_type: str | None


def _json_default(value: Any) -> Any:
    # Money is Decimal in the engine and a decimal string on the wire (both platforms' convention).
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def encode_json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode("utf-8")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        # List parameters go as one comma-joined value (what signing kinds sign and APIs read).
        return ",".join(_query_value(v) for v in value)
    return str(value)


def _merge_query(*parts: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in parts:
        for key, value in (part or {}).items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = _query_value(value)
    return out


def _derive_query(op: CompiledOperation, query: dict[str, str]) -> dict[str, str]:
    """The operation's derived parameters (derive_query), computed from the call's query; the
    inputs they were derived from are not sent."""
    if not op.derive_query and not op.inputs:
        return query
    out = dict(query)
    for name, expr in op.derive_query.items():
        value = expr.search(query) if expr is not None else None
        if value is None or value == "":
            continue
        out[name] = _query_value(value)
    for name in op.inputs:
        out.pop(name, None)
    return out


def _parse_body(response: httpx.Response) -> Any:
    if not response.content or not response.content.strip():
        return None
    try:
        return decimal_json.loads(response.content, keep_refused=True)
    except ValueError:
        return response.text


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class Connection:
    """One connection to one platform account (one region, one shop)."""

    def __init__(
        self,
        spec: Mapping[str, Any] | CompiledConnector,
        *,
        settings: Mapping[str, Any],
        credentials: Mapping[str, str],
        token_store: TokenStore | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        name: str | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self.spec = spec if isinstance(spec, CompiledConnector) else compile_connector(spec)
        self.name = name or self.spec.name
        # Without one from the caller (which persists it), a breaker of the connector's `breaker:` policy.
        self.breaker = breaker or Breaker(self.name, BreakerPolicy.from_spec(self.spec.spec.get("breaker"),
                                                                      max_attempts=self.spec.retry.max_attempts),
                                          clock=clock)
        self.clock, self.sleep = clock, sleep
        # With an injected wall clock (tests, benchmarks), the limiter follows it too.
        self.monotonic = monotonic or (time.monotonic if clock is time.time else clock)
        self.rng = rng or random.Random()
        self.settings = self._settings(settings)
        self._check_credentials(credentials)
        self.redactor = Redactor((v for v in credentials.values() if isinstance(v, str)), also=REDACTOR)
        self.base_url = self._base_url()
        self._check_hosts()
        timeout = self.spec.timeout
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(connect=timeout["connect"], read=timeout["read"], write=timeout["read"],
                                  pool=timeout["connect"]),
            follow_redirects=False,
        )
        self.limiter = build_limiter(dict(self.spec.rate_limit), clock=self.monotonic, sleep=sleep)
        self.token_store = token_store if token_store is not None else MemoryTokenStore()
        self.auth = build_auth(
            dict(self.spec.auth),
            AuthContext(
                credentials=dict(credentials),
                settings=self.settings,
                token_store=self.token_store,
                store_key=f"{self.spec.name}:{self.name}",
                send=self._send_token_request,
                clock=clock,
                redactor=self.redactor,
            ),
        )

    # -- setup -----------------------------------------------------------------------------------
    def _settings(self, given: Mapping[str, Any]) -> dict[str, Any]:
        schema = dict(self.spec.settings_schema)
        values = {k: v["default"] for k, v in schema.get("properties", {}).items() if "default" in v}
        values.update(given)
        problems = [
            Problem(err.message, path=field_path("settings", *err.absolute_path))
            for err in Draft202012Validator(schema).iter_errors(values)
        ]
        if problems:
            raise SpecError(problems)
        return values

    def _check_credentials(self, credentials: Mapping[str, str]) -> None:
        missing = [n for n in self.spec.credentials if not credentials.get(n)]
        if missing:
            raise ConnectorError(f"connection {self.name!r} lacks credentials: {', '.join(missing)}")

    def _base_url(self) -> str:
        template = self.settings.get("base_url") or self.spec.base_url
        try:
            return str(template).format_map(self.settings).rstrip("/")
        except KeyError as exc:
            raise ConnectorError(f"base_url needs setting {exc.args[0]!r}") from None

    def _check_hosts(self) -> None:
        """Credentials go only to the connector's declared hosts (or loopback, the sandbox's)."""
        allowed = declared_hosts(self.spec.spec)
        urls = [("base_url", self.base_url)] + [
            (key, str(value)) for key, value in self.settings.items()
            if str(key).lower().endswith("url") and key != "base_url" and isinstance(value, str) and value.strip()]
        for key, url in urls:
            issue = host_issue(url, allowed)
            if issue is not None:
                raise ConnectorError(f"connection {self.name!r}: {key}: {issue}; its credentials are not sent there "
                                     "(a connector lists further hosts under `hosts:`)")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send_token_request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise AuthError(f"token endpoint unreachable: {type(exc).__name__}", op="auth.refresh",
                            url=redact_url(url), retryable=True) from None

    # -- requests --------------------------------------------------------------------------------
    def operation(self, op: str) -> CompiledOperation:
        try:
            return self.spec.operations[op]
        except KeyError:
            raise ConnectorError(
                f"connector {self.spec.name!r} has no operation {op!r}; known: {', '.join(sorted(self.spec.operations))}"
            ) from None

    def _path(self, op: CompiledOperation, path_params: Mapping[str, Any] | None) -> str:
        # A placeholder no call names is filled from the connection's settings (an account id in
        # every path).
        params = {**{p: self.settings.get(p) for p in op.path_params}, **{k: v for k, v in (path_params or {}).items()
                                                                           if v not in (None, "")}}
        missing = [p for p in op.path_params if params.get(p) in (None, "")]
        if missing:
            raise ConnectorError(f"{op.name}: missing path parameter(s) {', '.join(missing)}")
        return op.path.format_map({k: quote(str(v), safe="") for k, v in params.items()})

    def _prepare(
        self,
        op: CompiledOperation,
        *,
        path_params: Mapping[str, Any] | None,
        query: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str] | None,
        files: Mapping[str, Any] | None,
        idempotency_key: str | None,
        templates: bool = True,
    ) -> _Prepared:
        path = self._path(op, path_params)
        url = self.base_url + path
        merged_query = _derive_query(op, _merge_query(op.query, query))
        if templates:  # a paginated read renders them with the query of each page
            merged_query = self._query(op, merged_query)
        merged_headers = {**self.spec.headers, **op.headers, **(headers or {})}
        if isinstance(op.body, dict) and (body is None or isinstance(body, dict)):
            body = {**op.body, **(body or {})}
        elif body is None:
            body = op.body
        if op.request is not None:
            key = idempotency_key or (uuid.uuid4().hex if op.request.idempotency_variable else None)
            # The caller's query values become variables as they are (lists stay lists).
            body = op.request.body(path_params, {**op.query, **(query or {})}, body, key)
            merged_query = {}
        elif op.idempotency:
            key = idempotency_key or uuid.uuid4().hex  # generated once: every retry reuses it
            where, fld = op.idempotency["in"], op.idempotency["field"]
            if where == "body":
                body = dict(body or {})
                body.setdefault(fld, key)
            elif where == "query":
                merged_query.setdefault(fld, key)
            else:
                merged_headers.setdefault(fld, key)
        content, content_type = self._encode(op, body, files)
        declared = _header(merged_headers, "content-type")
        if content_type == "application/json" and declared and declared.split(";")[0].strip().lower() == content_type:
            content_type = declared  # a JSON media type the connector declares keeps its parameters
        if content_type:
            merged_headers = {k: v for k, v in merged_headers.items() if k.lower() != "content-type"}
            merged_headers["Content-Type"] = content_type
        return _Prepared(op.method, url, urlsplit(url).path, merged_query, merged_headers, content,
                         content_type or _header(merged_headers, "content-type"))

    def _encode(self, op: CompiledOperation, body: Any, files: Mapping[str, Any] | None) -> tuple[bytes | None, str | None]:
        if op.body_format == "none":
            return None, None
        if files or op.body_format == "multipart":
            data = {k: _query_value(v) for k, v in (body or {}).items()}
            built = httpx.Request("POST", "http://multipart.invalid/", data=data, files=files or {})
            return built.read(), built.headers["content-type"]
        if body is None:
            return None, None
        return encode_json(body), "application/json"

    def call(
        self,
        op: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """One operation, with retries. Raises HttpCallError (or a subclass) when it fails."""
        compiled = self.operation(op)
        if compiled.versioned is not None:
            return self._versioned_call(compiled, path_params=path_params, query=query, body=body, headers=headers,
                                        idempotency_key=idempotency_key)
        prepared = self._prepare(compiled, path_params=path_params, query=query, body=body, headers=headers,
                                 files=files, idempotency_key=idempotency_key)
        return self._execute(compiled, prepared)

    def _versioned_call(self, op: CompiledOperation, *, path_params: Mapping[str, Any] | None,
                        query: Mapping[str, Any] | None, body: Any, headers: Mapping[str, str] | None,
                        idempotency_key: str | None) -> Response:
        """An update that names the version of the object it changes: the caller's, else the one
        read just before; a stale version (someone changed the object in between) is answered by
        sending the same change again with the current version."""
        spec = op.versioned
        body = dict(body or {})
        if body.get(spec.field) is None:
            body[spec.field] = self._read_version(op, path_params)
        conflicts = 0
        while True:
            prepared = self._prepare(op, path_params=path_params, query=query, body=body, headers=headers,
                                     files=None, idempotency_key=idempotency_key)
            try:
                return self._execute(op, prepared)
            except HttpCallError as exc:
                ctx = {"status": exc.status, "body": exc.body}
                if conflicts >= spec.max_conflicts or exc.status is None or not spec.conflict.search(ctx):
                    raise
                conflicts += 1
                current = spec.current.search(exc.body) if spec.current is not None and exc.body is not None else None
                body[spec.field] = current if current is not None else self._read_version(op, path_params)
                log.info("%s: version conflict, resending with version %s (%d of %d)", op.name, body[spec.field],
                         conflicts, spec.max_conflicts)

    def _read_version(self, op: CompiledOperation, path_params: Mapping[str, Any] | None) -> Any:
        spec = op.versioned
        read = self.operation(spec.read)
        response = self.call(spec.read, path_params={k: v for k, v in (path_params or {}).items()
                                                     if k in read.path_params})
        version = spec.path.search(response.record) if response.record is not None else None
        if version is None:
            raise ConnectorError(f"{op.name}: {spec.read} returned no version to send")
        return version

    def _execute(self, op: CompiledOperation, prepared: _Prepared) -> Response:
        try:
            return self._attempts(op, prepared)
        except ConnectionDown:
            raise
        except AuthError as exc:
            # A credential refused for good: every further call would be refused the same way, so
            # the breaker opens; this call reports the refusal itself.
            if not exc.retryable:
                self.breaker.failure(self.redactor(f"credentials refused: {exc.platform_message}")[:200], fatal=True)
            raise
        except BaseException:
            self.breaker.release_probe()
            raise

    def _down(self) -> ConnectionDown:
        state = self.breaker.snapshot()
        wait = None if state["probe_after"] is None else max(0.0, state["probe_after"] - self.clock())
        return ConnectionDown(self.name, state["opened_at"], wait, self.redactor(state["reason"]))

    def _failed_attempt(self, reason: str) -> None:
        """Count a failed attempt; raise ConnectionDown when that opens the breaker (no retry then)."""
        if self.breaker.failure(reason):
            log.warning("%s: connection %s is down after %d failed attempts in a row (%s)", self.name, self.name,
                        self.breaker.policy.failures, reason)
            raise self._down()

    def _attempts(self, op: CompiledOperation, prepared: _Prepared) -> Response:
        policy = self.spec.retry
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            self.breaker.before()  # ConnectionDown while the platform is known to be down
            self.limiter.acquire_for(op.name)
            request = OutboundRequest(prepared.method, prepared.url, prepared.path, dict(prepared.query),
                                      dict(prepared.headers), prepared.content, prepared.content_type)
            try:
                self.auth.apply(request)
            except BaseException:
                self.limiter.observe(0, {})
                raise
            used_token = self.auth.access_token
            safe_url = redact_url(str(httpx.URL(request.url, params=request.query)))
            try:
                raw = self._client.request(request.method, request.url, params=request.query,
                                           headers=request.headers, content=request.content)
            except httpx.HTTPError as exc:
                self.limiter.observe(0, {})
                self._failed_attempt(f"{type(exc).__name__} at {op.name}")
                # A refused connection never reached the server, so even a create may be resent.
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if policy.retry_on_timeout and (op.idempotent or never_sent) and attempt < policy.max_attempts:
                    wait = policy.backoff(attempt, self.rng)
                    log.info("%s: %s, retry %d in %.2fs [%s]", op.name, type(exc).__name__, attempt, wait, safe_url)
                    self.sleep(wait)
                    continue
                raise TransportError(f"{type(exc).__name__}: no answer", op=op.name, url=safe_url) from None
            self.limiter.observe(raw.status_code, raw.headers)
            body = _parse_body(raw)
            self.limiter.observe_body(op.name, body)
            ctx = context(raw.status_code, raw.headers, body)
            verdict = classify(self.spec.error_rules, policy.on_status, ctx)
            request_id = self._request_id(ctx)
            if verdict.action in ("ok", "rate_limited") or (
                    verdict.action == "fail" and not issubclass(verdict.error_class, ServerError | AuthError)):
                self.breaker.success()  # it answered: it is up (a throttled or refusing platform is up too)
            if verdict.action == "ok":
                return Response(op.name, raw.status_code, raw.headers, body, self._item_errors(op, body),
                                request_id, attempt, safe_url, op)

            def failure(cls: type[HttpCallError] = verdict.error_class, retryable: bool | None = None,
                        _v=verdict, _raw=raw, _rid=request_id, _url=safe_url, _body=body) -> HttpCallError:
                return cls(self.redactor(_v.message), op=op.name, status=_raw.status_code, code=_v.code,
                           request_id=_rid, url=_url, retryable=retryable, body=_body)

            if verdict.action == "refresh_auth":
                if refreshed or not self.auth.can_refresh():
                    raise failure(AuthError)
                log.info("%s: credential rejected, refreshing [%s]", op.name, safe_url)
                self.auth.refresh(used_token)
                refreshed = True
                attempt -= 1  # the rejected attempt never ran; it does not use up the budget
                continue
            retry_after = (parse_retry_after(raw.headers.get("retry-after"), self.clock())
                           if policy.respect_retry_after else None)
            if verdict.action == "rate_limited":
                needed = self.limiter.retry_wait()  # a cost bucket knows when the request fits again
                wait = max(retry_after or 0.0, policy.backoff(attempt, self.rng) if needed is None else needed)
                # The server refused the request, so resending is safe even for a create.
                if attempt >= policy.max_attempts:
                    cls = verdict.error_class if issubclass(verdict.error_class, RateLimitedError) else RateLimitedError
                    raise failure(cls, retryable=True)
                self.limiter.penalize(wait)
                log.info("%s: rate limited, retry %d in %.2fs [%s]", op.name, attempt, wait, safe_url)
                self.sleep(wait)
                continue
            if verdict.action == "retry" or issubclass(verdict.error_class, ServerError):
                self._failed_attempt(f"HTTP {raw.status_code} at {op.name}")
            if verdict.action == "retry":
                if not op.idempotent or attempt >= policy.max_attempts:
                    raise failure(retryable=True)
                wait = retry_after if retry_after is not None else policy.backoff(attempt, self.rng)
                log.info("%s: HTTP %s, retry %d in %.2fs [%s]", op.name, raw.status_code, attempt, wait, safe_url)
                self.sleep(wait)
                continue
            raise failure()

    def _request_id(self, ctx: dict) -> str | None:
        if self.spec.request_id is None:
            return None
        value = self.spec.request_id.search(ctx)
        return None if value in (None, "") else str(value)

    def _item_errors(self, op: CompiledOperation, body: Any) -> list[ItemError]:
        spec = op.item_errors
        if spec is None or body is None:
            return []
        found = spec.path.search(body) or []
        out = []
        for raw in found if isinstance(found, list) else [found]:
            key = spec.key.search(raw) if spec.key is not None else None
            code = spec.code.search(raw)
            message = spec.message.search(raw)
            out.append(ItemError(None if key is None else str(key), None if code is None else str(code),
                                 self.redactor("" if message is None else str(message)), raw))
        return out

    # -- pagination ------------------------------------------------------------------------------
    def paginate(
        self,
        op: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        max_pages: int | None = None,
    ) -> Iterator[Page]:
        """Pages of a paginated operation, following its stop rules. An operation without
        `paginate` yields one page. Raises PaginationError when a loop guard fires."""
        compiled = self.operation(op)
        if getattr(compiled.request, "streams", False):
            # A request kind that reads a whole result itself (a bulk operation): its pages as they come.
            for number, records in enumerate(compiled.request.pages(self, op), start=1):
                yield Page(number, Response(op, 200, httpx.Headers(), None, _op=compiled), records)
            return
        paginator = compiled.paginator
        # A GraphQL operation takes the caller's filters as variables, in the body; a REST one in the query.
        in_body = compiled.request is not None
        prepared = self._prepare(compiled, path_params=path_params, query=query if in_body else None, body=body,
                                 headers=headers, files=None, idempotency_key=None, templates=False)
        if in_body:
            query = None
        if paginator is None:
            response = self._execute(compiled, self._with_query(
                prepared, self._query(compiled, _derive_query(compiled, _merge_query(compiled.query, query)))))
            yield Page(1, response, response.records, "single_page")
            return
        limit = max_pages or paginator.max_pages
        page_body = json.loads(prepared.content) if prepared.content and compiled.body_format == "json" else None
        request = paginator.first(self._query(compiled, _derive_query(compiled, _merge_query(compiled.query, query))),
                                  page_body)
        state = PageState()
        while True:
            response = self._execute(compiled, self._page_request(compiled, prepared, request))
            records = response.records
            state.pages += 1
            nxt = paginator.next(request, response.body, response.headers, records, state)
            yield Page(state.pages, response, records, state.stopped_by if nxt is None else "")
            if nxt is None:
                return
            if nxt.marker in state.seen:
                raise PaginationError(
                    f"loop guard: page {state.pages} returned a token/URL already followed "
                    f"({_short(redact_url(nxt.marker))}); stopping instead of looping",
                    op=op, url=response.url)
            if state.pages >= limit:
                raise PaginationError(
                    f"loop guard: more than max_pages={limit} pages; raise max_pages or narrow the query",
                    op=op, url=response.url)
            state.seen.add(nxt.marker)
            request = nxt

    def records(self, op: str, **kwargs: Any) -> Iterator[Any]:
        """Every record of every page."""
        for page in self.paginate(op, **kwargs):
            yield from page.records

    def _query(self, op: CompiledOperation, query: dict[str, str]) -> dict[str, str]:
        """Render the operation's query templates over the call's parameters (and `settings`); the
        parameters a template reads are consumed by it, not sent on their own."""
        if not op.query_templates:
            return query
        names: dict[str, Any] = {**query, "settings": dict(self.settings)}
        out = dict(query)
        for param, (template, consumed) in op.query_templates.items():
            try:
                value = " ".join(template.evaluate(Scope(names, names, None, {})).split())
            except ExprEvalError as exc:
                raise ConnectorError(f"{op.name}: query template {param!r}: {exc}") from None
            if value:
                out[param] = value
            else:  # nothing to say: the parameter is left out
                out.pop(param, None)
            for name in consumed - {param}:
                out.pop(name, None)
        return out

    def _with_query(self, prepared: _Prepared, query: dict[str, str]) -> _Prepared:
        return _Prepared(prepared.method, prepared.url, prepared.path, query, prepared.headers,
                         prepared.content, prepared.content_type)

    def _page_request(self, op: CompiledOperation, prepared: _Prepared, request: PageRequest) -> _Prepared:
        if request.url is None:
            content = prepared.content
            if request.body is not None and op.body_format == "json":
                content = encode_json(request.body)
            return _Prepared(prepared.method, prepared.url, prepared.path, _merge_query(request.query),
                             prepared.headers, content, prepared.content_type)
        url = request.url
        if url.startswith("/"):
            scheme, netloc = _origin(self.base_url)
            url = f"{scheme}://{netloc}{url}"
        if _origin(url) != _origin(self.base_url):
            # Never send credentials to a host the connection was not configured for.
            raise PaginationError(f"next-page URL points to another host ({_origin(url)[1]})", op=op.name,
                                  url=redact_url(url))
        parts = urlsplit(url)
        headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-type"}
        return _Prepared("GET", f"{parts.scheme}://{parts.netloc}{parts.path}", parts.path,
                         dict(parse_qsl(parts.query, keep_blank_values=True)), headers, None,
                         _header(headers, "content-type"))

    # -- batches ---------------------------------------------------------------------------------
    def call_batched(
        self,
        op: str,
        items: list[Any],
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> list[ItemResult]:
        """Send `items` in batches of the op's `batch.size`; one result per item, in order.
        Item errors inside a success fail only their items; a failed request fails its batch's
        items (with the error attached) and the other batches still run."""
        compiled = self.operation(op)
        if compiled.batch is None:
            raise ConnectorError(f"{op} has no `batch:` section")
        spec = compiled.batch
        results: list[ItemResult] = []
        for index, start in enumerate(range(0, len(items), spec.size)):
            chunk = items[start:start + spec.size]
            key = f"{idempotency_key}:{index}" if idempotency_key else None
            if spec.where == "query":
                call_query, call_body = {**(query or {}), spec.field: chunk}, body
            else:
                call_query, call_body = query, {**(body or {}), spec.field: chunk}
            try:
                response = self.call(op, path_params=path_params, query=call_query, body=call_body,
                                     headers=headers, idempotency_key=key)
            except HttpCallError as exc:
                results.extend(ItemResult(item, False, error=exc) for item in chunk)
                continue
            keys = [_key(spec.key.search(item)) for item in chunk]
            by_key: dict[str | None, list[ItemError]] = {}
            for err in response.item_errors:
                by_key.setdefault(err.key if err.key in keys else None, []).append(err)
            # An error naming no item of this batch cannot be pinned down: every item carries it,
            # so nothing is recorded as done that may not be.
            unplaced = by_key.get(None, [])
            for item, item_key in zip(chunk, keys, strict=True):
                errs = by_key.get(item_key, []) + unplaced if item_key is not None else list(unplaced)
                results.append(ItemResult(item, not errs, errs, None, response))
        return results


def _key(value: Any) -> str | None:
    return None if value is None else str(value)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
