"""A catalog sync holds a page of records, not the catalog: the bulk read hands the flow pages of
`page_size` joined records, and a dry run keeps the plan of its first KEEP_PLAN records only,
counting the rest (bench P9 measures the memory at 10,000 and 100,000 products)."""

from __future__ import annotations

import pytest
from gql_helpers import merchant

from engine.flow.runner import FlowRun, RunReport
from simulators.sandbox import start_sandbox

pytestmark = pytest.mark.slow


def test_a_dry_run_of_a_bulk_read_catalog_keeps_a_bounded_plan(tmp_path, monkeypatch):
    with start_sandbox(products=40, seed=4, max_variants=3, invalid_share=0.0) as sandbox:
        shop = merchant(sandbox, tmp_path)
        try:
            bulk = shop.connection("shopify").spec.operations["bulk_products"].request
            monkeypatch.setattr(bulk, "page_size", 7)
            monkeypatch.setattr(bulk, "poll_seconds", 0.05)
            pages = [len(page.records) for page in shop.connection("shopify").paginate("bulk_products")]
            assert pages == [7, 7, 7, 7, 7, 5]
            monkeypatch.setattr(RunReport, "KEEP_PLAN", 10)
            report = FlowRun(shop, "catalog", dry_run=True).run()
        finally:
            shop.close()
    assert sum(report.counts.values()) == 40
    kept = [r for r in report.results if r["action"] != "dead_letter"]
    assert len(kept) == 10 and report.not_kept == 40 - 10 - report.counts.get("dead_letter", 0)
    assert len(report.planned) <= 10 and report.planned.dropped > 0


def test_two_products_claiming_one_sku_anywhere_in_the_catalog_are_caught(tmp_path, monkeypatch):
    """The SKUs claimed so far live in the state store, not in the run: the check still spans every
    page (pages of 5 here, the planted duplicates copy a SKU from anywhere earlier in the catalog),
    and the run leaves no claim behind."""
    import sqlite3
    from collections import Counter

    with start_sandbox(products=60, seed=5, max_variants=3, invalid_share=0.3) as sandbox:
        owners = Counter(v["sku"] for p in sandbox.products for v in {v["sku"]: v for v in p["variants"]}.values()
                         if v.get("sku"))
        shared = {sku: n for sku, n in owners.items() if n > 1}
        shop = merchant(sandbox, tmp_path)
        try:
            bulk = shop.connection("shopify").spec.operations["bulk_products"].request
            monkeypatch.setattr(bulk, "page_size", 5)
            monkeypatch.setattr(bulk, "poll_seconds", 0.05)
            report = FlowRun(shop, "catalog", dry_run=True).run()
            state = shop.state_url
        finally:
            shop.close()
    assert shared, "the catalog has planted duplicate SKUs"
    refused = [r for r in report.dead_letters if r["step"] == "match"]
    said = Counter(sku for r in refused for sku in shared
                   if any(f"SKU {sku!r} is already used by" in e["message"] for e in r["error"]["field_errors"]))
    assert said == {sku: n - 1 for sku, n in shared.items()}
    assert len(refused) == sum(n - 1 for n in shared.values())
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT COUNT(*) FROM kv WHERE namespace LIKE 'sku_claims:%'").fetchone() == (0,)
