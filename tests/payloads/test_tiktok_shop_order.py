"""TikTok Shop order detail and order search (202309) documentation samples through the order mapping.

Both responses carry the same order object in data.orders[]. Expected values are worked out by
hand from the payloads: money as the unpadded decimal text TikTok sends, times from Unix seconds,
ids as text. The samples are placeholders and not self-consistent (sub_total "5000" against a
"0.01" unit price, an UNPAID order with a paid_time), so only the mapping of each field is
checked here, never that the amounts add up (tests/simulators/test_tiktok_order_mappings.py does
that on simulator orders).
"""

from __future__ import annotations

import copy

import pytest
from payload_helpers import apply, canonical_problems, error_fields, load, mapped, needs_payloads

pytestmark = needs_payloads

DETAIL = "tiktok_shop/get_order_detail_202309_docsample.json"
SEARCH = "tiktok_shop/search_orders_202309_docsample.json"
MAPPING = "tiktok_shop.order_to_canonical"
CONTEXT = {"connection": "tiktok_id"}


def idr(amount: str) -> dict:
    return {"amount": amount, "currency": "IDR"}


LINE = {
    "sku": "red_iphone_256",
    "quantity": 1,  # one line item, one unit
    "title": "Women's Winter Crochet Clothes",
    "variant_title": "Iphone",
    "unit_price": idr("0.01"),  # original_price
    "discount_seller": idr("0"),
    "discount_platform": idr("0"),
    "discount": idr("0"),  # 0 + 0
    "tax": idr("21.2"),  # item_tax[0].tax_amount
    "tax_rate": "0.35",
    "total": idr("21.21"),  # 1 x 0.01 - 0 + 21.2
    "channel_line_ids": ["577086512123755123"],
    "channel_product_id": "1729582718312380123",
    "channel_sku_id": "2729382476852921560",
    "is_gift": False,
    "fulfillment_status": "unfulfilled",  # package_status TO_FULFILL
}

CANONICAL = {
    "channel": "tiktok_id",
    "channel_order_id": "576461413038785752",
    "order_number": "576461413038785752",
    "status": "pending_payment",  # UNPAID
    "financial_status": "pending",  # UNPAID, although the sample carries a paid_time
    "fulfillment_type": "merchant",  # FULFILLMENT_BY_SELLER
    "currency": "IDR",
    "buyer": {
        "email": "v2b2V5@chat.seller.tiktok.com",
        "email_is_relay": True,
        "channel_customer_id": "7021436810468230477",
        "name": "David Kong",
        "first_name": "David",
        "last_name": "Kong",
        "phone": "(+1)213-***-1234",
    },
    "shipping_address": {
        "name": "David Kong",
        "first_name": "David",
        "last_name": "Kong",
        "phone": "(+1)213-***-1234",
        "line1": "TikTok 5800 bristol Pkwy",
        "line2": "Suite 100, Unit one building 8",  # address_line2, address_detail
        # address_line3/4 are a literal "" in the detail sample, a blank in the search sample: no line3/4.
        # district_info has L0 (country) only: no city, no region.
        "postal_code": "95110",
        "country_code": "US",  # region_code
        "full_address": "1199 Coleman Ave San Jose, CA 95110",
    },
    "lines": [LINE],
    "money": {
        "subtotal": idr("5000"),
        "subtotal_before_discounts": idr("5000"),
        "shipping": idr("5000"),
        "shipping_before_discounts": idr("5000"),
        "shipping_discount_seller": idr("5000"),
        "shipping_discount_platform": idr("5000"),
        "discount_seller": idr("5000"),
        "discount_platform": idr("5000"),
        "tax": idr("5000"),
        "product_tax": idr("21.3"),
        "shipping_tax": idr("11"),
        # retail_delivery_fee 1.28 + small_order_fee 3000 + buyer_service_fee 1000 + handling_fee 1000
        # + shipping_insurance_fee 1000 + item_insurance_fee 1000
        "fees": idr("7001.28"),
        "total": idr("5000"),
        "platform_subsidy": idr("10000"),  # platform_discount 5000 + shipping_fee_platform_discount 5000
    },
    "placed_at": "2021-04-28T12:06:01Z",  # 1619611561
    "paid_at": "2021-04-28T12:06:03Z",  # 1619611563
    "updated_at": "2021-04-28T14:49:15Z",  # 1619621355
    "cancelled_at": "2023-03-09T19:20:18Z",  # cancel_time 1678389618
    "cancel_reason": "Pricing error",
    "notes": "Please ship asap!",
    "payment_method": "CCDC",
    "shipping_method": "Express shipping",
    "is_cod": False,
    "is_sample": False,
    "is_replacement": False,
    "metadata": {
        "shipping_type": "TIKTOK",
        "warehouse_id": "6955005333819123123",
        "delivery_option_id": "7091146663229654785",
        "package_ids": ["1152321127278713123"],
        "cancellation_initiator": "SELLER",
        "is_buyer_request_cancel": False,
        "replaced_order_id": "576461416728782174",
        "tracking_number": "JX12345",
        "shipping_provider": "TT Virtual express",
    },
}


