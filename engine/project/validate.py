"""`connector validate`: every file of a project checked against its schema, every expression
compiled, every reference resolved. Each finding points at file:line:col with the field path.

A finding is an error (exit code 1) or a warning (printed, exit code 0). Nothing a file can hold
makes validate itself fail: a check that breaks on an unforeseen shape reports that as a problem.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, UnknownType

from engine.errors import Problem, SpecError
from engine.flow.resolve import capabilities
from engine.lang.expr import ExprCompileError, ExpressionCompiler, ExprEvalError, Scope, current_fields
from engine.lang.mapping import MappingPlan, _truthy, compile_mapping
from engine.project.connector_rules import check_connection, check_one_per, refusal
from engine.project.entity_checks import check_entities
from engine.project.hosts import declared_hosts, host_issue
from engine.project.loader import Document, Project
from engine.project.overrides import effective, extends_fields, form_of
from engine.project.regions import is_country, region_hint
from engine.project.schemas import SchemaSet, _problem
from engine.project.secrets import (
    SECRETS_DIR_VARIABLE,
    SecretRef,
    missing_secret_file,
    reference_issue,
    secret_confinement,
    setting_default,
    setting_reference_issues,
)
from engine.project.trigger_checks import check_webhook_trigger
from engine.project.yamlpos import YDict, format_path, locate, plain, text_location


def _did_you_mean(name: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f"did you mean {close[0]!r}?" if close else ("known: " + ", ".join(map(str, known)) if known else "none defined")


def _at(doc: Any, path: list, message: str, hint: str = "", *, key: bool = False, severity: str = "error") -> Problem:
    base = list(getattr(doc, "path", ()))
    return Problem(message, locate(doc, path, key=key), format_path(base + path), hint, severity)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def relocate(problems: list[Problem], doc: Any) -> list[Problem]:
    """Give position-less problems (from code that saw plain dicts) the location of their path."""
    for problem in problems:
        if problem.location is None and problem.path:
            parts = [int(i) if i else n for n, i in _PATH_PART.findall(problem.path)]
            problem.location = locate(doc, parts)
        elif problem.location is None:
            problem.location = getattr(doc, "loc", None)
    return problems


# What a flow's option declaration may hold: JSON Schema keywords, plus the engine's own checks
# of a merchant's option values against each other and against the bound connections.
_SCHEMA_KEYWORDS = frozenset({
    "type", "enum", "const", "default", "description", "title", "examples", "deprecated", "$comment",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "pattern", "format", "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains",
    "properties", "additionalProperties", "patternProperties", "propertyNames", "required", "minProperties",
    "maxProperties", "anyOf", "oneOf", "allOf", "not", "if", "then", "else", "$ref", "$defs",
    "dependentRequired", "dependentSchemas", "readOnly", "writeOnly",
})
OPTION_CHECKS = {
    "must_set": "true: every merchant binding of the flow must set this option",
    "must_match": "{role: ROLE, field: NAME}: when set, equals that field (region, currency or a setting) "
                  "of the connection bound to ROLE; the connection's value is what the flow uses",
    "keys_in": "{option: OTHER, of: keys|values}: every key of this option is a key (or a value) of OTHER",
}
_OPTION_KEYWORDS = _SCHEMA_KEYWORDS | set(OPTION_CHECKS)
_SUBSCHEMA_KEYS = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")

_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?|[A-Za-z]{3}(-[A-Za-z]{3})?)(/\d+)?(,(\*|\d+(-\d+)?|[A-Za-z]{3})(/\d+)?)*$")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class Validator:
    def __init__(self, project: Project, schemas: SchemaSet | None = None,
                 exprs: ExpressionCompiler | None = None) -> None:
        self.project = project
        self.schemas = schemas or SchemaSet()
        self.exprs = exprs or ExpressionCompiler()
        self.connectors: dict[str, Any] = {}  # name -> CompiledConnector, kept for the plan
        self.problems: list[Problem] = list(project.problems)
        self._schema_ok: dict[tuple[str, str], bool] = {}
        self._trigger_reported: dict[int, set] = {}  # per merchant document: credentials said missing

    def run(self) -> list[Problem]:
        for kind in ("connector", "mapping", "rules", "price_rules", "flow", "merchant", "test"):
            for document in list(self.project.documents[kind].values()):
                self._guarded(document.doc, lambda d=document, k=kind: self.schema_ok(d) and
                              getattr(self, f"check_{k}")(d))
        self._guarded(None, lambda: self.problems.extend(check_one_per(self.project)))
        unique: dict[tuple, Problem] = {}
        for problem in _drop_superseded(self.problems):
            # One finding reached twice (a flow checked alone and with each binding, a step's own
            # check and the expression pass) is kept once, at its most precise column.
            loc = problem.location
            key = (loc.file, loc.line, problem.path, problem.message) if loc else (None, None, problem.path,
                                                                                   problem.message)
            if key not in unique or (loc and unique[key].location and loc.col > unique[key].location.col):
                unique[key] = problem
        # A warning where an error already is would only repeat it.
        errors_at = {str(p.location) for p in unique.values() if p.severity == "error"}
        kept = [p for p in unique.values() if p.severity == "error" or str(p.location) not in errors_at]
        return sorted(kept, key=lambda p: (str(p.location.file) if p.location else "",
                                           p.location.line if p.location else 0,
                                           p.location.col if p.location else 0))

    def _guarded(self, doc: Any, check: Any) -> None:
        """Run one check; a shape it did not foresee is reported, never raised."""
        try:
            check()
        except SpecError as exc:
            self.problems.extend(relocate(exc.problems, doc))
        except Exception as exc:  # noqa: BLE001  (validate must report, not crash)
            self.problems.append(Problem(
                f"validate could not finish checking this file ({type(exc).__name__}: {exc})",
                getattr(doc, "loc", None), "",
                "something in this file has a shape validate did not expect; check it against its schema "
                "(schemas/) and report this message"))

    def schema_ok(self, document: Document) -> bool:
        key = (document.kind, document.name)
        if key not in self._schema_ok:
            shipped = _shipped_identity(document, self.schemas)
            if shipped in _SHIPPED_CLEAN:
                self._schema_ok[key] = True
                return True
            found = self.schemas.check_document(document.doc, document.kind)
            if shipped and not found:
                _SHIPPED_CLEAN.add(shipped)
            if document.kind == "merchant":
                _market_hints(document.doc, found)
            self.problems.extend(found)
            self._schema_ok[key] = not found
        return self._schema_ok[key]

    # ------------------------------------------------------------------ connectors

    def check_connector(self, document: Document) -> None:
        doc = document.doc
        self._check_url(doc, "base_url", what="the connector's base_url")
        auth = doc.get("auth")
        if isinstance(auth, YDict):
            for key in auth:
                if str(key).endswith("url"):
                    self._check_url(auth, key, what=f"auth.{key}")
        try:
            from engine.http.compile import compile_connector
        except ImportError:  # the HTTP runtime is optional for schema-only checks
            compile_connector = None
        if compile_connector is not None:
            try:
                self.connectors[document.name] = compile_connector(plain(doc), self.exprs)
            except SpecError as exc:
                self.problems.extend(_explain_unexpected(p, doc) for p in relocate(exc.problems, doc))
        self.problems.extend(check_entities(self, document))
        settings = doc.get("settings")
        if isinstance(settings, YDict) and isinstance(settings.get("properties"), dict):
            for spec in settings["properties"].values():
                self._check_schema_keywords(spec, top=False, what="a setting declaration")
        audit = doc.get("sku_audit")
        operations = list((doc.get("operations") or {}).keys())
        if audit is not None and audit["operation"] not in operations:
            self.problems.append(_at(doc, ["sku_audit", "operation"],
                                     f"unknown operation {audit['operation']!r}", _did_you_mean(audit["operation"], operations)))
        for key in ("key", "title", "skus"):
            if audit is not None and key in audit:
                self._compile(audit, key, "jmespath")
        for check in doc.get("connection_checks") or []:
            for key in ("when", "assert"):
                if isinstance(check, YDict) and key in check:
                    self._compile(check, key, "jmespath")

    def _check_url(self, container: Any, key: Any, *, what: str, value: Any = None) -> None:
        """A plain http:// URL is refused unless it goes to this machine (simulators, tests)."""
        text = container.get(key) if value is None else value
        if not isinstance(text, str):
            return
        try:
            parts = urlsplit(text.strip())
            host = parts.hostname or ""
        except ValueError:
            return
        if parts.scheme.lower() != "http" or not host or "{" in host or _is_loopback(host):
            return
        self.problems.append(_at(container, [key], f"{what} is a plain http:// URL to {host}: requests, tokens and "
                                                   "data would cross the network unencrypted",
                                 "use https://; http:// is accepted only for this machine "
                                 "(127.0.0.1, localhost, ::1), e.g. the local simulators"))

    # ------------------------------------------------------------------ expressions

    def _compile(self, container: Any, key: Any, kind: str, record: Any = None) -> Any:
        """Compile the expression at container[key], reporting a failure at its exact column.
        `record` names the canonical entity the expression is evaluated on, when known."""
        text = container[key]
        try:
            compiled = self.exprs.jmespath(text) if kind == "jmespath" else self.exprs.template(text)
        except ExprCompileError as exc:
            location = text_location(container, key, exc.offset, exc.line_offset)
            self.problems.append(Problem(str(exc), location, format_path([*getattr(container, "path", ()), key]),
                                         exc.hint))
            return None
        if record is not None:
            self._check_record_fields(container, key, compiled, record, kind)
        return compiled

    def _check_record_fields(self, container: Any, key: Any, compiled: Any, entity: str, kind: str) -> None:
        """The record fields an expression or template reads must be fields of the canonical
        entity the records are at that step."""
        canonical = self.schemas.canonical
        node = canonical.entity(entity)
        if node is None or canonical.is_open(node):
            return
        names = canonical.property_names(node)
        used = [(u.name, u.offset) for u in getattr(compiled, "names", ())] if kind == "template" \
            else current_fields(compiled)
        for name, offset in used:
            if canonical.property(node, name) is not None:
                continue
            close = difflib.get_close_matches(name, names, n=1)
            what = "the template reads" if kind == "template" else "the expression reads"
            self.problems.append(Problem(
                f"{what} {name!r}, which is not a field of the canonical {entity} it sees",
                text_location(container, key, offset), format_path([*getattr(container, "path", ()), key]),
                (f"did you mean {close[0]!r}? " if close else f"{entity} fields: {', '.join(names)}; ")
                + ("context values are read as ctx.NAME" if kind == "template" else "context values: var('NAME')")))

    # ------------------------------------------------------------------ mappings

    def compile_mapping(self, doc: YDict) -> MappingPlan | None:
        try:
            return compile_mapping(doc, self.exprs, self.schemas.canonical)
        except SpecError as exc:
            self.problems.extend(exc.problems)
            return None

    def check_rules(self, document: Document) -> None:
        """A channel's rules: each fetch as a fetch step, each rule as a check step's rule."""
        from engine.flow import steps as _steps  # noqa: F401  (registers the step kinds)
        from engine.flow.registry import STEPS

        # The rules see the canonical entity they are declared for, so the fields they read are
        # checked against it, as a check step's rules are in a flow.
        entity = document.doc.get("entity")
        record = entity if entity in self.schemas.canonical.entity_names() else None
        fetch_schema = STEPS.get("fetch").options_schema
        for fetch in document.doc.get("fetch") or []:
            self._compile_step_expressions(fetch, fetch_schema, record)
        self._compile_step_expressions(document.doc, {"properties": {
            "rules": STEPS.get("check").options_schema["properties"]["rules"]}}, record)

    def check_price_rules(self, document: Document) -> None:
        """A price rules file: its `when:` expressions compiled against the canonical product, its
        amounts, windows and promotion overlaps (engine/pricing/check.py)."""
        from engine.pricing.check import check_price_rules

        self.problems.extend(check_price_rules(document.doc, lambda node, key: self._compile(node, key, "jmespath",
                                                                                             "product")))

    def check_mapping(self, document: Document) -> None:
        self.compile_mapping(document.doc)

    # ------------------------------------------------------------------ flows

    def check_flow(self, document: Document, merchant: Document | None = None, doc: YDict | None = None,
                   bindings: dict | None = None, roles_bound: dict | None = None,
                   binding_options: Any = None) -> None:
        """The flow's steps as written (schema of each step kind), then, for a merchant binding, the
        steps resolved against the bound connectors: references, and every expression compiled."""
        from engine.flow import steps as _steps  # noqa: F401  (registers the step kinds)
        from engine.flow.registry import STEPS
        from engine.flow.resolve import ResolvedStep, resolve_for_merchant

        doc = doc if doc is not None else document.doc
        roles = list((doc.get("roles") or {}).keys())
        self._check_option_declarations(doc, roles)
        self._check_schedule(doc.get("trigger") or YDict(), "schedule")
        written_ok = True
        for index, step in enumerate(doc.get("steps") or []):
            kind, options = next(iter(step.items()))
            if kind not in STEPS:
                self.problems.append(_at(doc, ["steps", index, kind], f"unknown step kind {kind!r}",
                                         _did_you_mean(kind, STEPS.names()), key=True))
                written_ok = False
                continue
            entry = STEPS.get(kind)
            if options is None:  # `- track:` with nothing under it: the step's own schema says what is missing
                options = YDict(loc=step.value_locs.get(kind, step.loc), path=(*step.path, kind))
            elif not isinstance(options, dict):
                self.problems.append(_at(step, [kind], f"the options of a {kind} step are a mapping (key: value)",
                                         "indent the step's options under it", key=True))
                written_ok = False
                continue
            errors = list(self.schemas.validator(f"step:{kind}", entry.options_schema).iter_errors(options))
            self.problems.extend(_problem(options, error) for error in errors)
            written_ok = written_ok and not errors
        if not written_ok:
            return
        if merchant is not None and roles_bound:
            steps = resolve_for_merchant(self.project, merchant.doc, doc, roles_bound, self.problems,
                                         binding_options)
        else:
            steps = [ResolvedStep(*next(iter(step.items()))) for step in doc.get("steps") or []]  # as written
        context = {**self._context(doc, roles, merchant, bindings), "steps": steps}
        record: str | None = None  # the canonical entity the records are at this step, when known
        for step in steps:
            entry = STEPS.get(step.kind)
            options = step.options if isinstance(step.options, dict) else YDict()
            if merchant is not None and roles_bound:  # resolved: what the connector added is checked too
                errors = list(self.schemas.validator(f"step:{step.kind}", entry.options_schema).iter_errors(options))
                self.problems.extend(_problem(options, error) for error in errors)
                if errors:
                    continue
            record = self._record_after(step.kind, options, record, merchant)
            self._compile_step_expressions(options, entry.options_schema, record)
            check = getattr(entry.impl, "check_references", None)
            if check is not None:
                self.problems.extend(check(options, context))

    def _compile_step_expressions(self, value: Any, schema: dict, record: str | None = None) -> None:
        """Compile every option a step kind declares as an expression (x-expression in its options
        schema), wherever it sits: the one generic pass, so no step compiles anything of its own
        at validate time and nothing a flow can hold fails to compile at run time. Expressions
        evaluated on the record (x-on-record) are also held to the canonical entity's fields."""
        if not isinstance(schema, dict):
            return
        if isinstance(value, dict):
            props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
            items = [(key, item, props.get(key, extra)) for key, item in value.items()]
        elif isinstance(value, list):
            items = [(index, item, schema.get("items")) for index, item in enumerate(value)]
        else:
            return
        for key, item, sub in items:
            if not isinstance(sub, dict):
                continue
            if sub.get("x-expression") and isinstance(item, str):
                self._compile(value, key, sub["x-expression"], record if sub.get("x-on-record") else None)
            else:
                self._compile_step_expressions(item, sub, record)

    def _record_after(self, kind: str, options: Any, record: str | None, merchant: Document | None) -> str | None:
        """Which canonical entity the records are once this step has run (None: native or unknown)."""
        if kind == "validate":
            return options.get("entity") if options.get("entity") in self.schemas.canonical.entity_names() else None
        if kind == "map":
            mapping = effective(self.project, merchant, "mapping", options.get("mapping"))
            target = (mapping.get("target") or {}) if isinstance(mapping, dict) else {}
            entity = target.get("canonical") if isinstance(target, dict) else None
            return entity if entity in self.schemas.canonical.entity_names() else None
        return record

    def _context(self, flow_doc: YDict, roles: list[str], merchant: Document | None, bindings: dict | None) -> dict:
        return {"project": self.project, "schemas": self.schemas, "flow": flow_doc, "roles": roles,
                "merchant": merchant, "bindings": bindings or {}}

    def _check_option_declarations(self, doc: YDict, roles: list[str]) -> None:
        """A flow's `options:` are JSON Schemas (plus the engine's checks): a misspelt keyword would
        silently check nothing, an invalid schema would break every merchant binding of the flow."""
        options = doc.get("options") or YDict()
        for name, spec in options.items():
            if not isinstance(spec, dict):
                continue
            self._check_schema_keywords(spec, top=True)
            exc = schema_error({k: v for k, v in plain(spec).items() if k not in OPTION_CHECKS})
            if exc is not None:
                where = [p for p in exc.path if not isinstance(p, int) or isinstance(exc.instance, list)]
                self.problems.append(_at(spec, list(where)[:1] or [], f"option {name!r} is not a valid JSON Schema: "
                                         f"{exc.message}", "see json-schema.org (draft 2020-12)"))
            if "must_set" in spec and not isinstance(spec["must_set"], bool):
                self.problems.append(_at(spec, ["must_set"], "must_set is true or false", OPTION_CHECKS["must_set"]))
            match = spec.get("must_match")
            if match is not None:
                if not (isinstance(match, dict) and set(match) == {"role", "field"}):
                    self.problems.append(_at(spec, ["must_match"], "must_match takes {role, field}",
                                             OPTION_CHECKS["must_match"]))
                else:
                    if match["role"] not in roles:
                        self.problems.append(_at(match, ["role"], f"unknown role {match['role']!r}",
                                                 _did_you_mean(match["role"], roles)))
                    if "default" in spec:
                        self.problems.append(_at(spec, ["default"], f"option {name!r} must match the connection's "
                                                 f"{match['field']}, so a default would win over the connection's",
                                                 f"remove default:; the {match['field']} of the connection bound to "
                                                 f"{match['role']!r} applies"))
            keys_in = spec.get("keys_in")
            if keys_in is not None:
                if not (isinstance(keys_in, dict) and set(keys_in) <= {"option", "of"} and "option" in keys_in
                        and keys_in.get("of", "keys") in ("keys", "values")):
                    self.problems.append(_at(spec, ["keys_in"], "keys_in takes {option, of: keys|values}",
                                             OPTION_CHECKS["keys_in"]))
                elif keys_in["option"] not in options:
                    self.problems.append(_at(keys_in, ["option"], f"the flow declares no option {keys_in['option']!r}",
                                             _did_you_mean(keys_in["option"], list(options))))

    def _check_schema_keywords(self, spec: Any, *, top: bool, what: str = "an option declaration") -> None:
        if not isinstance(spec, YDict):
            return
        allowed = _OPTION_KEYWORDS if top else _SCHEMA_KEYWORDS
        for key in spec:
            if key not in allowed:
                self.problems.append(_at(spec, [key], f"unknown key {key!r} in {what}",
                                         _did_you_mean(key, sorted(allowed)) if difflib.get_close_matches(
                                             str(key), sorted(allowed), n=1)
                                         else "JSON Schema keywords (type, enum, default, description, ...) or "
                                              + ", ".join(OPTION_CHECKS), key=True))
        for key in _SUBSCHEMA_KEYS:
            self._check_schema_keywords(spec.get(key), top=False, what=what)
        for key in _SUBSCHEMA_MAPS:
            for sub in (spec.get(key) or {}).values() if isinstance(spec.get(key), dict) else ():
                self._check_schema_keywords(sub, top=False, what=what)
        for key in _SUBSCHEMA_LISTS:
            for sub in spec.get(key) or [] if isinstance(spec.get(key), list) else ():
                self._check_schema_keywords(sub, top=False, what=what)

    def _check_schedule(self, container: Any, key: str) -> None:
        text = container.get(key) if isinstance(container, dict) else None
        if not isinstance(text, str):
            return
        fields = text.split()
        problem = None
        if len(fields) != 5:
            problem = f"a schedule is a cron expression of 5 fields, got {len(fields)}"
        else:
            for (low, high), field in zip(_CRON_RANGES, fields, strict=True):
                numbers = [int(n) for n in re.findall(r"(?<![/\d])\d+", field)]
                if not _CRON_FIELD.match(field) or any(n < low or n > high for n in numbers):
                    problem = f"{field!r} is not a valid cron field here (values {low}-{high})"
                    break
        if problem:
            self.problems.append(_at(container, [key], problem,
                                     "minute hour day-of-month month day-of-week, e.g. '*/30 * * * *' (every 30 "
                                     "minutes) or '15 3 * * *' (daily at 03:15 UTC)"))

    # ------------------------------------------------------------------ merchants

    def check_merchant(self, document: Document) -> None:
        doc = document.doc
        connections = doc.get("connections") or {}
        base_dir = document.path.parent
        for name, conn in connections.items():
            self._guarded(doc, lambda n=name, c=conn: self._check_connection(doc, n, c, base_dir))
        primary = doc.get("primary_catalog")
        if primary is not None and primary not in connections:
            self.problems.append(_at(doc, ["primary_catalog"], f"unknown connection {primary!r}",
                                     _did_you_mean(primary, list(connections))))
        elif primary is not None:
            connector = self.project.get("connector", connections[primary]["connector"])
            if connector is not None and "product" not in capabilities(connector.doc)["pull"]:
                self.problems.append(_at(doc, ["primary_catalog"],
                                         f"connector {connector.name!r} cannot pull products, so connection "
                                         f"{primary!r} cannot be the primary catalog",
                                         "name the connection that owns the products"))
        self._guarded(doc, lambda: self._check_overrides(document))
        for name, conn in connections.items():
            self._guarded(doc, lambda n=name, c=conn: self._check_connection_rules(doc, n, c, connections))
        for local, binding in (doc.get("flows") or {}).items():
            self._guarded(doc, lambda lo=local, b=binding: self._check_flow_binding(document, lo, b, connections))

    def _check_connection(self, doc: YDict, name: str, conn: YDict, base_dir: Path) -> None:
        where = ["connections", name]
        region = conn.get("region")
        if isinstance(region, str) and re.fullmatch(r"[A-Z]{2}", region) and not is_country(region):
            self.problems.append(_at(doc, [*where, "region"], f"{region!r} is not an ISO 3166-1 alpha-2 country code",
                                     region_hint(region)))
        connector = self.project.get("connector", conn["connector"])
        if connector is None:
            self.problems.append(_at(doc, [*where, "connector"], f"unknown connector {conn['connector']!r}",
                                     _did_you_mean(conn["connector"], self.project.names("connector"))))
            return
        self._check_settings(doc, name, conn, connector)
        ruled, covered = check_connection(doc, name, conn, connector.doc, self.exprs)
        self.problems.extend(ruled)
        declared = [c for c in (connector.doc.get("credentials") or []) if isinstance(c, str)]
        # Secrets only the webhook receiver reads: known, but a connection serving no webhooks omits them.
        webhooks = connector.doc.get("webhooks")
        optional = [c for c in ((webhooks.get("credentials") if isinstance(webhooks, dict) else None) or [])
                    if isinstance(c, str)]
        credentials = conn.get("credentials") or YDict()
        misspelt: set[str] = set()  # declared names an unknown one is a misspelling of (reported there)
        for cred, ref in credentials.items():
            if cred not in declared and cred not in optional:
                misspelt.update(difflib.get_close_matches(str(cred), declared + optional, n=1))
                self.problems.append(_at(credentials, [cred], f"connector {connector.name!r} takes no credential "
                                                               f"{cred!r}",
                                         _did_you_mean(cred, declared + optional) + f" (credentials of "
                                         f"{connector.name}: " + (", ".join(declared + optional) or "none") + ")",
                                         key=True))
                continue
            issue = reference_issue(ref)
            if issue is not None:
                self.problems.append(_at(credentials, [cred], issue[0], issue[1]))
                continue
            try:
                SecretRef.parse(ref, base_dir)
            except Exception as exc:  # noqa: BLE001  (SecretError carries the reason)
                self.problems.append(_at(credentials, [cred], str(exc),
                                         "write ${env:NAME} (letters, digits and _) or ${file:PATH}"))
                continue
            outside = secret_confinement(ref, base_dir)
            if outside is not None:
                self.problems.append(_at(credentials, [cred], outside,
                                         f"move the file into {base_dir} (for example a secrets/ folder there, kept "
                                         f"out of version control) or set {SECRETS_DIR_VARIABLE}"))
                continue
            missing = missing_secret_file(ref, base_dir)
            if missing is not None:
                self.problems.append(_at(credentials, [cred], f"the secret file {str(missing)!r} does not exist",
                                         f"create it, or fix the path (relative paths start at {base_dir})"))
        needed = [c for c in declared if c not in credentials and c not in misspelt and c not in covered]
        if needed:
            if "credentials" in conn:
                self.problems.append(_at(doc, [*where, "credentials"], f"missing credentials: {', '.join(needed)}",
                                         f"add {', '.join(needed)} under credentials: as ${{env:NAME}} or "
                                         f"${{file:PATH}}", key=True))
            else:
                self.problems.append(_at(doc, where, f"missing credentials: {', '.join(needed)}",
                                         "add them under credentials: as ${env:NAME} or ${file:PATH}"))

    def _check_connection_rules(self, doc: YDict, name: str, conn: YDict, connections: dict) -> None:
        """The connector's own checks of a connection (`connection_checks:`), once per market it
        serves: every connection with a currency that shares a flow with it."""
        connector = self.project.get("connector", conn.get("connector"))
        checks = (connector.doc.get("connection_checks") or []) if connector is not None else []
        if not checks:
            return
        markets: dict[str, dict] = {}
        for binding in (doc.get("flows") or {}).values():
            bound = list(((binding or {}).get("connections") or {}).values())
            if name not in bound:
                continue
            for other in bound:
                peer = connections.get(other)
                if other != name and isinstance(peer, dict) and peer.get("currency"):
                    markets[other] = {"connection": other, "region": peer.get("region"),
                                      "currency": peer.get("currency")}
        settings = plain(conn.get("settings") or {})
        where = ["connections", name]
        for check in checks:
            try:
                when = self.exprs.jmespath(check["when"]) if check.get("when") else None
                test = self.exprs.jmespath(check["assert"])
            except ExprCompileError:
                continue  # reported with the connector
            for market in markets.values():
                data = {"settings": settings, "connection": name, "market": market}
                scope = Scope(data, data, None, {})
                try:
                    if when is not None and not _truthy(when.evaluate(scope)):
                        continue
                    if _truthy(test.evaluate(scope)):
                        continue
                except ExprEvalError:
                    pass
                fill = {"connection": name, "market_connection": market["connection"],
                        "market_region": market["region"], "market_currency": market["currency"]}
                message, hint = str(check["message"]), str(check.get("hint") or "")
                for key, value in fill.items():
                    message = message.replace("{" + key + "}", str(value))
                    hint = hint.replace("{" + key + "}", str(value))
                setting = check.get("setting")
                path = [*where, "settings", setting] if setting and setting in settings else where
                self.problems.append(_at(doc, path, message, hint,
                                         key=bool(setting and setting in settings)))

    def _check_settings(self, doc: YDict, name: str, conn: dict, connector: Document) -> None:
        settings = conn.get("settings") or YDict()
        schema = plain(connector.doc.get("settings") or {})
        declared = list((schema.get("properties") or {}).keys()) if isinstance(schema, dict) else []
        open_ended = isinstance(schema, dict) and schema.get("additionalProperties", False) is not False \
            and "additionalProperties" in schema
        for key in settings:
            if key not in declared and not open_ended:
                self.problems.append(_at(settings, [key], f"connector {connector.name!r} has no setting {key!r}",
                                         (_did_you_mean(key, declared) if difflib.get_close_matches(str(key), declared, n=1)
                                          else "settings of " + connector.name + ": " + (", ".join(declared) or "none")),
                                         key=True))
        for key, value in settings.items():
            self._check_setting_value(settings, key, value, top=True)
            known = setting_default(value) if isinstance(value, str) and str(key).lower().endswith("url") \
                and not setting_reference_issues(value) else None
            known = None if known and known.strip().lower().startswith("http://") else known  # _check_url's
            issue = host_issue(known, declared_hosts(plain(connector.doc))) if known else None
            if issue is not None:  # a merchant file must not send the connection's secrets elsewhere
                self.problems.append(_at(settings, [key], f"setting {key}: {issue}",
                                         "credentials go only to the connector's own hosts; a connector lists "
                                         "further ones under `hosts:`"))
        if schema:
            # The connector's own settings schema, when wrong, is reported with the connector.
            errors = _errors_if_valid(schema, {k: v for k, v in settings.items() if k in declared or open_ended})
            for error in errors:
                problem = _problem(settings, error)
                if problem.location is None or not settings:
                    problem.location = locate(doc, ["connections", name, "settings"], key=True) \
                        if "settings" in conn else locate(doc, ["connections", name])
                self.problems.append(problem)
        region = settings.get("region")
        if isinstance(region, str) and re.fullmatch(r"[A-Z]{2}", region) and not is_country(region):
            self.problems.append(_at(settings, ["region"], f"{region!r} is not an ISO 3166-1 alpha-2 country code",
                                     region_hint(region)))

    def _check_setting_value(self, container: Any, key: Any, value: Any, *, top: bool) -> None:
        if isinstance(value, dict):
            for sub_key, sub in value.items():
                self._check_setting_value(value, sub_key, sub, top=False)
            return
        if isinstance(value, list):
            for index, sub in enumerate(value):
                self._check_setting_value(value, index, sub, top=False)
            return
        if not isinstance(value, str):
            return
        issues = setting_reference_issues(value)
        for offset, message, hint in issues:
            self.problems.append(Problem(message, text_location(container, key, offset),
                                         format_path([*getattr(container, "path", ()), key]), hint))
        if not top and "${" in value and not issues:
            self.problems.append(_at(container, [key], "only top-level settings are read from the environment",
                                     "move the reference to a setting of its own"))
        if top and not issues and str(key).lower().endswith("url"):
            known = setting_default(value)
            if known:
                self._check_url(container, key, what=f"setting {key}", value=known)

    def _check_overrides(self, document: Document) -> None:
        doc = document.doc
        overrides = doc.get("overrides") or {}
        for kind_plural, entries in overrides.items():
            kind = kind_plural[:-1]
            for name in entries:
                if self.project.get(kind, name) is None:
                    self.problems.append(_at(doc, ["overrides", kind_plural, name],
                                             f"override of an unknown {kind} {name!r}",
                                             _did_you_mean(name, self.project.names(kind)), key=True))
        for name, partial in (overrides.get("mappings") or {}).items():
            merged = effective(self.project, document, "mapping", name)
            if merged is None or self._empty_override_block(partial, "mapping"):
                continue
            self._check_added_fields(self.project.get("mapping", name).doc.get("fields"), partial.get("fields"), name)
            found = self.schemas.check_document(merged, "mapping")
            self.problems.extend(found)
            if not found:
                self.compile_mapping(merged)
        for name, partial in (overrides.get("flows") or {}).items():
            base = self.project.get("flow", name)
            merged = effective(self.project, document, "flow", name)
            if merged is None or base is None or self._empty_override_block(partial, "flow"):
                continue
            found = self.schemas.check_document(merged, "flow")
            self.problems.extend(found)
            if not found and not any(b.get("flow") == name for b in (doc.get("flows") or {}).values()):
                self.check_flow(base, document, merged)  # bound flows are checked with their binding

    def _empty_override_block(self, partial: Any, kind: str) -> bool:
        """`fields:` left empty with the lines meant for it at its own indentation: null removes
        the shared block, and its fields land beside it. Reported at the empty key."""
        allowed = set((self.schemas.file_schema(kind) or {}).get("properties") or {})
        locs = getattr(partial, "key_locs", {})
        keys = list(partial) if isinstance(partial, dict) else []
        for previous, key in zip(keys, keys[1:], strict=False):
            if partial[previous] is None and key not in allowed and previous in locs and key in locs \
                    and locs[previous].col == locs[key].col:
                self.problems.append(_at(partial, [previous], f"bad indentation: {previous!r} has nothing under it, "
                                         f"because the lines after it are indented like it (so {key!r} lands "
                                         f"beside it, where a {kind} has no such key)",
                                         f"indent the lines that belong to {previous!r} by 2 more spaces than "
                                         f"{previous!r}", key=True))
                return True
        return False

    def _check_added_fields(self, base: Any, override: Any, mapping: str) -> None:
        """A field the shared mapping does not have is probably a misspelt one: a warning."""
        if not (isinstance(base, dict) and isinstance(override, YDict)):
            return
        known = [str(k) for k in base]
        for key, value in override.items():
            if key in base:
                if extends_fields(base[key], value):
                    self._check_added_fields(base[key].get("fields"), value.get("fields"), mapping)
                elif isinstance(value, YDict) and form_of(value) is None and isinstance(base[key], dict):
                    for position in ("then", "else"):
                        sub_base, sub = base[key].get(position), value.get(position)
                        if extends_fields(sub_base, sub):
                            self._check_added_fields(sub_base.get("fields"), sub.get("fields"), mapping)
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            if value is None:
                message = f"the override removes {key!r}, which mapping {mapping!r} does not have here"
            else:
                message = f"the override adds {key!r}, which mapping {mapping!r} does not have here"
            hint = (f"did you mean {close[0]!r}? " if close else "") + ("if the field is new, this warning can be "
                                                                         "ignored" if value is not None else
                                                                         "remove the line")
            self.problems.append(_at(override, [key], message, hint, key=True, severity="warning"))

    def _check_flow_binding(self, merchant: Document, local: str, binding: dict, connections: dict) -> None:
        doc = merchant.doc
        flow = self.project.get("flow", binding["flow"])
        if flow is None:
            self.problems.append(_at(doc, ["flows", local, "flow"], f"unknown flow {binding['flow']!r}",
                                     _did_you_mean(binding["flow"], self.project.names("flow"))))
            return
        self._check_schedule(binding, "schedule")
        flow_doc = effective(self.project, merchant, "flow", flow.name)
        if flow_doc is not flow.doc and self.schemas.check_document(flow_doc, "flow"):
            return  # the override makes the flow invalid; reported with the overrides
        roles = flow_doc.get("roles") or {}
        bound = binding.get("connections") or {}
        misspelt = {close for role in bound if role not in roles
                    for close in difflib.get_close_matches(str(role), list(roles), n=1)}  # reported at the typo
        for role in roles:
            if role not in bound and role not in misspelt:
                self.problems.append(_at(doc, ["flows", local], f"flow role {role!r} is not bound to a connection",
                                         f"add connections: {{{role}: <connection>}}"))
        incapable = False
        for role, conn_name in bound.items():
            if role not in roles:
                self.problems.append(_at(doc, ["flows", local, "connections", role], f"flow has no role {role!r}",
                                         _did_you_mean(role, list(roles)), key=True))
            elif conn_name not in connections:
                self.problems.append(_at(doc, ["flows", local, "connections", role], f"unknown connection {conn_name!r}",
                                         _did_you_mean(conn_name, list(connections))))
            else:
                before = len(self.problems)
                self._check_capabilities(doc, local, binding, role, roles[role], conn_name, connections[conn_name])
                incapable = incapable or len(self.problems) > before
        self._check_primary(doc, local, flow_doc, bound, connections)
        self._check_options(doc, local, binding, flow_doc, bound, connections)
        if not incapable:
            reported = self._trigger_reported.setdefault(id(doc), set())
            self.problems.extend(check_webhook_trigger(self.project, doc, local, flow_doc, bound, connections,
                                                       reported))
        # A connection that cannot serve its role is reported at the binding; resolving the flow's
        # steps against it would only repeat that, pointing into the shared flow file.
        if incapable:
            self.check_flow(flow, merchant, flow_doc)
        else:
            self.check_flow(flow, merchant, flow_doc, {r: connections.get(c) for r, c in bound.items()},
                            {r: c for r, c in bound.items() if c in connections}, binding.get("options"))

    def _check_options(self, doc: YDict, local: str, binding: dict, flow_doc: YDict, bound: dict,
                       connections: dict) -> None:
        declared = flow_doc.get("options") or {}
        properties = {k: {kk: vv for kk, vv in plain(v).items() if kk not in OPTION_CHECKS}
                      for k, v in declared.items() if isinstance(v, dict)}
        option_schema = {"type": "object", "properties": properties, "additionalProperties": False}
        options = binding.get("options") or YDict()
        errors = _errors_if_valid(option_schema, options)  # a broken declaration is reported with the flow
        for error in errors:
            problem = _problem(options, error)
            if problem.location is None:
                problem.location = locate(doc, ["flows", local])
            self.problems.append(problem)
        bad = {tuple(e.absolute_path)[:1] for e in errors}
        self._check_option_references(options)
        for name, spec in declared.items():
            if not isinstance(spec, dict) or (name,) in bad:
                continue
            if spec.get("must_set") is True and name not in options:
                where = ["flows", local, "options"] if "options" in binding else ["flows", local]
                what = spec.get("description") or ""
                self.problems.append(_at(doc, where, f"flow {flow_doc.get('name')!r} needs option {name!r}, "
                                                     "which is not set",
                                         f"add {name}: under options:" + (f" ({what})" if what else ""),
                                         key="options" in binding))
            match = spec.get("must_match")
            if isinstance(match, dict) and name in options:
                self._check_must_match(options, name, match, bound, connections)
            keys_in = spec.get("keys_in")
            if isinstance(keys_in, dict) and isinstance(options.get(name), dict):
                self._check_keys_in(options, name, keys_in)

    def _check_must_match(self, options: YDict, name: str, match: dict, bound: dict, connections: dict) -> None:
        role, field = match.get("role"), match.get("field")
        conn_name = bound.get(role)
        connection = connections.get(conn_name) if conn_name is not None else None
        if not isinstance(connection, dict):
            return
        if field in connection:
            actual = connection.get(field)
        else:
            actual = (connection.get("settings") or {}).get(field)
        if actual is None or "${" in str(actual) or str(actual) == str(options[name]):
            return
        self.problems.append(_at(options, [name], f"{name}: {options[name]} contradicts connection {conn_name!r} "
                                                  f"(role {role!r}), whose {field} is {actual}",
                                 f"the connection's {field} applies: remove {name}, or set it to {actual}"))

    def _check_keys_in(self, options: YDict, name: str, keys_in: dict) -> None:
        other, of = keys_in.get("option"), keys_in.get("of", "keys")
        source = options.get(other)
        pool = source if isinstance(source, dict) else {}
        known = sorted({str(v) for v in (pool.values() if of == "values" else pool.keys()) if not isinstance(v, dict | list)})
        value = options[name]
        for key in value:
            if str(key) in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            used = f"no {other} {'value' if of == 'values' else 'key'} is {str(key)!r}"
            where = ""
            if close and isinstance(pool, YDict):
                line = next((pool.value_locs.get(k) if of == "values" else pool.key_locs.get(k)
                             for k, v in pool.items() if str(v if of == "values" else k) == close[0]), None)
                where = f" ({other} has it on line {line.line}: one of the two is mistyped)" if line else ""
            self.problems.append(_at(value, [key], f"{name} has an entry for {str(key)!r}, but {used}, so it is "
                                                   f"never used",
                                     (f"did you mean {close[0]!r}?{where} " if close else "")
                                     + (f"{other} {of}: {', '.join(known)}" if known else f"{other} is not set"),
                                     key=True))

    def _check_option_references(self, value: Any, container: Any = None, key: Any = None) -> None:
        """Options are used as written: a ${...} in one is never filled in."""
        if isinstance(value, dict):
            for sub_key, sub in value.items():
                self._check_option_references(sub, value, sub_key)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                self._check_option_references(sub, value, index)
        elif isinstance(value, str) and container is not None and re.search(r"\$\{[^}]*\}?", value):
            offset = value.find("${")
            self.problems.append(Problem("flow options are used as written: this ${...} would not be replaced",
                                         text_location(container, key, offset),
                                         format_path([*getattr(container, "path", ()), key]),
                                         "write the value itself; references are read only in connection "
                                         "settings (${env:NAME}) and credentials"))

    def _check_capabilities(self, doc: YDict, local: str, binding: dict, role: str, needs: dict, conn_name: str,
                            connection: dict) -> None:
        """What the role needs of the bound connector: entities to pull and push, product-push
        regions, and the capabilities some options depend on."""
        connector = self.project.get("connector", connection["connector"])
        if connector is None:
            return
        caps = capabilities(connector.doc)
        for direction in ("pull", "push"):
            missing = [e for e in needs.get(direction, []) if e not in (caps.get(direction) or [])]
            for entity in needs.get(direction, []):
                entry = refusal(connector.doc, direction, entity)
                if entry is not None:
                    self.problems.append(_at(doc, ["flows", local, "connections", role],
                                             f"connector {connector.name!r} cannot {direction} {entity}: "
                                             f"{entry['reason']}", entry["hint"]))
            missing = [e for e in missing if refusal(connector.doc, direction, e) is None]
            if missing:
                self.problems.append(_at(doc, ["flows", local, "connections", role],
                                         f"connector {connector.name!r} cannot {direction} {', '.join(missing)}",
                                         f"role {role!r} needs it; pick another connection"))
        regions = caps.get("product_push_regions")
        region = connection.get("region")
        if regions and "product" in (needs.get("push") or []) and (region is None or is_country(region)):
            # A channel may take products from outside only in some markets; elsewhere the shop is
            # the catalog and listings can only flow out of it. (A region that is no country code
            # at all is reported on its own line.)
            if region not in regions:
                where = f"is in {region}" if region else "has no region:"
                self.problems.append(_at(doc, ["flows", local, "connections", role],
                                         f"{connector.name} accepts product push only in {', '.join(regions)}; "
                                         f"connection {conn_name!r} {where}",
                                         f"in other markets {conn_name!r} must be the primary_catalog and listings "
                                         f"are imported from it" if region else
                                         f"set region: on connection {conn_name!r} (ISO 3166 alpha-2, GB for the UK)"))
        options = binding.get("options") or {}
        for option, capability in (needs.get("option_capabilities") or {}).items():
            if option in options and not caps.get(capability):
                self.problems.append(_at(doc, ["flows", local, "options", option],
                                         f"option {option!r} needs {capability} on role {role!r}, and connector "
                                         f"{connector.name!r} does not declare it",
                                         f"remove {option}, or bind {role!r} to a connector with "
                                         f"capabilities.{capability}", key=True))

    def _check_primary(self, doc: YDict, local: str, flow_doc: YDict, bound: dict, connections: dict) -> None:
        """A catalog flow reads from or writes to the primary catalog; the merchant says which it is."""
        role = flow_doc.get("requires_primary")
        if not role or role not in bound or bound[role] not in connections:
            return
        primary = doc.get("primary_catalog")
        if primary is not None and primary not in connections:
            return  # an unknown primary_catalog is reported on its own line
        if primary is None:
            self.problems.append(_at(doc, ["flows", local, "connections", role],
                                     f"flow {flow_doc['name']!r} reads listings from the primary catalog, and the "
                                     f"merchant has no primary_catalog",
                                     f"set primary_catalog: {bound[role]} if {bound[role]!r} owns the catalog"))
        elif primary != bound[role]:
            self.problems.append(_at(doc, ["flows", local, "connections", role],
                                     f"flow {flow_doc['name']!r} reads listings from role {role!r}, bound to "
                                     f"{bound[role]!r}, but the primary catalog is {primary!r}",
                                     "listings flow out of the primary catalog only; bind the primary catalog "
                                     "to this role or pick the flow for the other direction"))

    # ------------------------------------------------------------------ tests

    def check_test(self, document: Document) -> None:
        doc = document.doc
        if doc.get("merchant"):
            path = (document.path.parent / doc["merchant"]).resolve()
            merchant = next((m for m in self.project.documents["merchant"].values() if m.path.resolve() == path), None)
            if merchant is None:
                self.problems.append(_at(doc, ["merchant"], f"merchant file {doc['merchant']!r} not found or not loaded",
                                         "pass its folder to validate too"))
        for index, case in enumerate(doc.get("cases") or []):
            name = case.get("mapping") or doc.get("mapping")
            if not name:
                self.problems.append(_at(doc, ["cases", index], "no mapping named for this case",
                                         "set `mapping:` on the file or the case"))
            elif self.project.get("mapping", name) is None:
                where = ["cases", index, "mapping"] if case.get("mapping") else ["mapping"]
                self.problems.append(_at(doc, where, f"unknown mapping {name!r}",
                                         _did_you_mean(name, self.project.names("mapping"))))
            if case.get("input_file") and not (document.path.parent / case["input_file"]).is_file():
                self.problems.append(_at(doc, ["cases", index, "input_file"],
                                         f"input file {case['input_file']!r} not found",
                                         f"paths are relative to {document.path.parent}"))


