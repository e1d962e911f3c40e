"""Listing import TikTok Shop (Malaysia, the primary catalog) -> Shopify, end to end against both
simulators with the example merchant examples/bloom_my on SQLite."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.catalog import generate_tiktok_listings
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bloom_my"
EXAMPLE_LOCATION = '"73014591651"'
WAREHOUSES = [
    {"id": "7400519020017000001", "name": "Shah Alam Fulfilment", "effect_status": "ENABLED",
     "type": "SALES_WAREHOUSE", "sub_type": "DOMESTIC_WAREHOUSE", "is_default": True,
     "address": {"region": "Malaysia", "region_code": "MY", "state": "Selangor", "city": "Shah Alam"}},
    {"id": "7400519020017000002", "name": "Johor Bahru Store", "effect_status": "ENABLED",
     "type": "SALES_WAREHOUSE", "sub_type": "DOMESTIC_WAREHOUSE", "is_default": False,
     "address": {"region": "Malaysia", "region_code": "MY", "state": "Johor", "city": "Johor Bahru"}},
]
BRAND = {"id": "7400519020017100001", "name": "Bloom Botanics", "authorized_status": "AUTHORIZED",
         "brand_status": "AVAILABLE", "is_t1_brand": False}
WRITE_METHODS = ("POST", "PUT", "DELETE")

pytestmark = pytest.mark.slow


class LoseCreateReplies(httpx.HTTPTransport):
    """Shopify creates the product, and its reply is lost: the outcome a crash or a timeout leaves."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose = lose

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/products.json") and self.lose > 0:
            self.lose -= 1
            response.read()
            response.close()
            raise httpx.ReadTimeout("timed out waiting for the reply", request=request)
        return response


def _copy_example(workdir: Path, location: int) -> Path:
    shutil.copytree(EXAMPLE, workdir)
    merchant_file = workdir / "merchant.yaml"
    text = merchant_file.read_text()
    assert EXAMPLE_LOCATION in text
    merchant_file.write_text(text.replace(EXAMPLE_LOCATION, f'"{location}"'))
    return merchant_file


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    # A larger bucket (as on bigger plans) keeps one-call-per-variant writes from waiting on
    # Shopify's 2 calls/s; the limiter adopts the size the call-limit header reports.
    sandbox = start_sandbox(products=0, seed=21, tiktok_options={"region": "MY"},
                            shopify_options={"bucket_size": 4000})
    listings = generate_tiktok_listings(18, seed=21, currency="MYR",
                                        warehouse_ids=[w["id"] for w in WAREHOUSES], max_variants=6)
    for listing in listings[:4]:
        listing["brand_id"] = BRAND["id"]
    bad = dict(listings[0], title="Botanical Lip Balm Duo without a seller SKU")
    bad["skus"] = [dict(s, seller_sku=f"LIP-{i}") for i, s in enumerate(listings[0]["skus"])]
    bad["skus"].append(dict(bad["skus"][0], seller_sku="", sales_attributes=[]))
    hidden = dict(listings[1], title="Deactivated Rose Toner that stays off Shopify", status="SELLER_DEACTIVATED")
    hidden["skus"] = [dict(s, seller_sku=f"HIDDEN-{i}") for i, s in enumerate(listings[1]["skus"])]
    seeded = sandbox.admin("tiktok_shop", "POST", "seed", json={
        "warehouses": WAREHOUSES, "brands": [BRAND], "products": [*listings, bad, hidden]})["products"]
    good_ids, bad_id = seeded[:len(listings)], seeded[len(listings)]

    location = sandbox.admin("shopify", "GET", "state")["locations"][0]["id"]  # the store's default
    merchant_file = _copy_example(tmp_path_factory.mktemp("merchant") / "bloom_my", location)
    merchant = Merchant(merchant_file, environ=sandbox.environ("BLOOM"))
    report = FlowRun(merchant, "catalog").run()
    yield {"sandbox": sandbox, "merchant": merchant, "report": report, "good": good_ids, "bad": bad_id,
           "location": location}
    merchant.close()
    sandbox.stop()


def test_every_live_listing_lands_in_shopify_with_its_skus_prices_stock_and_images(imported):
    sandbox, report = imported["sandbox"], imported["report"]
    assert report.status == "ok", report.error
    assert report.counts == {"create": len(imported["good"]) + 1}  # the good ones and the one without a seller SKU
    shop = sandbox.admin("shopify", "GET", "state")
    levels = {(lvl["inventory_item_id"], lvl["location_id"]): lvl["available"] for lvl in shop["inventory_levels"]}
    by_sku = {v["sku"]: p for p in shop["products"] for v in p["variants"]}
    assert len(shop["products"]) == len(imported["good"]) + 1
    for listing in _tiktok_products(imported["merchant"], imported["good"]):
        skus = {s["seller_sku"]: s for s in listing["skus"]}
        product = by_sku[next(iter(skus))]
        variants = {v["sku"]: v for v in product["variants"]}
        assert set(variants) == set(skus), listing["title"]
        assert product["title"] == listing["title"] and product["status"] == "active"
        assert product["vendor"] == "Bloom Botanics"
        assert [i["src"] for i in product["images"]] == [i["urls"][0] for i in listing["main_images"]]
        for sku, tts in skus.items():
            variant = variants[sku]
            assert Decimal(variant["price"]) == Decimal(tts["price"]["sale_price"])
            listed = Decimal((tts.get("list_price") or {}).get("amount") or "0")
            if listed > Decimal(tts["price"]["sale_price"]):
                assert Decimal(variant["compare_at_price"]) == listed
            else:
                assert variant["compare_at_price"] is None
            on_tiktok = sum(row["quantity"] for row in tts["inventory"])
            assert levels[(variant["inventory_item_id"], imported["location"])] == on_tiktok, sku
            assert variant["barcode"] == (tts.get("identifier_code") or {}).get("code")


