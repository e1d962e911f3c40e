"""Shopify products/update webhook bodies from ../shared/payloads/shopify through shopify.product_to_canonical.

Expected values are read off the payloads by hand. Two of the three bodies are anonymised (every
string "example string", every number 123): they are used for their shape, and where a test needs
a value the anonymiser destroyed (a price) it sets one and says so.

From API 2024-07 on, variants in this webhook carry no weight, weight_unit, grams or
inventory_management (the 2025-01 and 2025-04 bodies below; 2023-10 still has them). A canonical
product read from such a body must leave those fields out, never say "weight 0" or "not tracked".
"""

from __future__ import annotations

import pytest
from payload_helpers import apply, canonical_problems, error_fields, load, mapped, needs_payloads

pytestmark = needs_payloads

DOC_2025_01 = "shopify/webhook_products_update_2025-01_docsample.json"
REAL_2025_04 = "shopify/webhook_products_update_2025-04_real_anonymized.json"
REAL_2023_10 = "shopify/webhook_products_update_2023-10_real_anonymized.json"
REST = "shopify/product_get_2025-01_docsample.json"

# Read off the samples: what a REST 2025-01 variant has and a 2025-04 webhook variant has not.
DROPPED_FROM_WEBHOOK_VARIANTS = {
    "fulfillment_service", "grams", "inventory_management", "presentment_prices", "requires_shipping",
    "weight", "weight_unit",
}
# Canonical variant fields that come from those keys alone.
UNKNOWN_IN_WEBHOOK = {"weight", "inventory_tracked", "requires_shipping"}


def test_the_samples_show_which_variant_keys_webhooks_dropped():
    rest = set(load(REST)["product"]["variants"][0])
    assert rest - set(load(REAL_2025_04)["variants"][0]) == DROPPED_FROM_WEBHOOK_VARIANTS
    assert rest - set(load(DOC_2025_01)["variants"][0]) == DROPPED_FROM_WEBHOOK_VARIANTS
    assert {"weight", "weight_unit", "grams", "inventory_management"} <= set(load(REAL_2023_10)["variants"][0])


# ------------------------------------------------------------------ 2025-01 (shopify.dev example)


@pytest.mark.parametrize("setting", ["skip", "reject"])
def test_2025_01_sample_as_sent_has_no_sku_at_all_so_it_is_an_error_on_both_skus(setting):
    result = apply("shopify.product_to_canonical", load(DOC_2025_01), {"variants_without_sku": setting})
    assert error_fields(result) == ["variants[0].sku", "variants[1].sku"]
    assert "skipped_variants" not in result.output


def _tee_variant(sku: str, title: str, position: int, variant_id: str, quantity: int) -> dict:
    return {
        "sku": sku,
        "title": title,
        "position": position,
        # the sample lists no options (options: []), so option1 has no name to go under
        "options": {},
        "price": {"amount": "19.99", "currency": "USD"},
        "compare_at_price": {"amount": "24.99", "currency": "USD"},
        "inventory_quantity": quantity,
        "allow_backorder": False,  # inventory_policy deny
        "taxable": True,
        # inventory_item_id is null in the sample: no inventory item id
        "external_ids": {"shopify": variant_id},
    }


# ids are the JSON numbers' exact digits (the scraper rounded them above 2^53; Shopify sends the
# exact integer, which is read the same way).
SMALL = _tee_variant("EX-TEE-S", "Small", 1, "642667041472714000", 75)
MEDIUM = _tee_variant("EX-TEE-M", "Medium", 2, "757650484644203900", 50)


def test_2025_01_sample_with_skus_whole_output_and_nothing_about_weight_or_tracking():
    record = load(DOC_2025_01)
    record["variants"][0]["sku"], record["variants"][1]["sku"] = "EX-TEE-S", "EX-TEE-M"  # set by the test
    product = mapped("shopify.product_to_canonical", record)
    assert product == {
        "id": "788032119674292900",
        "external_ids": {"shopify": "788032119674292900"},
        "handle": "example-t-shirt",
        "title": "Example T-Shirt",
        "description_html": "An example T-Shirt",
        "description_text": "An example T-Shirt",
        "brand": "Acme",
        "vendor": "Acme",
        "category": {"name": "Shirts"},
        "status": "active",
        "tags": ["example", "mens", "t-shirt"],
        "options": [],
        "images": [],
        # no package: the variants carry no weight
        "variants": [SMALL, MEDIUM],
        # created_at is null; updated_at 2021-12-31T19:00:00-05:00
        "updated_at": "2022-01-01T00:00:00Z",
    }
    assert canonical_problems("product", product) == []


def test_2025_01_sample_with_one_sku_skips_and_reports_the_other():
    record = load(DOC_2025_01)
    record["variants"][1]["sku"] = "EX-TEE-M"  # set by the test; Small keeps "sku": null
    product = mapped("shopify.product_to_canonical", record)
    assert product["variants"] == [MEDIUM]
    assert product["skipped_variants"] == [
        {"reason": "no_sku", "title": "Small", "position": 1, "options": {}, "external_ids": {"shopify": "642667041472714000"}},
    ]
    assert canonical_problems("product", product) == []

    rejected = apply("shopify.product_to_canonical", record, {"variants_without_sku": "reject"})
    assert error_fields(rejected) == ["variants[0].sku"]


