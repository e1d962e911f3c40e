"""A connector's `subscriptions:` block: compiled once with its connector, every mistake reported by
`connector validate` at the line and column to fix; and what a merchant's flows need from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.project.plan import plan_paths

ROOT = Path(__file__).resolve().parents[2]
TIKTOK = (ROOT / "connectors" / "tiktok_shop.yaml").read_text()
SHOPIFY = (ROOT / "connectors" / "shopify.yaml").read_text()


CASES = [  # (id, connector text, old, new, line holding, message, hint)
    ("unknown create operation", TIKTOK, "operation: put_webhook", "operation: put_webhok", "put_webhok",
     "unknown operation 'put_webhok'", "did you mean 'put_webhook'?"),
    ("unknown placeholder", TIKTOK, 'body: {event_type: "{id}"}', 'body: {event_type: "{ident}"}', "{ident}",
     "unknown placeholder {ident}", "{topic}, {address} and {id}"),
    ("create without address", TIKTOK, 'address: "{address}"}', 'address: "https://fixed"}', "operation: put_webhook",
     "never sends the address", ""),
    ("delete path parameter not given", SHOPIFY, 'path: {webhook_id: "{id}"}', 'query: {id: "{id}"}',
     "operation: delete_webhook", "path parameter(s) webhook_id", 'e.g. path: {webhook_id: "{id}"}'),
    ("list operation without records", SHOPIFY, "list: {operation: list_webhooks", "list: {operation: create_webhook",
     "list: {operation: create_webhook", "declares no `records`", ""),
    ("bad JMESPath", TIKTOK, "topic: event_type, address: address", "topic: 'event_type[', address: address",
     "event_type[", "bad JMESPath", ""),
    ("event name in lower case", SHOPIFY, "    ORDERS_PAID: orders/paid", "    orders_paid: orders/paid",
     "orders_paid:", "the key 'orders_paid' has the wrong form", "upper case letters"),
    ("unknown key", TIKTOK, "one_address_per_topic: true", "one_address_per_topic: true\n  replace: true",
     "replace: true", "unknown key 'replace'", ""),
]


@pytest.mark.parametrize(("text", "old", "new", "line_has", "message", "hint"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_mistake_in_subscriptions_is_reported_where_it_is(tmp_path, text, old, new, line_has, message,
                                                            hint) -> None:
    assert text.count(old) >= 1, old
    edited = text.replace(old, new, 1)
    name = "tiktok_shop" if text is TIKTOK else "shopify"
    edited = edited.replace(f"\nname: {name}\n", "\nname: edited\n", 1)
    path = tmp_path / "edited.yaml"
    path.write_text(edited)
    result = CliRunner().invoke(main, ["validate", str(path), "--format", "json"])
    problems = [p for p in json.loads(result.stdout)["problems"] if p["file"] and
                Path(p["file"]).name == "edited.yaml"]
    assert result.exit_code == 1, result.output
    found = [p for p in problems if message in p["message"]]
    assert found, problems
    line = next(i for i, text_line in enumerate(edited.splitlines(), 1) if line_has in text_line
                and i > edited.splitlines().index("subscriptions:"))
    assert found[0]["line"] == line, (found[0], line)
    assert hint in (found[0]["hint"] or "")


def test_the_shipped_connectors_map_every_event_the_shipped_flows_name() -> None:
    plan = plan_paths([ROOT / "examples" / "acme"])
    assert not plan.errors
    tiktok, shopify = plan.connectors["tiktok_shop"].subscriptions, plan.connectors["shopify"].subscriptions
    for flow in plan.project.documents["flow"].values():
        for event in (flow.doc.get("trigger") or {}).get("webhook") or []:
            assert tiktok.topics_for(event) or shopify.topics_for(event), (flow.name, event)
    assert shopify.events_for("orders/create") == ("ORDERS_CREATE",)
    assert tiktok.one_address_per_topic and not shopify.one_address_per_topic
    assert shopify.create.render({"topic": "orders/create", "address": "https://h/x"}) == {
        "path_params": None, "query": None,
        "body": {"webhook": {"topic": "orders/create", "address": "https://h/x", "format": "json"}}}
    assert shopify.delete.render({"id": "7"})["path_params"] == {"webhook_id": "7"}