def detail_order() -> dict:
    return load(DETAIL)["data"]["orders"][0]


def search_order() -> dict:
    return load(SEARCH)["data"]["orders"][0]


def test_order_detail_sample_whole_canonical_output():
    order = mapped(MAPPING, detail_order(), CONTEXT)
    assert order == CANONICAL
    assert canonical_problems("order", order) == []


def test_order_search_sample_whole_canonical_output():
    # The search sample differs from the detail one in a few values: a line break after the
    # buyer_email (and the line's package_id), blank address_line3/4, another delivery option
    # name, the line's display_status UNPAID.
    expected = copy.deepcopy(CANONICAL)
    expected["shipping_method"] = "Shipped from seller"
    order = mapped(MAPPING, search_order(), CONTEXT)
    assert order == expected
    assert canonical_problems("order", order) == []


def test_both_samples_are_the_same_order_shape():
    assert set(detail_order()) == set(search_order())


def test_an_unpaid_or_on_hold_order_without_its_address_has_no_shipping_address_and_no_buyer_name():
    for status, canonical in (("UNPAID", "pending_payment"), ("ON_HOLD", "on_hold")):
        data = detail_order()
        data["status"] = status
        del data["recipient_address"]  # TikTok withholds it (1.11)
        order = mapped(MAPPING, data, CONTEXT)
        assert order["status"] == canonical
        assert "shipping_address" not in order
        assert order["buyer"] == {"email": "v2b2V5@chat.seller.tiktok.com", "email_is_relay": True,
                                  "channel_customer_id": "7021436810468230477"}
        assert canonical_problems("order", order) == []


@pytest.mark.parametrize(("status", "canonical", "financial"), [
    ("UNPAID", "pending_payment", "pending"),
    ("ON_HOLD", "on_hold", "paid"),
    ("AWAITING_SHIPMENT", "awaiting_fulfillment", "paid"),
    ("PARTIALLY_SHIPPING", "partially_fulfilled", "paid"),
    ("AWAITING_COLLECTION", "awaiting_fulfillment", "paid"),
    ("IN_TRANSIT", "fulfilled", "paid"),
    ("DELIVERED", "delivered", "paid"),
    ("COMPLETED", "completed", "paid"),
    ("CANCELLED", "cancelled", "paid"),
])
def test_every_order_status(status, canonical, financial):
    data = detail_order()
    data["status"] = status
    order = mapped(MAPPING, data, CONTEXT)
    assert (order["status"], order["financial_status"]) == (canonical, financial)
    assert canonical_problems("order", order) == []


def test_ids_sent_as_json_numbers_keep_every_digit():
    data = detail_order()
    data["id"] = 576461413038785752  # above 2^53
    data["user_id"] = 7021436810468230477
    data["line_items"][0].update(id=577086512123755123, product_id=1729582718312380123, sku_id=2729382476852921560)
    order = mapped(MAPPING, data, CONTEXT)
    assert order["channel_order_id"] == order["order_number"] == "576461413038785752"
    assert order["buyer"]["channel_customer_id"] == "7021436810468230477"
    line = order["lines"][0]
    assert (line["channel_line_ids"], line["channel_product_id"], line["channel_sku_id"]) == (
        ["577086512123755123"], "1729582718312380123", "2729382476852921560")


def test_a_unit_without_a_seller_sku_fails_the_whole_order_at_the_canonical_check():
    data = detail_order()
    blank = {**data["line_items"][0], "id": "577086512123755124", "seller_sku": ""}
    data["line_items"].append(blank)
    order = mapped(MAPPING, data, CONTEXT)  # the mapping keeps the unit, as a line of its own
    assert [line.get("sku") for line in order["lines"]] == ["red_iphone_256", None]
    assert order["lines"][1]["channel_line_ids"] == ["577086512123755124"]
    assert canonical_problems("order", order) == ["lines/1: 'sku' is a required property"]


def test_an_unknown_status_is_a_field_error():
    data = detail_order()
    data["status"] = "SHIPPED_BY_MAGIC"
    assert error_fields(apply(MAPPING, data, CONTEXT)) == ["status"]
