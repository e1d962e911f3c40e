"""Shopify REST product bodies from ../shared/payloads/shopify through the shipped mappings.

Every expected value below was read off the payload by hand (see each test's source file), not
taken from a mapping's output: ids as the exact digits of the JSON number, prices as the decimal
text Shopify sends, times moved from the shop's offset to UTC.
"""

from __future__ import annotations

import pytest
from payload_helpers import apply, canonical_problems, error_fields, load, mapped, needs_payloads

pytestmark = needs_payloads

REST = "shopify/product_get_2025-01_docsample.json"
LEGACY = "shopify/product_legacy_python_api_fixture.json"

IPOD_BODY = (
    "<p>It's the small iPod with one very big idea: Video. Now the world's most popular music player, available "
    "in 4GB and 8GB models, lets you enjoy TV shows, movies, video podcasts, and more. The larger, brighter display "
    "means amazing picture quality. In six eye-catching colors, iPod nano is stunning all around. And with models "
    "starting at just $149, little speaks volumes.</p>"
)
IPOD_TEXT = IPOD_BODY.removeprefix("<p>").removesuffix("</p>")
CDN = "https://cdn.shopify.com/s/files/1/0005/4838/0009/products/"


def _rest_variant(sku: str, color: str, position: int, variant_id: str, quantity: int) -> dict:
    # 2025-01 sample: every variant 199.00, 1.25 lb, barcode 1234_<color>, tracked by Shopify,
    # policy continue, taxable, ships; inventory_item_id equals the variant id in this sample.
    return {
        "sku": sku,
        "title": color,
        "position": position,
        "options": {"Color": color},
        "price": {"amount": "199.00", "currency": "USD"},
        "barcode": f"1234_{color.lower()}",
        "weight": {"value": "1.25", "unit": "lb"},
        "inventory_quantity": quantity,
        "inventory_tracked": True,
        "allow_backorder": True,
        "taxable": True,
        "requires_shipping": True,
        "external_ids": {"shopify": variant_id, "shopify_inventory_item": variant_id},
    }


REST_CANONICAL = {
    "id": "632910392",
    "external_ids": {"shopify": "632910392"},
    "handle": "ipod-nano",
    "title": "IPod Nano - 8GB",
    "description_html": IPOD_BODY,
    "description_text": IPOD_TEXT,
    "brand": "Apple",
    "vendor": "Apple",
    "category": {"name": "Cult Products"},
    "status": "active",
    "tags": ["Emotive", "Flash Memory", "MP3", "Music"],
    "options": [{"name": "Color", "values": ["Pink", "Red", "Green", "Black"]}],
    "images": [
        # alt is null on all three: left out. Images 1 and 3 share a file in the sample.
        {"url": CDN + "ipod-nano.png?v=1735835399", "position": 1, "width": 123, "height": 456},
        {"url": CDN + "ipod-nano-2.png?v=1735835399", "position": 2, "width": 123, "height": 456},
        {"url": CDN + "ipod-nano.png?v=1735835399", "position": 3, "width": 123, "height": 456},
    ],
    "package": {"weight": {"value": "1.25", "unit": "lb"}},
    "variants": [
        # Pink's image_id 562641783 is image 2.
        {**_rest_variant("IPOD2008PINK", "Pink", 1, "808950810", 10), "image_url": CDN + "ipod-nano-2.png?v=1735835399"},
        _rest_variant("IPOD2008RED", "Red", 2, "49148385", 20),
        _rest_variant("IPOD2008GREEN", "Green", 3, "39072856", 30),
        _rest_variant("IPOD2008BLACK", "Black", 4, "457924702", 40),
    ],
    # 2025-01-02T11:29:59-05:00
    "created_at": "2025-01-02T16:29:59Z",
    "updated_at": "2025-01-02T16:29:59Z",
}


