"""The money path end to end against both simulators: the catalog is listed on TikTok, 500 TikTok
orders in every status and both fulfillment types are imported into Shopify, and the rest of the
order life (shipments back, holds released, cancellations both ways, returns refunded) follows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
ORDERS = 500

pytestmark = pytest.mark.slow


class Shop:
    def __init__(self, sandbox) -> None:
        env = sandbox.environ()
        self.base, self.token = env["ACME_SHOPIFY_URL"], env["ACME_SHOPIFY_TOKEN"]

    def call(self, method: str, path: str, body: dict | None = None, **query) -> dict:
        response = httpx.request(method, f"{self.base}/{path}", json=body, params=query or None,
                                 headers={"X-Shopify-Access-Token": self.token}, timeout=30)
        response.raise_for_status()
        return response.json()


def shopify_orders(sandbox) -> dict[str, dict]:
    """Shopify orders by name (TT + TikTok order id)."""
    orders = sandbox.admin("shopify", "GET", "state")["orders"]
    orders = orders.values() if isinstance(orders, dict) else orders
    return {o["name"]: o for o in orders}


def shopify_transactions(sandbox) -> dict[int, list[dict]]:
    """Transactions by Shopify order id."""
    out: dict[int, list[dict]] = {}
    for tx in sandbox.admin("shopify", "GET", "state")["transactions"]:
        out.setdefault(tx["order_id"], []).append(tx)
    return out


def tiktok_orders(sandbox) -> dict[str, dict]:
    orders = sandbox.admin("tiktok_shop", "GET", "state")["orders"]
    orders = orders.values() if isinstance(orders, dict) else orders
    return {o["id"]: o for o in orders}


def counts(sandbox) -> dict:
    return sandbox.admin("shopify", "GET", "orders/counts")


def money(value) -> Decimal:
    return Decimal(str(value or "0"))


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    sandbox = start_sandbox(products=30, seed=21, max_variants=4, invalid_share=0.0,
                            shopify_options={"bucket_size": 400, "leak_per_second": 20.0})  # a Plus store
    workdir = tmp_path_factory.mktemp("merchant")
    shutil.copytree(EXAMPLE, workdir / "acme")
    merchant = Merchant(workdir / "acme" / "merchant.yaml", environ=sandbox.environ())
    assert FlowRun(merchant, "catalog").run().status == "ok"
    sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
    yield sandbox, merchant, workdir / "acme" / "merchant.yaml"
    merchant.close()
    sandbox.stop()


@pytest.fixture(scope="module")
def imported(shop):
    sandbox, merchant, _ = shop
    generated = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
        "count": ORDERS, "seed": 3, "fbt_share": 0.15, "on_hold_share": 0.05, "discount_share": 0.5,
        "max_units": 4})["orders"]
    # Orders for a SKU the store does not have: a product listed on TikTok by hand.
    sandbox.admin("tiktok_shop", "POST", "seed", json={"products": [{
        "title": "Seller Center only", "skus": [{"seller_sku": "NOT-IN-STORE-1", "price": {"amount": "9.00",
                                                                                          "currency": "USD"},
                                                "inventory": [{"warehouse_id": "7068517275539719942",
                                                               "quantity": 50}]}]}]})
    unknown = [sandbox.admin("tiktok_shop", "POST", "orders", json={
        "line_items": [{"seller_sku": "NOT-IN-STORE-1"}], "status": "AWAITING_SHIPMENT"})["id"] for _ in range(3)]
    report = FlowRun(merchant, "orders").run()
    return generated, unknown, report


def test_every_paid_order_is_one_shopify_order_with_totals_to_the_cent(shop, imported):
    sandbox, merchant, _ = shop
    generated, unknown, report = imported
    assert report.status == "ok"
    tiktok, store, transactions = tiktok_orders(sandbox), shopify_orders(sandbox), shopify_transactions(sandbox)
    assert not counts(sandbox)["duplicate_names"]
    expected = {oid for oid in generated
                if tiktok[oid]["paid_time"] and tiktok[oid]["status"] not in ("ON_HOLD", "UNPAID")
                and not (tiktok[oid]["status"] == "CANCELLED")}
    # Cancelled orders that were paid never reached the store before they were cancelled.
    assert {name[2:] for name in store} == expected
    assert len(expected) > ORDERS * 0.6
    for oid in expected:
        order, payment = store[f"TT{oid}"], tiktok[oid]["payment"]
        subsidy = money(payment["platform_discount"]) + money(payment["shipping_fee_platform_discount"])
        # What the buyer paid plus what TikTok pays on top, as two payments by gateway.
        assert money(order["total_price"]) == money(payment["total_amount"]) + subsidy, oid
        by_gateway: dict[str, Decimal] = {}
        for tx in transactions.get(order["id"], []):
            by_gateway[tx["gateway"]] = by_gateway.get(tx["gateway"], Decimal(0)) + money(tx["amount"])
        assert by_gateway.get("TikTok Shop") == money(payment["total_amount"]), oid
        assert by_gateway.get("TikTok Shop platform subsidy", Decimal(0)) == subsidy, oid
        assert money(order["total_tax"]) == money(payment["tax"]), oid
        units = sum(line["quantity"] for line in order["line_items"])
        assert units == len(tiktok[oid]["line_items"]), oid


def test_orders_tiktok_fulfils_arrive_fulfilled_and_others_await_the_warehouse(shop, imported):
    sandbox, _, _ = shop
    generated, _, _ = imported
    tiktok, store = tiktok_orders(sandbox), shopify_orders(sandbox)
    fbt = [oid for oid in generated if tiktok[oid]["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK"
           and f"TT{oid}" in store]
    assert fbt
    for oid in fbt:
        assert store[f"TT{oid}"]["fulfillment_status"] == "fulfilled", oid
    waiting = [oid for oid in generated if tiktok[oid]["status"] == "AWAITING_SHIPMENT"
               and tiktok[oid]["fulfillment_type"] == "FULFILLMENT_BY_SELLER"]
    assert waiting and all(store[f"TT{oid}"]["fulfillment_status"] in (None, "unfulfilled") for oid in waiting)


def test_unpaid_orders_wait_and_orders_on_hold_reserve_their_stock(shop, imported):
    sandbox, merchant, _ = shop
    generated, _, report = imported
    tiktok = tiktok_orders(sandbox)
    on_hold = [oid for oid in generated if tiktok[oid]["status"] == "ON_HOLD"]
    assert on_hold
    held = {r["order_key"] for r in merchant.store.reservations()}
    assert held == set(on_hold)
    results = {r["key"]: r for r in report.results}
    assert all(results[oid]["action"] == "held" for oid in on_hold)
    unpaid = [oid for oid in generated if tiktok[oid]["status"] == "UNPAID"]
    assert unpaid and all(results[oid]["action"] == "skip" for oid in unpaid)


def test_an_order_with_a_sku_the_store_lacks_is_dead_lettered_whole(shop, imported):
    sandbox, merchant, _ = shop
    _, unknown, _ = imported
    letters = {row["key"]: row for row in merchant.store.list_dead_letters(merchant="acme", flow="orders")}
    for oid in unknown:
        assert f"TT{oid}" not in shopify_orders(sandbox)
        fields = letters[oid]["error"]["field_errors"]
        assert fields == [{"field": "lines[0].sku", "message": "SKU 'NOT-IN-STORE-1' is not in shopify's catalog"}]
        assert letters[oid]["payload"]["id"] == oid  # the whole TikTok order, for a replay


def test_rerunning_and_replaying_the_webhooks_creates_nothing_twice(shop, imported):
    sandbox, merchant, _ = shop
    before = counts(sandbox)["total"]
    again = FlowRun(merchant, "orders").run()
    assert "create" not in again.counts
    events = sandbox.admin("tiktok_shop", "GET", "webhooks/outbox", params={"event_type": "ORDER_STATUS_CHANGE",
                                                                            "all": "1"})["events"]
    assert len(events) > ORDERS
    payloads = [json.loads(event["body"]) for event in events]
    for _ in range(2):
        run = FlowRun(merchant, "orders")
        replay = run.run(records=run.steps[0].event_records(run.ctx, payloads))
        assert "create" not in replay.counts
    assert counts(sandbox)["total"] == before and not counts(sandbox)["duplicate_names"]


def test_a_released_hold_reaches_the_store_and_frees_its_stock(shop, imported):
    sandbox, merchant, _ = shop
    held = [r["order_key"] for r in merchant.store.reservations()]
    released = held[0]
    sandbox.admin("tiktok_shop", "POST", f"orders/{released}/advance", json={"to": "AWAITING_SHIPMENT"})
    report = FlowRun(merchant, "orders").run()
    assert next(r for r in report.results if r["key"] == released)["action"] == "create"
    assert f"TT{released}" in shopify_orders(sandbox)
    assert released not in {r["order_key"] for r in merchant.store.reservations()}


def test_a_kill_between_the_create_and_its_record_leaves_one_order(shop, imported, tmp_path):
    """SIGKILL right after Shopify answered the create, before the ledger recorded it: the next run
    looks the order up by its name and adopts it."""
    sandbox, merchant, merchant_file = shop
    fresh = [sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
        "count": 3, "seed": 99, "statuses": {"AWAITING_SHIPMENT": 1}})["orders"]][0]
    script = textwrap.dedent(f"""
        import os, signal, sys
        from engine.http.client import Connection
        original = Connection.call
        def call(self, op, **kwargs):
            response = original(self, op, **kwargs)
            if op == "create_order":
                os.kill(os.getpid(), signal.SIGKILL)
            return response
        Connection.call = call
        from engine.cli.main import run
        sys.argv = ["connector", "run", {str(merchant_file)!r}, "orders"]
        run()
    """)
    env = {**os.environ, **sandbox.environ()}
    killed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    # The killed run created exactly one of the three before it died.
    assert sum(counts(sandbox)["by_name"].get(f"TT{oid}", 0) for oid in fresh) == 1
    rerun = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(merchant_file), "orders"], env=env,
                           capture_output=True, text=True, timeout=180)
    # Exit 3: the orders with a SKU the store lacks are still in the dead-letter queue.
    assert rerun.returncode == 3 and rerun.stdout.count("NOT-IN-STORE-1") == 3, rerun.stdout + rerun.stderr
    by_name = counts(sandbox)["by_name"]
    assert [by_name.get(f"TT{oid}") for oid in fresh] == [1, 1, 1]
    assert not counts(sandbox)["duplicate_names"]


# -- after the import: shipments, cancellations, returns -----------------------------------------
def _open_orders(sandbox, merchant, units: int = 1) -> list[str]:
    """Imported seller-fulfilled orders still waiting to ship, with at least `units` units."""
    tiktok, store = tiktok_orders(sandbox), shopify_orders(sandbox)
    return sorted(oid for oid, order in tiktok.items()
                  if order["status"] == "AWAITING_SHIPMENT" and order["fulfillment_type"] == "FULFILLMENT_BY_SELLER"
                  and len(order["line_items"]) >= units and f"TT{oid}" in store
                  and not store[f"TT{oid}"].get("cancelled_at")
                  and store[f"TT{oid}"].get("fulfillment_status") in (None, "unfulfilled"))


def _stock(sandbox, sku: str) -> int:
    state = sandbox.admin("shopify", "GET", "state")
    item = next(v["inventory_item_id"] for p in state["products"] for v in p["variants"] if v["sku"] == sku)
    return sum(level["available"] for level in state["inventory_levels"] if level["inventory_item_id"] == item)


def test_shipments_go_back_to_tiktok_per_package_with_their_tracking(shop, imported):
    from simulators.demo_orders import Shop as StoreStaff

    sandbox, merchant, _ = shop
    staff = StoreStaff(sandbox)
    split, partial, unmapped = _open_orders(sandbox, merchant, units=2)[:3]
    store = shopify_orders(sandbox)
    first_sku = store[f"TT{split}"]["line_items"][0]["sku"]
    staff.ship(store[f"TT{split}"]["id"], "USPS", "9400100000000000000001", {first_sku: 1})
    staff.ship(store[f"TT{split}"]["id"], "UPS", "1Z0000000000000002")
    staff.ship(store[f"TT{partial}"]["id"], "FedEx", "612900000000000003",
               {store[f"TT{partial}"]["line_items"][0]["sku"]: 1})
    staff.ship(store[f"TT{unmapped}"]["id"], "DHL Express", "DHL0000000004")
    report = FlowRun(merchant, "fulfillment").run()
    assert report.counts.get("create") == 3 and report.counts.get("dead_letter") == 1
    letter = report.dead_letters[0]
    assert any("DHL Express" in e["message"] for e in letter["error"]["field_errors"]), letter
    tiktok = tiktok_orders(sandbox)
    lines = tiktok[split]["line_items"]
    assert {li["tracking_number"] for li in lines} == {"9400100000000000000001", "1Z0000000000000002"}
    assert len({li["package_id"] for li in lines}) == 2  # the split shipment is two packages
    assert sum(li["tracking_number"] == "9400100000000000000001" for li in lines) == 1
    assert tiktok[split]["status"] in ("IN_TRANSIT", "AWAITING_COLLECTION")
    assert tiktok[partial]["status"] == "PARTIALLY_SHIPPING"
    assert [li["tracking_number"] for li in tiktok[partial]["line_items"]].count("612900000000000003") == 1
    again = FlowRun(merchant, "fulfillment").run()
    assert "create" not in again.counts and "update" not in again.counts


def test_a_buyers_cancellation_is_approved_and_cancels_the_store_order_with_its_stock(shop, imported):
    sandbox, merchant, _ = shop
    order_id = _open_orders(sandbox, merchant)[-1]
    name = f"TT{order_id}"
    sku = shopify_orders(sandbox)[name]["line_items"][0]["sku"]
    quantity = shopify_orders(sandbox)[name]["line_items"][0]["quantity"]
    before = _stock(sandbox, sku)
    sandbox.admin("tiktok_shop", "POST", "cancellations", json={"order_id": order_id})
    decided = FlowRun(merchant, "cancellation_requests").run()
    assert decided.counts.get("approve") == 1
    assert tiktok_orders(sandbox)[order_id]["status"] == "CANCELLED"
    FlowRun(merchant, "orders").run()
    assert shopify_orders(sandbox)[name]["cancelled_at"]
    assert _stock(sandbox, sku) == before + quantity
    # Approved once: a second run decides nothing and cancels nothing again.
    assert "approve" not in FlowRun(merchant, "cancellation_requests").run().counts
    assert "cancel" not in FlowRun(merchant, "orders").run().counts


def test_a_cancellation_in_the_store_cancels_the_unshipped_tiktok_order(shop, imported):
    from simulators.demo_orders import Shop as StoreStaff

    sandbox, merchant, _ = shop
    order_id = _open_orders(sandbox, merchant)[-2]
    StoreStaff(sandbox).call("POST", f"orders/{shopify_orders(sandbox)[f'TT{order_id}']['id']}/cancel.json",
                             {"reason": "inventory", "restock": True})
    report = FlowRun(merchant, "cancellations").run()
    assert next(r for r in report.results if r["key"] == str(shopify_orders(sandbox)[f"TT{order_id}"]["id"])
                )["action"] == "create"
    assert tiktok_orders(sandbox)[order_id]["status"] == "CANCELLED"
    # The order flow then sees TikTok's cancellation; the store order is cancelled already.
    orders = FlowRun(merchant, "orders").run()
    result = next(r for r in orders.results if r["key"] == order_id)
    assert result["action"] == "skip" and "found already done" in result["detail"]["reason"]
    assert "create" not in FlowRun(merchant, "cancellations").run().counts


def test_a_completed_return_is_refunded_to_the_cent_and_restocked(shop, imported):
    sandbox, merchant, _ = shop
    tiktok, store = tiktok_orders(sandbox), shopify_orders(sandbox)
    delivered = [oid for oid, o in tiktok.items() if o["status"] == "DELIVERED"
                 and o["fulfillment_type"] == "FULFILLMENT_BY_SELLER" and f"TT{oid}" in store]
    returned, refund_only = delivered[:2]
    seller = merchant.connection("tiktok_us")
    cases = {}
    for order_id, kind in ((returned, "RETURN_AND_REFUND"), (refund_only, "REFUND")):
        ret = sandbox.admin("tiktok_shop", "POST", "returns", json={"order_id": order_id, "return_type": kind})
        decision = "APPROVE_RETURN" if kind == "RETURN_AND_REFUND" else "APPROVE_REFUND"
        seller.call("approve_return", path_params={"return_id": ret["return_id"]}, body={"decision": decision},
                    idempotency_key=f"t-{ret['return_id']}")
        if kind == "RETURN_AND_REFUND":
            sandbox.admin("tiktok_shop", "POST", f"returns/{ret['return_id']}/advance", json={"to": "BUYER_SHIPPED_ITEM"})
            seller.call("approve_return", path_params={"return_id": ret["return_id"]},
                        body={"decision": "APPROVE_RECEIVED_PACKAGE"}, idempotency_key=f"r-{ret['return_id']}")
        cases[order_id] = ret["return_id"]
    sku = store[f"TT{returned}"]["line_items"][0]["sku"]
    before = _stock(sandbox, sku)
    report = FlowRun(merchant, "returns").run()
    assert report.counts.get("create") == 2, report.counts
    returns = {r["return_id"]: r for r in sandbox.admin("tiktok_shop", "GET", "state")["returns"]}
    refunds = sandbox.admin("shopify", "GET", "state")["refunds"]
    for order_id, return_id in cases.items():
        refund = [r for r in refunds if r["order_id"] == store[f"TT{order_id}"]["id"]]
        assert len(refund) == 1
        paid = sum(money(t["amount"]) for t in refund[0]["transactions"])
        assert paid == money(returns[return_id]["refund_amount"]["refund_total"])
        restocked = sum(i["quantity"] for i in refund[0]["refund_line_items"] if i["restock_type"] == "return")
        assert restocked == (len(tiktok[order_id]["line_items"]) if order_id == returned else 0)
    assert _stock(sandbox, sku) > before
    assert "create" not in FlowRun(merchant, "returns").run().counts


def test_a_changed_tracking_number_updates_the_package_tiktok_made(shop, imported):
    """The package id TikTok gave the first shipment is kept, and a later tracking change goes to
    that package's path."""
    from simulators.demo_orders import Shop as StoreStaff

    sandbox, merchant, _ = shop
    staff = StoreStaff(sandbox)
    order_id = _open_orders(sandbox, merchant)[0]
    shopify_id = shopify_orders(sandbox)[f"TT{order_id}"]["id"]
    shipped = staff.ship(shopify_id, "USPS", "9400100000000000000077")
    FlowRun(merchant, "fulfillment").run()
    package_id = merchant.store.get_remote_id("fulfillment", "tiktok_us", str(shipped["id"]))
    assert package_id and {li["package_id"] for li in tiktok_orders(sandbox)[order_id]["line_items"]} == {package_id}
    staff.call("POST", f"fulfillments/{shipped['id']}/update_tracking.json", {"fulfillment": {
        "notify_customer": False, "tracking_info": {"company": "UPS", "number": "1Z0000000000000088"}}})
    sandbox.admin("tiktok_shop", "POST", "requests/clear")
    report = FlowRun(merchant, "fulfillment").run()
    assert report.counts.get("update") == 1, report.counts
    paths = [r["path"] for r in sandbox.admin("tiktok_shop", "GET", "requests")["requests"] if r["method"] == "POST"]
    assert f"/fulfillment/202309/packages/{package_id}/shipping_info/update" in paths
    lines = tiktok_orders(sandbox)[order_id]["line_items"]
    assert {li["tracking_number"] for li in lines} == {"1Z0000000000000088"}
