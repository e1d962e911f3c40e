"""Shopify REST order bodies from ../shared/payloads/shopify through shopify.order_to_canonical,
and an imported TikTok order back out of the simulator.

Expected values were read off the payloads by hand: ids as the exact digits of the JSON number,
amounts as the decimal text Shopify sends, times moved from the shop's offset to UTC.
"""

from __future__ import annotations

import copy

from payload_helpers import apply, canonical_problems, load, mapped, needs_payloads
from shopify_orders import BASE, PLATFORM_SHIPPED, create
from starlette.testclient import TestClient

MAPPING = "shopify.order_to_canonical"
CONTEXT = {"connection": "shopify"}


def usd(amount: str) -> dict:
    return {"amount": amount, "currency": "USD"}


BOB = {
    "name": "Bob Norman",
    "first_name": "Bob",
    "last_name": "Norman",
    # address2 "" and company null are left out
    "line1": "Chestnut Street 92",
    "city": "Louisville",
    "region": "Kentucky",
    "region_code": "KY",
    "postal_code": "40202",
    "country_code": "US",
    "phone": "+1(502)-459-2181",
}


def _ipod(line_id: str, sku: str, color: str, discount: str, status: str) -> dict:
    # Every line: 199.00, one unit, State Tax 3.98 at 0.06; the discount is the line's
    # discount_allocations (total_discount is 0.00 beside them).
    return {
        "line_id": line_id,
        "sku": sku,
        "title": "IPod Nano - 8gb",
        "variant_title": color,
        "quantity": 1,
        "unit_price": usd("199.00"),
        "discount": usd(discount),
        "tax": usd("3.98"),
        "tax_rate": "0.06",
        "fulfillment_status": status,
    }


# order #1001 of the 2025-01 sample: not from a channel, partly refunded, two of three lines
# refunded (current_quantity 0) before shipping.
ORDER_1001 = {
    "id": "450789469",
    "external_ids": {"shopify": "450789469"},
    "channel": "shopify",
    "order_number": "#1001",
    "status": "awaiting_fulfillment",  # fulfillment_status null, paid (partially_refunded)
    "financial_status": "partially_refunded",
    "fulfillment_type": "merchant",
    "buyer": {
        "email": "bob.norman@mail.example.com",
        "phone": "+557734881234",
        "first_name": "Bob",
        "last_name": "Norman",
        "name": "Bob Norman",
        "customer_id": "207119551",
    },
    "shipping_address": BOB,
    "billing_address": BOB,
    "lines": [
        _ipod("466157049", "IPOD2008GREEN", "green", "3.34", "cancelled"),
        _ipod("518995019", "IPOD2008RED", "red", "3.33", "unfulfilled"),
        _ipod("703073504", "IPOD2008BLACK", "black", "3.33", "cancelled"),
    ],
    "money": {
        "total": usd("598.94"),
        "subtotal": usd("597.00"),
        "subtotal_before_discounts": usd("597.00"),
        "shipping": usd("0.00"),
        "tax": usd("11.94"),
        "discount_seller": usd("10.00"),
    },
    "currency": "USD",
    "placed_at": "2008-01-10T16:00:00Z",  # 2008-01-10T11:00:00-05:00
    "updated_at": "2008-01-10T16:00:00Z",
    "tags": [],
    "shipping_method": "Free Shipping",
    "payment_method": "bogus",
    "is_sample": False,
    "is_replacement": False,
    "metadata": {"source_name": "web"},
}


@needs_payloads
def test_rest_order_sample():
    record = load("shopify/order_get_2025-01_docsample.json")["order"]
    assert mapped(MAPPING, record, CONTEXT) == ORDER_1001
    # Placed in Shopify itself: there is no channel order to cancel, which the flow's validate
    # step says before anything is sent.
    assert canonical_problems("order", mapped(MAPPING, record, CONTEXT)) == [
        ": 'channel_order_id' is a required property"]


