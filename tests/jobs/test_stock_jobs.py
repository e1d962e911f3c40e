"""Per-SKU stock jobs: a run that sees stock changes hands each SKU over (when a worker asked it
to) instead of writing it; a run about one SKU reads it again and writes that SKU only, through
the inventory flow's own stock step. Deferred on PostgreSQL, one pending job per SKU."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import httpx
import psycopg

from engine.cli.reconcile import drift_rows
from engine.flow.runner import FlowRun, Merchant
from engine.jobs import InProcessJobs, jobs_for
from engine.jobs.distributed import TASK_RECONCILE, TASK_STOCK, queue_of
from engine.serve.flows import FlowRunner
from engine.serve.health import Health
from engine.serve.metrics import Metrics
from simulators.sandbox import start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"


def drifted(merchant) -> set[str]:
    return {row["sku"] for row in drift_rows(FlowRun(merchant, "inventory", dry_run=True, mode="reconcile").run())}


def test_a_run_defers_each_changed_sku_and_a_sku_run_writes_that_sku_only(tmp_path):
    sandbox = start_sandbox(products=3, seed=7, max_variants=2, invalid_share=0.0)
    shutil.copytree(EXAMPLE, tmp_path / "acme")
    environ = sandbox.environ("ACME")
    merchant = Merchant(tmp_path / "acme" / "merchant.yaml", environ=environ)
    try:
        assert FlowRun(merchant, "catalog").run().status == "ok"
        sandbox.admin("tiktok_shop", "POST", "audit/run", json={})
        assert FlowRun(merchant, "inventory").run().status == "ok"
        assert drifted(merchant) == set()
        state = sandbox.admin("shopify", "GET", "state")
        variants = [v for p in state["products"] for v in p["variants"]][:2]
        location = state["locations"][0]["id"]
        levels = []
        with httpx.Client(base_url=environ["ACME_SHOPIFY_URL"],
                          headers={"X-Shopify-Access-Token": environ["ACME_SHOPIFY_TOKEN"]}) as shopify:
            for variant, units in zip(variants, (37, 41), strict=True):
                levels.append(shopify.post("inventory_levels/set.json", json={
                    "location_id": location, "available": units,
                    "inventory_item_id": variant["inventory_item_id"]}).raise_for_status().json()["inventory_level"])
        skus = sorted(v["sku"] for v in variants)
        assert drifted(merchant) == set(skus)

        runner = FlowRunner(merchant, Metrics(), Health(), threading.Event())
        handed: list[list[str]] = []
        runner.defer_stock = handed.append
        assert runner.stock_flows() == ["inventory"]
        # The two level webhooks: each SKU is handed over, nothing is written by the run itself.
        assert runner.run_events("inventory", levels).status == "ok"
        assert handed == [skus] and drifted(merchant) == set(skus)
        # One SKU's job: that SKU is read again and written, the other is left to its own job.
        outcome = runner.run_skus("inventory", [skus[0]])
        assert outcome.status == "ok" and outcome.counts.get("inventory_update") == 1, outcome
        assert drifted(merchant) == {skus[1]}
        assert runner.run_skus("inventory", [skus[0]]).counts.get("inventory_update") is None  # unchanged now
        # The same interface in-process (SQLite): each SKU runs on its own.
        ran = []
        jobs = InProcessJobs(stock=lambda name, some: ran.append(runner.run_skus("inventory", some)))
        assert jobs.stock_changed("acme", [skus[1], skus[1]]) == 1
        assert [o.status for o in ran] == ["ok"] and drifted(merchant) == set()
        # The same webhooks again, their figures written by now: still handed over. The figure last
        # written is no proof: a job running at the time may have read the store before them.
        handed.clear()
        assert runner.run_events("inventory", levels).status == "ok"
        assert handed == [skus]
        # A SKU the store's index does not know is left alone (never written as 0).
        assert runner.run_skus("inventory", ["NO-SUCH-SKU"]).counts.get("inventory_update") is None
    finally:
        merchant.close()
        sandbox.stop()


def test_stock_changes_queue_one_pending_job_per_sku(postgres_database):
    jobs = jobs_for(postgres_database)
    try:
        assert jobs.stock_changed("acme", ["A-1", "B-2", "A-1"]) == 2
        assert jobs.stock_changed("acme", ["A-1"]) == 0  # a storm on one SKU: the waiting job will read it
        assert jobs.stock_changed("globex", ["A-1"]) == 1  # another merchant's SKU of the same name
        assert jobs.reconcile("acme", "inventory") is True
        assert jobs.reconcile("acme", "inventory") is False
        with psycopg.connect(postgres_database) as conn:
            rows = conn.execute("SELECT task_name, queue_name, lock, queueing_lock, args FROM procrastinate_jobs "
                                "ORDER BY id").fetchall()
        assert [r[:4] for r in rows] == [
            (TASK_STOCK, queue_of("acme"), "inventory:acme:A-1", "inventory:acme:A-1"),
            (TASK_STOCK, queue_of("acme"), "inventory:acme:B-2", "inventory:acme:B-2"),
            (TASK_STOCK, queue_of("globex"), "inventory:globex:A-1", "inventory:globex:A-1"),
            (TASK_RECONCILE, queue_of("acme"), "reconcile:acme:inventory", "reconcile:acme:inventory"),
        ]
        assert rows[0][4] == {"merchant": "acme", "sku": "A-1"}
    finally:
        jobs.close()


def test_worker_refuses_a_reconcile_schedule_that_is_no_cron():
    from click.testing import CliRunner

    from engine.cli.main import main

    result = CliRunner().invoke(main, ["worker", str(EXAMPLE / "merchant.yaml"), "--reconcile", "hourly"])
    assert result.exit_code == 2 and "not a cron expression" in result.output, result.output
