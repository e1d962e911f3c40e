"""Regression: creates that failed once, then a fixed option and a re-run, must give one TikTok
listing per product. The look-up before a repeated create once searched with a filter read from
the wrong shape (the TikTok body instead of the canonical SKUs), so the search went out unfiltered
and every retried product adopted the first listing found."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
GOOD_WAREHOUSE = '"7068517275539719942"'

pytestmark = pytest.mark.slow


def _live(sandbox) -> list[dict]:
    products = sandbox.admin("tiktok_shop", "GET", "state")["products"]
    items = list(products.values()) if isinstance(products, dict) else products
    return [p for p in items if p.get("status") != "DELETED"]


def test_failed_creates_fixed_and_rerun_give_one_listing_per_product(tmp_path):
    with start_sandbox(products=4, seed=3, max_variants=3, invalid_share=0.0) as sandbox:
        shutil.copytree(EXAMPLE, tmp_path / "acme")
        merchant_file = tmp_path / "acme" / "merchant.yaml"
        text = merchant_file.read_text()
        assert GOOD_WAREHOUSE in text
        merchant_file.write_text(text.replace(GOOD_WAREHOUSE, '"111"'))

        merchant = Merchant(merchant_file, environ=sandbox.environ())
        first = FlowRun(merchant, "catalog").run()
        merchant.close()
        assert first.counts.get("dead_letter") == 4 and _live(sandbox) == []

        merchant_file.write_text(text)
        merchant = Merchant(merchant_file, environ=sandbox.environ())
        try:
            second = FlowRun(merchant, "catalog").run()
            assert second.counts.get("create") == 4, second.counts
            listed = _live(sandbox)
            assert len(listed) == 4
            by_id = {str(p["id"]): p for p in listed}
            entries = merchant.store.list_mappings("product", "tiktok_us")
            assert len({e["remote_id"] for e in entries}) == 4
            products = sandbox.admin("shopify", "GET", "state")["products"]
            shopify = {str(p["id"]): p for p in (products.values() if isinstance(products, dict) else products)}
            for entry in entries:
                listing = by_id[entry["remote_id"]]
                assert {s["seller_sku"] for s in listing["skus"]} == \
                    {v["sku"] for v in shopify[entry["key"]]["variants"]}
        finally:
            merchant.close()
