"""Price rules, promotions and the selection end to end: the Acme example's catalog flow against the
Shopify and TikTok Shop simulators, with the run's time set by the test.

A promotion's prices are written by the first run past its start and the regular prices by the
first run past its end, each as one price update per product in scope (counted on TikTok's
request log), and running again at either point writes nothing. A price below the margin floor of
a Shopify inventory item's cost is refused with the SKU and the rule. A product outside the
selection is skipped, and one that leaves it is taken off sale, then put back when it returns.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from engine.flow.runner import FlowRun, Merchant
from engine.pricing import Rounding
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
START, END = datetime(2027, 7, 1, 5, tzinfo=UTC), datetime(2027, 7, 8, 5, tzinfo=UTC)
PRICES = """kind: price_rules
name: acme.tiktok_prices
currency: USD
rules:
  - {name: gifts, tags: [gift], markup_percent: 8, round: to_99}
%s
promotions:
  - name: summer_apparel
    starts_at: 2027-07-01T05:00:00Z
    ends_at: 2027-07-08T05:00:00Z
    tags: [apparel]
    markdown_percent: 20
    round: to_99
    round_direction: down
"""
TO_99 = Rounding("to_99")
TO_99_DOWN = Rounding("to_99", "down")


@pytest.fixture
def shop(tmp_path):
    sandbox = start_sandbox(products=14, seed=23, max_variants=3, invalid_share=0.0)
    shutil.copytree(EXAMPLE, tmp_path / "acme")
    yield sandbox, tmp_path / "acme"
    sandbox.stop()


def merchant_with(sandbox, folder: Path, *, prices: str = "", options: str = "") -> Merchant:
    (folder / "prices.yaml").write_text(PRICES % prices)
    if options:
        path = folder / "merchant.yaml"
        path.write_text(path.read_text().replace("      price_rules: acme.tiktok_prices\n",
                                                 "      price_rules: acme.tiktok_prices\n" + options))
    return Merchant(folder / "merchant.yaml", environ=sandbox.environ())


def run(merchant: Merchant, at: datetime):
    flow = FlowRun(merchant, "catalog")
    flow.ctx.now = at.timestamp
    return flow.run()


def tiktok_writes(sandbox) -> list[dict]:
    requests = sandbox.admin("tiktok_shop", "GET", "requests")["requests"]
    return [r for r in requests if r["method"] in ("POST", "PUT", "DELETE") and "search" not in r["path"]]


def clear(sandbox) -> None:
    sandbox.admin("tiktok_shop", "POST", "requests/clear")
    sandbox.admin("shopify", "POST", "requests/clear")


def shopify_products(sandbox) -> list[dict]:
    products = sandbox.admin("shopify", "GET", "state")["products"]
    return list(products.values()) if isinstance(products, dict) else products


def tiktok_skus(sandbox) -> dict[str, dict]:
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    items = list(products.values()) if isinstance(products, dict) else products
    return {s["seller_sku"]: {**s, "product_status": p["status"], "product_id": p["id"]}
            for p in items if p.get("status") != "DELETED" for s in p["skus"]}


def tags(product: dict) -> set[str]:
    return {t.strip() for t in (product.get("tags") or "").split(",") if t.strip()}


def regular(product: dict, variant: dict) -> Decimal:
    """Acme's rule by hand: gifts 8% up to the next .99, the rest mirrored."""
    price = Decimal(variant["price"])
    return TO_99.apply(price * Decimal("1.08")) if "gift" in tags(product) else price


def shopify(sandbox, method: str, path: str, body: dict) -> dict:
    environ = sandbox.environ()
    response = httpx.request(method, f"{environ['ACME_SHOPIFY_URL']}/{path}", json=body,
                             headers={"X-Shopify-Access-Token": environ["ACME_SHOPIFY_TOKEN"]}, timeout=30)
    response.raise_for_status()
    return response.json()


