"""The demo catalog generator: deterministic, realistic, and broken only where it says so."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import pytest

from simulators.catalog import (
    IMAGE_HOST,
    INVALID_REASONS,
    INVALID_TAG_PREFIX,
    generate_category_map,
    generate_shopify_products,
    invalid_reason,
)

DECIMAL = re.compile(r"^-?\d+\.\d{2}$")


@pytest.fixture(scope="module")
def catalog() -> list[dict]:
    return generate_shopify_products(300, seed=42)


def test_same_seed_same_catalog():
    assert generate_shopify_products(60, seed=3) == generate_shopify_products(60, seed=3)


def test_different_seed_different_catalog():
    assert generate_shopify_products(60, seed=3) != generate_shopify_products(60, seed=4)


def test_size_and_edge_cases():
    assert generate_shopify_products(0, seed=1) == []
    assert len(generate_shopify_products(17, seed=1)) == 17
    with pytest.raises(ValueError):
        generate_shopify_products(5, seed=1, invalid_share=1.5)
    with pytest.raises(ValueError):
        generate_shopify_products(5, seed=1, max_variants=0)


@pytest.mark.parametrize("max_variants", [1, 5, 20, 60])
def test_variant_counts_stay_within_bounds(max_variants):
    products = generate_shopify_products(150, seed=9, max_variants=max_variants)
    counts = [len(p["variants"]) for p in products]
    assert min(counts) >= 1
    assert max(counts) <= max_variants
    if max_variants >= 20:
        assert max(counts) > 10  # large products do occur


def test_variants_are_the_cartesian_product_of_options(catalog):
    for product in catalog:
        options = product["options"]
        assert 1 <= len(options) <= 3
        expected = 1
        for option in options:
            expected *= len(option["values"])
        assert len(product["variants"]) == expected
        combos = {tuple(v[f"option{k}"] for k in range(1, len(options) + 1)) for v in product["variants"]}
        assert len(combos) == expected
        for variant in product["variants"]:
            for k in range(len(options) + 1, 4):
                assert variant[f"option{k}"] is None


def test_products_look_like_shopify_rest(catalog):
    for product in catalog:
        assert {
            "title",
            "body_html",
            "vendor",
            "product_type",
            "handle",
            "tags",
            "options",
            "images",
            "variants",
        } <= (product.keys())
        assert product["body_html"].startswith("<p>")
        assert isinstance(product["tags"], str)
        for image in product["images"]:
            assert image["src"].startswith(f"{IMAGE_HOST}/")
        for variant in product["variants"]:
            assert isinstance(variant["price"], str) and DECIMAL.match(variant["price"])
            assert variant["compare_at_price"] is None or DECIMAL.match(variant["compare_at_price"])
            assert variant["weight_unit"] in {"g", "kg", "lb", "oz"}
            assert isinstance(variant["grams"], int)
            assert isinstance(variant["inventory_quantity"], int) and variant["inventory_quantity"] >= 0
    assert len({p["handle"] for p in catalog}) == len(catalog)


def test_skus_unique_except_planted_duplicates(catalog):
    owners: dict[str, set[int]] = {}
    for index, product in enumerate(catalog):
        for variant in product["variants"]:
            owners.setdefault(variant["sku"], set()).add(index)
    for index, product in enumerate(catalog):
        reason = invalid_reason(product)
        skus = [v["sku"] for v in product["variants"]]
        assert len(skus) == len(set(skus)), "no product repeats a SKU within itself"
        for sku in skus:
            if sku == "" and reason == "empty_sku":
                continue
            shared = owners[sku] - {index}
            if reason == "duplicate_sku":
                continue
            # a SKU may only be shared with a product that duplicated it on purpose
            assert all(invalid_reason(catalog[j]) == "duplicate_sku" for j in shared), sku
        if reason == "duplicate_sku":
            assert any(owners[s] - {index} for s in skus), "the duplicate must collide with another product"
            assert any(invalid_reason(catalog[j]) is None for s in skus for j in owners[s] - {index}), (
                "the duplicate copies a valid product's SKU"
            )


def test_valid_skus_follow_the_pattern(catalog):
    pattern = re.compile(r"^[A-Z]{3,4}-[A-Z]{3,4}\d{3,}(-[A-Z0-9]{1,4})*$")
    for product in catalog:
        if invalid_reason(product) is None:
            assert all(pattern.match(v["sku"]) for v in product["variants"])


@pytest.mark.parametrize(("n", "share"), [(300, 0.1), (200, 0.25), (50, 0.0), (40, 1.0)])
def test_invalid_share_is_as_asked(n, share):
    products = generate_shopify_products(n, seed=11, invalid_share=share)
    invalid = [p for p in products if invalid_reason(p)]
    assert abs(len(invalid) - n * share) <= 1


def test_every_reason_occurs_and_each_product_has_one_tag(catalog):
    reasons = Counter()
    for product in catalog:
        tags = [t.strip() for t in product["tags"].split(",")]
        marked = [t for t in tags if t.startswith(INVALID_TAG_PREFIX)]
        assert len(marked) <= 1
        if marked:
            reason = marked[0].removeprefix(INVALID_TAG_PREFIX)
            assert reason in INVALID_REASONS
            reasons[reason] += 1
    assert set(reasons) == set(INVALID_REASONS)


def _defect(product: dict) -> set[str]:
    """Recompute which listing rules a product breaks, independently of its tags."""
    found = set()
    variants = product["variants"]
    if any(v["sku"] == "" for v in variants):
        found.add("empty_sku")
    if any(Decimal(v["price"]) <= 0 for v in variants):
        found.add("non_positive_price")
    if not product["images"]:
        found.add("no_images")
    if len(product["title"]) > 255:
        found.add("title_too_long")
    if all(v["grams"] == 0 and v["weight"] == 0 for v in variants):
        found.add("zero_weight")
    return found


def test_tags_match_the_actual_defects(catalog):
    for product in catalog:
        reason = invalid_reason(product)
        defects = _defect(product)
        if reason is None:
            assert defects == set(), product["title"]
        elif reason == "duplicate_sku":
            assert defects == set()
        else:
            assert defects == {reason}, (reason, defects)


def test_category_map_is_sorted_distinct_product_types(catalog):
    types = generate_category_map(catalog)
    assert types == sorted(set(types))
    assert set(types) == {p["product_type"] for p in catalog}