_SUGGESTED = re.compile(r"did you mean '([^']+)'\?")
_MISSING = re.compile(r"missing required key '([^']+)'|needs option '([^']+)'")


def _errors_if_valid(schema: dict, instance: Any) -> list:
    """The instance's errors against a schema a consultant declared; none when the schema itself is
    broken (its own check reports it): a `type:` that names no JSON type is only found while
    checking an instance, as jsonschema's UnknownType, not a SchemaError."""
    if schema_error(schema) is not None:
        return []
    try:
        return list(Draft202012Validator(schema).iter_errors(instance))
    except UnknownType:
        return []


def schema_error(schema: dict) -> SchemaError | None:
    """What is wrong with a JSON Schema a file declares, or None. Checking a schema against the
    metaschema costs milliseconds and the same declarations come back in every validation of a
    long-lived process (serve, the test suites), so the answer is kept per schema."""
    try:  # the key tells a Decimal or a date from the text that prints like it
        key = json.dumps(schema, sort_keys=True, default=lambda o: f"<{type(o).__qualname__}>{o!r}")
    except (TypeError, ValueError):  # keys of mixed types: not kept, checked every time
        key = None
    if key is not None and key in _SCHEMA_ERRORS:
        return _SCHEMA_ERRORS[key]
    try:
        Draft202012Validator.check_schema(schema)
        found = None
    except SchemaError as exc:
        found = exc
    if key is not None:
        if len(_SCHEMA_ERRORS) >= 4096:
            _SCHEMA_ERRORS.clear()
        _SCHEMA_ERRORS[key] = found
    return found


