"""Canonical orders through shopify.order_from_canonical, posted to the Shopify simulator.

The invariant (see the mapping's description): every money figure of the Shopify order reconciles
to the cent with the canonical order's money. With platform_discounts revenue (the default) the
channel's discounts stay in the prices and come back as a sale of their own on the subsidy
gateway, so Shopify's total is the buyer's total plus the channel's subsidy; with discount, the
Shopify total is the buyer's total and there is one sale.

Each case's Shopify figures below were worked out by hand from the canonical money; the
invariant is also checked by formula, so a new case gets both.
"""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from payload_helpers import apply, mapped
from shopify_orders import BASE, MERCHANT_SHIPPED, PLATFORM_SHIPPED, SAMPLE, VAT_INCLUDED, create

MAPPING = "shopify.order_from_canonical"

# Shopify's figures for each case, worked out by hand (see the comments on the orders in
# shopify_orders.py):
# total_line_items_price, total_discounts, subtotal_price, shipping, total_tax, total_price, and
# the sales (gateway, amount).
CASES = {
    "revenue": (MERCHANT_SHIPPED, {}, {
        "total_line_items_price": "55.00", "total_discounts": "3.00", "subtotal_price": "52.00",
        # 4.99 paid + 2.00 platform shipping discount, and the 0.28 fee line
        "shipping": "7.27", "total_tax": "4.41", "total_price": "63.68",
        "sales": [("TikTok Shop", "58.18"), ("TikTok Shop platform subsidy", "5.50")],
    }),
    "discount": (MERCHANT_SHIPPED, {"platform_discounts": "discount"}, {
        "total_line_items_price": "55.00", "total_discounts": "6.50", "subtotal_price": "48.50",
        "shipping": "5.27", "total_tax": "4.41", "total_price": "58.18",
        "sales": [("TikTok Shop", "58.18")],
    }),
    "platform_fulfilled": (PLATFORM_SHIPPED, {}, {
        "total_line_items_price": "45.00", "total_discounts": "0.00", "subtotal_price": "45.00",
        "shipping": "5.99", "total_tax": "2.97", "total_price": "53.96",
        "sales": [("TikTok Shop", "38.97"), ("TikTok Shop platform subsidy", "14.99")],
    }),
    "platform_fulfilled_discount": (PLATFORM_SHIPPED, {"platform_discounts": "discount"}, {
        "total_line_items_price": "45.00", "total_discounts": "9.00", "subtotal_price": "36.00",
        "shipping": "0.00", "total_tax": "2.97", "total_price": "38.97",
        "sales": [("TikTok Shop", "38.97")],
    }),
    "vat_included": (VAT_INCLUDED, {"taxes_included": True}, {
        "total_line_items_price": "24.00", "total_discounts": "4.00", "subtotal_price": "20.00",
        "shipping": "0.00", "total_tax": "3.33", "total_price": "20.00",
        "sales": [("TikTok Shop", "20.00")],
    }),
    "sample": (SAMPLE, {}, {
        "total_line_items_price": "12.00", "total_discounts": "12.00", "subtotal_price": "0.00",
        "shipping": "0.00", "total_tax": "0.00", "total_price": "0.00",
        "sales": [],  # nothing was paid: the body carries no sale
    }),
}

# The simulator keeps a shipping line's price but drops its tax_lines (simulators/shopify/orders.py
# _shipping_line), so an order with shipping tax comes back short of it in total_tax and
# total_price. Reported; these cases pass once the simulator keeps them.
SHIPPING_TAX_DROPPED = pytest.mark.xfail(
    reason="the Shopify simulator drops shipping_lines[].tax_lines", strict=False)
WITH_SHIPPING_TAX = {"revenue", "discount"}


def dec(value: object) -> Decimal:
    return Decimal(str(value))


def money(order: dict, key: str) -> Decimal:
    return dec(((order["money"].get(key)) or {}).get("amount", "0"))


def invariant(order: dict, options: dict) -> dict:
    """Shopify's figures from the canonical money by the mapping's stated invariant."""
    revenue = options.get("platform_discounts", "revenue") == "revenue"
    subsidy = money(order, "platform_subsidy") if "platform_subsidy" in order["money"] else (
        money(order, "discount_platform") + money(order, "shipping_discount_platform"))
    platform, platform_shipping = money(order, "discount_platform"), money(order, "shipping_discount_platform")
    sales = [("TikTok Shop", money(order, "total"))]
    if revenue and subsidy > 0:
        sales.append(("TikTok Shop platform subsidy", subsidy))
    return {
        "total_line_items_price": money(order, "subtotal_before_discounts"),
        "total_discounts": money(order, "discount_seller") + (0 if revenue else platform),
        "subtotal_price": money(order, "subtotal") + (platform if revenue else 0),
        "shipping": money(order, "shipping") + (platform_shipping if revenue else 0) + money(order, "fees"),
        "total_tax": money(order, "tax"),
        "total_price": money(order, "total") + (subsidy if revenue else 0),
        "sales": [(g, a) for g, a in sales if a > 0],
    }


