"""Shopify fulfillments through shopify.fulfillment_to_canonical: the 2025-01 order sample's
fulfillment, the anonymised 2025-04 webhook's, and one made in the simulator for an imported
TikTok order (a partial shipment of one SKU).

The record is a fulfillment with its order under `order`, as the engine builds it from an order
body (`fulfillments[]` merged with the order). Expected values were read off the payloads by hand.
"""

from __future__ import annotations

from payload_helpers import canonical_problems, load, mapped, needs_payloads
from shopify_orders import BASE, MERCHANT_SHIPPED, PLATFORM_SHIPPED, create
from starlette.testclient import TestClient

MAPPING = "shopify.fulfillment_to_canonical"


def with_order(order: dict) -> list[dict]:
    """What the engine hands the mapping: each fulfillment with its order under `order`."""
    return [{**fulfillment, "order": order} for fulfillment in order["fulfillments"]]


@needs_payloads
def test_rest_order_sample_fulfillment():
    order = load("shopify/order_get_2025-01_docsample.json")["order"]
    [record] = with_order(order)
    out = mapped(MAPPING, record)
    assert out == {
        "id": "255858046",
        "external_ids": {"shopify": "255858046"},
        "order_id": "450789469",
        "location_id": "655441491",
        "packages": [{
            "lines": [{"sku": "IPOD2008GREEN", "quantity": 1, "line_id": "466157049"}],
            "carrier": "USPS",
            "tracking_number": "1Z1234512345123456",
            "tracking_url": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=1Z1234512345123456",
            "shipped_at": "2025-01-02T16:29:59Z",  # 2025-01-02T11:29:59-05:00
        }],
        "created_at": "2025-01-02T16:29:59Z",
        "updated_at": "2025-01-02T16:29:59Z",
        # A failed fulfillment shipped nothing; the flow sends only status success.
        "metadata": {"status": "failure", "order_name": "#1001", "order_tags": [], "fulfillment_type": "merchant",
                     "imported_fulfilled": False},
    }
    assert canonical_problems("fulfillment", out) == []


@needs_payloads
def test_anonymised_2025_04_webhook_fulfillment_shape():
    order = load("shopify/webhook_orders_2025-04_real_anonymized.json")
    [record] = with_order(order)
    out = mapped(MAPPING, record)
    assert (out["id"], out["order_id"], out["location_id"]) == ("123", "123", "123")
    assert out["packages"][0]["lines"] == [{"sku": "2019-01-01 00:00:00.000Z", "quantity": 123, "line_id": "123"}]
    assert out["packages"][0]["carrier"] == "example string"
    assert out["packages"][0]["tracking_number"] == "example string"
    assert out["created_at"] == "2019-01-01T00:00:00Z"
    assert out["metadata"]["order_tags"] == ["example string"]


def test_a_partial_shipment_of_an_imported_order(shop: TestClient):
    _, created, _ = create(shop, MERCHANT_SHIPPED, {})
    tee = next(li for li in created["line_items"] if li["sku"] == "TEE-M")
    fo = shop.get(f"{BASE}/orders/{created['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    fo_line = next(li for li in fo["line_items"] if li["line_item_id"] == tee["id"])
    response = shop.post(f"{BASE}/fulfillments.json", json={"fulfillment": {
        "line_items_by_fulfillment_order": [
            {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": [{"id": fo_line["id"], "quantity": 1}]}],
        "tracking_info": {"company": "UPS", "number": "1Z999AA10123456784"},
        "notify_customer": False,
    }})
    assert response.status_code == 201, response.text
    order = shop.get(f"{BASE}/orders/{created['id']}.json").json()["order"]
    [record] = with_order(order)
    out = mapped(MAPPING, record)
    assert out["order_id"] == str(created["id"])
    assert out["channel_order_id"] == "576461413038785752"
    [package] = out["packages"]
    assert package["lines"] == [{"sku": "TEE-M", "quantity": 1, "line_id": str(tee["id"])}]
    assert (package["carrier"], package["tracking_number"]) == ("UPS", "1Z999AA10123456784")
    assert out["metadata"]["status"] == "success"
    assert out["metadata"]["fulfillment_type"] == "merchant"
    assert out["metadata"]["channel"] == "tiktok_us"
    assert out["metadata"]["order_tags"] == ["TikTok Shop"]
    assert canonical_problems("fulfillment", out) == []


def test_the_fulfillment_of_an_order_the_channel_ships_is_marked_and_cannot_be_pushed(shop: TestClient):
    _, created, _ = create(shop, PLATFORM_SHIPPED, {})
    [record] = with_order(shop.get(f"{BASE}/orders/{created['id']}.json").json()["order"])
    out = mapped(MAPPING, record)
    assert out["metadata"]["fulfillment_type"] == "platform"
    assert out["metadata"]["order_tags"] == ["TikTok Shop", "fulfilled-by-platform"]
    assert out["packages"][0]["lines"] == [{"sku": "HOODIE", "quantity": 1,
                                            "line_id": str(created["line_items"][0]["id"])}]
    assert canonical_problems("fulfillment", out) == [
        "packages/0: 'carrier' is a required property", "packages/0: 'tracking_number' is a required property"]
