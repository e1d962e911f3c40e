"""The simulator shops the order mapping tests write to: Shopify (`shop`) and TikTok Shop (`tiktok`)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from tiktok_sim import TikTokApi

from simulators.shopify import DEFAULT_CREDENTIALS, create_app
from simulators.tiktok_shop import create_app as create_tiktok_app

BASE = "/admin/api/2025-01"


@pytest.fixture
def shop():
    with TestClient(create_app()) as client:
        client.headers.update({"X-Shopify-Access-Token": DEFAULT_CREDENTIALS["access_token"]})
        seeded = client.post("/_admin/seed", json={
            "products": [
                {"title": "Crew Tee", "variants": [{"sku": "TEE-M", "price": "20.00", "inventory_quantity": 50}]},
                {"title": "Cap", "variants": [{"sku": "CAP", "price": "15.00", "inventory_quantity": 50}]},
                {"title": "Hoodie", "variants": [{"sku": "HOODIE", "price": "45.00", "inventory_quantity": 50}]},
                {"title": "Scarf", "variants": [{"sku": "SCARF", "price": "24.00", "inventory_quantity": 50}]},
            ],
            "customers": [{"email": "qq81Zx@chat.seller.tiktok.com", "first_name": "Ann", "last_name": "Lee"}],
        }).json()
        client.variant_ids = {p["variants"][0]["sku"]: str(p["variants"][0]["id"]) for p in seeded["products"]}
        client.customer_id = str(seeded["customers"][0]["id"])
        client.location_id = str(client.get(f"{BASE}/locations.json").json()["locations"][0]["id"])
        yield client


@pytest.fixture
def tiktok():
    with TestClient(create_tiktok_app(seed=1)) as client:
        api = TikTokApi(client)
        api.add_product()
        yield api
