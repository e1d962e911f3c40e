"""A signed client of the TikTok Shop simulator for the mapping tests (the `tiktok` fixture of
conftest.py): it signs exactly the bytes it sends, as reference 1.3 says."""

from __future__ import annotations

import json
import time

from starlette.testclient import TestClient

from engine.platforms.tiktok_shop import tiktok_sign
from simulators.tiktok_shop import DEFAULT_CREDENTIALS

WAREHOUSE = "7068517275539719942"
USPS = "7117858858072016686"  # the simulator's shipping providers, as the 1.9 sample names them
UPS = "7117859084333745966"


class TikTokApi:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.creds = dict(DEFAULT_CREDENTIALS)

    def call(self, method: str, path: str, *, query: dict | None = None, body: object = None, cipher: bool = True):
        q = {"app_key": self.creds["app_key"], "timestamp": str(int(time.time()))}
        if cipher:
            q["shop_cipher"] = self.creds["shop_cipher"]
        q.update(query or {})
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        q["sign"] = tiktok_sign(self.creds["app_secret"], path, q, raw, "application/json")
        headers = {"x-tts-access-token": self.creds["access_token"], "content-type": "application/json"}
        return self.client.request(method, path, params=q, content=raw, headers=headers)

    def ok(self, method: str, path: str, **kw) -> dict:
        payload = self.call(method, path, **kw).json()
        assert payload["code"] == 0, payload
        return payload["data"]

    def order(self, order_id: str) -> dict:
        return self.ok("GET", "/order/202309/orders", query={"ids": order_id})["orders"][0]

    def place_order(self, units: dict[str, int], **spec) -> dict:
        """A paid order, shipped by the seller, of `units` (seller SKU -> quantity)."""
        line_items = [{"sku_id": self.sku_ids[sku], "quantity": n} for sku, n in units.items()]
        body = {"line_items": line_items, "status": "AWAITING_SHIPMENT", "shipping_type": "SELLER", **spec}
        response = self.client.post("/_admin/orders", json=body)
        assert response.status_code == 200, response.text
        return self.order(response.json()["id"])

    def add_product(self) -> None:
        """A live product with two SKUs, TEE-M and TEE-L, planted without the audit."""
        skus = [{"seller_sku": sku, "price": {"amount": "19.90", "currency": "USD"},
                 "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 20}],
                 "sales_attributes": [{"name": "Size", "value_name": size}]}
                for sku, size in (("TEE-M", "M"), ("TEE-L", "L"))]
        seeded = self.client.post("/_admin/seed", json={"products": [
            {"title": "Crew Tee", "category_id": "600050", "status": "ACTIVATE", "skus": skus}]})
        assert seeded.status_code == 200, seeded.text
        products = self.ok("POST", "/product/202309/products/search", query={"page_size": "50"}, body={})["products"]
        self.sku_ids = {s["seller_sku"]: s["id"] for p in products for s in p["skus"]}