def test_a_listing_with_a_sku_without_seller_sku_is_imported_without_that_sku(imported):
    # The mapping's variants_without_sku: skip leaves the SKU out (the seller SKU is the key
    # between the channels) and imports the rest; the canonical product lists it as skipped.
    sandbox, merchant = imported["sandbox"], imported["merchant"]
    assert merchant.store.list_dead_letters(merchant="bloom_my") == []
    [listing] = _tiktok_products(merchant, [imported["bad"]])
    with_sku = {s["seller_sku"] for s in listing["skus"] if s["seller_sku"]}
    assert len(with_sku) == len(listing["skus"]) - 1
    products = {p["title"]: p for p in sandbox.admin("shopify", "GET", "state")["products"]}
    imported_product = products["Botanical Lip Balm Duo without a seller SKU"]
    assert {v["sku"] for v in imported_product["variants"]} == with_sku
    assert "Deactivated Rose Toner that stays off Shopify" not in products  # only live listings are imported


def test_a_second_run_makes_no_write_to_shopify(imported):
    sandbox, merchant = imported["sandbox"], imported["merchant"]
    sandbox.admin("shopify", "POST", "requests/clear")
    report = FlowRun(merchant, "catalog").run()
    assert report.counts == {"skip": len(imported["good"]) + 1}
    assert _shopify_writes(sandbox) == []


def test_a_price_change_on_tiktok_makes_only_price_writes(imported):
    sandbox, merchant = imported["sandbox"], imported["merchant"]
    listing = next(p for p in _tiktok_products(imported["merchant"], imported["good"]) if len(p["skus"]) >= 2)
    changed = listing["skus"][1]
    merchant.connection("tiktok_my").call("update_prices", path_params={"product_id": listing["id"]}, body={
        "skus": [{"id": changed["id"], "price": {"amount": "77.70", "currency": "MYR"},
                  "list_price": {"amount": "99.00", "currency": "MYR"}}]})
    sandbox.admin("shopify", "POST", "requests/clear")
    report = FlowRun(merchant, "catalog").run()
    writes = _shopify_writes(sandbox)
    assert report.counts.get("price_update") == 1 and report.counts.get("update", 0) == 0
    variant = _shopify_variant(sandbox, changed["seller_sku"])
    assert [(w["method"], w["path"]) for w in writes] == [("PUT", f"/admin/api/2025-01/variants/{variant['id']}.json")]
    assert Decimal(variant["price"]) == Decimal("77.7") and Decimal(variant["compare_at_price"]) == Decimal("99")


def test_a_stock_change_on_tiktok_makes_only_stock_writes(imported):
    sandbox, merchant = imported["sandbox"], imported["merchant"]
    listing = _tiktok_products(imported["merchant"], imported["good"])[2]
    sku = listing["skus"][0]
    merchant.connection("tiktok_my").call("update_inventory", path_params={"product_id": listing["id"]}, body={
        "skus": [{"id": sku["id"], "inventory": [{"warehouse_id": WAREHOUSES[1]["id"], "quantity": 500}]}]})
    sandbox.admin("shopify", "POST", "requests/clear")
    report = FlowRun(merchant, "catalog").run()
    assert report.counts.get("inventory_update") == 1
    writes = _shopify_writes(sandbox)
    assert [(w["method"], w["path"]) for w in writes] == [("POST", "/admin/api/2025-01/inventory_levels/set.json")]
    expected = sum(row["quantity"] for row in _tiktok_products(merchant, [listing["id"]])[0]["skus"][0]["inventory"])
    variant = _shopify_variant(sandbox, sku["seller_sku"])
    levels = sandbox.admin("shopify", "GET", "state")["inventory_levels"]
    assert next(lvl["available"] for lvl in levels if lvl["inventory_item_id"] == variant["inventory_item_id"]
                and lvl["location_id"] == imported["location"]) == expected


