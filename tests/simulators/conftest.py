"""Fixtures of the TikTok Shop simulator's order tests: a shop on a fake clock with one approved
tee in stock. A test module that defines a fixture of the same name uses its own."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from test_tiktok_sim import Api, FakeClock, create_active_product

from simulators.tiktok_shop import create_app


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(clock):
    with TestClient(create_app(seed=3, clock=clock)) as c:
        yield c


@pytest.fixture
def api(client, clock):
    return Api(client, clock)


@pytest.fixture
def sku(api, client) -> dict:
    """The first SKU of an approved tee: 19.90, 10 units in the main warehouse."""
    created = create_active_product(api, client)
    return {"id": created["skus"][0]["id"], "product_id": created["product_id"], "seller_sku": "TEE-BLK-M"}