@needs_payloads
def test_orders_create_webhook_sample_is_a_cancelled_order():
    record = load("shopify/webhook_orders_create_2025-01_docsample.json")
    out = mapped(MAPPING, record, CONTEXT)
    assert out["id"] == "820982911946154500"  # the sample's rounded id, kept digit for digit
    assert (out["status"], out["cancel_reason"], out["cancelled_at"]) == ("cancelled", "customer", "2022-01-01T00:00:00Z")
    assert out["financial_status"] == "voided"
    assert out["buyer"] == {"email": "jon@example.com", "first_name": "John", "last_name": "Smith",
                            "name": "John Smith", "customer_id": "115310627314723950"}
    assert [(li["sku"], li["unit_price"]["amount"], li["fulfillment_status"]) for li in out["lines"]] == [
        ("SKU2006-001", "89.99", "unfulfilled"), ("SKU2006-020", "159.99", "unfulfilled"),
        ("SKU2006-035", "119.99", "unfulfilled")]
    # total_discount 0.00 and no allocations or tax lines in the sample
    assert all(li["discount"] == usd("0.00") and "tax" not in li for li in out["lines"])
    assert out["money"] == {"total": usd("359.97"), "subtotal": usd("359.97"),
                            "subtotal_before_discounts": usd("369.97"), "shipping": usd("10.00"),
                            "tax": usd("0.00"), "discount_seller": usd("20.00")}
    assert out["shipping_address"]["company"] == "Shipping Company" and "line2" not in out["shipping_address"]
    assert out["tags"] == ["tag1", "tag2"]
    assert (out["shipping_method"], out["payment_method"]) == ("Generic Shipping", "visa")


@needs_payloads
def test_anonymised_2025_04_webhook_reads_every_key_and_fails_only_on_its_fake_amounts():
    # Every string of that payload is "example string": amounts cannot be numbers, and nothing
    # else (dates "2019-01-01 00:00:00.000Z", null customers' fields, ids) may fail.
    result = apply(MAPPING, load("shopify/webhook_orders_2025-04_real_anonymized.json"), CONTEXT)
    assert sorted(e.path for e in result.errors) == [
        "lines[0].discount.amount", "lines[0].tax.amount", "lines[0].unit_price.amount",
        "money.discount_seller.amount", "money.shipping.amount", "money.subtotal.amount",
        "money.subtotal_before_discounts.amount", "money.tax.amount", "money.total.amount"]
    assert all("'example string'" in e.message for e in result.errors)
    assert result.output["placed_at"] == "2019-01-01T00:00:00Z"
    assert result.output["buyer"] == {"customer_id": "123"}  # the customer has no name or e-mail
    assert result.output["status"] == "awaiting_fulfillment"  # "example string" is no known status
    assert "financial_status" not in result.output


@needs_payloads
def test_protected_customer_data_left_blank_is_left_out():
    record = copy.deepcopy(load("shopify/order_get_2025-01_docsample.json")["order"])
    record.update(email=None, contact_email="", phone=None, customer=None, billing_address=None)
    record["shipping_address"] = {key: None for key in record["shipping_address"]} | {"address1": ""}
    out = mapped(MAPPING, record, CONTEXT)
    assert out["buyer"] == {}
    assert "shipping_address" not in out and "billing_address" not in out
    assert out["money"]["total"] == usd("598.94")


def test_an_imported_order_names_its_channel_and_gives_back_what_the_buyer_paid(shop: TestClient):
    # PLATFORM_SHIPPED went in with platform_discounts revenue: Shopify's total 53.96 holds the
    # 14.99 subsidy (9.00 product, 5.99 shipping), which comes out again.
    _, created, _ = create(shop, PLATFORM_SHIPPED, {})
    fetched = shop.get(f"{BASE}/orders/{created['id']}.json").json()["order"]
    out = mapped(MAPPING, fetched, CONTEXT)
    assert (out["channel"], out["channel_order_id"]) == ("tiktok_us", "576461413038785999")
    assert out["status"] == "fulfilled" and out["fulfillment_type"] == "platform"
    assert out["money"] == {
        "total": usd("38.97"),
        "subtotal": usd("36.00"),
        "subtotal_before_discounts": usd("45.00"),
        "shipping": usd("0.00"),
        "tax": usd("2.97"),
        "discount_seller": usd("0.00"),
        "discount_platform": usd("9.00"),
        "shipping_discount_platform": usd("5.99"),
        "platform_subsidy": usd("14.99"),
    }
    assert out["money"]["total"] == PLATFORM_SHIPPED["money"]["total"]
    assert out["lines"][0]["channel_line_ids"] == ["577086512123760001"]
    assert out["payment_method"] == "TikTok Shop"  # the gateway: no payment method was given
    assert canonical_problems("order", out) == []


def test_an_order_imported_with_platform_discounts_as_discounts_separates_them_again(shop: TestClient):
    _, created, _ = create(shop, PLATFORM_SHIPPED, {"platform_discounts": "discount"})
    out = mapped(MAPPING, created, CONTEXT)
    # Shopify's 9.00 of discounts are the channel's: none is the seller's.
    assert out["money"]["total"] == usd("38.97")
    assert out["money"]["discount_seller"] == usd("0.00")
    assert out["money"]["subtotal"] == usd("36.00")