_SCHEMA_ERRORS: dict[str, SchemaError | None] = {}


# Shipped documents that passed their kind's schema, by file identity: they are the same on every
# validation of a process, so their schema check (most of validate's time) is done once.
_SHIPPED_CLEAN: set[tuple] = set()


def _shipped_identity(document: Document, schemas: SchemaSet) -> tuple | None:
    if not document.shipped:
        return None
    try:
        stat = document.path.stat()
    except OSError:
        return None
    return (str(schemas.folder), document.kind, document.name, str(document.path), stat.st_mtime_ns, stat.st_size)


def _drop_superseded(problems: list[Problem]) -> list[Problem]:
    """A key reported as missing next to an unknown key that is its misspelling is one mistake:
    the unknown key's problem (with its did-you-mean) says it, at the line to fix."""
    def parent(path: str) -> str:
        path = "" if path == "(top level)" else path
        return path.rsplit(".", 1)[0] if "." in path else ""

    misspelt = set()
    for problem in problems:
        suggested = _SUGGESTED.search(problem.hint or "")
        if problem.message.startswith("unknown key") and suggested:
            misspelt.add((parent(problem.path), suggested[1]))
    kept = []
    for problem in problems:
        missing = _MISSING.search(problem.message)
        if missing:
            name = missing[1] or missing[2]
            own = "" if problem.path == "(top level)" else problem.path
            if (own, name) in misspelt:
                continue
        kept.append(problem)
    return kept


