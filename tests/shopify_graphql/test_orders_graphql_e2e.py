"""The money path and stock end to end with the store on the GraphQL Admin API
(examples/acme_graphql): the same flows and the same checks as tests/flows/test_orders_e2e.py and
tests/flows/test_inventory_e2e.py against a REST store, on a smaller shop so it stays quick.
Orders arrive through orderCreate, cancellations through orderCancel, refunds through refundCreate
with @idempotent, stock is read per location; store staff work through REST, on the same shop."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from gql_helpers import merchant

from engine.flow.runner import FlowRun
from engine.flow.steps.push import _idempotency_key
from engine.http.errors import TransportError
from simulators.demo_orders import Shop as StoreStaff
from simulators.sandbox import start_sandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flows"))  # the REST e2e tests' helpers
from test_inventory_e2e import Shop as StockShop  # noqa: E402
from test_inventory_e2e import expected  # noqa: E402
from test_orders_e2e import (  # noqa: E402
    _open_orders,
    _stock,
    counts,
    money,
    shopify_orders,
    shopify_transactions,
    tiktok_orders,
)

ORDERS = 30
# Weighted toward orders still to ship, which the shipment and cancellation tests take.
STATUSES = {"UNPAID": 2, "ON_HOLD": 2, "AWAITING_SHIPMENT": 12, "IN_TRANSIT": 3, "DELIVERED": 6, "COMPLETED": 3,
            "CANCELLED": 2}
GRAPHQL_PATH = "/admin/api/2026-01/graphql.json"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    # Seed 7: the sandbox's location ids are the ones examples/acme_graphql maps to its warehouse.
    sandbox = start_sandbox(products=12, seed=7, max_variants=3, invalid_share=0.0)
    acme = merchant(sandbox, tmp_path_factory.mktemp("merchant"))
    assert FlowRun(acme, "catalog").run().status == "ok"
    sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
    sandbox.admin("shopify", "POST", "requests/clear")
    generated = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
        "count": ORDERS, "seed": 3, "fbt_share": 0.15, "on_hold_share": 0.05, "discount_share": 0.5,
        "max_units": 4, "statuses": STATUSES})["orders"]
    report = FlowRun(acme, "orders").run()
    yield sandbox, acme, generated, report
    acme.close()
    sandbox.stop()


def test_every_paid_order_is_one_store_order_with_totals_to_the_cent(shop):
    sandbox, _, generated, report = shop
    assert report.status == "ok" and not report.dead_letters, report.dead_letters[0]["error"]
    tiktok, store, transactions = tiktok_orders(sandbox), shopify_orders(sandbox), shopify_transactions(sandbox)
    expected_ids = {oid for oid in generated if tiktok[oid]["paid_time"]
                    and tiktok[oid]["status"] not in ("ON_HOLD", "UNPAID", "CANCELLED")}
    assert {name[2:] for name in store} == expected_ids and len(expected_ids) > ORDERS / 2
    assert any(money(tiktok[oid]["payment"]["seller_discount"]) > 0 for oid in expected_ids)
    for oid in expected_ids:
        order, payment = store[f"TT{oid}"], tiktok[oid]["payment"]
        subsidy = money(payment["platform_discount"]) + money(payment["shipping_fee_platform_discount"])
        assert money(order["total_price"]) == money(payment["total_amount"]) + subsidy, oid
        by_gateway: dict[str, Decimal] = {}
        for tx in transactions.get(order["id"], []):
            by_gateway[tx["gateway"]] = by_gateway.get(tx["gateway"], Decimal(0)) + money(tx["amount"])
        assert by_gateway.get("TikTok Shop") == money(payment["total_amount"]), oid
        assert by_gateway.get("TikTok Shop platform subsidy", Decimal(0)) == subsidy, oid
        assert money(order["total_tax"]) == money(payment["tax"]), oid
        assert sum(line["quantity"] for line in order["line_items"]) == len(tiktok[oid]["line_items"]), oid
        if tiktok[oid]["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK":
            assert order["fulfillment_status"] == "fulfilled", oid
    # Every store call of the import went through GraphQL; a second run creates nothing.
    assert {r["path"] for r in sandbox.admin("shopify", "GET", "requests")["requests"]} == {GRAPHQL_PATH}
    assert "create" not in FlowRun(shop[1], "orders").run().counts
    assert not counts(sandbox)["duplicate_names"]


def test_shipments_go_back_to_tiktok_with_their_tracking(shop):
    sandbox, acme, _, _ = shop
    split, whole = _open_orders(sandbox, acme, units=2)[:2]
    store = shopify_orders(sandbox)
    staff = StoreStaff(sandbox)
    staff.ship(store[f"TT{split}"]["id"], "USPS", "9400100000000000000001", {store[f"TT{split}"]["line_items"][0]["sku"]: 1})
    staff.ship(store[f"TT{whole}"]["id"], "UPS", "1Z0000000000000002")
    report = FlowRun(acme, "fulfillment").run()
    assert report.counts.get("create") == 2, report.counts
    tiktok = tiktok_orders(sandbox)
    assert [li["tracking_number"] for li in tiktok[split]["line_items"]].count("9400100000000000000001") == 1
    assert tiktok[split]["status"] == "PARTIALLY_SHIPPING"
    assert {li["tracking_number"] for li in tiktok[whole]["line_items"]} == {"1Z0000000000000002"}
    assert "create" not in FlowRun(acme, "fulfillment").run().counts


def test_cancellations_both_ways(shop):
    sandbox, acme, _, _ = shop
    open_orders = _open_orders(sandbox, acme)
    by_buyer, by_store = open_orders[-1], open_orders[-2]
    # The buyer cancels on TikTok: approved, then orderCancel cancels the store order and restocks.
    line = shopify_orders(sandbox)[f"TT{by_buyer}"]["line_items"][0]
    before = _stock(sandbox, line["sku"])
    sandbox.admin("tiktok_shop", "POST", "cancellations", json={"order_id": by_buyer})
    assert FlowRun(acme, "cancellation_requests").run().counts.get("approve") == 1
    cancelled = FlowRun(acme, "orders").run()
    assert cancelled.counts.get("cancel") == 1, cancelled.dead_letters[0]["error"]
    assert shopify_orders(sandbox)[f"TT{by_buyer}"]["cancelled_at"]
    assert _stock(sandbox, line["sku"]) == before + line["quantity"]
    assert "cancel" not in FlowRun(acme, "orders").run().counts
    # The store cancels: the cancellations flow reads it through GraphQL and cancels on TikTok.
    StoreStaff(sandbox).call("POST", f"orders/{shopify_orders(sandbox)[f'TT{by_store}']['id']}/cancel.json",
                             {"reason": "inventory", "restock": True})
    assert FlowRun(acme, "cancellations").run().counts.get("create") == 1
    assert tiktok_orders(sandbox)[by_store]["status"] == "CANCELLED"
    assert "create" not in FlowRun(acme, "cancellations").run().counts


def test_a_return_is_refunded_once_to_the_cent_and_a_replayed_refund_makes_nothing(shop):
    sandbox, acme, _, _ = shop
    tiktok, store = tiktok_orders(sandbox), shopify_orders(sandbox)
    order_id = next(oid for oid, o in tiktok.items() if o["status"] == "DELIVERED"
                    and o["fulfillment_type"] == "FULFILLMENT_BY_SELLER" and f"TT{oid}" in store)
    ret = sandbox.admin("tiktok_shop", "POST", "returns", json={"order_id": order_id, "return_type": "RETURN_AND_REFUND"})
    seller = acme.connection("tiktok_us")
    seller.call("approve_return", path_params={"return_id": ret["return_id"]}, body={"decision": "APPROVE_RETURN"},
                idempotency_key=f"t-{ret['return_id']}")
    sandbox.admin("tiktok_shop", "POST", f"returns/{ret['return_id']}/advance", json={"to": "BUYER_SHIPPED_ITEM"})
    seller.call("approve_return", path_params={"return_id": ret["return_id"]},
                body={"decision": "APPROVE_RECEIVED_PACKAGE"}, idempotency_key=f"r-{ret['return_id']}")
    sku = store[f"TT{order_id}"]["line_items"][0]["sku"]
    before = _stock(sandbox, sku)
    calls: list[dict] = []
    conn = acme.connection("shopify")
    original = conn.call

    def recording(op, **kwargs):
        if op == "create_refund":
            calls.append(kwargs)
        return original(op, **kwargs)

    conn.call = recording
    try:
        report = FlowRun(acme, "returns").run()
    finally:
        conn.call = original
    assert report.counts.get("create") == 1, report.counts
    refunds = [r for r in sandbox.admin("shopify", "GET", "state")["refunds"] if r["order_id"] == store[f"TT{order_id}"]["id"]]
    assert len(refunds) == 1
    returned = {r["return_id"]: r for r in sandbox.admin("tiktok_shop", "GET", "state")["returns"]}[ret["return_id"]]
    assert sum(money(t["amount"]) for t in refunds[0]["transactions"]) == money(returned["refund_amount"]["refund_total"])
    assert sum(i["quantity"] for i in refunds[0]["refund_line_items"] if i["restock_type"] == "return") \
        == len(tiktok[order_id]["line_items"])
    assert _stock(sandbox, sku) > before
    # The key refundCreate carried is the engine's own for this write, not one made up per call...
    (sent,) = calls
    assert sent["idempotency_key"] == _idempotency_key(acme.name, "shopify", "refund", ret["return_id"])
    # ...so the same refund sent again (a retry after a lost answer, a rerun) is answered, not made.
    again = conn.call("create_refund", **sent)
    assert again.record["legacyResourceId"] == str(refunds[0]["id"])
    assert len([r for r in sandbox.admin("shopify", "GET", "state")["refunds"]
                if r["order_id"] == store[f"TT{order_id}"]["id"]]) == 1
    assert "create" not in FlowRun(acme, "returns").run().counts


def test_stock_from_two_locations_read_through_graphql_reaches_tiktok(shop):
    sandbox, acme, _, _ = shop
    stock = StockShop(sandbox)
    second = stock.shopify_state()["locations"][1]["id"]
    for units, sku in enumerate(sorted(stock.available())[:4]):
        stock.set_level(sku, second, units + 2)
    report = FlowRun(acme, "inventory").run()
    assert report.status == "ok" and not report.dead_letters, report.dead_letters[0]["error"]
    # What may be sold: both locations summed, less the buffer and the units of orders on hold.
    held = acme.store.reserved_stock()
    assert held  # the import's orders on hold
    assert stock.offered() == {sku: max(0, units - held.get(sku, 0)) for sku, units in expected(stock).items()}
    assert "inventory_update" not in FlowRun(acme, "inventory").run().counts


def test_an_order_whose_create_answer_was_lost_is_found_by_name_not_made_twice(shop):
    """orderCreate took effect but its answer never came (a dropped connection): the next run looks
    the order up by its name, as on REST, and adopts it."""
    sandbox, acme, _, _ = shop
    fresh = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
        "count": 2, "seed": 99, "statuses": {"AWAITING_SHIPMENT": 1}})["orders"]
    conn = acme.connection("shopify")
    original = conn.call

    def lost(op, **kwargs):
        response = original(op, **kwargs)
        if op == "create_order":
            raise TransportError("the connection dropped before the answer", op=op)
        return response

    conn.call = lost
    try:
        FlowRun(acme, "orders").run()
    finally:
        conn.call = original
    assert [counts(sandbox)["by_name"].get(f"TT{oid}") for oid in fresh] == [1, 1]
    again = FlowRun(acme, "orders").run()
    assert {r["key"]: r["status"] for r in again.results if r["key"] in fresh} == {oid: "ok" for oid in fresh}
    assert [counts(sandbox)["by_name"].get(f"TT{oid}") for oid in fresh] == [1, 1]
    assert {acme.store.get_remote_id("order", "shopify", oid) for oid in fresh} == \
        {str(shopify_orders(sandbox)[f"TT{oid}"]["id"]) for oid in fresh}
