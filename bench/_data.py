"""Benchmark inputs: Shopify products as the Shopify simulator renders them (ids, inventory item
ids, image ids, stock), and a TikTok Shop order grown from the real documentation sample."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from _common import ROOT

from simulators.catalog import generate_shopify_products, invalid_reason
from simulators.shopify.app import DEFAULT_CREDENTIALS
from simulators.shopify.catalog import render_product
from simulators.shopify.seed import seed
from simulators.shopify.state import ShopState

ORDER_SAMPLE = "tiktok_shop/get_order_detail_202309_docsample.json"


def shop_state(seed_value: int = 7) -> ShopState:
    return ShopState(seed=seed_value, shop=DEFAULT_CREDENTIALS["shop"], api_version=DEFAULT_CREDENTIALS["api_version"],
                     webhook_secret=DEFAULT_CREDENTIALS["webhook_secret"])


def generated(n: int, *, seed_value: int, variants: int | None = None, invalid_share: float = 0.0,
              max_variants: int = 8) -> list[dict]:
    """`n` generated products; with `variants`, every one has exactly that many (drawn from the
    products that have at least that many, the rest of their variants dropped)."""
    if variants is None:
        return generate_shopify_products(n, seed=seed_value, invalid_share=invalid_share, max_variants=max_variants)
    found: list[dict] = []
    attempt = 0
    while len(found) < n:
        pool = generate_shopify_products(max(200, n * 4), seed=seed_value + attempt, invalid_share=0.0,
                                         max_variants=max(variants, 100))
        for product in pool:
            if invalid_reason(product) is None and len(product["variants"]) >= variants:
                product["variants"] = product["variants"][:variants]
                found.append(product)
        attempt += 1
    return found[:n]


def rendered(products: list[dict], seed_value: int = 7) -> list[dict]:
    """The products as GET products.json returns them from a shop seeded with them."""
    state = shop_state(seed_value)
    created = seed(state, {"products": products})["products"]
    return [json.loads(json.dumps(p)) for p in created]


def render_all(state: ShopState) -> list[dict]:
    return [render_product(state, p) for p in state.db.products.values()]


def payloads_dir() -> Path | None:
    """shared/payloads beside the clone (or an ancestor's), else the copies checked in for tests."""
    candidates = [base / "shared" / "payloads" for base in ROOT.parents]
    for candidate in [*candidates, ROOT / "tests" / "simulators" / "payloads"]:
        if (candidate / ORDER_SAMPLE).is_file():
            return candidate
    return None


def tiktok_order(lines: int = 10, skus: int = 4) -> dict | None:
    """The Get Order Detail sample's order with `lines` line items (TikTok sends one per unit)
    spread over `skus` seller SKUs; None when the sample is not on this machine."""
    folder = payloads_dir()
    if folder is None:
        return None
    order = json.loads((folder / ORDER_SAMPLE).read_text(encoding="utf-8"))["data"]["orders"][0]
    template = order["line_items"][0]
    items = []
    for index in range(lines):
        item = copy.deepcopy(template)
        group = index % skus
        item["id"] = str(int(template["id"]) + index)
        item["seller_sku"] = f"{template['seller_sku']}-{group}"
        item["sku_id"] = str(int(template["sku_id"]) + group)
        item["sale_price"] = f"{12 + group}.50"
        item["original_price"] = f"{15 + group}.00"
        item["seller_discount"] = "1.25" if group == 0 else "0"
        items.append(item)
    order["line_items"] = items
    return order
