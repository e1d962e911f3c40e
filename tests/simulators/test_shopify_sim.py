"""Shopify Admin REST simulator: envelope, auth, bucket, paging, catalog, orders, webhooks."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from engine.platforms.shopify import verify_shopify_webhook
from simulators.common import LoopbackServer
from simulators.shopify import DEFAULT_CREDENTIALS, create_app

BASE = "/admin/api/2025-01"
AUTH = {"X-Shopify-Access-Token": DEFAULT_CREDENTIALS["access_token"]}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock):
    with TestClient(create_app(clock=clock)) as c:
        c.headers.update(AUTH)
        yield c


def seed(client: TestClient, **body) -> dict:
    response = client.post("/_admin/seed", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def locations(client: TestClient) -> list[dict]:
    return client.get(f"{BASE}/locations.json").json()["locations"]


def tee(sku: str = "TEE", stock: int = 10, **variant) -> dict:
    return {
        "title": f"Tee {sku}",
        "variants": [{"sku": sku, "price": "25.00", "inventory_quantity": stock} | variant],
    }


def level(client: TestClient, item_id: int, location_id: int) -> int:
    query = {"inventory_item_ids": item_id, "location_ids": location_id}
    levels = client.get(f"{BASE}/inventory_levels.json", params=query).json()["inventory_levels"]
    return levels[0]["available"] if levels else 0


def links(response) -> dict[str, str]:
    return {
        rel: url for url, rel in re.findall(r'<([^<]+)>; rel="([^"]+)"', response.headers.get("Link", ""))
    }


# auth, envelope, bucket -------------------------------------------------------------------


def test_default_shop_has_two_locations_and_no_products(client):
    names = [loc["name"] for loc in locations(client)]
    assert names == ["Main warehouse", "East DC"]
    assert client.get(f"{BASE}/products/count.json").json() == {"count": 0}
    assert (
        locations(client)[0]["admin_graphql_api_id"] == f"gid://shopify/Location/{locations(client)[0]['id']}"
    )


def test_missing_or_wrong_token_is_rejected(client):
    for headers in ({"X-Shopify-Access-Token": ""}, {"X-Shopify-Access-Token": "shpat_wrong"}):
        response = client.get(f"{BASE}/products.json", headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        }


def test_unknown_version_and_unknown_resource_are_404(client):
    assert client.get("/admin/api/2019-04/products.json").status_code == 404
    response = client.get(f"{BASE}/products/123.json")
    assert response.status_code == 404 and response.json() == {"errors": "Not Found"}


def test_missing_resource_key_is_400(client):
    response = client.post(f"{BASE}/products.json", json={"title": "no envelope"})
    assert response.status_code == 400
    assert response.json() == {"errors": {"product": "Required parameter missing or invalid"}}


def test_bucket_overflows_to_429_and_leaks_with_the_clock(client, clock):
    client.post("/_admin/bucket", json={"size": 5, "leak_per_second": 2})
    limits = [client.get(f"{BASE}/locations.json").headers["X-Shopify-Shop-Api-Call-Limit"] for _ in range(5)]
    assert limits == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    throttled = client.get(f"{BASE}/locations.json")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2.0"
    assert throttled.headers["X-Shopify-Shop-Api-Call-Limit"] == "5/5"
    assert throttled.json()["errors"].startswith("Exceeded 2 calls per second for api client.")
    clock.now += 1.0  # two calls leak out
    assert client.get(f"{BASE}/locations.json").headers["X-Shopify-Shop-Api-Call-Limit"] == "4/5"
    assert client.get("/_admin/stats").json() == {"throttled": 1, "requests": 7}
    statuses = [r["status"] for r in client.get("/_admin/requests").json()["requests"]]
    assert statuses == [200] * 5 + [429, 200]


def test_retry_after_can_be_computed_instead_of_fixed(client):
    client.post("/_admin/bucket", json={"size": 1, "leak_per_second": 4, "retry_after": None})
    client.get(f"{BASE}/locations.json")
    response = client.get(f"{BASE}/locations.json")
    assert response.status_code == 429 and response.headers["Retry-After"] == "0.2"


def test_admin_calls_are_not_limited_or_logged(client):
    client.post("/_admin/bucket", json={"size": 1})
    for _ in range(5):
        assert client.get("/_admin/stats").status_code == 200
    assert client.get("/_admin/requests").json() == {"requests": []}


# pagination ------------------------------------------------------------------------------


def test_link_pagination_over_120_products(client):
    seed(client, products=[{"title": f"P{i:03}", "variants": [{"sku": f"S{i}"}]} for i in range(120)])
    first = client.get(f"{BASE}/products.json", params={"limit": 50, "status": "active"})
    assert len(first.json()["products"]) == 50 and set(links(first)) == {"next"}
    second = client.get(links(first)["next"])
    assert set(links(second)) == {"next", "previous"}
    third = client.get(links(second)["next"])
    assert set(links(third)) == {"previous"}
    titles = [p["title"] for r in (first, second, third) for p in r.json()["products"]]
    assert titles == [f"P{i:03}" for i in range(120)]
    back = client.get(links(third)["previous"])
    assert [p["id"] for p in back.json()["products"]] == [p["id"] for p in second.json()["products"]]
    # only limit and fields may accompany page_info
    token = re.search(r"page_info=([^&>]+)", links(first)["next"]).group(1)
    rejected = client.get(f"{BASE}/products.json", params={"page_info": token, "status": "active"})
    assert rejected.status_code == 400
    narrowed = client.get(
        f"{BASE}/products.json", params={"page_info": token, "limit": 10, "fields": "id,title"}
    )
    assert narrowed.status_code == 200 and set(narrowed.json()["products"][0]) == {"id", "title"}
    assert client.get(f"{BASE}/products.json", params={"page_info": "garbage!"}).status_code == 400


def test_product_filters(client):
    out = seed(
        client,
        products=[
            {"title": "A", "status": "draft", "updated_at": "2024-01-01T00:00:00-05:00"},
            {"title": "B", "vendor": "Acme"},
            {"title": "C"},
        ],
    )
    ids = [p["id"] for p in out["products"]]
    get = lambda **q: [p["title"] for p in client.get(f"{BASE}/products.json", params=q).json()["products"]]  # noqa: E731
    assert get(status="draft") == ["A"]
    assert get(vendor="Acme") == ["B"]
    assert get(since_id=ids[0]) == ["B", "C"]
    assert get(ids=f"{ids[0]},{ids[2]}") == ["A", "C"]
    assert get(updated_at_min="2025-01-01T00:00:00Z") == ["B", "C"]
    assert client.get(f"{BASE}/products.json", params={"limit": 1000}).status_code == 200


# catalog ---------------------------------------------------------------------------------


def test_product_and_variant_crud(client):
    created = client.post(
        f"{BASE}/products.json",
        json={
            "product": {
                "title": "Rain Jacket",
                "options": [{"name": "Size"}],
                "variants": [
                    {"option1": "S", "price": 59.9, "sku": "RJ-S"},
                    {"option1": "M", "price": "59.90"},
                ],
                "images": [{"src": "https://example.com/rj.png"}],
                "tags": "outer, rain",
            }
        },
    )
    assert created.status_code == 201
    product = created.json()["product"]
    assert product["handle"] == "rain-jacket" and product["status"] == "active"
    assert product["admin_graphql_api_id"] == f"gid://shopify/Product/{product['id']}"
    assert [v["price"] for v in product["variants"]] == ["59.90", "59.90"]
    assert product["options"][0]["values"] == ["S", "M"] and product["image"]["src"].endswith("rj.png")
    pid = product["id"]

    added = client.post(
        f"{BASE}/products/{pid}/variants.json", json={"variant": {"option1": "L", "price": "64"}}
    )
    assert added.status_code == 201 and added.json()["variant"]["title"] == "L"
    duplicate = client.post(f"{BASE}/products/{pid}/variants.json", json={"variant": {"option1": "L"}})
    assert duplicate.status_code == 422 and "already exists" in duplicate.json()["errors"]["base"][0]
    vid = added.json()["variant"]["id"]
    updated = client.put(f"{BASE}/variants/{vid}.json", json={"variant": {"price": "70.5", "sku": "RJ-L"}})
    assert updated.json()["variant"]["price"] == "70.50"
    item = client.get(f"{BASE}/inventory_items/{updated.json()['variant']['inventory_item_id']}.json")
    assert item.json()["inventory_item"]["sku"] == "RJ-L"
    assert client.get(f"{BASE}/products/{pid}/variants/count.json").json() == {"count": 3}

    renamed = client.put(
        f"{BASE}/products/{pid}.json", json={"product": {"title": "Storm Jacket", "status": "archived"}}
    )
    assert renamed.json()["product"]["title"] == "Storm Jacket"
    assert renamed.json()["product"]["status"] == "archived"
    bad = client.put(f"{BASE}/products/{pid}.json", json={"product": {"status": "gone"}})
    assert bad.status_code == 422 and bad.json() == {"errors": {"status": ["is not included in the list"]}}
    assert client.delete(f"{BASE}/products/{pid}/variants/{vid}.json").status_code == 200
    assert client.get(f"{BASE}/variants/{vid}.json").status_code == 404
    assert client.delete(f"{BASE}/products/{pid}.json").status_code == 200
    assert client.get(f"{BASE}/products/{pid}.json").status_code == 404


def test_blank_title_is_422(client):
    response = client.post(f"{BASE}/products.json", json={"product": {"title": ""}})
    assert response.status_code == 422 and response.json() == {"errors": {"title": ["can't be blank"]}}


def test_inventory_set_adjust_connect(client):
    out = seed(client, products=[tee("INV", 7)])
    variant = out["products"][0]["variants"][0]
    item_id = variant["inventory_item_id"]
    main, east = (loc["id"] for loc in locations(client))
    assert variant["inventory_quantity"] == 7 and level(client, item_id, main) == 7

    body = {"location_id": main, "inventory_item_id": item_id, "available": 42}
    response = client.post(f"{BASE}/inventory_levels/set.json", json=body)
    assert response.status_code == 200
    assert response.json()["inventory_level"]["admin_graphql_api_id"] == (
        f"gid://shopify/InventoryLevel/{main}?inventory_item_id={item_id}"
    )
    adjust = {"location_id": main, "inventory_item_id": item_id, "available_adjustment": -2}
    assert (
        client.post(f"{BASE}/inventory_levels/adjust.json", json=adjust).json()["inventory_level"][
            "available"
        ]
        == 40
    )

    # not connected to East DC yet: set is refused until connect (or disconnect_if_necessary)
    east_set = {"location_id": east, "inventory_item_id": item_id, "available": 5}
    assert client.post(f"{BASE}/inventory_levels/set.json", json=east_set).status_code == 422
    connect = client.post(
        f"{BASE}/inventory_levels/connect.json", json={"location_id": east, "inventory_item_id": item_id}
    )
    assert connect.status_code == 201 and connect.json()["inventory_level"]["available"] == 0
    assert client.post(f"{BASE}/inventory_levels/set.json", json=east_set).status_code == 200
    assert client.get(f"{BASE}/variants/{variant['id']}.json").json()["variant"]["inventory_quantity"] == 45

    listed = client.get(f"{BASE}/locations/{east}/inventory_levels.json").json()["inventory_levels"]
    assert [(lv["inventory_item_id"], lv["available"]) for lv in listed] == [(item_id, 5)]
    gone = client.delete(
        f"{BASE}/inventory_levels.json", params={"inventory_item_id": item_id, "location_id": east}
    )
    assert gone.status_code == 204
    last = client.delete(
        f"{BASE}/inventory_levels.json", params={"inventory_item_id": item_id, "location_id": main}
    )
    assert last.status_code == 422


def test_untracked_items_refuse_set_until_tracked(client):
    out = seed(client, products=[tee("UNT", 0, inventory_management=None)])
    item_id = out["products"][0]["variants"][0]["inventory_item_id"]
    main = locations(client)[0]["id"]
    body = {"location_id": main, "inventory_item_id": item_id, "available": 3}
    refused = client.post(f"{BASE}/inventory_levels/set.json", json=body)
    assert refused.status_code == 422
    assert refused.json() == {"errors": ["Inventory item does not have inventory tracking enabled"]}
    tracked = client.put(f"{BASE}/inventory_items/{item_id}.json", json={"inventory_item": {"tracked": True}})
    assert tracked.json()["inventory_item"]["tracked"] is True
    assert client.post(f"{BASE}/inventory_levels/set.json", json=body).status_code == 200
    items = client.get(f"{BASE}/inventory_items.json", params={"ids": item_id}).json()["inventory_items"]
    assert [i["id"] for i in items] == [item_id]


# orders, fulfillment, refunds -------------------------------------------------------------


def order_body(variant_id: int, quantity: int = 2, **extra) -> dict:
    return {
        "order": {
            "line_items": [{"variant_id": variant_id, "quantity": quantity}],
            "email": "buyer@example.com",
            "source_name": "tiktok",
            "tags": "tiktok, marketplace",
            "note_attributes": [{"name": "tiktok_order_id", "value": "5770000000001"}],
            "shipping_lines": [{"title": "Standard", "price": "4.99"}],
            "shipping_address": {
                "first_name": "Ada",
                "last_name": "L",
                "address1": "1 Main",
                "city": "Austin",
            },
        }
        | extra
    }


@pytest.fixture
def stocked(client):
    out = seed(client, products=[tee("ORD", 10)])
    variant = out["products"][0]["variants"][0]
    return {"variant": variant, "item": variant["inventory_item_id"], "main": locations(client)[0]["id"]}


def test_order_decrement_changes_stock_and_bypass_does_not(client, stocked):
    bypass = client.post(f"{BASE}/orders.json", json=order_body(stocked["variant"]["id"]))
    assert bypass.status_code == 201
    order = bypass.json()["order"]
    assert level(client, stocked["item"], stocked["main"]) == 10
    assert order["name"] == "#1001" and order["order_number"] == 1001
    assert order["total_line_items_price"] == "50.00" and order["total_price"] == "54.99"
    assert order["total_price_set"]["shop_money"] == {"amount": "54.99", "currency_code": "USD"}
    assert order["financial_status"] == "paid" and order["fulfillment_status"] is None
    assert order["tags"] == "tiktok, marketplace" and order["source_name"] == "tiktok"
    assert order["note_attributes"] == [{"name": "tiktok_order_id", "value": "5770000000001"}]
    assert order["customer"]["email"] == "buyer@example.com"
    assert order["line_items"][0]["sku"] == "ORD" and order["line_items"][0]["fulfillable_quantity"] == 2

    decrement = order_body(stocked["variant"]["id"], 3, inventory_behaviour="decrement_obeying_policy")
    assert client.post(f"{BASE}/orders.json", json=decrement).status_code == 201
    assert level(client, stocked["item"], stocked["main"]) == 7
    too_many = order_body(stocked["variant"]["id"], 8, inventory_behaviour="decrement_obeying_policy")
    assert client.post(f"{BASE}/orders.json", json=too_many).status_code == 422
    ignoring = order_body(stocked["variant"]["id"], 8, inventory_behaviour="decrement_ignoring_policy")
    assert client.post(f"{BASE}/orders.json", json=ignoring).status_code == 201
    assert level(client, stocked["item"], stocked["main"]) == -1
    assert client.get(f"{BASE}/orders/count.json").json() == {"count": 3}


def test_custom_line_and_pending_order(client):
    body = {
        "order": {
            "line_items": [{"title": "Gift wrap", "price": "3.50", "quantity": 1}],
            "financial_status": "pending",
        }
    }
    order = client.post(f"{BASE}/orders.json", json=body).json()["order"]
    assert order["line_items"][0]["variant_id"] is None and order["financial_status"] == "pending"
    assert client.get(f"{BASE}/orders/{order['id']}/transactions.json").json() == {"transactions": []}
    sale = {"transaction": {"kind": "sale", "amount": "3.50", "gateway": "tiktok"}}
    assert client.post(f"{BASE}/orders/{order['id']}/transactions.json", json=sale).status_code == 201
    assert client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]["financial_status"] == "paid"


def test_fulfillment_marks_order_fulfilled(client, stocked):
    order = client.post(f"{BASE}/orders.json", json=order_body(stocked["variant"]["id"], 2)).json()["order"]
    fos = client.get(f"{BASE}/orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"]
    assert len(fos) == 1 and fos[0]["assigned_location_id"] == stocked["main"] and fos[0]["status"] == "open"
    fo_line = fos[0]["line_items"][0]
    body = {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": fos[0]["id"],
                    "fulfillment_order_line_items": [{"id": fo_line["id"], "quantity": 1}],
                }
            ],
            "tracking_info": {"number": "1Z001985YW99744790", "company": "UPS"},
        }
    }
    first = client.post(f"{BASE}/fulfillments.json", json=body)
    assert first.status_code == 201
    assert first.json()["fulfillment"]["tracking_url"].endswith("1Z001985YW99744790")
    partial = client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]
    assert (
        partial["fulfillment_status"] == "partial" and partial["line_items"][0]["fulfillable_quantity"] == 1
    )
    assert (
        client.get(f"{BASE}/fulfillment_orders/{fos[0]['id']}.json").json()["fulfillment_order"]["status"]
        == "in_progress"
    )

    rest = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fos[0]["id"]}]}}
    second = client.post(f"{BASE}/fulfillments.json", json=rest).json()["fulfillment"]
    done = client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]
    assert done["fulfillment_status"] == "fulfilled" and len(done["fulfillments"]) == 2
    assert (
        client.get(f"{BASE}/orders.json", params={"fulfillment_status": "shipped"}).json()["orders"][0]["id"]
        == order["id"]
    )
    tracking = {"fulfillment": {"tracking_info": {"company": "USPS", "number": "9400"}}}
    updated = client.post(f"{BASE}/fulfillments/{second['id']}/update_tracking.json", json=tracking)
    assert updated.json()["fulfillment"]["tracking_company"] == "USPS"
    cancelled = client.post(f"{BASE}/fulfillments/{second['id']}/cancel.json")
    assert cancelled.json()["fulfillment"]["status"] == "cancelled"
    assert client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]["fulfillment_status"] == "partial"


def test_refund_with_restock_returns_stock(client, stocked):
    body = order_body(stocked["variant"]["id"], 3, inventory_behaviour="decrement_ignoring_policy")
    order = client.post(f"{BASE}/orders.json", json=body).json()["order"]
    line_id = order["line_items"][0]["id"]
    assert level(client, stocked["item"], stocked["main"]) == 7
    refund_lines = [
        {"line_item_id": line_id, "quantity": 1, "restock_type": "cancel", "location_id": stocked["main"]}
    ]
    calc = client.post(
        f"{BASE}/orders/{order['id']}/refunds/calculate.json",
        json={"refund": {"refund_line_items": refund_lines}},
    )
    suggestion = calc.json()["refund"]["transactions"][0]
    assert suggestion["kind"] == "suggested_refund" and suggestion["amount"] == "25.00"
    refund = client.post(
        f"{BASE}/orders/{order['id']}/refunds.json",
        json={
            "refund": {"refund_line_items": refund_lines, "transactions": [suggestion | {"kind": "refund"}]}
        },
    )
    assert refund.status_code == 201
    assert refund.json()["refund"]["transactions"][0]["amount"] == "25.00"
    assert level(client, stocked["item"], stocked["main"]) == 8
    after = client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]
    assert after["financial_status"] == "partially_refunded"
    assert (
        after["line_items"][0]["fulfillable_quantity"] == 2
        and after["line_items"][0]["current_quantity"] == 2
    )

    # return needs a fulfilment first; then the rest comes back and the order is refunded
    fo = client.get(f"{BASE}/orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    client.post(
        f"{BASE}/fulfillments.json",
        json={"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}},
    )
    returned = [
        {"line_item_id": line_id, "quantity": 2, "restock_type": "return", "location_id": stocked["main"]}
    ]
    parent = suggestion["parent_id"]
    money = [{"parent_id": parent, "amount": "29.99", "kind": "refund", "gateway": "manual"}]
    body = {
        "refund": {"refund_line_items": returned, "shipping": {"full_refund": True}, "transactions": money}
    }
    assert client.post(f"{BASE}/orders/{order['id']}/refunds.json", json=body).status_code == 201
    assert level(client, stocked["item"], stocked["main"]) == 10
    final = client.get(f"{BASE}/orders/{order['id']}.json").json()["order"]
    assert final["financial_status"] == "partially_refunded"  # 25 + 29.99 of 79.99 back
    over = {"refund": {"transactions": [{"parent_id": parent, "amount": "100.00", "kind": "refund"}]}}
    assert client.post(f"{BASE}/orders/{order['id']}/refunds.json", json=over).status_code == 422


def test_cancel_close_open(client, stocked):
    body = order_body(stocked["variant"]["id"], 4, inventory_behaviour="decrement_ignoring_policy")
    order = client.post(f"{BASE}/orders.json", json=body).json()["order"]
    assert level(client, stocked["item"], stocked["main"]) == 6
    cancelled = client.post(
        f"{BASE}/orders/{order['id']}/cancel.json", json={"reason": "customer", "restock": True}
    )
    assert (
        cancelled.json()["order"]["cancel_reason"] == "customer" and cancelled.json()["order"]["cancelled_at"]
    )
    assert level(client, stocked["item"], stocked["main"]) == 10
    assert client.post(f"{BASE}/orders/{order['id']}/cancel.json").status_code == 422
    assert client.get(f"{BASE}/orders.json").json()["orders"] == []
    assert len(client.get(f"{BASE}/orders.json", params={"status": "cancelled"}).json()["orders"]) == 1
    fo = client.get(f"{BASE}/orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    assert fo["status"] == "cancelled"

    other = client.post(f"{BASE}/orders.json", json=order_body(stocked["variant"]["id"], 1)).json()["order"]
    assert client.post(f"{BASE}/orders/{other['id']}/close.json").json()["order"]["closed_at"]
    assert (
        client.get(f"{BASE}/orders.json", params={"status": "closed"}).json()["orders"][0]["id"]
        == other["id"]
    )
    assert client.post(f"{BASE}/orders/{other['id']}/open.json").json()["order"]["closed_at"] is None
    tagged = client.put(f"{BASE}/orders/{other['id']}.json", json={"order": {"tags": "a, b", "note": "hi"}})
    assert tagged.json()["order"]["tags"] == "a, b" and tagged.json()["order"]["note"] == "hi"


def test_fulfillment_order_hold_and_move(client, stocked):
    order = client.post(f"{BASE}/orders.json", json=order_body(stocked["variant"]["id"], 1)).json()["order"]
    fo = client.get(f"{BASE}/orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    held = client.post(
        f"{BASE}/fulfillment_orders/{fo['id']}/hold.json", json={"fulfillment_hold": {"reason": "other"}}
    )
    assert held.json()["fulfillment_order"]["status"] == "on_hold"
    blocked = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}}
    assert client.post(f"{BASE}/fulfillments.json", json=blocked).status_code == 422
    released = client.post(f"{BASE}/fulfillment_orders/{fo['id']}/release_hold.json")
    assert released.json()["fulfillment_order"]["status"] == "open"
    east = locations(client)[1]["id"]
    moved = client.post(
        f"{BASE}/fulfillment_orders/{fo['id']}/move.json",
        json={"fulfillment_order": {"new_location_id": east}},
    )
    assert moved.json()["moved_fulfillment_order"]["assigned_location_id"] == east


def test_order_paging_and_since_id(client, stocked):
    ids = [
        client.post(f"{BASE}/orders.json", json=order_body(stocked["variant"]["id"], 1)).json()["order"]["id"]
        for _ in range(5)
    ]
    page = client.get(f"{BASE}/orders.json", params={"limit": 2, "since_id": ids[0]})
    assert [o["id"] for o in page.json()["orders"]] == ids[1:3]
    after = client.get(links(page)["next"])
    assert [o["id"] for o in after.json()["orders"]] == ids[3:5]
    assert [
        o["name"] for o in client.get(f"{BASE}/orders.json", params={"name": "1003"}).json()["orders"]
    ] == ["#1003"]


# customers -------------------------------------------------------------------------------


def test_customer_crud_and_search(client):
    made = client.post(
        f"{BASE}/customers.json",
        json={"customer": {"email": "Ann@Example.com", "first_name": "Ann", "tags": "vip"}},
    )
    assert made.status_code == 201
    ann = made.json()["customer"]
    client.post(
        f"{BASE}/customers.json", json={"customer": {"email": "bob@example.com", "first_name": "Bob"}}
    )
    dup = client.post(f"{BASE}/customers.json", json={"customer": {"email": "ann@example.com"}})
    assert dup.status_code == 422 and dup.json() == {"errors": {"email": ["has already been taken"]}}
    found = client.get(f"{BASE}/customers/search.json", params={"query": "email:ann@example.com"}).json()[
        "customers"
    ]
    assert [c["id"] for c in found] == [ann["id"]]
    assert [
        c["first_name"]
        for c in client.get(f"{BASE}/customers/search.json", params={"query": "tag:vip"}).json()["customers"]
    ] == ["Ann"]
    assert (
        len(client.get(f"{BASE}/customers/search.json", params={"query": "example.com"}).json()["customers"])
        == 2
    )
    renamed = client.put(f"{BASE}/customers/{ann['id']}.json", json={"customer": {"last_name": "Lee"}})
    assert renamed.json()["customer"]["last_name"] == "Lee"
    assert client.get(f"{BASE}/customers/count.json").json() == {"count": 2}


def test_order_links_customer_and_lists_their_orders(client, stocked):
    order = client.post(f"{BASE}/orders.json", json=order_body(stocked["variant"]["id"], 1)).json()["order"]
    # The order embeds the customer without its order statistics (2025-01 order sample); the
    # customer resource has them.
    assert "orders_count" not in order["customer"]
    customer = client.get(f"{BASE}/customers/{order['customer']['id']}.json").json()["customer"]
    assert customer["orders_count"] == 1 and customer["total_spent"] == "29.99"
    orders = client.get(f"{BASE}/customers/{customer['id']}/orders.json").json()["orders"]
    assert [o["id"] for o in orders] == [order["id"]]
    again = client.post(f"{BASE}/orders.json", json=order_body(stocked["variant"]["id"], 1)).json()["order"]
    assert again["customer"]["id"] == customer["id"]
    assert client.delete(f"{BASE}/customers/{customer['id']}.json").status_code == 422


# webhooks --------------------------------------------------------------------------------


class Receiver:
    """A loopback webhook endpoint that records deliveries and can be told to fail."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.fail = False

        async def hook(request):
            if self.fail:
                return Response(status_code=500)
            self.received.append((dict(request.headers), await request.body()))
            return Response(status_code=200)

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture
def receiver():
    target = Receiver()
    with LoopbackServer(target.app) as server:
        target.url = f"{server.url}/hook"
        yield target


