"""Compile a connector spec once: validate it, compile every JMESPath, build its paginators.

`compile_connector(spec)` needs no network and no credentials, so `connector validate` uses it to
check a file; a Connection uses the result. The result is immutable and can be shared by every
connection of the same connector (keep it on the plan; there is deliberately no global cache).
Every problem is reported with its field path, e.g. `operations.search_orders.paginate.token_path`.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator

from engine.errors import Problem, SpecError
from engine.http.auth import AUTH_KINDS
from engine.http.classify import ErrorRule
from engine.http.errors import ERROR_CLASSES
from engine.http.graphql import REQUEST_KINDS, build_request_kind
from engine.http.paginate import PAGINATORS, Paginator
from engine.http.ratelimit import RATE_LIMITS
from engine.http.retry import RetryPolicy
from engine.http.subscriptions import CompiledSubscriptions, compile_subscriptions
from engine.http.verify import VERIFIERS
from engine.lang.expr import ExprCompileError, ExpressionCompiler, ExprEvalError, Scope
from engine.project.resources import schemas_dir

SCHEMA_FILE = "connector.schema.json"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@lru_cache(maxsize=1)
def connector_schema() -> dict:
    return json.loads((schemas_dir() / SCHEMA_FILE).read_text())


@lru_cache(maxsize=1)
def _file_validator() -> Draft202012Validator:
    return Draft202012Validator(connector_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


@dataclass(frozen=True)
class ItemErrorsSpec:
    path: Any
    key: Any | None
    code: Any
    message: Any


@dataclass(frozen=True)
class BatchSpec:
    field: str
    size: int
    key: Any  # JMESPath applied to each item to match it with item_errors' key
    where: str = "body"  # body | query


@dataclass(frozen=True)
class VersionSpec:
    """Optimistic concurrency of an update operation (its `versioned:`)."""

    read: str
    path: Any
    field: str
    conflict: Any
    current: Any | None
    max_conflicts: int


@dataclass(frozen=True)
class CompiledOperation:
    name: str
    method: str
    path: str
    path_params: tuple[str, ...]
    query: Mapping[str, Any]
    headers: Mapping[str, str]
    body: Any
    body_format: str  # json | multipart | none
    records: Any | None
    record: Any | None
    paginator: Paginator | None
    item_errors: ItemErrorsSpec | None
    idempotency: Mapping[str, str] | None
    batch: BatchSpec | None
    idempotent: bool  # resending after an unknown outcome is harmless
    description: str = ""
    inputs: tuple[str, ...] = ()  # query parameters callers give that are not sent as they are
    derive_query: Mapping[str, Any] = field(default_factory=dict)  # parameter -> JMESPath over the query
    versioned: VersionSpec | None = None
    request: Any = None  # a request kind (engine.http.graphql) that builds the body; None = REST
    # Query parameter -> (compiled template, the call's parameters it consumes): a parameter built
    # from the others, e.g. a query language statement with the cursor and filters in it.
    query_templates: Mapping[str, tuple[Any, frozenset[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledWebhooks:
    """How this platform's inbound webhooks are verified and read (the connector's `webhooks:`).

    The expressions are JMESPath over `{headers (lower-case names), body (parsed JSON)}`."""

    verifier: Mapping[str, Any]
    credentials: tuple[str, ...]  # read by the receiver only; a connection that serves no webhooks may omit them
    event_id: Any | None
    topic: Any | None
    topics: Mapping[str, str]
    timestamp: Any | None
    window_seconds: float | None
    max_body_bytes: int | None
    notices: Mapping[str, Any] = field(default_factory=dict)  # event name -> expression giving a finished job's id

    def topic_name(self, value: Any) -> str | None:
        """The event name flows list in `trigger.webhook`: the platform's value through `topics`."""
        if value is None or isinstance(value, dict | list):
            return None
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return self.topics.get(text, text) or None


@dataclass(frozen=True)
class CompiledConnector:
    name: str
    title: str
    base_url: str
    base_url_params: tuple[str, ...]
    settings_schema: Mapping[str, Any]
    credentials: tuple[str, ...]
    auth: Mapping[str, Any]
    rate_limit: Mapping[str, Any]
    retry: RetryPolicy
    timeout: Mapping[str, float]
    error_rules: tuple[ErrorRule, ...]
    request_id: Any | None
    headers: Mapping[str, str]
    operations: Mapping[str, CompiledOperation]
    capabilities: Mapping[str, Any]
    spec: Mapping[str, Any] = field(repr=False, default_factory=dict)
    subscriptions: CompiledSubscriptions | None = None  # webhook subscriptions, when the platform has them
    webhooks: CompiledWebhooks | None = None