def _legacy_variant(sku: str, color: str, position: int, variant_id: str, quantity: int) -> dict:
    # 2014 fixture: no weight/weight_unit/inventory_item_id/barcode, grams 200, option1 is the color.
    return {
        "sku": sku,
        "title": color,
        "position": position,
        "options": {"Title": color},
        "price": {"amount": "199.00", "currency": "USD"},
        "weight": {"value": "200", "unit": "g"},
        "inventory_quantity": quantity,
        "inventory_tracked": True,
        "allow_backorder": True,
        "taxable": True,
        "requires_shipping": True,
        "external_ids": {"shopify": variant_id},
    }


LEGACY_CANONICAL = {
    "id": "632910392",
    "external_ids": {"shopify": "632910392"},
    "handle": "ipod-nano",
    "title": "IPod Nano - 8GB",
    "description_html": IPOD_BODY,
    "description_text": IPOD_TEXT,
    "brand": "Apple",
    "vendor": "Apple",
    "category": {"name": "Cult Products"},
    # No status field; published_at 2007-12-31T19:00:00-05:00 says it was live.
    "status": "active",
    "tags": ["Emotive", "Flash Memory", "MP3", "Music"],
    # The option is named without values; they are the variants' option1, once each, in order.
    "options": [{"name": "Title", "values": ["Pink", "Red", "Green", "Black"]}],
    "images": [{"url": "http://static.shopify.com/s/files/1/6909/3384/products/ipod-nano.png?0", "position": 1}],
    "package": {"weight": {"value": "200", "unit": "g"}},
    "variants": [
        _legacy_variant("IPOD2008PINK", "Pink", 1, "808950810", 10),
        _legacy_variant("IPOD2008RED", "Red", 2, "49148385", 20),
        _legacy_variant("IPOD2008GREEN", "Green", 3, "39072856", 30),
        _legacy_variant("IPOD2008BLACK", "Black", 4, "457924702", 40),
    ],
    # 2011-10-20T14:05:13-04:00
    "created_at": "2011-10-20T18:05:13Z",
    "updated_at": "2011-10-20T18:05:13Z",
}


# ------------------------------------------------------------------ Shopify -> canonical


@pytest.mark.parametrize("setting", [None, "skip", "reject"])
def test_rest_2025_01_product_whole_canonical_output(setting):
    context = {"variants_without_sku": setting} if setting else {}
    product = mapped("shopify.product_to_canonical", load(REST)["product"], context)
    assert product == REST_CANONICAL
    assert canonical_problems("product", product) == []


def test_legacy_product_reads_grams_option_values_from_variants_and_publication_as_status():
    product = mapped("shopify.product_to_canonical", load(LEGACY)["product"])
    assert product == LEGACY_CANONICAL
    assert canonical_problems("product", product) == []


def test_store_currency_comes_from_the_context():
    product = mapped("shopify.product_to_canonical", load(REST)["product"], {"currency": "CAD"})
    assert {v["price"]["currency"] for v in product["variants"]} == {"CAD"}


def test_a_variant_with_a_null_sku_is_skipped_and_reported_by_default():
    record = load(REST)["product"]
    record["variants"][1]["sku"] = None  # Red, as Shopify's own webhook samples send it
    product = mapped("shopify.product_to_canonical", record)
    assert [v["sku"] for v in product["variants"]] == ["IPOD2008PINK", "IPOD2008GREEN", "IPOD2008BLACK"]
    assert product["skipped_variants"] == [
        {"reason": "no_sku", "title": "Red", "position": 2, "options": {"Color": "Red"},
         "external_ids": {"shopify": "49148385"}},
    ]
    assert canonical_problems("product", product) == []


def test_a_variant_with_a_null_sku_rejects_the_product_when_asked():
    record = load(REST)["product"]
    record["variants"][1]["sku"] = None
    result = apply("shopify.product_to_canonical", record, {"variants_without_sku": "reject"})
    assert error_fields(result) == ["variants[1].sku"]
    assert "skipped_variants" not in result.output


