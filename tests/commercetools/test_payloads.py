"""The commercetools mappings on the API reference's own samples (tests/commercetools/payloads,
each with its source): an order, an inventory entry, and a delivery as a warehouse adds it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.payloads.payload_helpers import canonical_problems, mapped

HERE = Path(__file__).parent / "payloads"


def load(name: str) -> dict:
    return json.loads((HERE / name).read_text())


def test_the_reference_order_maps_to_a_canonical_order_of_the_store_itself():
    order = mapped("commercetools.order_to_canonical", load("order_example.json"), {"connection": "commercetools"})
    assert order["channel"] == "commercetools" and "channel_order_id" not in order  # not from a channel
    assert order["status"] == "awaiting_fulfillment" and order["currency"] == "EUR"
    assert order["money"]["total"] == {"amount": "10.00", "currency": "EUR"}
    assert order["lines"] == [{"line_id": "7297c742-d8b0-484b-aadc-1d0ba1869dc9", "sku": "some-sku-123",
                               "title": "MyProduct", "quantity": 1,
                               "unit_price": {"amount": "10.00", "currency": "EUR"}}]
    assert order["placed_at"] == "2017-01-04T19:54:49.797000Z"
    # The store's own order is no channel order: the flows reading store orders skip it for that.
    assert canonical_problems("order", order) == [": 'channel_order_id' is a required property"]


def test_a_cancelled_order_is_cancelled_whatever_its_shipment():
    order = {**load("order_example.json"), "orderState": "Cancelled", "shipmentState": "Pending"}
    assert mapped("commercetools.order_to_canonical", order)["status"] == "cancelled"


def test_the_reference_inventory_entry_is_a_level_at_the_default_location():
    level = mapped("commercetools.inventory_level_to_canonical", load("inventory_example.json"),
                   {"sku": "sku_GIRLS_CREW_variant1_1421832124541"})
    assert level == {"sku": "sku_GIRLS_CREW_variant1_1421832124541", "location_id": "default", "on_hand": 4,
                     "available": 4, "tracked": True, "updated_at": "2015-03-11T13:36:20.720000Z"}
    assert canonical_problems("inventory_level", level) == []


def test_a_parcel_without_items_ships_its_deliverys_items():
    """The reference's addDelivery names the items on the delivery and none on its parcel."""
    action = load("add_delivery_action.json")
    order = load("order_example.json")
    line = order["lineItems"][0]["id"]
    delivery = {"id": "d-1", "items": [{**i, "id": line} for i in action["items"]], "address": action["address"],
                "parcels": [{"id": "p-1", "createdAt": "2017-01-05T10:00:00.000Z", **parcel, "items": []}
                            for parcel in action["parcels"]]}
    order = {**order, "custom": {"fields": {"channel": "tiktok_us", "channel_order_id": "576461413038785752",
                                            "fulfillment_type": "merchant"}}}
    parcel = {**delivery["parcels"][0], "delivery": delivery, "order": order}
    fulfillment = mapped("commercetools.fulfillment_to_canonical", parcel)
    assert fulfillment["channel_order_id"] == "576461413038785752"
    [package] = fulfillment["packages"]
    assert package["lines"] == [{"sku": "some-sku-123", "quantity": 1, "line_id": line}]
    assert package["carrier"] == "TNT" and package["tracking_number"] == "{{trackingId}}"
    assert fulfillment["metadata"]["channel"] == "tiktok_us" and not fulfillment["metadata"]["imported_fulfilled"]
    assert canonical_problems("fulfillment", fulfillment) == []
