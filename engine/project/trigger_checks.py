"""A bound flow's `trigger.webhook` checked against the connector that would send the events.

`connector serve` routes an event to a flow when the event's name (the connector's
`webhooks.topics` turns the platform's own topic value into it) is listed in the flow's
`trigger.webhook` and the flow's pull step reads from the connection that received it. A name
the connector never produces is a trigger that never fires: found here, at validate time, rather
than as a flow that silently runs only on its schedule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import Problem, did_you_mean
from engine.project.yamlpos import format_path, locate


def _first_pull(flow_doc: Any) -> dict | None:
    for step in flow_doc.get("steps") or []:
        if isinstance(step, dict) and len(step) == 1:
            kind, options = next(iter(step.items()))
            return options if kind == "pull" and isinstance(options, dict) else None
        return None
    return None


def _event_names(webhooks: dict) -> list[str]:
    topics = webhooks.get("topics")
    return sorted({str(v) for v in topics.values()}) if isinstance(topics, dict) else []


def _verifier_credentials(webhooks: dict) -> list[str]:
    names = [str(n) for n in webhooks.get("credentials") or []]
    verifier = webhooks.get("verifier") if isinstance(webhooks.get("verifier"), dict) else {}
    for key in ("secret", "app_key"):
        if isinstance(verifier.get(key), str) and verifier[key] not in names:
            names.append(verifier[key])
    return names


def check_webhook_trigger(project: Any, merchant_doc: Any, local: str, flow_doc: Any, bound: dict,
                          connections: dict) -> list[Problem]:
    """Problems of one flow binding's webhook trigger (none when the flow lists no events)."""
    trigger = flow_doc.get("trigger") if isinstance(flow_doc.get("trigger"), dict) else {}
    events = trigger.get("webhook")
    if not isinstance(events, list) or not events:
        return []
    pull = _first_pull(flow_doc)
    role = pull.get("from") if pull else None
    conn_name = bound.get(role) if role is not None else None
    connection = connections.get(conn_name) if conn_name is not None else None
    if not isinstance(connection, dict):
        return []  # an unbound role or unknown connection is reported with the binding
    connector = project.get("connector", connection.get("connector"))
    if connector is None:
        return []
    where = ["flows", local, "connections", role]
    at = locate(merchant_doc, where)
    field = format_path([*getattr(merchant_doc, "path", ()), *where])
    flow_name = flow_doc.get("name") or local
    webhooks = connector.doc.get("webhooks")
    if not isinstance(webhooks, dict):
        # Bound to a system that sends no webhooks, the flow still runs on its schedule or by hand.
        return [Problem(f"flow {flow_name!r} is started by webhook events ({', '.join(map(str, events))}), "
                        f"but connector {connector.name!r} (connection {conn_name!r}, role {role!r}) receives "
                        "no webhooks", at, field,
                        "the flow runs only on its schedule or by `connector run` for this merchant; that is "
                        "fine if intended", "warning")]
    problems: list[Problem] = []
    known = _event_names(webhooks)
    if known:
        for index, event in enumerate(events):
            if str(event) in known:
                continue
            in_flow = locate(trigger, ["webhook", index])
            line = f" ({Path(in_flow.file).name}:{in_flow.line})" if in_flow is not None and in_flow.file else ""
            problems.append(Problem(
                f"flow {flow_name!r} waits for webhook event {event!r}{line}, which connector "
                f"{connector.name!r} never sends (connection {conn_name!r}, role {role!r}): that trigger "
                "never fires", at, field,
                f"{did_you_mean(event, known)} The connector's webhooks.topics name the events it sends."))
    credentials = connection.get("credentials") if isinstance(connection.get("credentials"), dict) else {}
    missing = [name for name in _verifier_credentials(webhooks) if name not in credentials]
    if missing:
        problems.append(Problem(
            f"connection {conn_name!r} has no {', '.join(missing)} credential, which `connector serve` needs "
            f"to verify the {connector.name} webhooks that start flow {flow_name!r}", at, field,
            f"add {missing[0]}: ${{env:NAME}} under connections.{conn_name}.credentials (serve refuses to "
            "start without it)", "warning"))
    return problems