_UNEXPECTED = re.compile(r"Additional properties are not allowed \('([^']+)'")


def _explain_unexpected(problem: Problem, doc: Any) -> Problem:
    """A pluggable block's (auth, rate_limit, paginate) unknown key, as the file schemas report
    one: at the key, with the keys its kind takes."""
    match = _UNEXPECTED.match(problem.message)
    if not match:
        return problem
    parts = [int(i) if i else n for n, i in _PATH_PART.findall(problem.path)]
    block: Any = doc
    for part in parts:
        block = block[part] if isinstance(block, dict | list) and (part in block if isinstance(block, dict)
                                                                    else 0 <= part < len(block)) else None
    if not isinstance(block, dict):
        return problem
    try:
        from engine.http.auth import AUTH_KINDS
        from engine.http.paginate import PAGINATORS
        from engine.http.ratelimit import RATE_LIMITS
        from engine.http.verify import VERIFIERS
    except ImportError:
        return problem
    registry = {"auth": AUTH_KINDS, "rate_limit": RATE_LIMITS, "verifier": VERIFIERS}.get(str(parts[-1]) if parts else "",
                                                                   PAGINATORS if parts and parts[-1] == "paginate" else None)
    kind = block.get("kind")
    allowed = sorted((registry.get(kind).options_schema.get("properties") or {}).keys()) \
        if registry is not None and kind in registry else []
    key = match[1]
    hint = _did_you_mean(key, allowed) if difflib.get_close_matches(key, allowed, n=1) else \
        (f"{parts[-1]} kind {kind} takes: " + ", ".join(allowed) if allowed else problem.hint)
    return Problem(f"unknown key {key!r}", locate(doc, [*parts, key], key=True), format_path([*parts, key]), hint)


def _market_hints(doc: Any, problems: list[Problem]) -> None:
    """A region or currency of the wrong form gets the code it was probably meant to be."""
    connections = doc.get("connections") if isinstance(doc, dict) else None
    if not isinstance(connections, dict):
        return
    for name, conn in connections.items():
        if not isinstance(conn, dict):
            continue
        for problem in problems:
            if problem.path == f"connections.{name}.region" and isinstance(conn.get("region"), str):
                problem.hint = region_hint(conn["region"])
            elif problem.path == f"connections.{name}.currency" and isinstance(conn.get("currency"), str):
                code = conn["currency"].strip().upper()
                problem.hint = (f"write {code}: " if re.fullmatch(r"[A-Z]{3}", code) else "") + \
                    "currencies are ISO 4217 codes in capitals, e.g. USD, GBP, EUR, MYR"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_paths(paths: list[str | Path], *, include_shipped: bool = True) -> list[Problem]:
    return Validator(Project.load(paths, include_shipped=include_shipped)).run()

