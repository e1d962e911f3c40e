"""Fixtures of the operations page tests: a copy of the acme example whose state holds runs, dead
letters in two root-error groups, listings, an order and stock; the page over it, in process."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient
from ui_helpers import ENV, LOCAL, copy_acme, seed

from engine.flow.runner import Merchant
from engine.ui import Access, Operations, standalone_app


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    return copy_acme(tmp_path / "acme")


@pytest.fixture
def seeded(acme: Path) -> dict:
    return {"file": acme, **seed(acme)}


@pytest.fixture
def page(seeded: dict):
    """The page over the seeded acme, bound to loopback, in process: (client, merchant, seeded)."""
    merchant = Merchant(seeded["file"], environ=ENV)
    client = TestClient(standalone_app(Operations({"acme": merchant}, Access("127.0.0.1"))), base_url=LOCAL)
    try:
        yield client, merchant, seeded
    finally:
        client.close()
        merchant.close()
