"""TikTok SKU prices: the seller sets tax_exclusive_price; sale_price is what the buyer pays.

get_product_202309_docsample.json gives skus[].price{currency, sale_price "117.5",
tax_exclusive_price "110", unit_price}. Create, edit and price updates send `price.amount`, the
seller's price before tax (1.10). A shop whose market prices include tax (create_app's
sale_tax_rate) reads back a higher sale_price; by default every market has none, so the US and GB
shops of the other tests read equal prices.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from starlette.testclient import TestClient
from test_tiktok_sim import Api, FakeClock, product_body

from simulators.tiktok_shop import create_app


def _gbp(body: dict, amount: str) -> dict:
    for sku in body["skus"]:
        sku["price"] = {"amount": amount, "currency": "GBP"}
    return body


@pytest.fixture
def vat_shop():
    clock = FakeClock()
    with TestClient(create_app(seed=5, clock=clock, region="GB", sale_tax_rate="0.2")) as client:
        yield Api(client, clock), client


def _listed(api: Api, client: TestClient, amount: str, **over) -> dict:
    created = api.ok("POST", "/product/202309/products", body=_gbp(product_body(api.upload_image(), **over), amount))
    client.post("/_admin/audit/run")
    return created


def test_vat_market_sale_price_includes_the_tax_and_tax_exclusive_price_is_what_the_seller_set(vat_shop):
    api, client = vat_shop
    created = _listed(api, client, "24.99")
    product = api.ok("GET", f"/product/202309/products/{created['product_id']}")
    # 24.99 * 1.2 = 29.988, rounded half-up to the penny.
    assert product["skus"][0]["price"] == {"currency": "GBP", "tax_exclusive_price": "24.99", "sale_price": "29.99",
                                           "unit_price": "29.99"}
    found = api.ok("POST", "/product/202309/products/search", query={"page_size": "5"}, body={})["products"][0]
    assert found["skus"][0]["price"] == {"currency": "GBP", "tax_exclusive_price": "24.99", "sale_price": "29.99"}


def test_a_price_update_sets_the_tax_exclusive_price_and_the_sale_price_follows(vat_shop):
    api, client = vat_shop
    created = _listed(api, client, "24.99")
    sku_id = created["skus"][0]["id"]
    api.ok("POST", f"/product/202309/products/{created['product_id']}/prices/update",
           body={"skus": [{"id": sku_id, "price": {"amount": "10.00", "currency": "GBP"}}]})
    price = api.ok("GET", f"/product/202309/products/{created['product_id']}")["skus"][0]["price"]
    assert (price["tax_exclusive_price"], price["sale_price"]) == ("10", "12")


def test_unit_price_is_the_sale_price_per_sku_unit_count(vat_shop):
    api, client = vat_shop
    body = _gbp(product_body(api.upload_image()), "33.33")
    for sku in body["skus"]:
        sku["sku_unit_count"] = "4"
    created = api.ok("POST", "/product/202309/products", body=body)
    price = api.ok("GET", f"/product/202309/products/{created['product_id']}")["skus"][0]["price"]
    # 33.33 * 1.2 = 39.996 -> 40; 40 / 4 = 10. Decimal all the way: no float noise.
    assert (price["tax_exclusive_price"], price["sale_price"], price["unit_price"]) == ("33.33", "40", "10")


def test_vat_market_orders_charge_the_sale_price_and_state_the_tax_it_holds(vat_shop):
    api, client = vat_shop
    created = _listed(api, client, "10")
    order = client.post("/_admin/orders", json={"line_items": [{"sku_id": created["skus"][0]["id"], "quantity": 2}],
                                                "status": "AWAITING_SHIPMENT"}).json()
    detail = api.ok("GET", "/order/202309/orders", query={"ids": order["id"]})["orders"][0]
    line = detail["line_items"][0]
    assert (line["original_price"], line["sale_price"]) == ("12", "12")
    assert line["item_tax"] == [{"tax_type": "VAT", "tax_amount": "2", "tax_rate": "0.2"}]
    pay = detail["payment"]
    assert (pay["original_total_product_price"], pay["sub_total"], pay["product_tax"], pay["tax"]) == \
        ("24", "24", "4", "4")
    # The tax is inside the prices, so it is not added again.
    assert Decimal(pay["total_amount"]) == Decimal(pay["sub_total"]) + Decimal(pay["shipping_fee"]) \
        + Decimal(pay["retail_delivery_fee"])


def test_default_markets_report_equal_sale_and_tax_exclusive_prices():
    for region, currency in (("US", "USD"), ("GB", "GBP")):
        clock = FakeClock()
        with TestClient(create_app(seed=6, clock=clock, region=region)) as client:
            api = Api(client, clock)
            body = product_body(api.upload_image())
            for sku in body["skus"]:
                sku["price"] = {"amount": "19.90", "currency": currency}
            created = api.ok("POST", "/product/202309/products", body=body)
            price = api.ok("GET", f"/product/202309/products/{created['product_id']}")["skus"][0]["price"]
            assert price["sale_price"] == price["tax_exclusive_price"] == "19.9", region


def test_sale_tax_rate_must_be_a_non_negative_decimal():
    for bad in ("abc", "-0.1", "NaN"):
        with pytest.raises(ValueError):
            create_app(sale_tax_rate=bad)


def test_package_weight_reads_back_as_written_or_in_grams_when_asked():
    for read_unit, expected in ((None, {"value": "0.30", "unit": "KILOGRAM"}), ("GRAM", {"value": "300", "unit": "GRAM"})):
        clock = FakeClock()
        with TestClient(create_app(seed=6, clock=clock, package_weight_read_unit=read_unit)) as client:
            api = Api(client, clock)
            created = api.ok("POST", "/product/202309/products", body=product_body(api.upload_image()))
            assert api.ok("GET", f"/product/202309/products/{created['product_id']}")["package_weight"] == expected
    with pytest.raises(ValueError):
        create_app(package_weight_read_unit="OUNCE")
