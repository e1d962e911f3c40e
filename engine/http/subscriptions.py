"""Webhook subscriptions as a connector declares them (`subscriptions:`), and what a merchant's
flows need subscribed.

A flow names the events that start it (`trigger.webhook`, e.g. ORDER_STATUS_CHANGE). Each connector
maps the event names it knows to its platform's topics and says which operations list, create and
delete a subscription, with the request of each written as data: string values holding {topic},
{address} or {id} are filled in, nothing else is rendered. The block is compiled once with its
connector (engine/http/compile.py), so a mistake is a `connector validate` problem, not a run-time
one.

A flow's event is subscribed on every connection of the flow whose connector maps it, at
`<url>/webhooks/<merchant>/<connection>`, the route `connector serve` receives it on.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
FIELDS = ("topic", "address", "id")
WEBHOOK_ROUTE = "/webhooks/{merchant}/{connection}"


@dataclass(frozen=True)
class SubscriptionRequest:
    """One call about one subscription: the operation, and its path, query and body with
    placeholders."""

    operation: str
    path: Mapping[str, str]
    query: Mapping[str, Any]
    body: Any

    def render(self, values: Mapping[str, str]) -> dict[str, Any]:
        """Keyword arguments of Connection.call with {topic}, {address} and {id} filled in."""
        return {"path_params": _fill(dict(self.path), values) or None, "query": _fill(dict(self.query), values) or None,
                "body": _fill(self.body, values)}


@dataclass(frozen=True)
class Listed:
    """A subscription as the platform lists it."""

    topic: str
    address: str
    id: str


@dataclass(frozen=True)
class CompiledSubscriptions:
    list_operation: str
    list_query: Mapping[str, Any]
    topic: Any  # compiled JMESPath on one listed subscription
    address: Any
    id: Any
    create: SubscriptionRequest
    delete: SubscriptionRequest | None
    one_address_per_topic: bool
    topics: Mapping[str, tuple[str, ...]]  # event name -> platform topics

    def topics_for(self, event: str) -> tuple[str, ...]:
        return self.topics.get(event, ())

    def events_for(self, topic: str) -> tuple[str, ...]:
        """The event names a platform topic stands for (what a received delivery is, by its topic)."""
        return tuple(event for event, topics in self.topics.items() if topic in topics)

    def read(self, record: Any) -> Listed:
        topic = _text(self.topic.search(record))
        found_id = self.id.search(record) if self.id is not None else None
        return Listed(topic, _text(self.address.search(record)), _text(found_id) if found_id is not None else topic)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), value)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _placeholders(value: Any, path: str) -> Iterable[tuple[str, str]]:
    """(field path, placeholder name) of every {name} in the string values under `value`."""
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            yield path, match[1]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _placeholders(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _placeholders(item, f"{path}[{i}]")


def _unknown_operation(c: Any, path: str, name: str, operations: Mapping[str, Any]) -> None:
    close = difflib.get_close_matches(name, list(operations), n=1)
    c.problem(path, f"unknown operation {name!r}",
              hint=f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(operations))}")


def _request(c: Any, spec: Mapping[str, Any], path: str, operations: Mapping[str, Any],
             needs: tuple[str, ...]) -> SubscriptionRequest | None:
    op_name = spec["operation"]
    op = operations.get(op_name)
    if op is None:
        _unknown_operation(c, f"{path}.operation", op_name, operations)
        return None
    given = spec.get("path") or {}
    missing = [p for p in op.path_params if p not in given]
    if missing:
        c.problem(f"{path}.path", f"operation {op_name} has the path parameter(s) {', '.join(missing)}, "
                                  "which `path` does not give", hint=f"e.g. path: {{{missing[0]}: \"{{id}}\"}}")
    used = set()
    for where, name in _placeholders({k: spec.get(k) for k in ("path", "query", "body")}, path):
        used.add(name)
        if name not in FIELDS:
            c.problem(where, f"unknown placeholder {{{name}}}", hint="{topic}, {address} and {id} are filled in")
    if not any(n in used for n in needs):
        c.problem(path, f"the request names no subscription: use {' or '.join('{' + n + '}' for n in needs)} "
                        "in its path, query or body")
    return SubscriptionRequest(op_name, MappingProxyType(dict(given)), MappingProxyType(dict(spec.get("query") or {})),
                               spec.get("body"))


def compile_subscriptions(c: Any, spec: Mapping[str, Any], operations: Mapping[str, Any]) -> CompiledSubscriptions | None:
    """Check and compile a connector's `subscriptions:` block (already checked against the file
    schema). `c` is the connector compiler: problems go to it with their field paths."""
    listing = spec["list"]
    op = operations.get(listing["operation"])
    if op is None:
        _unknown_operation(c, "subscriptions.list.operation", listing["operation"], operations)
    elif op.records is None:
        c.problem("subscriptions.list.operation", f"operation {op.name} declares no `records`, so the "
                                                  "subscriptions it lists cannot be read")
    searches = {key: c.jmespath(listing[key], f"subscriptions.list.{key}") if key in listing else None
                for key in FIELDS}
    create = _request(c, spec["create"], "subscriptions.create", operations, ("topic",))
    if create is not None and not any(n == "address" for _, n in _placeholders(
            {k: spec["create"].get(k) for k in ("path", "query", "body")}, "")):
        c.problem("subscriptions.create", "the create request never sends the address: use {address} in its body "
                                          "or query")
    delete = (_request(c, spec["delete"], "subscriptions.delete", operations, ("id", "topic"))
              if "delete" in spec else None)
    topics = {event: (value,) if isinstance(value, str) else tuple(value) for event, value in spec["topics"].items()}
    if op is None or create is None or searches["topic"] is None or searches["address"] is None:
        return None
    if "delete" in spec and delete is None:
        return None
    return CompiledSubscriptions(
        list_operation=listing["operation"], list_query=MappingProxyType(dict(listing.get("query") or {})),
        topic=searches["topic"], address=searches["address"], id=searches["id"], create=create, delete=delete,
        one_address_per_topic=bool(spec.get("one_address_per_topic", False)), topics=MappingProxyType(topics))


# ------------------------------------------------------------------ what a merchant's flows need


def webhook_address(base_url: str, merchant: str, connection: str) -> str:
    return base_url.rstrip("/") + WEBHOOK_ROUTE.format(merchant=merchant, connection=connection)


@dataclass(frozen=True)
class Need:
    """One platform topic a connection must be subscribed to, and the flows' events that need it."""

    connection: str
    topic: str
    events: tuple[str, ...]
    flows: tuple[str, ...]


