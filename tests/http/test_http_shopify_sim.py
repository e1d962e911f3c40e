"""The Shopify connector spec against the Shopify simulator: every operation, paging, the limiter."""

from __future__ import annotations

import concurrent.futures
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from http_helpers import load_spec

from engine.http import Connection, NotFoundError, ValidationFailedError, compile_connector

shopify_sim = pytest.importorskip("simulators.shopify")
from simulators.common import LoopbackServer  # noqa: E402

CREDS = shopify_sim.DEFAULT_CREDENTIALS


@pytest.fixture(scope="module")
def compiled():
    return compile_connector(load_spec("shopify"))


def start(**kw) -> LoopbackServer:
    return LoopbackServer(shopify_sim.create_app(**kw)).start()


def connect(compiled, server, **kw) -> Connection:
    return Connection(compiled, settings={"base_url": f"{server.url}/admin/api/2025-01"},
                      credentials={"access_token": CREDS["access_token"]}, **kw)


def admin(server, path: str, body: object | None = None) -> dict:
    url = f"{server.url}/_admin/{path}"
    response = httpx.post(url, json=body) if body is not None else httpx.get(url)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def server():
    srv = start()
    yield srv
    srv.stop()


def seed_products(server, n: int, prefix: str = "SKU") -> dict:
    products = [{"title": f"Product {i}", "vendor": "Acme",
                 "variants": [{"sku": f"{prefix}-{i}", "price": "19.99"}]} for i in range(n)]
    return admin(server, "seed", {"products": products})


def test_catalog_operations(compiled, server):
    conn = connect(compiled, server)
    seed_products(server, 3, prefix="CAT")
    created = conn.call("create_product", body={"product": {
        "title": "Linen shirt", "status": "active",
        "variants": [{"sku": "LIN-S", "price": Decimal("49.00"), "option1": "S"}],
        "options": [{"name": "Size"}]}})
    assert created.status == 201
    product = created.record
    pid = product["id"]
    assert conn.call("get_product", path_params={"product_id": pid}).record["title"] == "Linen shirt"
    updated = conn.call("update_product", path_params={"product_id": pid}, body={"product": {"id": pid, "title": "Linen shirt 2"}})
    assert updated.record["title"] == "Linen shirt 2"
    assert conn.call("count_products").record >= 4
    variant = product["variants"][0]
    assert variant["price"] == "49.00"
    assert conn.call("get_variant", path_params={"variant_id": variant["id"]}).record["sku"] == "LIN-S"
    conn.call("update_variant", path_params={"variant_id": variant["id"]},
              body={"variant": {"id": variant["id"], "price": "45.00"}})
    new_variant = conn.call("create_variant", path_params={"product_id": pid},
                            body={"variant": {"sku": "LIN-M", "price": "49.00", "option1": "M"}}).record
    variants = list(conn.records("list_variants", path_params={"product_id": pid}))
    assert {v["sku"] for v in variants} == {"LIN-S", "LIN-M"} and new_variant["sku"] == "LIN-M"
    item_id = variant["inventory_item_id"]
    items = list(conn.records("list_inventory_items", query={"ids": [item_id]}))
    assert items[0]["id"] == item_id
    assert conn.call("get_inventory_item", path_params={"inventory_item_id": item_id}).record["id"] == item_id
    conn.call("update_inventory_item", path_params={"inventory_item_id": item_id},
              body={"inventory_item": {"id": item_id, "cost": "12.00"}})

    locations = list(conn.records("list_locations"))
    loc = locations[0]["id"]
    conn.call("connect_inventory_level", body={"location_id": loc, "inventory_item_id": item_id})
    level = conn.call("set_inventory_level", body={"location_id": loc, "inventory_item_id": item_id, "available": 7})
    assert level.record["available"] == 7
    adjusted = conn.call("adjust_inventory_level",
                         body={"location_id": loc, "inventory_item_id": item_id, "available_adjustment": -2})
    assert adjusted.record["available"] == 5
    levels = list(conn.records("list_inventory_levels", query={"inventory_item_ids": [item_id]}))
    assert any(lv["location_id"] == loc and lv["available"] == 5 for lv in levels)

    conn.call("delete_product", path_params={"product_id": pid})
    with pytest.raises(NotFoundError) as info:
        conn.call("get_product", path_params={"product_id": pid})
    assert info.value.status == 404 and info.value.request_id is None or isinstance(info.value.request_id, str)