# ------------------------------------------------------------------ 2025-04 (real shop, anonymised)


def test_2025_04_as_sent_fails_only_on_the_anonymised_price_and_invents_no_weight_or_tracking():
    result = apply("shopify.product_to_canonical", load(REAL_2025_04))
    assert [(e.path, e.message) for e in result.errors] == [
        ("variants[0].price.amount", "not a decimal number: 'example string'"),
    ]
    assert "package" not in result.output
    assert not UNKNOWN_IN_WEBHOOK & set(result.output["variants"][0])


def test_2025_04_with_a_price_maps_to_a_valid_product_without_weight_or_tracking():
    record = load(REAL_2025_04)
    record["variants"][0]["price"] = "19.99"  # the anonymiser replaced it with "example string"
    product = mapped("shopify.product_to_canonical", record)
    assert product == {
        "id": "123",
        "external_ids": {"shopify": "123"},
        "handle": "example string",
        "title": "example string",
        "description_html": "example string",
        "description_text": "example string",
        "brand": "example string",
        "vendor": "example string",
        "category": {"name": "example string"},  # product_type, not the taxonomy category object
        "status": "draft",  # "example string" is no Shopify status
        "tags": ["example string"],
        "options": [{"name": "example string", "values": ["example string"]}],
        "images": [{"url": "https://www.example.com/", "position": 123, "width": 123, "height": 123,
                    "alt": "example string"}],
        "variants": [{
            "sku": "example string",
            "title": "example string",
            "position": 123,
            # option2 and option3 have no option to name them; option1 goes under the one option
            "options": {"example string": "example string"},
            "price": {"amount": "19.99", "currency": "USD"},
            "barcode": "example string",
            "inventory_quantity": 123,
            "allow_backorder": False,
            "taxable": True,
            "external_ids": {"shopify": "123", "shopify_inventory_item": "123"},
        }],
        # "2019-01-01 00:00:00.000Z"
        "created_at": "2019-01-01T00:00:00Z",
        "updated_at": "2019-01-01T00:00:00Z",
    }
    assert canonical_problems("product", product) == []


def test_a_webhook_says_nothing_a_rest_read_of_the_same_product_contradicts():
    """The REST sample cut to the webhook's shape: every field either matches or is absent."""
    full = load(REST)["product"]
    webhook = load(REST)["product"]
    for variant in webhook["variants"]:
        for key in DROPPED_FROM_WEBHOOK_VARIANTS:
            del variant[key]
    from_rest = mapped("shopify.product_to_canonical", full)
    from_hook = mapped("shopify.product_to_canonical", webhook)
    assert "package" not in from_hook
    for rest_variant, hook_variant in zip(from_rest["variants"], from_hook["variants"], strict=True):
        assert set(rest_variant) - set(hook_variant) == UNKNOWN_IN_WEBHOOK
        assert {k: rest_variant[k] for k in hook_variant} == hook_variant
    assert set(from_rest) - set(from_hook) == {"package"}
    assert {k: from_rest[k] for k in from_hook if k != "variants"} == {k: v for k, v in from_hook.items() if k != "variants"}


# ------------------------------------------------------------------ 2023-10 (real shop, anonymised)


@pytest.mark.parametrize("setting", ["skip", "reject"])
def test_2023_10_as_sent_has_ten_variants_without_sku_an_error_on_each(setting):
    result = apply("shopify.product_to_canonical", load(REAL_2023_10), {"variants_without_sku": setting})
    assert [p for p in error_fields(result) if p.endswith(".sku")] == [f"variants[{i}].sku" for i in range(10)]
    # the only other errors are the anonymised prices
    assert {e.message for e in result.errors if not e.path.endswith(".sku")} == {"not a decimal number: 'example string'"}


def test_2023_10_with_some_skus_keeps_weight_and_tracking_and_reports_the_rest():
    record = load(REAL_2023_10)
    for index, variant in enumerate(record["variants"]):
        variant["price"] = "10.00"  # anonymised prices and units replaced by the test
        variant["weight_unit"] = "kg"
        if index < 4:
            variant["sku"] = f"EX-{index}"
    product = mapped("shopify.product_to_canonical", record)
    assert [v["sku"] for v in product["variants"]] == ["EX-0", "EX-1", "EX-2", "EX-3"]
    for variant in product["variants"]:
        # weight 123 with its unit, inventory_management a string (tracked), requires_shipping true
        assert variant["weight"] == {"value": "123", "unit": "kg"}
        assert variant["inventory_tracked"] is True
        assert variant["requires_shipping"] is True
        assert variant["taxable"] is False
        assert variant["options"] == {"example string": "example string"}
    assert product["package"] == {"weight": {"value": "123", "unit": "kg"}}
    assert product["skipped_variants"] == [
        {"reason": "no_sku", "title": "example string", "position": 123,
         "options": {"example string": "example string"}, "external_ids": {"shopify": "123"}},
    ] * 6
    assert product["options"] == [
        {"name": "example string", "values": ["example string"] * 4},
        {"name": "example string", "values": ["example string"] * 5},
        {"name": "example string", "values": ["example string"] * 2},
    ]
    assert product["images"] == []
    assert product["status"] == "draft"  # "example string" is no Shopify status
    assert canonical_problems("product", product) == []