def test_a_promotion_changes_prices_at_its_start_and_restores_them_at_its_end(shop):
    sandbox, folder = shop
    merchant = merchant_with(sandbox, folder)
    try:
        products = shopify_products(sandbox)
        in_scope = [p for p in products if "apparel" in tags(p)]
        assert 0 < len(in_scope) < len(products)
        assert run(merchant, START.replace(day=1, hour=4)).counts == {"create": len(products)}
        listed = tiktok_skus(sandbox)
        for product in products:
            for variant in product["variants"]:
                assert Decimal(listed[variant["sku"]]["price"]["amount"]) == regular(product, variant)

        # The first run past the start: one price update per product in the promotion, nothing else.
        clear(sandbox)
        report = run(merchant, START)
        writes = tiktok_writes(sandbox)
        assert report.counts == {"price_update": len(in_scope), "skip": len(products) - len(in_scope)}
        assert len(writes) == len(in_scope) and all(w["path"].endswith("/prices/update") for w in writes)
        listed = tiktok_skus(sandbox)
        for product in in_scope:
            for variant in product["variants"]:
                before = regular(product, variant)
                sku = listed[variant["sku"]]
                # e.g. 45.00 x 0.8 = 36.00 -> down to 35.99, with 45.00 struck through
                assert Decimal(sku["price"]["amount"]) == TO_99_DOWN.apply(before * Decimal("0.8"))
                assert Decimal(sku["list_price"]["amount"]) >= before
        started = [r["detail"]["promotion_started"] for r in report.results if r["action"] == "price_update"]
        assert sorted(s for d in started for s in d["summer_apparel"]) == \
            sorted(v["sku"] for p in in_scope for v in p["variants"])

        # The same moment again, and a day later: nothing to write.
        for moment in (START, START.replace(day=2)):
            clear(sandbox)
            report = run(merchant, moment)
            assert report.counts == {"skip": len(products)} and tiktok_writes(sandbox) == []

        # The first run past the end restores every regular price, once.
        clear(sandbox)
        report = run(merchant, END)
        writes = tiktok_writes(sandbox)
        assert report.counts == {"price_update": len(in_scope), "skip": len(products) - len(in_scope)}
        assert len([w for w in writes if w["path"].endswith("/prices/update")]) == len(writes) == len(in_scope)
        listed = tiktok_skus(sandbox)
        for product in products:
            for variant in product["variants"]:
                assert Decimal(listed[variant["sku"]]["price"]["amount"]) == regular(product, variant)
        ended = [r["detail"]["promotion_ended"]["summer_apparel"] for r in report.results
                 if r["action"] == "price_update"]
        assert {e["sku"]: e["price"] for d in ended for e in d} == \
            {v["sku"]: str(regular(p, v).quantize(Decimal("0.01"))) for p in in_scope for v in p["variants"]}
        assert all(merchant.store.get_price_memo("tiktok_us", str(p["id"])) is None for p in in_scope)
        clear(sandbox)
        assert run(merchant, END).counts == {"skip": len(products)} and tiktok_writes(sandbox) == []
    finally:
        merchant.close()


def test_a_price_below_the_margin_floor_of_the_shopify_cost_is_refused_with_its_sku_and_rule(shop):
    sandbox, folder = shop
    products = shopify_products(sandbox)
    costly = next(p for p in products if "gift" not in tags(p) and "apparel" not in tags(p))
    variant = costly["variants"][0]
    # The inventory item costs what the variant sells for: a 10% margin needs price >= cost / 0.9.
    shopify(sandbox, "PUT", f"inventory_items/{variant['inventory_item_id']}.json",
            {"inventory_item": {"id": variant["inventory_item_id"], "cost": variant["price"]}})
    merchant = merchant_with(sandbox, folder, prices="margin: {min_percent: 10}")
    try:
        clear(sandbox)
        report = run(merchant, START.replace(day=1, hour=4))
        assert report.counts == {"create": len(products) - 1, "dead_letter": 1}
        [letter] = report.dead_letters
        assert letter["key"] == str(costly["id"]) and letter["step"] == "price"
        [error] = letter["error"]["field_errors"]
        floor = (Decimal(variant["price"]) / Decimal("0.9")).quantize(Decimal("0.01"), rounding="ROUND_CEILING")
        assert (error["field"], error["sku"], error["rule"]) == ("variants[0].price", variant["sku"], "mirror")
        assert f"SKU {variant['sku']}: " in error["message"] and f"margin floor {floor} USD" in error["message"]
        assert variant["sku"] not in tiktok_skus(sandbox)
        # Costs are read once per product about to be priced, from Shopify's inventory items.
        reads = [r for r in sandbox.admin("shopify", "GET", "requests")["requests"]
                 if r["path"].endswith("/inventory_items.json")]
        assert len(reads) == len(products)
        # Unchanged prices read no cost again; the refused product is priced (and refused) again.
        clear(sandbox)
        report = run(merchant, START.replace(day=1, hour=4))
        assert report.counts == {"skip": len(products) - 1, "dead_letter": 1}
        reads = [r for r in sandbox.admin("shopify", "GET", "requests")["requests"]
                 if r["path"].endswith("/inventory_items.json")]
        assert len(reads) == 1
    finally:
        merchant.close()


