"""TikTok Shop Get Product (202309) documentation sample through the shipped mappings.

The record is the response's `data` object. Expected values are read off the payload by hand:
money as the unpadded decimal text TikTok sends ("110", "117.5"), times from Unix seconds, ids
as text. Then the canonical product goes on to the bodies the catalog_from_tiktok flow writes to
Shopify, and the TikTok bodies are checked not to depend on how TikTok pads its money.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from payload_helpers import apply, canonical_problems, error_fields, load, mapped, needs_payloads

pytestmark = needs_payloads

PRODUCT = "tiktok_shop/get_product_202309_docsample.json"

DESCRIPTION = (
    "<p>Please compare above detailed size with your measurement before purchase.</p>\n<ul> \n  <li>M-Size</li>\n"
    "  <li>XL-Size</li>\n</ul> \n<img src=\"https://p16-oec-va.ibyteimg.com/tos-maliva-i-o3syd03w52-us/"
    "181595ea7d26489284b5667488d708c1~tplv-o3syd03w52-origin-jpeg.jpeg?from=1432613627\" />\n"
)
IMAGE = ("https://p16-oec-va.ibyteimg.com/tos-maliva-i-o3syd03w52-us/6c8519a3663a4d728c4e3c131dc914b4"
         "~tplv-o3syd03w52-resize-jpeg:300:300.jpeg?from=522366036")

VARIANT = {
    "sku": "sku name",
    "title": "Red",
    "options": {"Color": "Red"},
    # tax_exclusive_price "110" (sale_price "117.5" is what the buyer pays)
    "price": {"amount": "110", "currency": "USD"},
    "barcode": "10000000000010",
    "identifier": {"code": "10000000000010", "type": "GTIN"},
    "inventory_quantity": 999,  # one warehouse
    "inventory_tracked": True,
    "external_ids": {"tiktok_shop": "10001"},
}

CANONICAL = {
    "id": "1729592969712207008",
    "external_ids": {"tiktok_shop": "1729592969712207008"},
    "title": "Short Boat Invisible Socks",
    "description_html": DESCRIPTION,
    # blocks on their own lines, blank lines dropped; the <img> has no text
    "description_text": "Please compare above detailed size with your measurement before purchase.\nM-Size\nXL-Size",
    "brand": "brand xxx aaa",
    # the sample's chain holds the leaf only
    "category": {"id": "853000", "name": "Botol & Stoples Penyimpanan", "path": ["Botol & Stoples Penyimpanan"]},
    "status": "archived",  # SELLER_DEACTIVATED
    "attributes": [{"id": "100392", "name": "Occasion", "values": ["Birthday"]}],
    "options": [{"name": "Color", "values": ["Red"]}],
    "images": [{"url": IMAGE, "position": 1}],
    "package": {
        "weight": {"value": "1.32", "unit": "kg"},
        "dimensions": {"length": "10", "width": "10", "height": "10", "unit": "cm"},
    },
    "variants": [VARIANT],
    "created_at": "2009-02-13T23:31:30Z",  # 1234567890
    "updated_at": "2009-02-13T23:31:39Z",  # 1234567899
}


def record() -> dict:
    return load(PRODUCT)["data"]


# ------------------------------------------------------------------ TikTok -> canonical


def test_get_product_sample_whole_canonical_output():
    product = mapped("tiktok_shop.product_to_canonical", record())
    assert product == CANONICAL
    assert canonical_problems("product", product) == []


@pytest.mark.parametrize(("price_field", "amount"), [("tax_exclusive_price", "110"), ("sale_price", "117.5")])
def test_price_field_chooses_between_the_pre_tax_and_the_buyer_price(price_field, amount):
    product = mapped("tiktok_shop.product_to_canonical", record(), {"price_field": price_field})
    assert product["variants"][0]["price"] == {"amount": amount, "currency": "USD"}
    assert "compare_at_price" not in product["variants"][0]


@pytest.mark.parametrize(("unit", "value", "canonical_unit"), [
    ("KILOGRAM", "1.32", "kg"), ("GRAM", "1320", "g"), ("POUND", "2.91", "lb"), ("OUNCE", "46.56", "oz"),
])
def test_package_weight_is_kept_exactly_in_its_unit(unit, value, canonical_unit):
    data = record()
    data["package_weight"] = {"unit": unit, "value": value}
    product = mapped("tiktok_shop.product_to_canonical", data)
    assert product["package"]["weight"] == {"value": value, "unit": canonical_unit}
    assert canonical_problems("product", product) == []


def test_ids_sent_as_json_numbers_come_out_as_their_exact_digits():
    data = record()
    data["id"] = 1729592969712207008  # above 2^53: a float would give ...7000
    data["skus"][0]["id"] = 1729592969712207234
    data["category_chains"][0]["id"] = 853000
    data["product_attributes"][0]["id"] = 100392
    product = mapped("tiktok_shop.product_to_canonical", data)
    assert product["id"] == product["external_ids"]["tiktok_shop"] == "1729592969712207008"
    assert product["variants"][0]["external_ids"] == {"tiktok_shop": "1729592969712207234"}
    assert product["category"]["id"] == "853000"
    assert product["attributes"][0]["id"] == "100392"


def _second_sku(data: dict, seller_sku: str) -> dict:
    extra = {**data["skus"][0], "id": "10002", "seller_sku": seller_sku}
    extra["sales_attributes"] = [{**data["skus"][0]["sales_attributes"][0], "value_id": "100001", "value_name": "Blue"}]
    data["skus"].append(extra)
    return data


def test_a_sku_without_seller_sku_is_skipped_and_reported_by_default():
    product = mapped("tiktok_shop.product_to_canonical", _second_sku(record(), ""))
    assert product["variants"] == [VARIANT]
    assert product["options"] == [{"name": "Color", "values": ["Red"]}]  # Blue only had the skipped SKU
    assert product["skipped_variants"] == [
        {"reason": "no_sku", "title": "Blue", "options": {"Color": "Blue"}, "external_ids": {"tiktok_shop": "10002"}},
    ]
    assert canonical_problems("product", product) == []


def test_a_sku_without_seller_sku_rejects_the_product_when_asked():
    result = apply("tiktok_shop.product_to_canonical", _second_sku(record(), ""), {"variants_without_sku": "reject"})
    assert error_fields(result) == ["variants[1].sku"]


@pytest.mark.parametrize("setting", ["skip", "reject"])
def test_a_product_without_any_seller_sku_is_an_error(setting):
    data = record()
    data["skus"][0]["seller_sku"] = ""
    result = apply("tiktok_shop.product_to_canonical", data, {"variants_without_sku": setting})
    assert error_fields(result) == ["variants[0].sku"]


# ------------------------------------------------------------------ canonical -> Shopify (catalog_from_tiktok)

SHOPIFY_VARIANT_ID = "44000000000001"
# Location 655441491 and inventory item 808950810 are the ids of the Shopify inventory-level samples.
SHOPIFY_REFS = {"sku name": {"id": SHOPIFY_VARIANT_ID, "inventory_item_id": "808950810"}}


def test_sample_to_shopify_create_body():
    body = mapped("shopify.product_from_canonical", CANONICAL)
    assert body == {"product": {
        "title": "Short Boat Invisible Socks",
        "body_html": DESCRIPTION,
        "vendor": "brand xxx aaa",
        "product_type": "Botol & Stoples Penyimpanan",
        "status": "draft",
        "options": [{"name": "Color", "values": ["Red"]}],
        "variants": [{
            "sku": "sku name",
            "price": "110.00",
            "compare_at_price": "",
            "barcode": "10000000000010",
            "option1": "Red",
            "weight": "1.32",  # the package weight, one per TikTok product
            "weight_unit": "kg",
            "inventory_management": "shopify",
        }],
        "images": [{"src": IMAGE}],
    }}


def test_sample_in_grams_to_shopify_keeps_grams():
    data = record()
    data["package_weight"] = {"unit": "GRAM", "value": "1320"}
    body = mapped("shopify.product_from_canonical", mapped("tiktok_shop.product_to_canonical", data))
    assert (body["product"]["variants"][0]["weight"], body["product"]["variants"][0]["weight_unit"]) == ("1320", "g")


def test_sample_to_shopify_price_and_stock_bodies():
    prices = mapped("shopify.variant_prices", CANONICAL, {"sku_ids": {"sku name": SHOPIFY_VARIANT_ID}})
    assert prices == {"variants": [{"variant": {"id": 44000000000001, "price": "110.00", "compare_at_price": ""}}]}
    stock = mapped("shopify.inventory_levels", CANONICAL, {"location_id": 655441491, "sku_refs": SHOPIFY_REFS})
    assert stock == {"levels": [{"location_id": 655441491, "inventory_item_id": 808950810, "available": 999}]}


def test_stock_body_has_the_keys_of_the_documented_set_request():
    # inventory_levels_set_response_2025-01_docsample.source.txt gives the request it answers:
    # {"location_id": 655441491, "inventory_item_id": 808950810, "available": 42}
    answer = load("shopify/inventory_levels_set_response_2025-01_docsample.json")["inventory_level"]
    stock = mapped("shopify.inventory_levels", CANONICAL, {"location_id": 655441491, "sku_refs": SHOPIFY_REFS})
    level = stock["levels"][0]
    assert set(level) == {"location_id", "inventory_item_id", "available"}
    assert (level["location_id"], level["inventory_item_id"]) == (answer["location_id"], answer["inventory_item_id"])


# ------------------------------------------------------------------ TikTok bodies and unpadded money

MONEY = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")


@pytest.mark.parametrize(("amount", "listed", "currency", "sent", "sent_list"), [
    ("110", "130", "USD", "110.00", "130.00"),
    ("117.5", "129.9", "USD", "117.50", "129.90"),
    ("72000", "85000", "IDR", None, None),  # the scale an IDR body needs is not documented
])
def test_tiktok_bodies_take_unpadded_amounts(amount, listed, currency, sent, sent_list):
    product = mapped("tiktok_shop.product_to_canonical", record())
    product["variants"][0]["price"] = {"amount": amount, "currency": currency}
    product["variants"][0]["compare_at_price"] = {"amount": listed, "currency": currency}
    context = {"sku_ids": {"sku name": "10001"}, "warehouse_id": "6966568648651605766",
               "category_map": {"Botol & Stoples Penyimpanan": "853000"}, "image_uris": {IMAGE: "tos-socks"}}
    create = mapped("tiktok_shop.product_from_canonical", product, context)["skus"][0]
    update = mapped("tiktok_shop.price_update", product, context)["skus"][0]
    for body in (create, update):
        assert body["id"] == "10001"
        assert body["price"]["currency"] == body["list_price"]["currency"] == currency
        assert MONEY.match(body["price"]["amount"]) and MONEY.match(body["list_price"]["amount"])
        assert Decimal(body["price"]["amount"]) == Decimal(amount)
        assert Decimal(body["list_price"]["amount"]) == Decimal(listed)
        if sent:
            assert (body["price"]["amount"], body["list_price"]["amount"]) == (sent, sent_list)


def test_sample_back_to_a_tiktok_edit_body():
    context = {"sku_ids": {"sku name": "10001"}, "warehouse_id": "6966568648651605766",
               "category_map": {"Botol & Stoples Penyimpanan": "853000"}, "image_uris": {IMAGE: "tos-socks"}}
    body = mapped("tiktok_shop.product_from_canonical", CANONICAL, context)
    assert body == {
        "title": "Short Boat Invisible Socks",
        "description": DESCRIPTION,
        "category_id": "853000",
        "category_version": "v2",
        "external_product_id": "1729592969712207008",
        "main_images": [{"uri": "tos-socks"}],
        "product_attributes": [],
        "package_weight": {"value": "1.32", "unit": "KILOGRAM"},
        "package_dimensions": {"length": "10", "width": "10", "height": "10", "unit": "CENTIMETER"},
        "skus": [{
            "id": "10001",
            "seller_sku": "sku name",
            "external_sku_id": "sku name",
            "price": {"amount": "110.00", "currency": "USD"},
            "inventory": [{"warehouse_id": "6966568648651605766", "quantity": 999}],
            "sales_attributes": [{"name": "Color", "value_name": "Red"}],
            "identifier_code": {"code": "10000000000010", "type": "GTIN"},
        }],
    }
    stock = mapped("tiktok_shop.inventory_update", CANONICAL, context)
    assert stock == {"skus": [{"id": "10001", "inventory": [{"warehouse_id": "6966568648651605766", "quantity": 999}]}]}


@pytest.mark.parametrize(("unit", "value", "kilograms", "pounds"), [
    ("GRAM", "1320", "1.32", "2.91"),  # 1320 / 453.59237 = 2.9101...
    ("POUND", "2.91", "1.32", "2.91"),  # 2.91 x 0.45359237 = 1.3199...
    ("OUNCE", "46.56", "1.32", "2.91"),  # 46.56 x 28.349523125 g = 1319.95 g
])
def test_a_weight_read_in_any_tiktok_unit_is_converted_for_the_body(unit, value, kilograms, pounds):
    data = record()
    data["package_weight"] = {"unit": unit, "value": value}
    product = mapped("tiktok_shop.product_to_canonical", data)
    context = {"category_map": {"Botol & Stoples Penyimpanan": "853000"}, "image_uris": {IMAGE: "tos-socks"}}
    body = mapped("tiktok_shop.product_from_canonical", product, context)
    assert body["package_weight"] == {"value": kilograms, "unit": "KILOGRAM"}
    body = mapped("tiktok_shop.product_from_canonical", product, {**context, "package_weight_unit": "POUND"})
    assert body["package_weight"] == {"value": pounds, "unit": "POUND"}
