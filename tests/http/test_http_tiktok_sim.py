"""The TikTok Shop connector spec against the TikTok Shop simulator: every operation, signing
checked by the simulator, token expiry and refresh, paging, faults."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from http_helpers import load_spec

from engine.http import AuthError, Connection, MemoryTokenStore, NotFoundError, compile_connector

tiktok_sim = pytest.importorskip("simulators.tiktok_shop")
from simulators.common import LoopbackServer  # noqa: E402

CREDS = tiktok_sim.DEFAULT_CREDENTIALS
WAREHOUSE = "7068517275539719942"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (800).to_bytes(4, "big") + (600).to_bytes(4, "big") + b"\x08"
USPS = "7117858858072016686"


@pytest.fixture(scope="module")
def compiled():
    return compile_connector(load_spec("tiktok_shop"))


@pytest.fixture
def server():
    srv = LoopbackServer(tiktok_sim.create_app(seed=1)).start()
    yield srv
    srv.stop()


def connect(compiled, server, store=None, **kw) -> Connection:
    settings = {"base_url": server.url, "token_url": f"{server.url}/api/v2/token/refresh",
                "shop_cipher": CREDS["shop_cipher"], "region": "US"}
    creds = {k: CREDS[k] for k in ("app_key", "app_secret", "access_token", "refresh_token")}
    return Connection(compiled, settings=settings, credentials=creds, token_store=store, **kw)


def admin(server, path: str, body: object | None = None) -> dict:
    url = f"{server.url}/_admin/{path}"
    response = httpx.post(url, json=body) if body is not None else httpx.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def product_body(uri: str, title: str = "Classic Cotton Tee", sku_prefix: str = "TEE") -> dict:
    return {
        "title": title,
        "description": "<p>Soft cotton.</p>",
        "category_id": "601302",
        "category_version": "v2",
        "main_images": [{"uri": uri}],
        "package_weight": {"value": "0.30", "unit": "KILOGRAM"},
        "package_dimensions": {"length": "20", "width": "15", "height": "3", "unit": "CENTIMETER"},
        "product_attributes": [{"id": "100392", "values": [{"id": "1000041", "name": "Cotton"}]}],
        "skus": [
            {"seller_sku": f"{sku_prefix}-BLK-M", "price": {"amount": "19.90", "currency": "USD"},
             "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 10}],
             "sales_attributes": [{"name": "Color", "value_name": "Black"}, {"name": "Size", "value_name": "M"}]},
            {"seller_sku": f"{sku_prefix}-WHT-M", "price": {"amount": "19.90", "currency": "USD"},
             "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 5}],
             "sales_attributes": [{"name": "Color", "value_name": "White"}, {"name": "Size", "value_name": "M"}]},
        ],
    }


def upload(conn) -> str:
    return conn.call("upload_image", body={"use_case": "MAIN_IMAGE"},
                     files={"data": ("a.png", PNG, "image/png")}).record["uri"]


def active_product(conn, server, **kw) -> dict:
    created = conn.call("create_product", body=product_body(upload(conn), **kw)).record
    admin(server, "audit/run", {})
    return created


def test_catalog_reads(compiled, server):
    conn = connect(compiled, server)
    shops = list(conn.records("authorization_shops"))
    assert shops[0]["cipher"] == CREDS["shop_cipher"]
    warehouses = list(conn.records("get_warehouses"))
    assert any(w["id"] == WAREHOUSE for w in warehouses)
    leaves = [c for c in conn.records("get_categories") if c["is_leaf"]]
    attrs = conn.call("get_category_attributes", path_params={"category_id": leaves[0]["id"]}).records
    assert attrs
    rules = conn.call("get_category_rules", path_params={"category_id": leaves[0]["id"]}).record
    assert "package_dimension" in rules
    brand = conn.call("create_brand", body={"name": "Sandbox Label"}).record
    brands = list(conn.records("get_brands", query={"brand_name": "sandbox", "page_size": 50}))
    assert [b["id"] for b in brands] == [brand["id"]]
    options = conn.call("get_delivery_options", path_params={"warehouse_id": WAREHOUSE}).records
    providers = conn.call("get_shipping_providers", path_params={"delivery_option_id": options[0]["id"]}).records
    assert {"id": USPS, "name": "USPS"} in providers
    assert not any(c["is_failed"] for c in conn.call("listing_prerequisites").records)
    file = conn.call("upload_file", body={"name": "manual.pdf"},
                     files={"data": ("manual.pdf", b"%PDF-1.4", "application/pdf")}).record
    assert file["format"] == "PDF"


def test_product_lifecycle(compiled, server):
    conn = connect(compiled, server)
    check = conn.call("listing_check", body={"title": "x", "category_id": "601265"}).record
    assert check["check_result"] == "FAILED"
    created = active_product(conn, server)
    pid = created["product_id"]
    sku_ids = [s["id"] for s in created["skus"]]
    product = conn.call("get_product", path_params={"product_id": pid}).record
    assert product["status"] == "ACTIVATE"
    conn.call("partial_edit_product", path_params={"product_id": pid}, body={"title": "Classic Cotton Tee v2"})
    full = product_body(product["main_images"][0]["uri"], title="Classic Cotton Tee v3")
    full["skus"] = [dict(full["skus"][0], id=sku_ids[0])]
    conn.call("edit_product", path_params={"product_id": pid}, body=full)
    admin(server, "audit/run", {})
    assert len(conn.call("get_product", path_params={"product_id": pid}).record["skus"]) == 1

    inv = conn.call("update_inventory", path_params={"product_id": pid}, body={"skus": [
        {"id": sku_ids[0], "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 42}]}]})
    assert inv.item_errors == []
    bad = conn.call("update_inventory", path_params={"product_id": pid}, body={"skus": [
        {"id": sku_ids[0], "inventory": [{"warehouse_id": "1", "quantity": 1}]}]})
    assert bad.item_errors and bad.item_errors[0].key == sku_ids[0]
    found = conn.call("search_inventory", body={"sku_ids": [sku_ids[0]]}).records
    assert found[0]["skus"][0]["total_available_quantity"] == 42
    conn.call("update_prices", path_params={"product_id": pid},
              body={"skus": [{"id": sku_ids[0], "price": {"amount": "17.50", "currency": "USD"}}]})
    assert conn.call("get_product", path_params={"product_id": pid}).record["skus"][0]["price"]["sale_price"] == "17.5"

    results = conn.call_batched("deactivate_products", [pid, "999999"])
    assert [r.ok for r in results] == [True, False] and results[1].errors[0].key == "999999"
    assert all(r.ok for r in conn.call_batched("activate_products", [pid]))
    assert all(r.ok for r in conn.call_batched("delete_products", [pid]))
    with pytest.raises(NotFoundError) as info:
        conn.call("get_product", path_params={"product_id": pid})
    assert info.value.code == "12052048" and info.value.request_id
    assert all(r.ok for r in conn.call_batched("recover_products", [pid]))


def test_search_products_pages_through_the_simulator(compiled, server):
    conn = connect(compiled, server)
    uri = upload(conn)
    for i in range(7):
        conn.call("create_product", body=product_body(uri, title=f"Tee {i}", sku_prefix=f"P{i}"))
    admin(server, "audit/run", {})
    pages = list(conn.paginate("search_products", query={"page_size": 3}, body={"status": "ACTIVATE"}))
    assert [len(p.records) for p in pages] == [3, 3, 1] and pages[-1].stopped_by == "missing_token"
    # The page token travelled in the query of a POST, and every page was signed and accepted.
    log = admin(server, "requests")["requests"]
    searches = [r for r in log if r["path"].endswith("/products/search")]
    assert len(searches) == 3


def make_order(server, sku_id: str, status: str = "AWAITING_SHIPMENT", quantity: int = 1) -> dict:
    return admin(server, "orders", {"line_items": [{"sku_id": sku_id, "quantity": quantity}], "status": status})


def test_orders_and_fulfillment(compiled, server):
    conn = connect(compiled, server)
    created = active_product(conn, server)
    sku = created["skus"][0]["id"]
    seller_shipped = make_order(server, sku, quantity=2)
    tiktok_shipped = make_order(server, sku)
    orders = list(conn.records("search_orders", body={"order_status": "AWAITING_SHIPMENT"}))
    assert {o["id"] for o in orders} >= {seller_shipped["id"], tiktok_shipped["id"]}
    detail = conn.call_batched("get_orders", [seller_shipped["id"], tiktok_shipped["id"]])
    assert detail[0].response.records[0]["status"] == "AWAITING_SHIPMENT"

    oid = seller_shipped["id"]
    shipped = conn.call("mark_package_shipped", path_params={"order_id": oid}, body={
        "tracking_number": "1Z999", "shipping_provider_id": USPS,
        "order_line_item_ids": [li["id"] for li in seller_shipped["line_items"]]}).record
    conn.call("update_shipping_info", path_params={"order_id": oid},
              body={"tracking_number": "1Z998", "shipping_provider_id": USPS})
    assert conn.call("get_package", path_params={"package_id": shipped["package_id"]}).record["id"] == shipped["package_id"]
    assert conn.call("get_order_tracking", path_params={"order_id": oid}).records is not None

    package_id = tiktok_shipped["packages"][0]["id"]
    conn.call("ship_package", path_params={"package_id": package_id}, body={"handover_method": "PICKUP"})
    conn.call("update_package_shipping_info", path_params={"package_id": package_id},
              body={"tracking_number": "NEW123", "shipping_provider_id": USPS})
    found = list(conn.records("search_packages", body={"package_status": "PROCESSING"}))
    assert package_id in {p["id"] for p in found}

    split_order = make_order(server, created["skus"][1]["id"], quantity=2)
    package = conn.call("create_package", body={
        "order_id": split_order["id"], "order_line_item_ids": [split_order["line_items"][0]["id"]],
        "weight": {"value": "0.3", "unit": "KILOGRAM"}}).record
    assert package["package_id"]


def test_cancellations_and_returns(compiled, server):
    conn = connect(compiled, server)
    sku = active_product(conn, server)["skus"][0]["id"]
    order = make_order(server, sku)
    request = admin(server, "cancellations", {"order_id": order["id"]})
    conn.call("approve_cancellation", path_params={"cancel_id": request["cancel_id"]}, idempotency_key="c-1")
    found = list(conn.records("search_cancellations", body={"order_ids": [order["id"]]}))
    assert found[0]["cancel_status"] == "CANCELLATION_REQUEST_COMPLETE"

    other = make_order(server, sku)
    request = admin(server, "cancellations", {"order_id": other["id"]})
    conn.call("reject_cancellation", path_params={"cancel_id": request["cancel_id"]},
              body={"reject_reason": "seller_reject_apply_product_has_been_packed"})
    third = make_order(server, sku)
    created = conn.call("create_cancellation", body={"order_id": third["id"], "cancel_reason": "Out of stock"}).record
    assert created["cancel_status"] == "CANCELLATION_REQUEST_COMPLETE"

    delivered = make_order(server, sku, status="DELIVERED")
    ret = admin(server, "returns", {"order_id": delivered["id"], "return_type": "RETURN_AND_REFUND"})
    conn.call("approve_return", path_params={"return_id": ret["return_id"]}, body={"decision": "APPROVE_RETURN"})
    refund_only = make_order(server, sku, status="DELIVERED")
    ret2 = admin(server, "returns", {"order_id": refund_only["id"], "return_type": "REFUND"})
    conn.call("reject_return", path_params={"return_id": ret2["return_id"]},
              body={"decision": "REJECT_REFUND", "reject_reason": "Item was delivered intact"})
    returns = list(conn.records("search_returns", body={"order_ids": [refund_only["id"]]}))
    assert returns[0]["return_status"] == "REFUND_OR_RETURN_REQUEST_REJECT"
    seller = conn.call("create_return", body={"order_id": refund_only["id"], "return_type": "REFUND",
                                              "return_reason": "Goodwill"}, idempotency_key="r-1").record
    assert seller["return_status"] == "RETURN_OR_REFUND_REQUEST_COMPLETE"


def test_webhook_subscriptions(compiled, server):
    conn = connect(compiled, server)
    conn.call("put_webhook", body={"address": "https://hooks.example.com/tts", "event_type": "ORDER_STATUS_CHANGE"})
    assert [w["event_type"] for w in conn.call("list_webhooks").records] == ["ORDER_STATUS_CHANGE"]
    conn.call("delete_webhook", body={"event_type": "ORDER_STATUS_CHANGE"})
    assert conn.call("list_webhooks").records == []


def test_expired_token_is_refreshed_and_rotation_persisted(compiled, server):
    store = MemoryTokenStore()
    conn = connect(compiled, server, store=store, name="us")
    conn.call("get_warehouses")
    admin(server, "expire_token", {})
    conn.call("get_warehouses")  # 105002 -> refresh -> resend
    state = admin(server, "state")["tokens"]
    saved = store.get("tiktok_shop:us")
    assert saved["access_token"] == state["access_token"] and saved["refresh_token"] == state["refresh_token"]
    # A fresh connection started from the original (now rotated-out) credentials still works,
    # because the store wins over them.
    again = connect(compiled, server, store=store, name="us")
    assert again.call("get_warehouses").records
    # Without the store, the original refresh token is gone: a clear auth error, no secret in it.
    admin(server, "expire_token", {})
    stale = connect(compiled, server, store=MemoryTokenStore(), name="us")
    with pytest.raises(AuthError) as info:
        stale.call("get_warehouses")
    assert CREDS["app_secret"] not in str(info.value) and CREDS["refresh_token"] not in str(info.value)


def test_retries_through_injected_faults(compiled, server):
    sleeps = []
    conn = connect(compiled, server, sleep=sleeps.append)
    admin(server, "faults", {"burst_429": 2})
    assert conn.call("get_warehouses").attempts == 3
    assert sleeps and all(s >= 1.0 for s in sleeps)  # Retry-After: 1 and backoff both honoured
    admin(server, "faults", {"burst_429": 0, "error_rate": 1.0})
    with pytest.raises(Exception) as info:
        conn.call("get_warehouses")
    assert getattr(info.value, "code", None) == "36009003"
    admin(server, "faults", {"error_rate": 0.0})
    log = admin(server, "requests")["requests"]
    assert [r["status"] for r in log[-8:]].count(503) >= 5


def test_every_tiktok_operation_is_exercised(compiled):
    # Static guard, independent of test selection: a new operation cannot ship without a test here.
    text = Path(__file__).read_text()
    missing = sorted(op for op in compiled.operations if f'"{op}"' not in text)
    assert not missing, f"operations with no simulator test: {missing}"