def test_webhook_delivered_with_valid_hmac(client, receiver):
    sub = client.post(
        f"{BASE}/webhooks.json",
        json={"webhook": {"topic": "products/create", "address": receiver.url, "format": "json"}},
    )
    assert sub.status_code == 201 and sub.json()["webhook"]["api_version"] == "2025-01"
    again = client.post(
        f"{BASE}/webhooks.json", json={"webhook": {"topic": "products/create", "address": receiver.url}}
    )
    assert again.status_code == 422
    bad = client.post(
        f"{BASE}/webhooks.json", json={"webhook": {"topic": "nope/never", "address": receiver.url}}
    )
    assert bad.status_code == 422
    product = client.post(f"{BASE}/products.json", json={"product": {"title": "Hooked"}}).json()["product"]

    assert client.post("/_admin/webhooks/deliver").json() == {"delivered": 1, "failed": 0, "pending": 0}
    ((headers, body),) = receiver.received
    assert verify_shopify_webhook(
        DEFAULT_CREDENTIALS["webhook_secret"], body, headers["x-shopify-hmac-sha256"]
    )
    assert headers["x-shopify-topic"] == "products/create"
    assert headers["x-shopify-shop-domain"] == "sandbox-shop.myshopify.com"
    assert headers["x-shopify-api-version"] == "2025-01"
    assert (
        headers["x-shopify-webhook-id"]
        and headers["x-shopify-event-id"]
        and headers["x-shopify-triggered-at"]
    )
    assert json.loads(body)["id"] == product["id"]
    log = client.get("/_admin/state").json()["webhook_deliveries"]
    assert [(d["topic"], d["status"]) for d in log] == [("products/create", "delivered")]