def field_path(*parts: Any) -> str:
    """`a.b[0].c`: the path notation every Problem in the engine uses (ints are list indexes)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "":
            out += f".{part}" if out else str(part)
    return out


def _placeholders(template: str) -> tuple[str, ...]:
    try:
        return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)
    except ValueError as exc:
        raise ValueError(f"bad placeholder in {template!r}: {exc}") from None


class CompiledSearch:
    """A connector expression compiled by the project's expression compiler (so registered
    functions work in connectors as in mappings), with the `search(data)` call the runtime uses."""

    __slots__ = ("expression", "source")

    def __init__(self, expression: Any, source: str) -> None:
        self.expression, self.source = expression, source

    def search(self, data: Any) -> Any:
        try:
            return self.expression.evaluate(Scope(data, data, None, {}))
        except ExprEvalError:
            return None  # a body of another shape: no value, as a missing field would give

    def __repr__(self) -> str:
        return f"CompiledSearch({self.source!r})"


class _Compiler:
    def __init__(self, exprs: ExpressionCompiler | None = None) -> None:
        self.problems: list[Problem] = []
        self.exprs = exprs or ExpressionCompiler()

    def problem(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(message, path=path, hint=hint))

    def jmespath(self, text: Any, path: str) -> Any | None:
        if not isinstance(text, str):
            self.problem(path, f"expected a JMESPath expression (string), got {type(text).__name__}")
            return None
        try:
            return CompiledSearch(self.exprs.jmespath(text), text)
        except ExprCompileError as exc:
            self.problem(path, f"bad JMESPath {text!r} at column {exc.offset + 1}: {exc}",
                         hint=exc.hint or "JSON literals need backticks, e.g. body.code == `0`")
        return None

    def search(self, text: str) -> CompiledSearch:
        """For kinds that compile their own paths (paginators): raises on a bad expression."""
        return CompiledSearch(self.exprs.jmespath(text), text)

    def options(self, registry: Any, options: Any, path: str) -> Any | None:
        """Validate a `{kind: ..., ...}` block against its kind's registered options schema."""
        if not isinstance(options, dict) or "kind" not in options:
            self.problem(path, "expected a mapping with `kind`")
            return None
        kind = options["kind"]
        if kind not in registry:
            self.problem(f"{path}.kind", f"unknown {registry.kind} kind {kind!r}",
                         hint=f"known: {', '.join(registry.names())}")
            return None
        entry = registry.get(kind)
        validator = Draft202012Validator(entry.options_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        ok = True
        for err in sorted(validator.iter_errors(options), key=lambda e: list(e.absolute_path)):
            where = field_path(path, *err.absolute_path)
            self.problem(where, err.message)
            ok = False
        return entry if ok else None

    # -- sections --------------------------------------------------------------------------------
    def file_schema(self, spec: dict) -> bool:
        errors = sorted(_file_validator().iter_errors(spec), key=lambda e: list(e.absolute_path))
        for err in errors:
            self.problem(field_path(*err.absolute_path), err.message)
        return not errors

    def error_rules(self, rules: list) -> tuple[ErrorRule, ...]:
        out = []
        for i, rule in enumerate(rules):
            path = f"errors[{i}]"
            when = self.jmespath(rule["when"], f"{path}.when")
            message = self.jmespath(rule["message"], f"{path}.message") if "message" in rule else None
            code = self.jmespath(rule["code"], f"{path}.code") if "code" in rule else None
            if rule.get("error") and rule["error"] not in ERROR_CLASSES:
                self.problem(f"{path}.error", f"unknown error type {rule['error']!r}")
            if when is not None:
                out.append(ErrorRule(when, rule["action"], message, code, rule.get("error"), rule["when"]))
        return tuple(out)

    def webhooks(self, section: dict, credentials: tuple[str, ...]) -> CompiledWebhooks | None:
        entry = self.options(VERIFIERS, section["verifier"], "webhooks.verifier")
        own = tuple(section.get("credentials", ()))
        if entry is not None:
            missing = [n for n in entry.impl.reads(section["verifier"]) if n not in credentials + own]
            if missing:
                self.problem("webhooks.credentials", f"verifier kind {section['verifier']['kind']!r} reads "
                             f"{', '.join(missing)}, which neither `credentials` nor `webhooks.credentials` lists")
        for name in own:
            if name in credentials:
                self.problem("webhooks.credentials", f"{name!r} is already a connection credential",
                             hint="list it once, under `credentials` if every connection needs it")

        def expr(key: str) -> Any | None:
            return self.jmespath(section[key], f"webhooks.{key}") if key in section else None

        return CompiledWebhooks(
            verifier=MappingProxyType(dict(section["verifier"])), credentials=own,
            event_id=expr("event_id"), topic=expr("topic"),
            topics=MappingProxyType({str(k): str(v) for k, v in (section.get("topics") or {}).items()}),
            timestamp=expr("timestamp"),
            window_seconds=float(section["window_seconds"]) if "window_seconds" in section else None,
            max_body_bytes=int(section["max_body_bytes"]) if "max_body_bytes" in section else None,
            notices=MappingProxyType({str(event): self.jmespath(source, f"webhooks.notices.{event}")
                                      for event, source in (section.get("notices") or {}).items()}),
        )

    def paginator(self, options: dict, path: str) -> Paginator | None:
        entry = self.options(PAGINATORS, options, path)
        if entry is None:
            return None
        # Paginator options named *_path are JMESPath: check them here so the error names the key.
        bad = [k for k, v in options.items() if k.endswith("_path") and self.jmespath(v, f"{path}.{k}") is None]
        if bad:
            return None
        try:
            return entry.impl(options, self.search)
        except ExprCompileError as exc:
            self.problem(path, f"bad JMESPath in paginator options: {exc}", hint=exc.hint)
            return None

    def operation(self, name: str, op: dict) -> CompiledOperation | None:
        path = f"operations.{name}"
        method = op["method"].upper()
        try:
            params = _placeholders(op["path"])
        except ValueError as exc:
            self.problem(f"{path}.path", str(exc))
            params = ()
        records = self.jmespath(op["records"], f"{path}.records") if "records" in op else None
        record = self.jmespath(op["record"], f"{path}.record") if "record" in op else None
        paginator = self.paginator(op["paginate"], f"{path}.paginate") if "paginate" in op else None
        if paginator is not None and records is None:
            self.problem(f"{path}.records", "a paginated operation needs `records` (stop rules count them)")
        item_errors = None
        if "item_errors" in op:
            ie = op["item_errors"]
            item_errors = ItemErrorsSpec(
                self.jmespath(ie["path"], f"{path}.item_errors.path"),
                self.jmespath(ie["key"], f"{path}.item_errors.key") if "key" in ie else None,
                self.jmespath(ie.get("code", "code"), f"{path}.item_errors.code"),
                self.jmespath(ie.get("message", "message"), f"{path}.item_errors.message"),
            )
        batch = None
        if "batch" in op:
            b = op["batch"]
            where = b.get("in", "body")
            batch = BatchSpec(b["field"], int(b["size"]), self.jmespath(b.get("key", "@"), f"{path}.batch.key"), where)
            if where == "body" and op.get("body_format", "json") != "json":
                self.problem(f"{path}.batch", "a batch in the body needs body_format json")
        idempotency = op.get("idempotency")
        default_idempotent = method in SAFE_METHODS or idempotency is not None
        derive = {param: self.jmespath(expr, f"{path}.derive_query.{param}")
                  for param, expr in (op.get("derive_query") or {}).items()}
        versioned = None
        if "versioned" in op:
            v = op["versioned"]
            versioned = VersionSpec(
                read=v["read"], path=self.jmespath(v.get("path", "version"), f"{path}.versioned.path"),
                field=v.get("field", "version"),
                conflict=self.jmespath(v.get("conflict", "status == `409`"), f"{path}.versioned.conflict"),
                current=self.jmespath(v["current"], f"{path}.versioned.current") if "current" in v else None,
                max_conflicts=int(v.get("max_conflicts", 3)))
        request = None
        if "request" in op and self.options(REQUEST_KINDS, op["request"], f"{path}.request") is not None:
            request = self.request_kind(op["request"], f"{path}.request")
            if request is not None:
                default_idempotent = not getattr(request, "is_mutation", True) or bool(request.idempotency_variable)
                if item_errors is None and getattr(request, "user_errors", None):
                    item_errors = ItemErrorsSpec(self.jmespath(request.user_errors, f"{path}.request.user_errors"),
                                                 self.search("join('.', field)"), self.search("code"),
                                                 self.search("message"))
        templates: dict[str, tuple[Any, frozenset[str]]] = {}
        for param, source in (op.get("query_template") or {}).items():
            try:
                compiled = self.exprs.template(source)
            except ExprCompileError as exc:
                self.problem(f"{path}.query_template.{param}", str(exc), hint=exc.hint or "")
                continue
            templates[param] = (compiled, frozenset(n.name for n in compiled.names) - {"settings"})
        return CompiledOperation(
            name=name,
            method=method,
            path=op["path"],
            path_params=params,
            query=MappingProxyType(dict(op.get("query", {}))),
            headers=MappingProxyType({k: str(v) for k, v in op.get("headers", {}).items()}),
            body=op.get("body"),
            body_format=op.get("body_format", "json"),
            records=records,
            record=record,
            paginator=paginator,
            item_errors=item_errors,
            idempotency=MappingProxyType(dict(idempotency)) if idempotency else None,
            batch=batch,
            idempotent=bool(op.get("idempotent", default_idempotent)),
            description=op.get("description", ""),
            inputs=tuple(op.get("inputs", ())),
            derive_query=MappingProxyType(derive),
            versioned=versioned,
            request=request,
            query_templates=MappingProxyType(templates),
        )

    def request_kind(self, options: dict, path: str) -> Any | None:
        try:
            return build_request_kind(options, self.search)
        except ExprCompileError as exc:
            self.problem(f"{path}.variables", f"bad JMESPath: {exc}", hint=exc.hint)
        except ValueError as exc:
            self.problem(f"{path}.document", str(exc))
        return None


def compile_connector(spec: Mapping[str, Any], exprs: ExpressionCompiler | None = None) -> CompiledConnector:
    """Validate and compile a connector spec (a plain dict). Raises SpecError listing every problem.
    Expressions go through `exprs` (the plan's compiler; a new one when not given)."""
    c = _Compiler(exprs)
    spec = dict(spec)
    if not c.file_schema(spec):
        raise SpecError(c.problems)

    settings_schema = spec.get("settings", {"type": "object", "properties": {}})
    known_settings = set(settings_schema.get("properties", {}))
    try:
        base_params = _placeholders(spec["base_url"])
    except ValueError as exc:
        c.problem("base_url", str(exc))
        base_params = ()
    for name in base_params:
        if name not in known_settings:
            c.problem("base_url", f"placeholder {{{name}}} is not a declared setting",
                      hint="add it under settings.properties")

    credentials = tuple(spec.get("credentials", ()))
    auth_entry = c.options(AUTH_KINDS, spec["auth"], "auth")
    if auth_entry is not None:
        reads = getattr(auth_entry.impl, "reads", None)
        needed = reads(spec["auth"]) if reads else getattr(auth_entry.impl, "credential_names", ())
        missing = [n for n in needed if n not in credentials]
        if missing:
            c.problem("credentials", f"auth kind {spec['auth']['kind']!r} reads {', '.join(missing)}, "
                      "which `credentials` does not list")
        check = getattr(auth_entry.impl, "check_options", None)
        for path, message in (check(spec["auth"]) if check else []):
            c.problem(f"auth.{path}", message)

    rate_limit = spec.get("rate_limit", {"kind": "none"})
    c.options(RATE_LIMITS, rate_limit, "rate_limit")

    webhooks = c.webhooks(spec["webhooks"], credentials) if "webhooks" in spec else None

    rules = c.error_rules(spec.get("errors", []))
    request_id = c.jmespath(spec["request_id"], "request_id") if "request_id" in spec else None

    operations: dict[str, CompiledOperation] = {}
    for name, op in spec["operations"].items():
        compiled = c.operation(name, op)
        if compiled is not None:
            operations[name] = compiled
    for name, op in operations.items():
        if op.versioned is not None and op.versioned.read not in operations:
            c.problem(f"operations.{name}.versioned.read", f"unknown operation {op.versioned.read!r}")
        elif op.versioned is not None and not set(operations[op.versioned.read].path_params) <= set(op.path_params):
            c.problem(f"operations.{name}.versioned.read", f"{op.versioned.read!r} takes path parameters "
                      f"{name!r} does not have", hint="the object is read with the update's own path parameters")
    for setting in spec.get("mapping_settings", ()):
        if setting not in known_settings:
            c.problem("mapping_settings", f"{setting!r} is not a declared setting", hint="add it under settings.properties")
    for name, compiled in operations.items():  # a request kind that calls other operations names them
        for key in ("start", "poll"):
            other = getattr(compiled.request, key, None)
            if isinstance(other, str) and other not in spec["operations"]:
                c.problem(f"operations.{name}.request.{key}", f"no operation {other!r}",
                          hint=f"known: {', '.join(sorted(spec['operations']))}")
    subscriptions = compile_subscriptions(c, spec["subscriptions"], operations) if "subscriptions" in spec else None

    if c.problems:
        raise SpecError(c.problems)
    timeout = spec.get("timeout", {})
    return CompiledConnector(
        name=spec["name"],
        title=spec.get("title", spec["name"]),
        base_url=spec["base_url"],
        base_url_params=base_params,
        settings_schema=MappingProxyType(dict(settings_schema)),
        credentials=credentials,
        auth=MappingProxyType(dict(spec["auth"])),
        rate_limit=MappingProxyType(dict(rate_limit)),
        retry=RetryPolicy.from_spec(spec.get("retry")),
        timeout=MappingProxyType({"connect": float(timeout.get("connect", 10)), "read": float(timeout.get("read", 30))}),
        error_rules=rules,
        request_id=request_id,
        headers=MappingProxyType({k: str(v) for k, v in spec.get("headers", {}).items()}),
        operations=MappingProxyType(operations),
        capabilities=MappingProxyType(dict(spec.get("capabilities", {}))),
        spec=MappingProxyType(spec),
        subscriptions=subscriptions,
        webhooks=webhooks,
    )