def figures(created: dict, transactions: list[dict]) -> dict:
    return {
        "total_line_items_price": created["total_line_items_price"],
        "total_discounts": created["total_discounts"],
        "subtotal_price": created["subtotal_price"],
        "shipping": created["total_shipping_price_set"]["shop_money"]["amount"],
        "total_tax": created["total_tax"],
        "total_price": created["total_price"],
        "sales": [(t["gateway"], t["amount"]) for t in transactions if t["kind"] == "sale" and dec(t["amount"]) > 0],
    }


def _params(keys: set[str]) -> list:
    return [pytest.param(name, marks=SHIPPING_TAX_DROPPED if name in keys else ()) for name in CASES]


@pytest.mark.parametrize("case", list(CASES))
def test_lines_discounts_shipping_and_sales_reconcile(shop, case):
    order, options, expected = CASES[case]
    _, created, transactions = create(shop, order, options)
    got = figures(created, transactions)
    for key in ("total_line_items_price", "total_discounts", "subtotal_price", "shipping", "sales"):
        assert got[key] == expected[key], key
    by_formula = invariant(order, options)
    for key in ("total_line_items_price", "total_discounts", "subtotal_price", "shipping"):
        assert dec(got[key]) == by_formula[key], key
    assert [(g, dec(a)) for g, a in got["sales"]] == by_formula["sales"]
    # The sales add up to Shopify's total, so the order is paid exactly, neither short nor over.
    assert sum((dec(a) for _, a in expected["sales"]), Decimal(0)) == dec(expected["total_price"])
    assert created["financial_status"] == "paid"
    assert created["currency"] == order["currency"]


@pytest.mark.parametrize("case", _params(WITH_SHIPPING_TAX))
def test_tax_and_total_reconcile(shop, case):
    order, options, expected = CASES[case]
    _, created, transactions = create(shop, order, options)
    got = figures(created, transactions)
    assert (got["total_tax"], got["total_price"]) == (expected["total_tax"], expected["total_price"])
    by_formula = invariant(order, options)
    assert (dec(got["total_tax"]), dec(got["total_price"])) == (by_formula["total_tax"], by_formula["total_price"])


def test_revenue_keeps_the_platform_discount_in_the_price_and_books_the_subsidy_apart(shop):
    body, created, _ = create(shop, MERCHANT_SHIPPED, {})
    lines = {li["sku"]: li for li in created["line_items"]}
    # The seller's discount only: the platform's 2.00 and 1.50 are revenue in the price.
    assert (lines["TEE-M"]["price"], lines["TEE-M"]["total_discount"]) == ("20.00", "3.00")
    assert (lines["CAP"]["price"], lines["CAP"]["total_discount"]) == ("15.00", "0.00")
    assert [t["price"] for t in lines["TEE-M"]["tax_lines"]] == ["2.89"]
    assert lines["TEE-M"]["tax_lines"][0]["rate"] == 0.0825
    assert lines["TEE-M"]["properties"] == [
        {"name": "_channel_line_ids", "value": "577086512123755123,577086512123755124"}]
    assert [(s["title"], s["price"]) for s in created["shipping_lines"]] == [
        ("Standard shipping", "6.99"), ("Retail delivery fee", "0.28")]
    # What the simulator drops (SHIPPING_TAX_DROPPED) is in the body.
    assert body["order"]["shipping_lines"][0]["tax_lines"] == [{"title": "Sales tax", "price": "0.41", "rate": 0.0825}]
    assert body["order"]["shipping_lines"][1]["tax_lines"] == []


@pytest.mark.xfail(reason="the Shopify simulator names every order #NNNN, ignoring the body's name", strict=False)
def test_the_order_keeps_its_name_so_the_flow_finds_it_again(shop):
    body, created, _ = create(shop, MERCHANT_SHIPPED, {})
    assert body["order"]["name"] == "TT576461413038785752"
    assert created["name"] == "TT576461413038785752"
    found = shop.get(f"{BASE}/orders.json", params={"name": "TT576461413038785752", "status": "any"}).json()
    assert [o["id"] for o in found["orders"]] == [created["id"]]


