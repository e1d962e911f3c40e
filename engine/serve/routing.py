"""Which of a merchant's flows an inbound event starts, and which run on a schedule, read once
from the plan when the server starts.

An event received on connection C with topic T goes to every flow of the merchant whose
`trigger.webhook` lists T and whose first step pulls from a role bound to C (the event names a
record of that connection, which the pull step reads again). Flows list event names; the
connector's `webhooks.topics` turns the platform's own value (a type number) into one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Routes:
    merchant: str
    by_event: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # (connection, topic) -> flows
    schedules: dict[str, str] = field(default_factory=dict)  # flow -> cron
    warnings: tuple[str, ...] = ()

    def flows_for(self, connection: str, topic: str) -> tuple[str, ...]:
        return self.by_event.get((connection, topic), ())

    def topics(self, connection: str) -> list[str]:
        return sorted(topic for conn, topic in self.by_event if conn == connection)


def routes_of(merchant: Any) -> Routes:
    """The routes of a loaded Merchant (engine.flow.runner.Merchant)."""
    by_event: dict[tuple[str, str], list[str]] = {}
    schedules: dict[str, str] = {}
    warnings: list[str] = []
    for local in merchant.flow_names():
        plan = merchant.plan.flow(merchant.name, local)
        if plan is None:
            continue
        trigger = plan.document.get("trigger") or {}
        if isinstance(trigger.get("schedule"), str):
            schedules[local] = trigger["schedule"]
        topics = [str(t) for t in trigger.get("webhook") or []]
        if not topics:
            continue
        first = plan.steps[0] if plan.steps else None
        options = first.options if first is not None and first.kind == "pull" else {}
        if not options.get("events") or not (options.get("get") or options.get("detail")):
            warnings.append(f"flow {local} of merchant {merchant.name} lists webhook topics but its pull step "
                            "reads no events (entities.*.reads.*.events); its events are not processed")
            continue
        connection = plan.roles.get(str(options.get("from")))
        if connection is None:
            continue
        for topic in topics:
            by_event.setdefault((connection, topic), []).append(local)
    return Routes(merchant.name, {k: tuple(v) for k, v in by_event.items()}, schedules, tuple(warnings))
