"""The B2C Commerce connector against its simulator, call by call: the Account Manager token with
the tenant scope from the Organization ID, an Organization ID of the wrong form refused before
any call, offset paging of the catalog, the inventory settings, and the order status writes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from engine.http import AuthError
from engine.http.client import Connection
from simulators.common import LoopbackServer
from simulators.salesforce import commerce_cloud

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "connectors" / "salesforce_commerce_cloud.yaml")
                      .read_text())
CREDS = commerce_cloud.DEFAULT_CREDENTIALS
SECRETS = {k: CREDS[k] for k in ("am_client_id", "am_client_password", "shop_client_id", "shop_client_password",
                                 "ocapi_client_id")}


@pytest.fixture
def shop():
    products = commerce_cloud.catalog(60, image_host="https://cdn.example")
    skus = [v["productId"] for p in products for v in p["variants"]]
    server = LoopbackServer(commerce_cloud.create_app(products, {"inventory_m": dict.fromkeys(skus, 7)})).start()
    yield server, skus
    server.stop()


def connect(server, **settings) -> Connection:
    base = {"organization_id": CREDS["organization_id"], "short_code": CREDS["short_code"],
            "site_id": CREDS["site_id"], "base_url": server.url, "token_url": f"{server.url}/dwsso/oauth2/access_token"}
    return Connection(SPEC, settings={**base, **settings}, credentials=SECRETS, sleep=lambda s: None)


def requests(server) -> list[dict]:
    return httpx.get(f"{server.url}/_admin/state").json()["requests"]


def test_the_catalog_pages_by_offset_under_a_tenant_scoped_token(shop):
    server, _ = shop
    with connect(server) as conn:
        products = list(conn.records("search_products"))
    assert len(products) == 60
    log = requests(server)
    assert [r["scope"] for r in log if r["path"].endswith("access_token")] == [
        "SALESFORCE_COMMERCE_API:zzxy_prd sfcc.products sfcc.inventory-lists sfcc.orders.rw"]
    searches = [r for r in log if r["path"].endswith("product-search")]
    assert len(searches) == 2 and all(r["query"] == {"siteId": "RefArch"} for r in searches)


def test_an_organization_id_of_the_wrong_form_is_refused_before_any_call(shop):
    server, _ = shop
    with pytest.raises(AuthError, match="f_ecom_<realm>_<instance>"):
        connect(server, organization_id="zzxy_prd")
    assert requests(server) == []


def test_inventory_reads_every_sku_or_only_the_listed_ones(shop):
    server, skus = shop
    with connect(server) as conn:
        assert len(list(conn.records("list_inventory", query={"inventoryListIds": "inventory_m"}))) == len(skus)
    with connect(server, inventory_resync=False, inventory_skus=skus[:2]) as conn:
        found = list(conn.records("list_inventory", query={"inventoryListIds": "inventory_m"}))
    assert [r["productId"] for r in found] == sorted(skus[:2])


def test_order_export_and_shipping_status_are_written(shop):
    server, _ = shop
    httpx.post(f"{server.url}/_admin/orders", json={"orderNo": "00001234"}).raise_for_status()
    with connect(server) as conn:
        ready = list(conn.records("list_orders", query={"exportStatus": "ready"}))
        assert [o["orderNo"] for o in ready] == ["00001234"]
        conn.call("set_export_status", path_params={"order_no": "00001234"}, body={"status": "exported"})
        conn.call("set_shipping_status", path_params={"order_no": "00001234"}, body={"status": "shipped"})
        assert list(conn.records("list_orders", query={"exportStatus": "ready"})) == []
    order = httpx.get(f"{server.url}/_admin/state").json()["orders"]["00001234"]
    assert (order["exportStatus"], order["shippingStatus"]) == ("exported", "shipped")