@dataclass(frozen=True)
class Unmapped:
    """An event a flow names that no connection of the flow subscribes to."""

    flow: str
    event: str
    connections: tuple[str, ...]  # the flow's connections


def flow_events(flow_document: Any) -> list[str]:
    trigger = (flow_document or {}).get("trigger") or {}
    events = trigger.get("webhook") or []
    return [str(e) for e in events] if isinstance(events, list) else []


def needed(plan: Any, merchant: str, connections: Mapping[str, Any]) -> tuple[list[Need], list[Unmapped]]:
    """The topics each connection of the merchant must be subscribed to for its bound flows.

    `plan` is the merchant's plan (engine.project.plan.Plan); `connections` the merchant file's
    connections block (name -> {connector: ...})."""
    wanted: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    unmapped: list[Unmapped] = []
    for (owner, local), flow in sorted(plan.flows.items()):
        if owner != merchant:
            continue
        for event in flow_events(flow.document):
            found = False
            for role in sorted(flow.roles):
                name = flow.roles[role]
                connector = plan.connectors.get((connections.get(name) or {}).get("connector"))
                subs = getattr(connector, "subscriptions", None)
                for topic in subs.topics_for(event) if subs is not None else ():
                    found = True
                    events, flows = wanted.setdefault((name, topic), ([], []))
                    if event not in events:
                        events.append(event)
                    if local not in flows:
                        flows.append(local)
            if not found:
                unmapped.append(Unmapped(local, event, tuple(sorted(set(flow.roles.values())))))
    needs = [Need(name, topic, tuple(events), tuple(flows)) for (name, topic), (events, flows) in wanted.items()]
    return sorted(needs, key=lambda n: (n.connection, n.topic)), unmapped