def test_a_content_change_updates_the_product_and_keeps_its_variants(imported):
    sandbox, merchant = imported["sandbox"], imported["merchant"]
    listing = next(p for p in _tiktok_products(imported["merchant"], imported["good"])
                   if len({a["name"] for s in p["skus"] for a in s["sales_attributes"]}) == 1)
    axis = listing["skus"][0]["sales_attributes"][0]["name"]
    before = {v["sku"]: v["id"] for v in _shopify_product(sandbox, listing["skus"][0]["seller_sku"])["variants"]}
    kept = [{"id": s["id"], "seller_sku": s["seller_sku"], "inventory": s["inventory"],
             "price": {"amount": s["price"]["sale_price"], "currency": s["price"]["currency"]},
             "sales_attributes": [{"name": a["name"], "value_name": a["value_name"]} for a in s["sales_attributes"]]}
            for s in listing["skus"]]
    added = {"seller_sku": "BLM-LIMITED-1", "price": {"amount": "150.00", "currency": "MYR"},
             "inventory": [{"warehouse_id": WAREHOUSES[0]["id"], "quantity": 9}],
             "sales_attributes": [{"name": axis, "value_name": "Limited Edition"}]}
    merchant.connection("tiktok_my").call("partial_edit_product", path_params={"product_id": listing["id"]},
                                          body={"title": f"{listing['title']} (2025 edition)", "skus": [*kept, added]})
    sandbox.admin("shopify", "POST", "requests/clear")
    report = FlowRun(merchant, "catalog").run()
    assert report.counts.get("update") == 1
    product = _shopify_product(sandbox, "BLM-LIMITED-1")
    writes = [(w["method"], w["path"]) for w in _shopify_writes(sandbox)]
    # The product update, then stock for the new variant only: the others' stock did not move.
    assert writes == [("PUT", f"/admin/api/2025-01/products/{product['id']}.json"),
                      ("POST", "/admin/api/2025-01/inventory_levels/set.json")]
    assert product["title"].endswith("(2025 edition)")
    assert {v["sku"]: v["id"] for v in product["variants"] if v["sku"] in before} == before
    new = next(v for v in product["variants"] if v["sku"] == "BLM-LIMITED-1")
    levels = sandbox.admin("shopify", "GET", "state")["inventory_levels"]
    assert next(lvl["available"] for lvl in levels if lvl["inventory_item_id"] == new["inventory_item_id"]
                and lvl["location_id"] == imported["location"]) == 9


def test_a_create_whose_reply_was_lost_is_found_again_and_not_repeated(tmp_path):
    with start_sandbox(products=0, seed=8, tiktok_options={"region": "MY"},
                       shopify_options={"bucket_size": 4000}) as sandbox:
        listings = generate_tiktok_listings(4, seed=8, currency="MYR", warehouse_ids=[WAREHOUSES[0]["id"]])
        sandbox.admin("tiktok_shop", "POST", "seed", json={"warehouses": WAREHOUSES, "products": listings})
        location = sandbox.admin("shopify", "GET", "state")["locations"][0]["id"]
        merchant = Merchant(_copy_example(tmp_path / "bloom_my", location), environ=sandbox.environ("BLOOM"),
                            transports={"shopify": LoseCreateReplies(lose=1)})
        try:
            first = FlowRun(merchant, "catalog").run()
            # The create whose answer was lost is looked up by SKU in the same run, found and recorded.
            assert first.counts == {"create": 4}
            assert len(sandbox.admin("shopify", "GET", "state")["products"]) == 4
            sandbox.admin("shopify", "POST", "requests/clear")
            second = FlowRun(merchant, "catalog").run()
            assert second.counts == {"skip": 4}
            requests = sandbox.admin("shopify", "GET", "requests")["requests"]
            assert [r for r in requests if r["method"] in WRITE_METHODS] == []  # nothing sent twice
            products = sandbox.admin("shopify", "GET", "state")["products"]
            skus = [v["sku"] for p in products for v in p["variants"]]
            assert len(products) == 4 and len(skus) == len(set(skus))
            levels = {lvl["inventory_item_id"]: lvl["available"]
                      for lvl in sandbox.admin("shopify", "GET", "state")["inventory_levels"]
                      if lvl["location_id"] == location}
            by_sku = {s["seller_sku"]: s["inventory"][0]["quantity"] for listing in listings for s in listing["skus"]}
            assert {v["sku"]: levels[v["inventory_item_id"]] for p in products for v in p["variants"]} == by_sku
            assert not [row for row in merchant.store.list_dead_letters(merchant="bloom_my") if row["status"] == "open"]
        finally:
            merchant.close()


def _shopify_writes(sandbox) -> list[dict]:
    return [r for r in sandbox.admin("shopify", "GET", "requests")["requests"] if r["method"] in WRITE_METHODS]


def _shopify_product(sandbox, sku: str) -> dict:
    return next(p for p in sandbox.admin("shopify", "GET", "state")["products"]
                if any(v["sku"] == sku for v in p["variants"]))


def _shopify_variant(sandbox, sku: str) -> dict:
    return next(v for v in _shopify_product(sandbox, sku)["variants"] if v["sku"] == sku)


def _tiktok_products(merchant, ids: list[str]) -> list[dict]:
    """The listings as TikTok's get-product answers (prices, image URLs), in the order given."""
    conn = merchant.connection("tiktok_my")
    return [conn.call("get_product", path_params={"product_id": i}).record for i in ids]
