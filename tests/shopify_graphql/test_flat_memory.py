"""A catalog sync holds a page of records, not the catalog: the bulk read hands the flow pages of
`page_size` joined records, and a dry run keeps the plan of its first KEEP_PLAN records only,
counting the rest (bench P9 measures the memory at 10,000 and 100,000 products)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gql_helpers import EXAMPLE, environ, merchant

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


# The engine's memory, measured with tracemalloc in a child process of its own (the simulators run
# in this one, so their catalog is not counted): a dry run of SMALL records, then of BIG.
SMALL, BIG = 100, 600
CHILD = """
import gc, json, sys, tracemalloc
from pathlib import Path
from engine.flow.runner import FlowRun, Merchant, RunReport

folder, environ, sizes = Path(sys.argv[1]), json.loads(sys.argv[2]), [int(n) for n in sys.argv[3:]]
RunReport.KEEP_PLAN = RunReport.KEEP_RESULTS = RunReport.KEEP_LETTERS = 10  # bounded, and reached early
shop = Merchant(folder / "merchant.yaml", environ=environ)
bulk = shop.connection("shopify").spec.operations["bulk_products"].request
bulk.page_size, bulk.poll_seconds = 50, 0.02
FlowRun(shop, "catalog", dry_run=True, limit=60).run()  # compiled plans and reference data, read once
out = {}
for n in sizes:
    gc.collect()
    tracemalloc.start()
    run = FlowRun(shop, "catalog", dry_run=True, limit=n)
    report = run.run()
    current, peak = tracemalloc.get_traced_memory()  # run and report still alive: what they hold
    tracemalloc.stop()
    out[n] = {"peak": peak, "held": current, "records": sum(report.counts.values())}
    del run, report
shop.close()
print(json.dumps(out))
"""


def test_the_engine_memory_of_a_catalog_dry_run_does_not_grow_with_the_catalog(tmp_path):
    """A structure that grows with the catalog (a claim table, kept outcomes or letters, a cache
    of records or pages) makes the larger run hold and peak at more. Measured: both runs hold
    ~300-330 kB at their end and peak at ~2.6-3.1 MB; with the SKU claim table back in a dict of
    the match step, the larger run holds more than the margin and the test fails."""
    with start_sandbox(products=BIG, seed=8, max_variants=8, invalid_share=0.1) as sandbox:
        sandbox.admin("shopify", "POST", "graphql/bucket", json={"maximum": 1e9, "restore_rate": 1e9})
        shutil.copytree(EXAMPLE, tmp_path / "acme")
        root = Path(__file__).resolve().parents[2]
        done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "acme"), json.dumps(environ(sandbox)),
                               str(SMALL), str(BIG)], capture_output=True, text=True, cwd=root, timeout=600,
                              env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    small, big = figures[str(SMALL)], figures[str(BIG)]
    assert (small["records"], big["records"]) == (SMALL, BIG)
    print(figures)
    assert big["held"] - small["held"] <= 100_000, figures
    assert big["peak"] <= small["peak"] * 1.4, figures