def test_order_fields_name_tags_notes_and_addresses(shop):
    body, created, _ = create(shop, MERCHANT_SHIPPED, {})
    assert body["order"]["name"] == "TT576461413038785752"
    assert created["source_name"] == "tiktok" and created["source_identifier"] == "576461413038785752"
    assert created["tags"] == "TikTok Shop"
    assert created["note"] == "Please ship asap!"
    assert created["processed_at"] == "2026-03-02T15:04:05Z"
    assert created["email"] == "v2b2V5@chat.seller.tiktok.com"
    assert created["phone"] is None  # the channel masks it
    assert created["note_attributes"] == [
        {"name": "channel", "value": "tiktok_us"},
        {"name": "channel_order_id", "value": "576461413038785752"},
        {"name": "platform_discounts", "value": "revenue"},
        {"name": "platform_subsidy", "value": "5.50"},
        {"name": "platform_discount", "value": "3.50"},
        {"name": "platform_shipping_discount", "value": "2.00"},
        {"name": "payment_method", "value": "CCDC"},
    ]
    expected_address = {
        "first_name": "David", "last_name": "Kong", "name": "David Kong", "company": None,
        "address1": "5800 Bristol Pkwy", "address2": "Suite 100", "city": "Culver City",
        "province": "California", "province_code": "CA", "zip": "90230", "country": None,
        "country_code": "US", "phone": "(+1)213-***-1234", "latitude": None, "longitude": None,
    }
    assert created["shipping_address"] == expected_address
    assert created["billing_address"] == expected_address
    assert created["customer"]["email"] == "v2b2V5@chat.seller.tiktok.com"
    assert (created["customer"]["first_name"], created["customer"]["last_name"]) == ("David", "Kong")
    assert created["fulfillment_status"] is None


def test_platform_fulfilled_order_is_imported_fulfilled_for_the_known_customer(shop):
    body, created, _ = create(shop, PLATFORM_SHIPPED, {})
    assert body["order"]["fulfillment_status"] == "fulfilled"
    assert body["order"]["fulfillments"] == [{"location_id": int(shop.location_id)}]
    assert body["order"]["customer"] == {"id": int(shop.customer_id)}
    assert created["fulfillment_status"] == "fulfilled"
    assert [li["fulfillable_quantity"] for li in created["line_items"]] == [0]
    assert created["customer"]["id"] == int(shop.customer_id)
    assert created["tags"] == "TikTok Shop, fulfilled-by-platform"
    # A buyer with one name field: the whole name is the last name.
    assert (created["shipping_address"]["first_name"], created["shipping_address"]["last_name"]) == (None, "Ann Lee")
    # The free shipping line stays, at what the channel paid for it.
    assert [(s["title"], s["price"]) for s in created["shipping_lines"]] == [("Fulfilled by TikTok", "5.99")]


def test_sample_and_replacement_are_tagged(shop):
    _, sample, _ = create(shop, SAMPLE, {})
    assert sample["tags"] == "TikTok Shop, sample"
    _, replacement, _ = create(shop, VAT_INCLUDED, {"taxes_included": True, "order_tags": ["TikTok Shop", "GB"]})
    assert replacement["tags"] == "TikTok Shop, GB, replacement"
    assert replacement["taxes_included"] is True


def test_a_platform_fulfilled_order_without_a_location_ships_from_the_default_one():
    body = mapped(MAPPING, PLATFORM_SHIPPED, {"variant_ids": {"HOODIE": "1"}})["order"]
    assert body["fulfillment_status"] == "fulfilled" and "fulfillments" not in body
    assert body["inventory_behaviour"] == "bypass"  # the stock sits in the channel's warehouse


def test_an_unknown_platform_discounts_setting_is_a_field_error_not_a_guess():
    result = apply(MAPPING, MERCHANT_SHIPPED, {"variant_ids": {"TEE-M": "1", "CAP": "2"}, "platform_discounts": "Discount"})
    assert [e.path for e in result.errors] == ["order.transactions"]
    assert "'Discount'" in result.errors[0].message and "discount, revenue" in result.errors[0].message


def test_a_sku_without_a_variant_id_is_a_field_error():
    result = apply(MAPPING, MERCHANT_SHIPPED, {"variant_ids": {"TEE-M": "1"}})
    assert [e.path for e in result.errors] == ["order.line_items[1].variant_id"]


def test_an_existing_order_gets_only_its_shipping_address():
    order = copy.deepcopy(MERCHANT_SHIPPED)
    order["shipping_address"]["line2"] = "Suite 200"
    body = mapped(MAPPING, order, {"variant_ids": {}, "remote_id": "5001"})
    assert body == {"order": {"id": 5001, "shipping_address": {
        "first_name": "David", "last_name": "Kong", "name": "David Kong", "company": None,
        "address1": "5800 Bristol Pkwy", "address2": "Suite 200", "city": "Culver City",
        "province": "California", "province_code": "CA", "zip": "90230", "country_code": "US",
        "phone": "(+1)213-***-1234"}}}
