"""Fixtures of the HTTP runtime tests (helpers live in http_helpers.py)."""

from __future__ import annotations

import pytest
from http_helpers import FakeClock, load_spec


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def tiktok_spec() -> dict:
    return load_spec("tiktok_shop")


@pytest.fixture(scope="session")
def shopify_spec() -> dict:
    return load_spec("shopify")
