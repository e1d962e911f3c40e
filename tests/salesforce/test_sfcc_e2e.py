"""B2C Commerce as the primary catalog, end to end against the simulators: its master products
with their variants, variation attributes, price book prices and images listed on TikTok Shop US
by the shipped catalog flow (0 writes on a second run); its inventory list records offered on
TikTok; and the hybrid example (examples/sf_hybrid: the catalog from B2C Commerce, orders,
fulfilment and stock in Order Management) running as written."""

from __future__ import annotations

import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.common import LoopbackServer
from simulators.salesforce import DEFAULT_CREDENTIALS as SOM_CREDENTIALS
from simulators.salesforce import commerce_cloud
from simulators.salesforce import create_app as create_org
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sf_hybrid"
MAIN_WH = "7068517275539719942"
CREDS = commerce_cloud.DEFAULT_CREDENTIALS

MERCHANT = textwrap.dedent(f"""\
    kind: merchant
    name: harbor_cc
    primary_catalog: commerce_cloud
    connections:
      commerce_cloud:
        connector: salesforce_commerce_cloud
        settings:
          organization_id: {CREDS["organization_id"]}
          short_code: {CREDS["short_code"]}
          site_id: {CREDS["site_id"]}
          base_url: "${{env:SFCC_URL}}"
          token_url: "${{env:SFCC_TOKEN_URL}}"
        credentials:
          am_client_id: "${{env:SFCC_AM_ID}}"
          am_client_password: "${{env:SFCC_AM_PASSWORD}}"
          shop_client_id: "${{env:SFCC_SHOP_ID}}"
          shop_client_password: "${{env:SFCC_SHOP_PASSWORD}}"
          ocapi_client_id: "${{env:SFCC_OCAPI_ID}}"
      tiktok_us:
        connector: tiktok_shop
        region: US
        currency: USD
        settings:
          shop_cipher: "${{env:ACME_TIKTOK_SHOP_CIPHER}}"
          base_url: "${{env:ACME_TIKTOK_URL}}"
          token_url: "${{env:ACME_TIKTOK_TOKEN_URL}}"
        credentials:
          app_key: "${{env:ACME_TIKTOK_APP_KEY}}"
          app_secret: "${{env:ACME_TIKTOK_APP_SECRET}}"
          access_token: "${{env:ACME_TIKTOK_ACCESS_TOKEN}}"
          refresh_token: "${{env:ACME_TIKTOK_REFRESH_TOKEN}}"
    flows:
      catalog:
        flow: catalog_to_tiktok
        connections: {{source: commerce_cloud, target: tiktok_us}}
        options:
          warehouse_id: "{MAIN_WH}"
          category_map: {{outerwear: "601303"}}
          category_attributes:
            "601303": [{{id: "100392", values: [{{id: "1000069", name: Polyester}}]}}]
          default_package_dimensions: {{length: "30", width: "20", height: "10", unit: CENTIMETER}}
      inventory:
        flow: inventory_to_tiktok
        connections: {{store: commerce_cloud, channel: tiktok_us}}
        options:
          warehouses:
            - {{warehouse_id: "{MAIN_WH}", locations: [inventory_m]}}
""")


def _sfcc_env(url: str) -> dict[str, str]:
    return {"SFCC_URL": url, "SFCC_TOKEN_URL": f"{url}/dwsso/oauth2/access_token",
            "SFCC_AM_ID": CREDS["am_client_id"], "SFCC_AM_PASSWORD": CREDS["am_client_password"],
            "SFCC_SHOP_ID": CREDS["shop_client_id"], "SFCC_SHOP_PASSWORD": CREDS["shop_client_password"],
            "SFCC_OCAPI_ID": CREDS["ocapi_client_id"]}


def _listed(sandbox) -> dict[str, dict]:
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    return {p["external_product_id"]: p for p in products if p.get("status") != "DELETED"}


def _offered(sandbox) -> dict[str, int]:
    return {s["seller_sku"]: next((r["quantity"] for r in s["inventory"] if r["warehouse_id"] == MAIN_WH), 0)
            for p in _listed(sandbox).values() for s in p["skus"]}


