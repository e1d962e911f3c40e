"""The catalog flow Shopify -> TikTok Shop with the store on the GraphQL Admin API
(examples/acme_graphql), end to end against both simulators: the same outcomes as on REST
(tests/flows/test_catalog_sync_e2e.py), from an unchanged flow."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from gql_helpers import merchant

from engine.flow.runner import FlowRun
from simulators.catalog import invalid_reason
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow


def tiktok_writes(sandbox) -> list[dict]:
    requests = sandbox.admin("tiktok_shop", "GET", "requests")["requests"]
    return [r for r in requests if r["method"] in ("POST", "PUT") and "search" not in r["path"]]


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    sandbox = start_sandbox(products=120, seed=11, max_variants=20, invalid_share=0.08)
    shop = merchant(sandbox, tmp_path_factory.mktemp("merchant"))
    report = FlowRun(shop, "catalog").run()
    yield sandbox, shop, report
    shop.close()
    sandbox.stop()


def test_valid_products_are_listed_with_their_skus_prices_and_stock(synced):
    sandbox, shop, report = synced
    products = _shopify_products(sandbox)
    expected_invalid = {str(p["id"]) for p in products if _dead_lettered(p)}
    assert report.status == "ok"
    assert report.counts.get("create") == len(products) - len(expected_invalid)
    by_external = {p.get("external_product_id"): p for p in _tiktok_products(sandbox)}
    for product in products:
        if str(product["id"]) in expected_invalid:
            continue
        tts = by_external[str(product["id"])]  # the same keys as on REST: numeric product ids
        skus = {s["seller_sku"]: s for s in tts["skus"]}
        assert set(skus) == {v["sku"] for v in product["variants"] if v["sku"]}
        for variant in (v for v in product["variants"] if v["sku"]):
            sku = skus[variant["sku"]]
            assert Decimal(sku["price"].get("amount") or sku["price"].get("sale_price")) > 0
            assert sum(int(i["quantity"]) for i in sku["inventory"]) == max(variant.get("inventory_quantity") or 0, 0)
        assert 1 <= len(tts["main_images"]) <= 9
    # Read through the calculated-cost bucket without one THROTTLED answer.
    assert sandbox.admin("shopify", "GET", "graphql/bucket")["throttled"] == 0
    paths = {r["path"] for r in sandbox.admin("shopify", "GET", "requests")["requests"]}
    assert paths == {"/admin/api/2026-01/graphql.json"}  # nothing went through REST


def test_invalid_products_are_dead_lettered_with_field_errors(synced):
    sandbox, shop, _ = synced
    expected = {str(p["id"]) for p in _shopify_products(sandbox) if _dead_lettered(p)}
    letters = {row["key"]: row for row in shop.store.list_dead_letters(merchant="acme_graphql")}
    assert set(letters) == expected
    for key, letter in letters.items():
        assert letter["payload"]["legacyResourceId"] == key and letter["error"]["field_errors"], key


def test_second_run_makes_no_writes(synced):
    sandbox, shop, _ = synced
    sandbox.admin("tiktok_shop", "POST", "requests/clear")
    report = FlowRun(shop, "catalog").run()
    assert report.counts.get("create", 0) == 0 and report.counts.get("update", 0) == 0
    assert tiktok_writes(sandbox) == []


def test_three_price_changes_make_three_price_calls_and_no_edit(synced):
    sandbox, shop, _ = synced
    listed = {row["key"] for row in shop.store.list_mappings("product", "tiktok_us")}
    changed = [p for p in _shopify_products(sandbox) if str(p["id"]) in listed][:3]
    for product in changed:
        variant = product["variants"][0]
        _shopify_rest(sandbox, "PUT", f"variants/{variant['id']}.json", {"variant": {"id": variant["id"], "price": "123.45"}})
    sandbox.admin("tiktok_shop", "POST", "requests/clear")
    report = FlowRun(shop, "catalog").run()
    writes = tiktok_writes(sandbox)
    assert report.counts.get("price_update") == 3
    assert len([w for w in writes if w["path"].endswith("/prices/update")]) == 3 and len(writes) == 3


def test_dry_run_shows_the_change_and_writes_nothing(synced):
    sandbox, shop, _ = synced
    listed = {row["key"] for row in shop.store.list_mappings("product", "tiktok_us")}
    product = [p for p in _shopify_products(sandbox) if str(p["id"]) in listed][5]
    _shopify_rest(sandbox, "PUT", f"products/{product['id']}.json", {"product": {"id": product["id"], "title": "Renamed tee"}})
    before = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    report = FlowRun(shop, "catalog", dry_run=True).run()
    assert sandbox.admin("tiktok_shop", "GET", "state")["products"] == before
    result = next(r for r in report.results if r["key"] == str(product["id"]))
    assert result["action"] == "update" and result["canonical"]["title"] == "Renamed tee"


def _dead_lettered(product: dict) -> str | None:
    reason = invalid_reason(product)
    if reason == "empty_sku" and any(v["sku"] for v in product["variants"]):
        return None
    return reason


def _shopify_rest(sandbox, method: str, path: str, body: dict | None = None) -> dict:
    response = httpx.request(method, f"{sandbox.environ()['ACME_SHOPIFY_URL']}/{path}", json=body,
                             headers={"X-Shopify-Access-Token": sandbox.environ()["ACME_SHOPIFY_TOKEN"]}, timeout=30)
    response.raise_for_status()
    return response.json()


def _shopify_products(sandbox) -> list[dict]:
    return list(sandbox.admin("shopify", "GET", "state")["products"])


def _tiktok_products(sandbox) -> list[dict]:
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    items = list(products.values()) if isinstance(products, dict) else products
    return [p for p in items if p.get("status") != "DELETED"]
