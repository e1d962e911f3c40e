"""The shipped catalog_to_tiktok flow, unchanged, syncs a catalog from a second product API that
shares nothing with Shopify but the canonical model: offset paging with a total, another body
shape, money in cents, an API key header. Same guarantees as with Shopify: every product listed
with its SKUs and prices, 0 writes on a second run, and a price-only change goes through the price
endpoint alone."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.common import LoopbackServer
from simulators.sandbox import start_sandbox
from tests.othercart.server import API_KEY, catalog, create_app

PROJECT = Path(__file__).parent / "project"
WRITES = ("/product/202309/products", "/inventory/update", "/prices/update", "/images/upload")

pytestmark = pytest.mark.slow

MERCHANT = textwrap.dedent("""\
    kind: merchant
    name: northwind
    primary_catalog: othercart
    connections:
      othercart:
        connector: othercart
        settings: {base_url: "${env:OC_URL}"}
        credentials: {api_key: "${env:OC_KEY}"}
      tiktok_us:
        connector: tiktok_shop
        region: US
        currency: USD
        settings:
          shop_cipher: "${env:ACME_TIKTOK_SHOP_CIPHER}"
          base_url: "${env:ACME_TIKTOK_URL}"
          token_url: "${env:ACME_TIKTOK_TOKEN_URL}"
        credentials:
          app_key: "${env:ACME_TIKTOK_APP_KEY}"
          app_secret: "${env:ACME_TIKTOK_APP_SECRET}"
          access_token: "${env:ACME_TIKTOK_ACCESS_TOKEN}"
          refresh_token: "${env:ACME_TIKTOK_REFRESH_TOKEN}"
    flows:
      catalog:
        flow: catalog_to_tiktok
        connections: {source: othercart, target: tiktok_us}
        options:
          warehouse_id: "7068517275539719942"
          category_map: {Hoodies: "601303"}
          category_attributes:
            "601303": [{id: "100392", values: [{id: "1000069", name: Polyester}]}]
          default_package_dimensions: {length: "30", width: "20", height: "10", unit: CENTIMETER}
""")


def _writes(sandbox) -> list[dict]:
    requests = sandbox.admin("tiktok_shop", "GET", "requests")["requests"]
    return [r for r in requests if r["method"] in ("POST", "PUT") and "search" not in r["path"]]


def _listed(sandbox) -> list[dict]:
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    items = list(products.values()) if isinstance(products, dict) else products
    return [p for p in items if p.get("status") != "DELETED"]


def test_the_shipped_flow_runs_unchanged_from_a_second_product_api(tmp_path):
    with start_sandbox(products=0) as sandbox:
        products, requests = catalog(12, image_host=sandbox.urls["cdn"]), []
        server = LoopbackServer(create_app(products, requests)).start()
        try:
            (tmp_path / "merchant.yaml").write_text(MERCHANT)
            environ = {**sandbox.environ(), "OC_URL": server.url, "OC_KEY": API_KEY}
            merchant = Merchant(tmp_path / "merchant.yaml", extra_paths=[PROJECT], environ=environ)
            try:
                first = FlowRun(merchant, "catalog").run()
                assert first.status == "ok" and first.counts == {"create": 12}, first.results[:1]
                # Offset paging with a total: 12 products in pages of 5 take three reads.
                assert [r["query"]["start"] for r in requests] == ["0", "5", "10"]
                listed = {p["external_product_id"]: p for p in _listed(sandbox)}
                assert set(listed) == {p["code"] for p in products}
                for product in products:
                    skus = {s["seller_sku"]: s for s in listed[product["code"]]["skus"]}
                    assert set(skus) == {s["code"] for s in product["skus"]}
                    for sku in product["skus"]:
                        price = skus[sku["code"]]["price"]
                        sent = price.get("amount") or price.get("tax_exclusive_price") or price.get("sale_price")
                        assert Decimal(sent) == Decimal(sku["price_cents"]) / 100

                sandbox.admin("tiktok_shop", "POST", "requests/clear")
                second = FlowRun(merchant, "catalog").run()
                assert second.counts == {"skip": 12} and _writes(sandbox) == []

                for product in products[:3]:
                    product["skus"][0]["price_cents"] += 250
                sandbox.admin("tiktok_shop", "POST", "requests/clear")
                third = FlowRun(merchant, "catalog").run()
                writes = _writes(sandbox)
                assert third.counts == {"price_update": 3, "skip": 9}
                assert len(writes) == 3 and all(w["path"].endswith("/prices/update") for w in writes)
            finally:
                merchant.close()
        finally:
            server.stop()
