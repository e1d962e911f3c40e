"""Benchmark: records per second through the compiled mapping plans, against hand-written Python.

Maps N generated Shopify products (valid ones only) through the compiled
`shopify.product_to_canonical` plan and through `hand_written`, a plain Python function that does
the identical transform. Both outputs are compared record by record before anything is timed.
The two run side by side in one process, in interleaved rounds, and the best round of each is
reported. `tiktok_shop.product_from_canonical` is then timed on the canonical products.

    .venv/bin/python bench/mapping_throughput.py            # 2,000 products
    .venv/bin/python bench/mapping_throughput.py -n 500 --rounds 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from engine.lang.casts import cast_datetime, cast_decimal, cast_int, cast_string
from engine.lang.functions import _html_to_text as html_to_text
from engine.lang.functions import _split as split
from engine.project.loader import Project
from engine.project.validate import Validator
from simulators.catalog import generate_category_map, generate_shopify_products, invalid_reason

_STATUS = {"active": "active", "draft": "draft", "archived": "archived"}


def _truthy(value: Any) -> bool:
    """JMESPath truthiness, as `if:` uses it."""
    return value not in (None, False, "", [], {})


def _put(out: dict, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _image(image: dict) -> dict:
    out: dict = {}
    _put(out, "url", image.get("src"))
    _put(out, "position", image.get("position"))
    _put(out, "width", image.get("width"))
    _put(out, "height", image.get("height"))
    _put(out, "alt", image.get("alt"))
    return out


def _variant(variant: dict, product: dict, currency: str) -> dict:
    out: dict = {}
    _put(out, "sku", variant.get("sku"))
    _put(out, "title", variant.get("title"))
    _put(out, "position", variant.get("position"))
    names = [o.get("name") for o in product.get("options") or [] if isinstance(o, dict)]
    names = [n for n in names if n is not None]
    values = [variant.get("option1"), variant.get("option2"), variant.get("option3")]
    out["options"] = {str(k): v for k, v in zip(names, values, strict=False) if k is not None and v is not None}
    out["price"] = {"amount": cast_decimal(variant["price"]), "currency": currency}
    if _truthy(variant.get("compare_at_price")):
        out["compare_at_price"] = {"amount": cast_decimal(variant["compare_at_price"]), "currency": currency}
    _put(out, "barcode", variant.get("barcode"))
    if variant.get("weight") is not None:
        weight: dict = {"value": cast_decimal(variant["weight"])}
        _put(weight, "unit", variant.get("weight_unit"))
        out["weight"] = weight
    if variant.get("inventory_quantity") is not None:
        out["inventory_quantity"] = cast_int(variant["inventory_quantity"])
    out["inventory_tracked"] = variant.get("inventory_management") == "shopify"
    out["allow_backorder"] = variant.get("inventory_policy") == "continue"
    _put(out, "taxable", variant.get("taxable"))
    _put(out, "requires_shipping", variant.get("requires_shipping"))
    image_id = variant.get("image_id")
    wanted = str(image_id) if image_id is not None else None
    for image in product.get("images") or []:
        if isinstance(image, dict) and image.get("id") is not None and str(image["id"]) == wanted:
            _put(out, "image_url", image.get("src"))
            break
    ids: dict = {}
    if variant.get("id") is not None:
        ids["shopify"] = cast_string(variant["id"])
    if variant.get("inventory_item_id") is not None:
        ids["shopify_inventory_item"] = cast_string(variant["inventory_item_id"])
    if ids:
        out["external_ids"] = ids
    return out


def hand_written(product: dict, currency: str = "USD") -> dict:
    """shopify.product_to_canonical, written out by hand."""
    out: dict = {}
    if product.get("id") is not None:
        out["id"] = cast_string(product["id"])
        out["external_ids"] = {"shopify": cast_string(product["id"])}
    _put(out, "handle", product.get("handle"))
    out["title"] = product["title"]
    _put(out, "description_html", product.get("body_html"))
    _put(out, "description_text", html_to_text(product.get("body_html")))
    _put(out, "brand", product.get("vendor"))
    _put(out, "vendor", product.get("vendor"))
    if product.get("product_type") is not None:
        out["category"] = {"name": product["product_type"]}
    out["status"] = _STATUS.get(product.get("status"), "draft")
    out["tags"] = split(product.get("tags"), ",")
    if product.get("options") is not None:
        out["options"] = [{k: o[k] for k in ("name", "values") if o.get(k) is not None} for o in product["options"]]
    if product.get("images") is not None:
        out["images"] = [_image(i) for i in product["images"]]
    variants = product.get("variants") or []
    first = variants[0] if variants else {}
    if _truthy(first.get("weight")):
        weight: dict = {"value": cast_decimal(first["weight"])}
        _put(weight, "unit", first.get("weight_unit"))
        out["package"] = {"weight": weight}
    if product.get("variants") is not None:
        out["variants"] = [_variant(v, product, currency) for v in product["variants"]]
    for key in ("created_at", "updated_at"):
        if product.get(key) is not None:
            out[key] = cast_datetime(product[key])
    return out


def _rate(fn: Callable[[dict], Any], records: list[dict]) -> float:
    start = time.perf_counter()
    for record in records:
        fn(record)
    return len(records) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="products to generate (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv if argv is not None else [])

    project = Project.load([], include_shipped=True)
    validator = Validator(project)
    to_canonical = validator.compile_mapping(project.get("mapping", "shopify.product_to_canonical").doc)
    to_tiktok = validator.compile_mapping(project.get("mapping", "tiktok_shop.product_from_canonical").doc)
    assert to_canonical is not None and to_tiktok is not None, validator.problems

    catalog = generate_shopify_products(args.n, seed=args.seed)
    products = [p for p in catalog if invalid_reason(p) is None]
    variants = sum(len(p.get("variants") or []) for p in products)

    canonical = []
    for product in products:
        result = to_canonical.apply(product)
        assert result.ok, result.errors
        expected = hand_written(product)
        assert result.output == expected, f"outputs differ for {product.get('handle')}"
        canonical.append(result.output)

    categories = {name: str(600000 + i) for i, name in enumerate(generate_category_map(products))}
    context = {"category_map": categories, "warehouse_id": "7068517275539719942",
               "image_uris": {image["url"]: f"tos-{i}" for p in canonical for i, image in enumerate(p.get("images", []))}}
    for record in canonical[:50]:
        result = to_tiktok.apply(record, context)
        assert result.ok, result.errors

    engine_best = hand_best = tiktok_best = 0.0
    for _ in range(args.rounds):
        engine_best = max(engine_best, _rate(to_canonical.apply, products))
        hand_best = max(hand_best, _rate(hand_written, products))
        tiktok_best = max(tiktok_best, _rate(lambda r: to_tiktok.apply(r, context), canonical))

    print(f"mapping throughput: {len(products)} valid products ({variants} variants), best of {args.rounds} "
          "interleaved rounds, outputs checked equal")
    header = f"{'transform':<46} {'records/s':>10} {'variants/s':>11} {'vs hand':>8}"
    print(header)
    print("-" * len(header))
    per = variants / len(products)
    print(f"{'shopify.product_to_canonical (engine plan)':<46} {engine_best:>10,.0f} {engine_best * per:>11,.0f} "
          f"{engine_best / hand_best:>7.2f}x")
    print(f"{'same transform, hand-written Python':<46} {hand_best:>10,.0f} {hand_best * per:>11,.0f} {1:>7.2f}x")
    print(f"{'tiktok_shop.product_from_canonical (engine)':<46} {tiktok_best:>10,.0f} {tiktok_best * per:>11,.0f} "
          f"{'':>8}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