def test_order_operations(compiled, server):
    conn = connect(compiled, server)
    seeded = seed_products(server, 1, prefix="ORD")
    variant = seeded["products"][0]["variants"][0]
    loc = next(iter(conn.records("list_locations")))["id"]
    conn.call("set_inventory_level", body={"location_id": loc, "inventory_item_id": variant["inventory_item_id"],
                                           "available": 10, "disconnect_if_necessary": True})
    customer = conn.call("create_customer", body={"customer": {"first_name": "Ann", "last_name": "Lee",
                                                               "email": "ann@example.com"}}).record
    cid = customer["id"]
    assert conn.call("get_customer", path_params={"customer_id": cid}).record["email"] == "ann@example.com"
    conn.call("update_customer", path_params={"customer_id": cid}, body={"customer": {"id": cid, "note": "vip"}})
    assert any(c["id"] == cid for c in conn.records("list_customers"))
    found = list(conn.records("search_customers", query={"query": "email:ann@example.com"}))
    assert [c["id"] for c in found] == [cid]

    order = conn.call("create_order", body={"order": {
        "line_items": [{"variant_id": variant["id"], "quantity": 2, "price": "19.99"}],
        "customer": {"id": cid}, "financial_status": "paid", "source_name": "tiktok",
        "note_attributes": [{"name": "tiktok_order_id", "value": "576653688135258178"}],
        "transactions": [{"kind": "sale", "status": "success", "amount": "39.98"}],
        "inventory_behaviour": "decrement_obeying_policy"}}).record
    oid = order["id"]
    assert conn.call("get_order", path_params={"order_id": oid}).record["total_price"] == "39.98"
    conn.call("update_order", path_params={"order_id": oid}, body={"order": {"id": oid, "note": "from TikTok"}})
    assert any(o["id"] == oid for o in conn.records("list_orders"))
    assert conn.call("count_orders").record >= 1
    transactions = list(conn.records("list_transactions", path_params={"order_id": oid}))
    assert transactions and transactions[0]["amount"] == "39.98"

    fos = list(conn.records("list_fulfillment_orders", path_params={"order_id": oid}))
    fulfillment = conn.call("create_fulfillment", body={"fulfillment": {
        "line_items_by_fulfillment_order": [{"fulfillment_order_id": fos[0]["id"]}],
        "tracking_info": {"company": "UPS", "number": "1Z001985YW99744790"}, "notify_customer": False}}).record
    tracked = conn.call("update_fulfillment_tracking", path_params={"fulfillment_id": fulfillment["id"]},
                        body={"fulfillment": {"notify_customer": False,
                                              "tracking_info": {"company": "USPS", "number": "9400"}}})
    assert tracked.record["tracking_company"] == "USPS"
    assert [f["id"] for f in conn.records("list_fulfillments", path_params={"order_id": oid})] == [fulfillment["id"]]

    line_id = order["line_items"][0]["id"]
    suggestion = conn.call("calculate_refund", path_params={"order_id": oid}, body={"refund": {
        "refund_line_items": [{"line_item_id": line_id, "quantity": 1, "restock_type": "return",
                               "location_id": loc}]}}).record
    refund = conn.call("create_refund", path_params={"order_id": oid}, body={"refund": {
        "notify": False, "refund_line_items": suggestion["refund_line_items"],
        "transactions": [{**t, "kind": "refund"} for t in suggestion["transactions"]]}}).record
    assert refund["order_id"] == oid
    assert [r["id"] for r in conn.records("list_refunds", path_params={"order_id": oid})] == [refund["id"]]

    second = conn.call("create_order", body={"order": {
        "line_items": [{"variant_id": variant["id"], "quantity": 1}], "financial_status": "pending"}}).record
    conn.call("create_transaction", path_params={"order_id": second["id"]},
              body={"transaction": {"kind": "sale", "status": "success", "amount": "19.99"}})
    cancelled = conn.call("cancel_order", path_params={"order_id": second["id"]}, body={"reason": "customer"})
    assert cancelled.record["cancelled_at"]
    with pytest.raises(ValidationFailedError):
        conn.call("create_order", body={"order": {"line_items": []}})


