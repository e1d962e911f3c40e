"""Shopify inventory levels from ../shared/payloads/shopify through the shipped mapping, and the
inventory_levels/update webhook through the inventory flow's event read.

Expected values were read off the payloads by hand: location and item ids as the exact digits of
the JSON numbers, `available` as sent, times moved from the shop's -05:00 to UTC.
"""

from __future__ import annotations

from payload_helpers import canonical_problems, load, mapped, needs_payloads

import engine.flow.steps  # noqa: F401  (registers the step kinds)
from engine.flow.context import RunContext
from engine.flow.registry import STEPS
from engine.state import open_store

pytestmark = needs_payloads

MAPPING = "shopify.inventory_level_to_canonical"


def test_levels_listed_by_location_map_to_canonical_levels():
    levels = load("shopify/inventory_levels_by_location_2025-01_docsample.json")["inventory_levels"]
    out = [mapped(MAPPING, level, {"sku": f"SKU-{level['inventory_item_id']}"}) for level in levels]
    assert out[0] == {"sku": "SKU-49148385", "location_id": "655441491", "available": 2, "tracked": True,
                      "updated_at": "2025-01-02T16:29:59Z"}
    assert [level["available"] for level in out] == [2, 1, 4, 3]
    for level in out:
        assert canonical_problems("inventory_level", level) == []


def test_one_item_at_every_location():
    levels = load("shopify/inventory_levels_get_2025-01_docsample.json")["inventory_levels"]
    out = [mapped(MAPPING, level, {"sku": "IPOD2008PINK"}) for level in levels]
    assert [(level["location_id"], level["available"]) for level in out] == [("487838322", 9), ("655441491", 1)]


def test_an_untracked_item_has_no_quantity():
    level = {**load("shopify/inventory_levels_get_2025-01_docsample.json")["inventory_levels"][0], "available": None}
    out = mapped(MAPPING, level, {"sku": "IPOD2008PINK"})
    assert out["tracked"] is False and out.get("available") is None
    assert canonical_problems("inventory_level", out) == []


def test_the_webhook_names_the_item_whose_levels_are_read_again(tmp_path):
    """The real 2025-04 webhook (anonymised: every number 123) carries the item id the event read
    takes; the quantity in it is not used (it may be stale when the event is processed)."""
    payload = load("shopify/webhook_inventory_levels_2025-04_real_anonymized.json")
    assert set(payload) == {"inventory_item_id", "location_id", "available", "updated_at", "admin_graphql_api_id"}

    class Levels:
        calls: list = []

        def call(self, op, *, query=None, **_):
            Levels.calls.append((op, query))

            class Answer:
                records = [{"inventory_item_id": 123, "location_id": 1, "available": 5},
                           {"inventory_item_id": 123, "location_id": 2, "available": 0}]
            return Answer()

    run = RunContext(merchant="m", flow="inventory", flow_name="inventory_to_tiktok", options={},
                     connections={"store": Levels()}, connection_names={"store": "shopify"},
                     connection_meta={"store": {}}, store=open_store(str(tmp_path / "s.db")))
    pull = STEPS.get("pull").impl({
        "from": "store", "operation": "list_inventory_levels",
        "key": "join(':', [to_string(inventory_item_id), to_string(location_id)])",
        "events": {"id": "inventory_item_id"},
        "get": {"operation": "list_inventory_levels", "param": "inventory_item_ids", "in": "query", "many": True,
                "size": 50}}, run)
    records = list(pull.event_records(run, [payload, payload, {"id": 9, "topic": "other"}]))
    assert Levels.calls == [("list_inventory_levels", {"inventory_item_ids": "123"})]  # duplicates: one read
    assert [r.key for r in records] == ["123:1", "123:2"]
