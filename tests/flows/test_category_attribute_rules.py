"""A product whose TikTok category requires an attribute the merchant has not configured is
refused before any write, with the attribute named; the category's attribute list is read once
per category per run, not once per product."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from engine.flow.runner import FlowRun, Merchant
from simulators.catalog import invalid_reason
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
HOME = "600050"  # Mugs, Candles, Yoga Mats; the simulator requires Material (101619) there

pytestmark = pytest.mark.slow


@pytest.fixture
def merchant_without_material(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "acme")
    path = tmp_path / "acme" / "merchant.yaml"
    text = path.read_text(encoding="utf-8")
    configured = re.search(rf'^ *"{HOME}": .*$', text, re.M).group(0)
    # Capacity is optional; Material, the required one, is left out.
    path.write_text(text.replace(configured, f'        "{HOME}": [{{id: "101700", values: [{{name: "350"}}]}}]'),
                    encoding="utf-8")
    return path


def test_missing_required_attribute_is_a_field_error_before_any_write(merchant_without_material):
    with start_sandbox(products=30, seed=3, max_variants=3, invalid_share=0.0) as sandbox:
        merchant = Merchant(merchant_without_material, environ=sandbox.environ())
        try:
            flow = FlowRun(merchant, "catalog")
            category_map = flow.ctx.options["category_map"]
            products = sandbox.admin("shopify", "GET", "state")["products"]
            assert not any(invalid_reason(p) for p in products)
            home = {str(p["id"]) for p in products if category_map.get(p["product_type"]) == HOME}
            assert home and len(home) < len(products), "the seed must mix home and other categories"
            report = flow.run()
            letters = {row["key"]: row for row in merchant.store.list_dead_letters(merchant="acme")}
        finally:
            merchant.close()
        assert set(letters) == home
        for letter in letters.values():
            assert letter["step"] == "check"
            [error] = letter["error"]["field_errors"]
            assert error["rule"] == "required_category_attributes" and error["field"] == "attributes"
            assert f"TikTok category {HOME} requires Material" in error["message"]
        assert report.counts.get("create") == len(products) - len(home)
        requests = sandbox.admin("tiktok_shop", "GET", "requests")["requests"]
        reads = [r["path"] for r in requests if r["path"].endswith("/attributes")]
        used = {category_map[p["product_type"]] for p in products}
        assert sorted(reads) == sorted(f"/product/202309/categories/{c}/attributes" for c in used)
        created = [r for r in requests if r["method"] == "POST" and r["path"] == "/product/202309/products"]
        assert len(created) == len(products) - len(home)