def test_failed_delivery_is_retried_next_time(client, receiver):
    client.post(
        f"{BASE}/webhooks.json", json={"webhook": {"topic": "customers/create", "address": receiver.url}}
    )
    receiver.fail = True
    client.post(f"{BASE}/customers.json", json={"customer": {"email": "x@example.com"}})
    assert client.post("/_admin/webhooks/deliver").json() == {"delivered": 0, "failed": 1, "pending": 1}
    receiver.fail = False
    assert client.post("/_admin/webhooks/deliver").json() == {"delivered": 1, "failed": 0, "pending": 0}
    delivery = client.get("/_admin/state").json()["webhook_deliveries"][0]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]


def test_seeding_fires_no_webhooks_and_orders_fire_theirs(client, receiver):
    for topic in ("orders/create", "orders/paid", "inventory_levels/update", "orders/fulfilled"):
        client.post(f"{BASE}/webhooks.json", json={"webhook": {"topic": topic, "address": receiver.url}})
    out = seed(client, products=[tee("HOOK", 5)])
    body = order_body(
        out["products"][0]["variants"][0]["id"], 1, inventory_behaviour="decrement_ignoring_policy"
    )
    order = client.post(f"{BASE}/orders.json", json=body).json()["order"]
    fo = client.get(f"{BASE}/orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    client.post(
        f"{BASE}/fulfillments.json",
        json={"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}},
    )
    client.post("/_admin/webhooks/deliver")
    topics = [h["x-shopify-topic"] for h, _ in receiver.received]
    assert topics == ["inventory_levels/update", "orders/create", "orders/paid", "orders/fulfilled"]


def test_auto_delivery_in_the_background(receiver):
    with LoopbackServer(create_app(auto_deliver_webhooks=True)) as server:
        with httpx.Client(base_url=f"{server.url}{BASE}", headers=AUTH) as http:
            http.post(
                "/webhooks.json", json={"webhook": {"topic": "products/create", "address": receiver.url}}
            )
            http.post("/products.json", json={"product": {"title": "Auto"}})
            deadline = time.monotonic() + 5
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.02)
    assert [h["x-shopify-topic"] for h, _ in receiver.received] == ["products/create"]


