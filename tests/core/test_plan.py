"""One plan: validate builds it, run executes it. Every merchant binding is resolved and its
mappings compiled when the plan is built; building a run's steps compiles nothing again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.flow.runner import FlowRun, Merchant
from engine.lang.expr import ExpressionCompiler
from engine.project.loader import Project
from engine.project.plan import build_plan

ROOT = Path(__file__).resolve().parents[2]
ENV = {"ACME_SHOPIFY_TOKEN": "shpat_test", "ACME_SHOPIFY_WEBHOOK_SECRET": "whsec_test", "ACME_TIKTOK_SHOP_CIPHER": "c", "ACME_TIKTOK_APP_KEY": "k",
       "ACME_TIKTOK_APP_SECRET": "s", "ACME_TIKTOK_ACCESS_TOKEN": "a", "ACME_TIKTOK_REFRESH_TOKEN": "r"}


def test_the_plan_holds_every_binding_resolved_and_compiled():
    plan = build_plan(Project.load([ROOT / "examples"]))
    assert not plan.errors
    catalog = plan.flow("acme", "catalog")
    assert catalog.flow == "catalog_to_tiktok" and dict(catalog.roles) == {"source": "shopify", "target": "tiktok_us"}
    kinds = [step.kind for step in catalog.steps]
    assert kinds[:2] == ["pull", "map"] and kinds[-1] == "push" and "fetch" in kinds  # the channel rules' fetch
    assert catalog.steps[0].options["operation"] == "list_products"  # from the Shopify connector
    # (the push takes every write TikTok declares for products, deactivate and activate included)
    assert set(catalog.mappings) == {"shopify.product_to_canonical", "tiktok_shop.product_from_canonical",
                                     "tiktok_shop.price_update", "tiktok_shop.inventory_update",
                                     "tiktok_shop.product_ids"}
    assert "price" in kinds and "filter" not in kinds  # acme names price rules and sets no selection
    assert catalog.mappings["shopify.product_to_canonical"] is not None
    imported = plan.flow("bloom_my", "catalog")
    assert imported.steps[0].options["body"] == {"status": "ACTIVATE"}  # TikTok's live read
    assert set(plan.connectors) >= {"shopify", "tiktok_shop"}
    with pytest.raises(TypeError):
        catalog.mappings["x"] = None  # read-only


def test_building_a_run_compiles_no_expression_again(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples" / "acme", tmp_path / "acme")
    merchant = Merchant(tmp_path / "acme" / "merchant.yaml", environ=ENV)
    try:
        compiled: list[str] = []
        original = ExpressionCompiler.jmespath

        def counting(self, source):
            compiled.append(source)
            return original(self, source)

        monkeypatch.setattr(ExpressionCompiler, "jmespath", counting)
        FlowRun(merchant, "catalog")
        FlowRun(merchant, "listing_status")
        assert compiled == []
    finally:
        merchant.close()
