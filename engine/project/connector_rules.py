"""What a connector declares about how it may be used, checked by `connector validate` against the
merchant files (the connector's `capabilities:`):

- `refuse`: roles it cannot take, with the reason and the alternative: a flow that pulls or pushes
  the entity through it is refused with both (an order feed a system does not have, stock it
  does not keep).
- `setup`: the settings and credentials a connection needs, each with what it is for: a partial
  set-up is one error naming every missing item and its purpose.
- `checks`: assertions over a connection's literal settings (a login host where the account's own
  URL belongs), each with its message and hint.
- `one_connection_per`: a setting that names an account that may have one integration only: a
  second connection naming it, in any merchant file validated together, is refused.
"""

from __future__ import annotations

from typing import Any

from engine.errors import Problem
from engine.lang.expr import ExprCompileError, ExpressionCompiler, ExprEvalError, Scope
from engine.lang.mapping import _truthy
from engine.project.secrets import setting_default
from engine.project.yamlpos import format_path, locate

# The declarations' JSON Schema is part of schemas/connector.schema.json (capabilities).


def refusal(connector_doc: Any, direction: str, entity: str) -> dict | None:
    """The connector's `refuse` entry for reading (`pull`) or writing (`push`) `entity`, if any."""
    for entry in (connector_doc.get("capabilities") or {}).get("refuse") or []:
        if entity in (entry.get("entities") or []) and entry.get("direction", "any") in ("any", direction):
            return entry
    return None


def _at(doc: Any, path: list, message: str, hint: str = "", key: bool = False) -> Problem:
    base = list(getattr(doc, "path", ()))
    return Problem(message, locate(doc, path, key=key), format_path(base + path), hint)


def _literal(value: Any) -> Any:
    """A setting's value as validate can know it: a reference counts only through its default."""
    if isinstance(value, str) and "${" in value:
        return setting_default(value)
    return value


def check_connection(doc: Any, name: str, conn: Any, connector_doc: Any, exprs: ExpressionCompiler) -> \
        tuple[list[Problem], set[str]]:
    """Problems of one connection against its connector's setup and checks, and the credentials the
    setup reported (the generic missing-credentials message leaves them out)."""
    caps = connector_doc.get("capabilities") or {}
    where = ["connections", name]
    problems: list[Problem] = []
    settings = conn.get("settings") or {}
    credentials = conn.get("credentials") or {}
    missing = [item for item in caps.get("setup") or []
               if item["name"] not in (settings if item["in"] == "settings" else credentials)]
    covered = {item["name"] for item in caps.get("setup") or [] if item["in"] == "credentials"}
    if missing:
        given = [item["name"] for item in caps.get("setup") or [] if item not in missing]
        lines = "; ".join(f"{item['in']}.{item['name']}: {item['purpose']}" for item in missing)
        problems.append(_at(doc, where, f"connection {name!r} is set up only in part: missing "
                                        f"{', '.join(item['name'] for item in missing)}",
                            f"{lines}" + (f" (given: {', '.join(given)})" if given else ""), key=True))
    values = {key: _literal(value) for key, value in settings.items()}
    values = {key: value for key, value in values.items() if value is not None}
    scope_data = {"settings": values, "region": conn.get("region"), "currency": conn.get("currency")}
    for check in caps.get("checks") or []:
        setting = check["setting"]
        if setting not in values:
            continue
        try:
            holds = _truthy(exprs.jmespath(check["assert"]).evaluate(Scope(scope_data, scope_data, None, {})))
        except (ExprCompileError, ExprEvalError) as exc:
            problems.append(_at(doc, [*where, "settings", setting], f"check of {setting} could not run: {exc}"))
            continue
        if not holds:
            problems.append(_at(settings, [setting], check["message"].format(value=values[setting]),
                                check.get("hint", "")))
    return problems, covered


def check_one_per(project: Any) -> list[Problem]:
    """A second connection to the same account (by the connector's one_connection_per setting),
    anywhere in the merchant files validated together."""
    seen: dict[tuple[str, str], tuple[str, str, Any]] = {}
    problems: list[Problem] = []
    for document in project.documents["merchant"].values():
        connections = document.doc.get("connections") or {}
        for name, conn in connections.items():
            connector = project.get("connector", conn.get("connector")) if isinstance(conn, dict) else None
            rule = ((connector.doc.get("capabilities") or {}).get("one_connection_per") if connector else None)
            if not rule:
                continue
            value = (conn.get("settings") or {}).get(rule["setting"])
            if value in (None, ""):
                continue
            key = (connector.name, str(value).strip().lower())
            if key in seen:
                first_merchant, first_conn, first_loc = seen[key]
                settings = conn.get("settings")
                problems.append(_at(settings, [rule["setting"]],
                                    f"{rule['setting']} {value!r} already has an integration: connection "
                                    f"{first_conn!r} of merchant {first_merchant!r} ({first_loc}); {rule['reason']}",
                                    f"keep one connection to it: bind the flows of both to that one merchant's "
                                    f"connection, or remove connection {name!r}"))
            else:
                seen[key] = (document.doc.get("name") or document.name, name,
                             locate(conn.get("settings"), [rule["setting"]]))
    return problems
