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
    sandbox = start_sandbox(products=30, seed=21, max_variants=4, invalid_share=0.0)
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
    tiktok, store = tiktok_orders(sandbox), shopify_orders(sandbox)
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
        for tx in order.get("transactions") or []:
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
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    by_name = counts(sandbox)["by_name"]
    assert [by_name.get(f"TT{oid}") for oid in fresh] == [1, 1, 1]
    assert not counts(sandbox)["duplicate_names"]