@pytest.mark.parametrize("setting", ["skip", "reject"])
def test_a_product_without_any_sku_is_an_error_on_every_sku(setting):
    record = load(REST)["product"]
    for variant in record["variants"]:
        variant["sku"] = None
    result = apply("shopify.product_to_canonical", record, {"variants_without_sku": setting})
    assert error_fields(result) == [f"variants[{i}].sku" for i in range(4)]
    assert {e.message for e in result.errors} == {"required value is missing or empty"}


# ------------------------------------------------------------------ canonical -> TikTok Shop (catalog_to_tiktok)

TIKTOK_CONTEXT = {
    "category_map": {"Cult Products": "601226"},
    "image_uris": {CDN + "ipod-nano.png?v=1735835399": "tos-nano", CDN + "ipod-nano-2.png?v=1735835399": "tos-nano-2"},
    "warehouse_id": "7068517275539719942",
}
TIKTOK_SKU_IDS = {"IPOD2008PINK": "1729000000000000001", "IPOD2008RED": "1729000000000000002",
                  "IPOD2008GREEN": "1729000000000000003", "IPOD2008BLACK": "1729000000000000004"}


def _tiktok_sku(sku: str, color: str, quantity: int) -> dict:
    return {
        "seller_sku": sku,
        "external_sku_id": sku,
        "price": {"amount": "199.00", "currency": "USD"},
        "inventory": [{"warehouse_id": "7068517275539719942", "quantity": quantity}],
        "sales_attributes": [{"name": "Color", "value_name": color}],
    }


def test_rest_product_to_tiktok_create_body():
    body = mapped("tiktok_shop.product_from_canonical", REST_CANONICAL, TIKTOK_CONTEXT)
    assert body == {
        "title": "IPod Nano - 8GB",
        "description": IPOD_BODY,
        "category_id": "601226",
        "category_version": "v2",
        "external_product_id": "632910392",
        "main_images": [{"uri": "tos-nano"}, {"uri": "tos-nano-2"}, {"uri": "tos-nano"}],
        "product_attributes": [],
        # 1.25 lb = 566.9904625 g = 0.5669904625 kg -> 0.57
        "package_weight": {"value": "0.57", "unit": "KILOGRAM"},
        "skus": [
            _tiktok_sku("IPOD2008PINK", "Pink", 10),
            _tiktok_sku("IPOD2008RED", "Red", 20),
            _tiktok_sku("IPOD2008GREEN", "Green", 30),
            _tiktok_sku("IPOD2008BLACK", "Black", 40),
        ],
    }


def test_rest_product_to_tiktok_body_in_pounds_keeps_the_weight():
    body = mapped("tiktok_shop.product_from_canonical", REST_CANONICAL, {**TIKTOK_CONTEXT, "package_weight_unit": "POUND"})
    assert body["package_weight"] == {"value": "1.25", "unit": "POUND"}


def test_rest_product_to_tiktok_price_and_stock_bodies():
    prices = mapped("tiktok_shop.price_update", REST_CANONICAL, {"sku_ids": TIKTOK_SKU_IDS})
    assert prices == {"skus": [
        {"id": "1729000000000000001", "price": {"amount": "199.00", "currency": "USD"}},
        {"id": "1729000000000000002", "price": {"amount": "199.00", "currency": "USD"}},
        {"id": "1729000000000000003", "price": {"amount": "199.00", "currency": "USD"}},
        {"id": "1729000000000000004", "price": {"amount": "199.00", "currency": "USD"}},
    ]}
    stock = mapped("tiktok_shop.inventory_update", REST_CANONICAL,
                   {"sku_ids": TIKTOK_SKU_IDS, "warehouse_id": "7068517275539719942"})
    assert stock == {"skus": [
        {"id": "1729000000000000001", "inventory": [{"warehouse_id": "7068517275539719942", "quantity": 10}]},
        {"id": "1729000000000000002", "inventory": [{"warehouse_id": "7068517275539719942", "quantity": 20}]},
        {"id": "1729000000000000003", "inventory": [{"warehouse_id": "7068517275539719942", "quantity": 30}]},
        {"id": "1729000000000000004", "inventory": [{"warehouse_id": "7068517275539719942", "quantity": 40}]},
    ]}