def test_webhook_operations(compiled, server):
    conn = connect(compiled, server)
    hook = conn.call("create_webhook", body={"webhook": {"topic": "orders/create",
                                                         "address": "https://hooks.example.com/shopify",
                                                         "format": "json"}}).record
    assert any(h["id"] == hook["id"] for h in conn.records("list_webhooks"))
    conn.call("delete_webhook", path_params={"webhook_id": hook["id"]})
    assert all(h["id"] != hook["id"] for h in conn.records("list_webhooks"))


def test_link_paging_against_simulator(compiled, server):
    conn = connect(compiled, server)
    seed_products(server, 260, prefix="PG")
    pages = list(conn.paginate("list_products", query={"limit": 100, "vendor": "Acme"}))
    ids = [p["id"] for page in pages for p in page.records]
    assert len(ids) == len(set(ids)) >= 260
    assert pages[-1].stopped_by == "missing_link"


def test_leaky_bucket_keeps_simulator_quiet_under_threads(compiled):
    # Scaled clock: leak 20/s instead of 2/s on both sides (same bucket:leak ratio as 40 / 2 per
    # second, ten times faster), so the test takes seconds rather than minutes.
    srv = start(bucket_size=40, leak_per_second=20.0)
    try:
        conn = connect(compiled, srv)
        conn.limiter.leak = 20.0
        seeded = seed_products(srv, 120, prefix="RL")
        variants = [p["variants"][0] for p in seeded["products"]]

        def push(v):
            return conn.call("update_variant", path_params={"variant_id": v["id"]},
                             body={"variant": {"id": v["id"], "price": "21.00"}})

        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(push, variants))
        stats = admin(srv, "stats")
        assert stats["throttled"] == 0 and stats["requests"] >= 120
    finally:
        srv.stop()


@pytest.mark.slow
def test_pull_1000_push_300_with_zero_throttled(compiled):
    # Same ratio as Shopify Standard (bucket 40, 2 calls/s) at 10x speed: bucket 40, leak 20/s on
    # the simulator and in the connection. Real time would take ~2.5 min for the same request mix.
    srv = start(bucket_size=40, leak_per_second=20.0)
    try:
        conn = connect(compiled, srv)
        conn.limiter.leak = 20.0
        seed_products(srv, 1000, prefix="BULK")
        products = list(conn.records("list_products"))
        assert len(products) == 1000
        for p in products[:300]:
            v = p["variants"][0]
            conn.call("update_variant", path_params={"variant_id": v["id"]},
                      body={"variant": {"id": v["id"], "price": "22.00"}})
        stats = admin(srv, "stats")
        assert stats["throttled"] == 0
        assert stats["requests"] == 4 + 300
    finally:
        srv.stop()


def test_every_shopify_operation_is_exercised(compiled):
    # Static guard, independent of which tests were selected: every operation of the spec must be
    # called by name somewhere in this file, so a new operation cannot ship without a simulator test.
    missing = sorted(op for op in compiled.operations if f'"{op}"' not in Path(__file__).read_text())
    assert not missing, f"operations with no simulator test: {missing}"