def test_the_selection_skips_products_and_takes_one_that_leaves_it_off_sale(shop):
    sandbox, folder = shop
    merchant = merchant_with(sandbox, folder, options=(
        "      select: \"contains(tags, 'apparel') && !contains(tags, 'not-on-tiktok')\"\n"))
    try:
        products = shopify_products(sandbox)
        selected = [p for p in products if "apparel" in tags(p)]
        report = run(merchant, START.replace(day=1, hour=4))
        assert report.counts == {"create": len(selected), "skip": len(products) - len(selected)}
        assert not merchant.store.list_dead_letters(merchant="acme")
        skipped = [r for r in report.results if r["action"] == "skip"]
        assert {r["detail"]["reason"] for r in skipped} == {"not selected"}
        assert set(tiktok_skus(sandbox)) == {v["sku"] for p in selected for v in p["variants"]}

        # One listed product leaves the selection: it is taken off sale, and only that is written.
        leaving = selected[0]
        shopify(sandbox, "PUT", f"products/{leaving['id']}.json",
                {"product": {"id": leaving["id"], "tags": leaving["tags"] + ", not-on-tiktok"}})
        clear(sandbox)
        report = run(merchant, START.replace(day=1, hour=4))
        assert report.counts == {"deactivate": 1, "skip": len(products) - 1}
        writes = tiktok_writes(sandbox)
        assert [w["path"] for w in writes] == ["/product/202309/products/deactivate"]
        listing = tiktok_skus(sandbox)[leaving["variants"][0]["sku"]]
        assert listing["product_status"] == "SELLER_DEACTIVATED"
        result = next(r for r in report.results if r["action"] == "deactivate")
        assert result["key"] == str(leaving["id"]) and result["detail"]["reason"] == "left the selection: taken off sale"

        # Again: nothing more to write.
        clear(sandbox)
        report = run(merchant, START.replace(day=1, hour=4))
        assert report.counts == {"skip": len(products)} and tiktok_writes(sandbox) == []

        # Back in the selection: put on sale again (TikTok audits it again), once.
        shopify(sandbox, "PUT", f"products/{leaving['id']}.json", {"product": {"id": leaving["id"],
                                                                              "tags": leaving["tags"]}})
        clear(sandbox)
        report = run(merchant, START.replace(day=1, hour=4))
        assert report.counts == {"activate": 1, "skip": len(products) - 1}
        assert [w["path"] for w in tiktok_writes(sandbox)] == ["/product/202309/products/activate"]
        assert tiktok_skus(sandbox)[leaving["variants"][0]["sku"]]["product_status"] in ("PENDING", "ACTIVATE")
        clear(sandbox)
        assert run(merchant, START.replace(day=1, hour=4)).counts == {"skip": len(products)}
        assert tiktok_writes(sandbox) == []
    finally:
        merchant.close()


def test_with_deselected_keep_a_product_that_leaves_the_selection_stays_listed(shop):
    sandbox, folder = shop
    merchant = merchant_with(sandbox, folder, options=(
        "      select: \"!contains(tags, 'not-on-tiktok')\"\n      deselected: keep\n"))
    try:
        products = shopify_products(sandbox)
        assert run(merchant, START.replace(day=1, hour=4)).counts == {"create": len(products)}
        leaving = products[0]
        shopify(sandbox, "PUT", f"products/{leaving['id']}.json",
                {"product": {"id": leaving["id"], "tags": "not-on-tiktok"}})
        clear(sandbox)
        report = run(merchant, START.replace(day=1, hour=4))
        assert report.counts == {"skip": len(products)} and tiktok_writes(sandbox) == []
        result = next(r for r in report.results if r["key"] == str(leaving["id"]))
        assert "left as it is" in result["detail"]["reason"]
        assert tiktok_skus(sandbox)[leaving["variants"][0]["sku"]]["product_status"] != "SELLER_DEACTIVATED"
    finally:
        merchant.close()