def test_the_catalog_and_its_stock_reach_tiktok(tmp_path):
    with start_sandbox(products=0) as sandbox:
        products = commerce_cloud.catalog(7, image_host=sandbox.urls["cdn"])
        skus = [v["productId"] for p in products for v in p["variants"]]
        stock = {sku: 5 + i for i, sku in enumerate(skus)}
        server = LoopbackServer(commerce_cloud.create_app(products, {"inventory_m": stock,
                                                                     "inventory_store": dict.fromkeys(skus, 99)})).start()
        try:
            (tmp_path / "merchant.yaml").write_text(MERCHANT)
            merchant = Merchant(tmp_path / "merchant.yaml", environ={**sandbox.environ(), **_sfcc_env(server.url)})
            try:
                first = FlowRun(merchant, "catalog").run()
                assert first.status == "ok" and first.counts == {"create": 7}, first.results[:1]
                listed = _listed(sandbox)
                assert set(listed) == {p["id"] for p in products}
                for product in products:
                    tiktok = {s["seller_sku"]: s for s in listed[product["id"]]["skus"]}
                    assert set(tiktok) == {v["productId"] for v in product["variants"]}
                    for variant in product["variants"]:
                        price = tiktok[variant["productId"]]["price"]
                        sent = price.get("amount") or price.get("tax_exclusive_price") or price.get("sale_price")
                        assert Decimal(sent) == variant["prices"]["usd-sale-prices"]
                state = httpx.get(f"{server.url}/_admin/state").json()
                tokens = [r for r in state["requests"] if r["path"] == "/dwsso/oauth2/access_token"]
                assert tokens and "SALESFORCE_COMMERCE_API:zzxy_prd" in tokens[0]["scope"].split()
                # 7 masters in pages of 50: one search; a second run writes nothing.
                assert FlowRun(merchant, "catalog").run().counts == {"skip": 7}

                report = FlowRun(merchant, "inventory").run()
                assert report.status == "ok", report.results[:2]
                offered = _offered(sandbox)
                assert {sku: offered[sku] for sku in skus} == stock  # inventory_m only, not the store list
                httpx.post(f"{server.url}/_admin/inventory", json={"list_id": "inventory_m", "sku": skus[0],
                                                                   "amount": 0}).raise_for_status()
                FlowRun(merchant, "inventory").run()
                assert _offered(sandbox)[skus[0]] == 0
            finally:
                merchant.close()
        finally:
            server.stop()


def test_the_hybrid_example_runs_as_written(tmp_path):
    """examples/sf_hybrid: the catalog from B2C Commerce, TikTok orders into Order Management, and
    Order Management's warehouse stock on TikTok."""
    with start_sandbox(products=0) as sandbox:
        products = commerce_cloud.catalog(3, image_host=sandbox.urls["cdn"])
        skus = [v["productId"] for p in products for v in p["variants"]]
        cc = LoopbackServer(commerce_cloud.create_app(products, {})).start()
        som = LoopbackServer(create_org()).start()
        try:
            seeded = httpx.post(f"{som.url}/_admin/seed", json={
                "products": [{"sku": s, "price": "40"} for s in skus] + [{"sku": "SHIPPING", "price": "0"}],
                "locations": [{"id": "131Hs000000MainAAA", "name": "Main DC", "type": "Warehouse"}],
                "stock": [{"sku": s, "location": "131Hs000000MainAAA", "quantity": 12} for s in skus],
                "delivery_methods": [{"name": "Channel shipping", "reference": "CHANNEL"}]}).json()
            shutil.copytree(EXAMPLE, tmp_path / "sf_hybrid")
            environ = {**sandbox.environ("CRESTLINE"),
                       **{k.replace("SFCC_", "CRESTLINE_SFCC_").replace("AM_ID", "AM_CLIENT_ID")
                          .replace("AM_PASSWORD", "AM_CLIENT_PASSWORD").replace("SHOP_ID", "SHOP_CLIENT_ID")
                          .replace("SHOP_PASSWORD", "SHOP_CLIENT_PASSWORD").replace("OCAPI_ID", "OCAPI_CLIENT_ID"): v
                          for k, v in _sfcc_env(cc.url).items()},
                       "CRESTLINE_SOM_URL": som.url, "CRESTLINE_SOM_PRICEBOOK": seeded["pricebook_id"],
                       "CRESTLINE_SOM_CLIENT_ID": SOM_CREDENTIALS["client_id"],
                       "CRESTLINE_SOM_CLIENT_SECRET": SOM_CREDENTIALS["client_secret"],
                       "CRESTLINE_SOM_REFRESH_TOKEN": SOM_CREDENTIALS["refresh_token"]}
            merchant = Merchant(tmp_path / "sf_hybrid" / "merchant.yaml", environ=environ)
            try:
                assert FlowRun(merchant, "catalog").run().counts == {"create": 3}
                sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
                # The listings carry no stock from the catalog: Order Management's warehouse gives it.
                assert FlowRun(merchant, "inventory").run().status == "ok"
                offered = _offered(sandbox)
                assert {offered[sku] for sku in skus} == {11}  # 12 at the warehouse less the buffer of 1
                generated = sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
                    "count": 4, "seed": 9, "skus": skus, "statuses": {"AWAITING_SHIPMENT": 1}})["orders"]
                report = FlowRun(merchant, "orders").run()
                assert report.counts.get("create") == 4, report.results[:2]
                orders = httpx.get(f"{som.url}/_admin/state").json()["Order"]
                assert {o["Channel_Order_Id__c"] for o in orders} == set(generated)
                assert all(o["Status"] == "Activated" for o in orders)
            finally:
                merchant.close()
        finally:
            cc.stop()
            som.stop()
