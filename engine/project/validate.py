"""`connector validate`: every file of a project checked against its schema, every expression
compiled, every reference resolved. Each finding points at file:line:col with the field path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from engine.errors import Problem, SpecError, did_you_mean
from engine.flow.resolve import capabilities
from engine.lang.expr import ExpressionCompiler
from engine.lang.mapping import MappingPlan, compile_mapping
from engine.project.entity_checks import check_entities
from engine.project.loader import Document, Project
from engine.project.overrides import effective
from engine.project.schemas import SchemaSet, _problem
from engine.project.secrets import SecretRef
from engine.project.yamlpos import YDict, locate, plain

_did_you_mean = did_you_mean


def _at(doc: Any, path: list, message: str, hint: str = "", *, key: bool = False) -> Problem:
    from engine.project.yamlpos import format_path

    base = list(getattr(doc, "path", ()))
    return Problem(message, locate(doc, path, key=key), format_path(base + path), hint)


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


class _Written:
    """A step as the flow file writes it (no merchant binding to resolve it against)."""

    def __init__(self, kind: str, options: Any) -> None:
        self.kind, self.options = kind, options


class Validator:
    def __init__(self, project: Project, schemas: SchemaSet | None = None,
                 exprs: ExpressionCompiler | None = None) -> None:
        self.project = project
        self.schemas = schemas or SchemaSet()
        self.exprs = exprs or ExpressionCompiler()
        self.connectors: dict[str, Any] = {}  # name -> CompiledConnector, kept for the plan
        self.problems: list[Problem] = list(project.problems)
        self._schema_ok: dict[tuple[str, str], bool] = {}

    def run(self) -> list[Problem]:
        for kind in ("connector", "mapping", "rules", "flow", "merchant", "test"):
            for document in list(self.project.documents[kind].values()):
                if self.schema_ok(document):
                    getattr(self, f"check_{kind}")(document)
        unique = {(str(p.location), p.message): p for p in self.problems}
        return sorted(unique.values(), key=lambda p: (str(p.location.file) if p.location else "",
                                                      p.location.line if p.location else 0,
                                                      p.location.col if p.location else 0))

    def schema_ok(self, document: Document) -> bool:
        key = (document.kind, document.name)
        if key not in self._schema_ok:
            found = self.schemas.check_document(document.doc, document.kind)
            self.problems.extend(found)
            self._schema_ok[key] = not found
        return self._schema_ok[key]

    # ------------------------------------------------------------------ kinds

    def check_connector(self, document: Document) -> None:
        try:
            from engine.http.compile import compile_connector
        except ImportError:  # the HTTP runtime is optional for schema-only checks
            return
        try:
            self.connectors[document.name] = compile_connector(plain(document.doc), self.exprs)
        except SpecError as exc:
            self.problems.extend(relocate(exc.problems, document.doc))
        self.problems.extend(check_entities(self, document))
        audit = document.doc.get("sku_audit")
        operations = list((document.doc.get("operations") or {}).keys())
        if audit is not None and audit["operation"] not in operations:
            self.problems.append(_at(document.doc, ["sku_audit", "operation"],
                                     f"unknown operation {audit['operation']!r}", _did_you_mean(audit["operation"], operations)))
        for key in ("key", "title", "skus"):
            if audit is not None and key in audit:
                self._compile_expression(audit, key)

    def _compile_expression(self, doc: YDict, key: str) -> None:
        from engine.lang.expr import ExprCompileError

        try:
            self.exprs.jmespath(doc[key])
        except ExprCompileError as exc:
            self.problems.append(_at(doc, [key], str(exc), exc.hint))

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

        fetch_schema = STEPS.get("fetch").options_schema
        for fetch in document.doc.get("fetch") or []:
            self._compile_step_expressions(fetch, fetch_schema)
        self._compile_step_expressions(document.doc, {"properties": {
            "rules": STEPS.get("check").options_schema["properties"]["rules"]}})

    def check_mapping(self, document: Document) -> None:
        self.compile_mapping(document.doc)

    def check_flow(self, document: Document, merchant: Document | None = None, doc: YDict | None = None,
                   bindings: dict | None = None, roles_bound: dict | None = None) -> None:
        """The flow's steps as written (schema of each step kind), then, for a merchant binding, the
        steps resolved against the bound connectors: references, and every expression compiled."""
        from engine.flow import steps as _steps  # noqa: F401  (registers the step kinds)
        from engine.flow.registry import STEPS
        from engine.flow.resolve import resolve_for_merchant

        doc = doc if doc is not None else document.doc
        roles = list((doc.get("roles") or {}).keys())
        written_ok = True
        for index, step in enumerate(doc.get("steps") or []):
            kind, options = next(iter(step.items()))
            if kind not in STEPS:
                self.problems.append(_at(doc, ["steps", index, kind], f"unknown step kind {kind!r}",
                                         _did_you_mean(kind, STEPS.names()), key=True))
                written_ok = False
                continue
            options = options if options is not None else YDict()
            errors = list(self.schemas.validator(f"step:{kind}", STEPS.get(kind).options_schema).iter_errors(options))
            self.problems.extend(_problem(options, error) for error in errors)
            written_ok = written_ok and not errors
        if not written_ok:
            return
        if merchant is not None and roles_bound:
            steps = resolve_for_merchant(self.project, merchant.doc, doc, roles_bound, self.problems)
        else:
            steps = [_Written(*next(iter(step.items()))) for step in doc.get("steps") or []]
        context = self._context(doc, roles, merchant, bindings)
        for step in steps:
            entry = STEPS.get(step.kind)
            options = step.options if step.options is not None else YDict()
            if step.options is not None and merchant is not None and roles_bound:
                errors = list(self.schemas.validator(f"step:{step.kind}", entry.options_schema).iter_errors(options))
                self.problems.extend(_problem(options, error) for error in errors)
                if errors:
                    continue
            self._compile_step_expressions(options, entry.options_schema)
            check = getattr(entry.impl, "check_references", None)
            if check is not None:
                self.problems.extend(check(options, context))

    def _compile_step_expressions(self, value: Any, schema: dict) -> None:
        """Compile every option a step kind declares as an expression (x-expression in its options
        schema), wherever it sits: the one generic pass, so no step compiles anything of its own
        at validate time and nothing a flow can hold fails to compile at run time."""
        from engine.lang.expr import ExprCompileError

        if not isinstance(schema, dict):
            return
        kind = schema.get("x-expression")
        if kind and isinstance(value, str):
            return  # compiled by the container, which knows the position
        if isinstance(value, dict):
            props = schema.get("properties") or {}
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                sub = props.get(key, extra if isinstance(extra, dict) else None)
                if not isinstance(sub, dict):
                    continue
                if sub.get("x-expression") and isinstance(item, str):
                    try:
                        if sub["x-expression"] == "template":
                            self.exprs.template(item)
                        else:
                            self.exprs.jmespath(item)
                    except ExprCompileError as exc:
                        self.problems.append(_at(value, [key], str(exc), exc.hint))
                else:
                    self._compile_step_expressions(item, sub)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for item in value:
                self._compile_step_expressions(item, schema["items"])

    def _context(self, flow_doc: YDict, roles: list[str], merchant: Document | None, bindings: dict | None) -> dict:
        return {"project": self.project, "exprs": self.exprs, "schemas": self.schemas, "flow": flow_doc,
                "roles": roles, "merchant": merchant, "bindings": bindings or {}}

    def check_merchant(self, document: Document) -> None:
        doc = document.doc
        connections = doc.get("connections") or {}
        base_dir = document.path.parent
        for name, conn in connections.items():
            connector = self.project.get("connector", conn["connector"])
            if connector is None:
                self.problems.append(_at(doc, ["connections", name, "connector"],
                                         f"unknown connector {conn['connector']!r}",
                                         _did_you_mean(conn["connector"], self.project.names("connector"))))
                continue
            self._check_settings(doc, name, conn, connector)
            for cred, ref in (conn.get("credentials") or {}).items():
                try:
                    SecretRef.parse(ref, base_dir)
                except Exception as exc:  # noqa: BLE001  (SecretError carries the reason)
                    self.problems.append(_at(doc, ["connections", name, "credentials", cred], str(exc),
                                             "write ${env:NAME} (letters, digits and _) or ${file:PATH}"))
            needed = [c for c in (connector.doc.get("credentials") or []) if c not in (conn.get("credentials") or {})]
            if needed:
                self.problems.append(_at(doc, ["connections", name], f"missing credentials: {', '.join(needed)}",
                                         "add them under credentials: as ${env:NAME} or ${file:PATH}"))
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
        overrides = doc.get("overrides") or {}
        for kind_plural, entries in overrides.items():
            kind = kind_plural[:-1]
            for name in entries:
                if self.project.get(kind, name) is None:
                    self.problems.append(_at(doc, ["overrides", kind_plural, name],
                                             f"override of an unknown {kind} {name!r}",
                                             _did_you_mean(name, self.project.names(kind)), key=True))
        for name in (overrides.get("mappings") or {}):
            merged = effective(self.project, document, "mapping", name)
            if merged is None:
                continue
            found = self.schemas.check_document(merged, "mapping")
            self.problems.extend(found)
            if not found:
                self.compile_mapping(merged)
        for local, binding in (doc.get("flows") or {}).items():
            self._check_flow_binding(document, local, binding, connections)

    def _check_settings(self, doc: YDict, name: str, conn: dict, connector: Document) -> None:
        schema = plain(connector.doc.get("settings") or {})
        if not schema:
            return
        settings = conn.get("settings") or YDict()
        for error in Draft202012Validator(schema).iter_errors(settings):
            problem = _problem(settings, error)
            if problem.location is None:
                problem.location = locate(doc, ["connections", name])
            self.problems.append(problem)

    def _check_flow_binding(self, merchant: Document, local: str, binding: dict, connections: dict) -> None:
        doc = merchant.doc
        flow = self.project.get("flow", binding["flow"])
        if flow is None:
            self.problems.append(_at(doc, ["flows", local, "flow"], f"unknown flow {binding['flow']!r}",
                                     _did_you_mean(binding["flow"], self.project.names("flow"))))
            return
        flow_doc = effective(self.project, merchant, "flow", flow.name)
        roles = flow_doc.get("roles") or {}
        bound = binding.get("connections") or {}
        for role in roles:
            if role not in bound:
                self.problems.append(_at(doc, ["flows", local], f"flow role {role!r} is not bound to a connection",
                                         f"add connections: {{{role}: <connection>}}"))
        for role, conn_name in bound.items():
            if role not in roles:
                self.problems.append(_at(doc, ["flows", local, "connections", role], f"flow has no role {role!r}",
                                         _did_you_mean(role, list(roles)), key=True))
            elif conn_name not in connections:
                self.problems.append(_at(doc, ["flows", local, "connections", role], f"unknown connection {conn_name!r}",
                                         _did_you_mean(conn_name, list(connections))))
            else:
                self._check_capabilities(doc, local, binding, role, roles[role], conn_name, connections[conn_name])
        self._check_primary(doc, local, flow_doc, bound, connections)
        option_schema = {"type": "object", "properties": plain(flow_doc.get("options") or {}), "additionalProperties": False}
        options = binding.get("options") or YDict()
        for error in Draft202012Validator(option_schema).iter_errors(options):
            problem = _problem(options, error)
            if problem.location is None:
                problem.location = locate(doc, ["flows", local])
            self.problems.append(problem)
        self.check_flow(flow, merchant, flow_doc, {r: connections.get(c) for r, c in bound.items()},
                        {r: c for r, c in bound.items() if c in connections})

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
            if missing:
                self.problems.append(_at(doc, ["flows", local, "connections", role],
                                         f"connector {connector.name!r} cannot {direction} {', '.join(missing)}",
                                         f"role {role!r} needs it; pick another connection"))
        regions = caps.get("product_push_regions")
        if regions and "product" in (needs.get("push") or []):
            # A channel may take products from outside only in some markets; elsewhere the shop is
            # the catalog and listings can only flow out of it.
            region = connection.get("region")
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

    def check_test(self, document: Document) -> None:
        doc = document.doc
        merchant = None
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


def validate_paths(paths: list[str | Path], *, include_shipped: bool = True) -> list[Problem]:
    return Validator(Project.load(paths, include_shipped=include_shipped)).run()
