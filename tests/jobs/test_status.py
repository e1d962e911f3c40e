"""`connector status` on both backends: last success, error rate, events waiting, dead letters,
breaker per connection, and the job backlog when the state is in PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.main import main
from engine.flow.runner import Merchant

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_status_per_merchant_and_connection(tmp_path, monkeypatch, request, backend):
    shutil.copytree(EXAMPLE, tmp_path / "acme")
    path = tmp_path / "acme" / "merchant.yaml"
    if backend == "postgres":
        url = request.getfixturevalue("postgres_database")
        monkeypatch.setenv("CONNECTOR_STATE_URL", url)
        from engine.jobs.distributed import ProcrastinateJobs

        jobs = ProcrastinateJobs(url)
        jobs.events_stored("acme")
        jobs.close()
    merchant = Merchant(path)
    try:
        store = merchant.store
        for status in ("ok", "failed", "ok", "ok"):
            run = store.start_run("acme", "orders", dry_run=False, options={})
            store.finish_run(run, status, {})
        store.add_dead_letter(run, "acme", "orders", "push", "order", "O-1", {"id": "O-1"}, "HTTP 422")
        store.store_event("tiktok_us", "ev-1", "order_status_change", b"{}", {})
        store.set_breaker("shopify", {"state": "open", "reason": "HTTP 503 from the store", "opened_at": 1.0})
    finally:
        merchant.close()
    result = CliRunner().invoke(main, ["status", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)[0]
    assert report["merchant"] == "acme" and report["backend"] == ("postgresql" if backend == "postgres" else "sqlite")
    tiktok = report["connections"]["tiktok_us"]
    assert "orders" in tiktok["flows"] and tiktok["last_success"]
    assert tiktok["error_rate"] == 0.25 and tiktok["runs_counted"] == 4
    assert tiktok["events_pending"] == 1 and tiktok["dead_letters"] == 1 and tiktok["breaker"] == "closed"
    assert report["connections"]["shopify"]["breaker"] == "open (HTTP 503 from the store)"
    assert report["jobs"] == ("in-process" if backend == "sqlite" else {"todo": 1, "doing": 0, "failed": 0})
    table = CliRunner().invoke(main, ["status", str(path)])
    assert table.exit_code == 0 and "tiktok_us" in table.output and "25% of 4" in table.output
