"""Canonical fulfillments through tiktok_shop.fulfillment_from_canonical and
tiktok_shop.package_tracking_from_canonical, sent to the TikTok Shop simulator: partial
shipments take the units still to ship, lowest line item id first; an unknown carrier and a
package of more units than TikTok still expects are field errors naming them."""

from __future__ import annotations

from payload_helpers import apply, load, mapped, needs_payloads
from tiktok_sim import UPS, USPS, TikTokApi

MAPPING = "tiktok_shop.fulfillment_from_canonical"
CARRIERS = {"USPS": USPS, "UPS": UPS}


def fulfillment(*lines: tuple[str, int], carrier: str = "USPS", tracking: str = "9400111899223344556677") -> dict:
    return {
        "id": "255858046",
        "order_id": "5001",
        "packages": [{"lines": [{"sku": sku, "quantity": n} for sku, n in lines],
                      "carrier": carrier, "tracking_number": tracking}],
    }


def ids(order: dict, sku: str) -> list[str]:
    return sorted((li["id"] for li in order["line_items"] if li["seller_sku"] == sku), key=int)


def ship(tiktok: TikTokApi, order: dict, record: dict) -> dict:
    body = mapped(MAPPING, record, {"carrier_map": CARRIERS, "channel_order": order})
    return tiktok.ok("POST", f"/fulfillment/202309/orders/{order['id']}/packages", body=body) | {"_body": body}


def test_two_partial_shipments_take_the_units_in_turn(tiktok: TikTokApi):
    order = tiktok.place_order({"TEE-M": 3, "TEE-L": 1})
    tees = ids(order, "TEE-M")
    first = ship(tiktok, order, fulfillment(("TEE-M", 2)))
    assert (first["_body"]["tracking_number"], first["_body"]["shipping_provider_id"]) == ("9400111899223344556677", USPS)
    assert sorted(first["_body"]["order_line_item_ids"], key=int) == tees[:2]  # the two lowest ids
    order = tiktok.order(order["id"])
    assert order["status"] == "PARTIALLY_SHIPPING"
    second = ship(tiktok, order, fulfillment(("TEE-M", 1), ("TEE-L", 1), carrier="UPS", tracking="1Z999AA10123456784"))
    assert second["_body"]["shipping_provider_id"] == UPS
    assert sorted(second["_body"]["order_line_item_ids"], key=int) == sorted([tees[2], *ids(order, "TEE-L")], key=int)
    order = tiktok.order(order["id"])
    assert order["status"] == "IN_TRANSIT"
    assert {li["package_status"] for li in order["line_items"]} == {"FULFILLING"}
    assert {li["tracking_number"] for li in order["line_items"] if li["id"] in tees[:2]} == {"9400111899223344556677"}


def test_a_cancelled_unit_is_never_shipped(tiktok: TikTokApi):
    order = tiktok.place_order({"TEE-M": 2})
    cancelled = ids(order, "TEE-M")[0]
    tiktok.ok("POST", "/return_refund/202309/cancellations",
              body={"order_id": order["id"], "order_line_item_ids": [cancelled],
                    "cancel_reason": "seller_cancel_reason_out_of_stock"})
    order = tiktok.order(order["id"])
    sent = ship(tiktok, order, fulfillment(("TEE-M", 1)))
    assert sent["_body"]["order_line_item_ids"] == [ids(order, "TEE-M")[1]]


def test_more_units_than_tiktok_still_expects_is_a_field_error_naming_the_sku(tiktok: TikTokApi):
    order = tiktok.place_order({"TEE-M": 1, "TEE-L": 1})
    ship(tiktok, order, fulfillment(("TEE-M", 1)))
    order = tiktok.order(order["id"])
    result = apply(MAPPING, fulfillment(("TEE-M", 1), ("TEE-L", 1)), {"carrier_map": CARRIERS, "channel_order": order})
    assert [e.path for e in result.errors] == ["order_line_item_ids"]
    assert "['TEE-M']" in result.errors[0].message


def test_an_unmapped_carrier_is_a_field_error_naming_it(tiktok: TikTokApi):
    order = tiktok.place_order({"TEE-M": 1})
    result = apply(MAPPING, fulfillment(("TEE-M", 1), carrier="Royal Mail"), {"carrier_map": CARRIERS, "channel_order": order})
    assert [e.path for e in result.errors] == ["shipping_provider_id"]
    assert "'Royal Mail'" in result.errors[0].message and "UPS, USPS" in result.errors[0].message


def test_master_skus_are_translated_to_the_sellers_skus_on_tiktok(tiktok: TikTokApi):
    order = tiktok.place_order({"TEE-L": 2})
    body = mapped(MAPPING, fulfillment(("MASTER-TEE-L", 2)),
                  {"carrier_map": CARRIERS, "channel_order": order, "sku_map": {"MASTER-TEE-L": "TEE-L"}})
    assert sorted(body["order_line_item_ids"], key=int) == ids(order, "TEE-L")


@needs_payloads
def test_the_order_detail_sample_line_is_still_to_fulfil():
    # The 202309 detail sample: one line item of red_iphone_256, package_status TO_FULFILL.
    order = load("tiktok_shop/get_order_detail_202309_docsample.json")["data"]["orders"][0]
    body = mapped(MAPPING, fulfillment(("red_iphone_256", 1), carrier="TT Virtual express", tracking="JX12345"),
                  {"carrier_map": {"TT Virtual express": "6617675021119438849"}, "channel_order": order})
    assert body == {"tracking_number": "JX12345", "shipping_provider_id": "6617675021119438849",
                    "order_line_item_ids": ["577086512123755123"]}


def test_new_tracking_for_a_shipped_package(tiktok: TikTokApi):
    order = tiktok.place_order({"TEE-M": 1})
    package_id = ship(tiktok, order, fulfillment(("TEE-M", 1)))["package_id"]
    corrected = fulfillment(("TEE-M", 1), carrier="UPS", tracking="1Z999AA10123456784")
    corrected["packages"][0]["package_id"] = package_id
    body = mapped("tiktok_shop.package_tracking_from_canonical", corrected, {"carrier_map": CARRIERS})
    assert body == {"tracking_number": "1Z999AA10123456784", "shipping_provider_id": UPS}
    tiktok.ok("POST", f"/fulfillment/202309/packages/{package_id}/shipping_info/update", body=body)
    package = tiktok.ok("GET", f"/fulfillment/202309/packages/{package_id}")
    assert (package["tracking_number"], package["shipping_provider_name"]) == ("1Z999AA10123456784", "UPS")
