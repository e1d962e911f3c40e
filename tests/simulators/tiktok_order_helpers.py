"""What the TikTok order tests share: placing and reading orders, stock, events and the payment check."""

from __future__ import annotations

from decimal import Decimal

from starlette.testclient import TestClient
from test_tiktok_sim import Api

SHIP_BODY = {"tracking_number": "1Z999", "shipping_provider_id": "7117858858072016686"}
NINE = {"UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION", "IN_TRANSIT",
        "DELIVERED", "COMPLETED", "CANCELLED"}


def place(client: TestClient, **spec) -> dict:
    response = client.post("/_admin/orders", json=spec)
    assert response.status_code == 200, response.text
    return response.json()


def detail(api: Api, order_id: str) -> dict:
    return api.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]


def stock(api: Api, sku_id: str) -> tuple[int, int]:
    inv = api.ok("POST", "/product/202309/inventory/search", body={"sku_ids": [sku_id]})["inventory"][0]["skus"][0]
    return inv["total_available_quantity"], inv["total_committed_quantity"]


def events(client: TestClient, event_type: str | None = None) -> list[dict]:
    return [e["event"] for e in client.get("/_admin/state").json()["webhooks"]["events"]
            if event_type in (None, e["event_type"])]


def statuses_announced(client: TestClient, order_id: str) -> list[str]:
    return [e["data"]["order_status"] for e in events(client, "ORDER_STATUS_CHANGE")
            if e["data"]["order_id"] == order_id]


def assert_payment_adds_up(order: dict) -> None:
    """1.11's formulas hold on the strings, to the cent, and the lines add up to the payment."""
    pay = {k: Decimal(v) for k, v in order["payment"].items() if k != "currency"}
    assert pay["sub_total"] == pay["original_total_product_price"] - pay["seller_discount"] - pay["platform_discount"]
    assert pay["shipping_fee"] == (pay["original_shipping_fee"] - pay["shipping_fee_seller_discount"]
                                   - pay["shipping_fee_platform_discount"])
    assert pay["total_amount"] == pay["sub_total"] + pay["shipping_fee"] + pay["tax"] + pay["retail_delivery_fee"]
    assert pay["tax"] == pay["product_tax"] + pay["shipping_fee_tax"]
    lines = order["line_items"]
    for key in ("original_price", "seller_discount", "platform_discount"):
        total_key = "original_total_product_price" if key == "original_price" else key
        assert sum(Decimal(li[key]) for li in lines) == pay[total_key], key
    assert sum(Decimal(li["item_tax"][0]["tax_amount"]) for li in lines) == pay["product_tax"]
    for li in lines:
        assert Decimal(li["sale_price"]) == (Decimal(li["original_price"]) - Decimal(li["seller_discount"])
                                             - Decimal(li["platform_discount"]))
    for value in order["payment"].values():
        assert isinstance(value, str) and (value == "USD" or Decimal(value) == Decimal(value).quantize(Decimal("0.01")))
