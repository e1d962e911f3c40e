"""The listing import TikTok Shop -> Shopify with the store on the GraphQL connector, end to end:
creates with stock in one productSet, a price change in one productVariantsBulkUpdate, a stock
change as a compare-and-set inventorySetQuantities, and a stock change made in Shopify meanwhile
refused instead of overwritten."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from gql_helpers import API_VERSION, PLUS
from test_listing_import_kill import WAREHOUSE, _merchant_on_graphql

from engine.flow.runner import FlowRun, Merchant
from simulators.catalog import generate_tiktok_listings
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    sandbox = start_sandbox(products=0, seed=21, tiktok_options={"region": "MY"})
    listings = generate_tiktok_listings(6, seed=21, currency="MYR", warehouse_ids=[WAREHOUSE["id"]], max_variants=4)
    ids = sandbox.admin("tiktok_shop", "POST", "seed", json={"warehouses": [WAREHOUSE], "products": listings})["products"]
    sandbox.admin("shopify", "POST", "graphql/bucket", json=PLUS)
    location = sandbox.admin("shopify", "GET", "state")["locations"][0]["id"]
    env = {**sandbox.environ("BLOOM"), "BLOOM_SHOPIFY_GRAPHQL_URL": f"{sandbox.urls['shopify']}/admin/api/{API_VERSION}"}
    merchant = Merchant(_merchant_on_graphql(tmp_path_factory.mktemp("m") / "bloom_my", location), environ=env)
    report = FlowRun(merchant, "catalog").run()
    yield {"sandbox": sandbox, "merchant": merchant, "report": report, "ids": ids, "location": location}
    merchant.close()
    sandbox.stop()


def _listing(merchant, ident: str) -> dict:
    return merchant.connection("tiktok_my").call("get_product", path_params={"product_id": ident}).record


def _variant(sandbox, sku: str) -> dict:
    return next(v for p in sandbox.admin("shopify", "GET", "state")["products"] for v in p["variants"] if v["sku"] == sku)


def _level(sandbox, variant: dict, location: int) -> int:
    return next(lvl["available"] for lvl in sandbox.admin("shopify", "GET", "state")["inventory_levels"]
                if lvl["inventory_item_id"] == variant["inventory_item_id"] and lvl["location_id"] == location)


def test_listings_are_created_with_their_stock_in_one_call_each(imported):
    sandbox, merchant = imported["sandbox"], imported["merchant"]
    assert imported["report"].counts == {"create": 6}
    for ident in imported["ids"]:
        for sku in _listing(merchant, ident)["skus"]:
            variant = _variant(sandbox, sku["seller_sku"])
            assert Decimal(variant["price"]) == Decimal(sku["price"]["sale_price"])
            assert _level(sandbox, variant, imported["location"]) == sum(i["quantity"] for i in sku["inventory"])
    sandbox.admin("shopify", "POST", "requests/clear")
    assert FlowRun(merchant, "catalog").run().counts == {"skip": 6}


def test_a_price_change_is_one_bulk_variant_update(imported):
    sandbox, merchant = imported["sandbox"], imported["merchant"]
    listing = next(p for p in (_listing(merchant, i) for i in imported["ids"]) if len(p["skus"]) >= 2)
    changed = listing["skus"][1]
    merchant.connection("tiktok_my").call("update_prices", path_params={"product_id": listing["id"]}, body={
        "skus": [{"id": changed["id"], "price": {"amount": "77.70", "currency": "MYR"},
                  "list_price": {"amount": "99.00", "currency": "MYR"}}]})
    report = FlowRun(merchant, "catalog").run()
    assert report.counts.get("price_update") == 1 and report.counts.get("update", 0) == 0
    variant = _variant(sandbox, changed["seller_sku"])
    assert Decimal(variant["price"]) == Decimal("77.7") and Decimal(variant["compare_at_price"]) == Decimal("99")


def test_a_stock_change_is_compared_and_set(imported):
    sandbox, merchant = imported["sandbox"], imported["merchant"]
    listing = _listing(merchant, imported["ids"][2])
    sku = listing["skus"][0]
    merchant.connection("tiktok_my").call("update_inventory", path_params={"product_id": listing["id"]}, body={
        "skus": [{"id": sku["id"], "inventory": [{"warehouse_id": WAREHOUSE["id"], "quantity": 500}]}]})
    report = FlowRun(merchant, "catalog").run()
    assert report.counts.get("inventory_update") == 1, report.results
    assert _level(sandbox, _variant(sandbox, sku["seller_sku"]), imported["location"]) == 500


def test_a_stock_change_made_in_the_store_meanwhile_is_not_overwritten(imported):
    sandbox, merchant = imported["sandbox"], imported["merchant"]
    listing = _listing(merchant, imported["ids"][3])
    sku = listing["skus"][0]
    variant = _variant(sandbox, sku["seller_sku"])
    # Someone sells 2 in the store (REST set, the way another app would), then TikTok's stock changes.
    before = _level(sandbox, variant, imported["location"])
    response = httpx.post(f"{sandbox.environ()['ACME_SHOPIFY_URL']}/inventory_levels/set.json",
                          headers={"X-Shopify-Access-Token": sandbox.environ()["ACME_SHOPIFY_TOKEN"]},
                          json={"location_id": imported["location"], "inventory_item_id": variant["inventory_item_id"],
                                "available": before - 2}, timeout=30)
    response.raise_for_status()
    merchant.connection("tiktok_my").call("update_inventory", path_params={"product_id": listing["id"]}, body={
        "skus": [{"id": sku["id"], "inventory": [{"warehouse_id": WAREHOUSE["id"], "quantity": 321}]}]})
    report = FlowRun(merchant, "catalog").run()
    assert report.counts.get("dead_letter") == 1
    [letter] = [r for r in report.results if r["action"] == "dead_letter"]
    assert "CHANGE_FROM_QUANTITY_STALE" in str(letter["error"]["field_errors"])
    assert _level(sandbox, variant, imported["location"]) == before - 2  # the store's own change stands