# faults and admin ------------------------------------------------------------------------


def fault_statuses(seed_value: int) -> list[int]:
    with TestClient(create_app(seed=seed_value, bucket_size=1000)) as c:
        c.headers.update(AUTH)
        c.post("/_admin/faults", json={"error_rate": 0.3})
        statuses = [c.get(f"{BASE}/locations.json").status_code for _ in range(40)]
    return statuses


def test_faults_are_deterministic_under_a_seed():
    first, second = fault_statuses(7), fault_statuses(7)
    assert first == second and set(first) == {200, 503}
    assert fault_statuses(8) != first


def test_fault_shapes_and_burst(client):
    client.post("/_admin/faults", json={"error_rate": 1.0})
    failed = client.get(f"{BASE}/locations.json")
    assert failed.status_code == 503 and failed.json() == {"errors": "Service Unavailable"}
    assert "X-Shopify-Shop-Api-Call-Limit" in failed.headers
    client.post("/_admin/faults", json={"error_rate": 0.0, "burst_429": 2})
    burst = [client.get(f"{BASE}/locations.json") for _ in range(3)]
    assert [r.status_code for r in burst] == [429, 429, 200]
    assert burst[0].headers["Retry-After"] == "1.0"
    assert client.get("/_admin/stats").json()["throttled"] == 2
    assert client.post("/_admin/faults", json={"bogus": 1}).status_code == 400


def test_reset_and_requests_clear(client):
    seed(client, products=[tee("R", 1)])
    client.get(f"{BASE}/products.json")
    assert client.get("/_admin/requests").json()["requests"][0]["path"] == f"{BASE}/products.json"
    client.post("/_admin/requests/clear")
    assert client.get("/_admin/requests").json() == {"requests": []}
    before = [loc["id"] for loc in locations(client)]
    client.post("/_admin/reset")
    assert client.get(f"{BASE}/products/count.json").json() == {"count": 0}
    assert [loc["id"] for loc in locations(client)] == before  # same seed, same ids
    state = client.get("/_admin/state").json()
    assert state["stats"]["requests"] == 2 and state["bucket"]["size"] == 40
