"""`connector serve` on PostgreSQL queues the work; `connector worker` processes take it: TikTok's
webhook deliveries become each Shopify order once, and a worker SIGKILLed mid-stream changes
nothing (its job goes back to the queue, its claimed events are taken back)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from test_serve_e2e import listed_sandbox, shopify_names, wait_until  # noqa: E402

from engine.serve import ServeOptions, Server  # noqa: E402
from simulators.common import LoopbackServer  # noqa: E402

pytestmark = pytest.mark.slow


def start_worker(path: Path, environ: dict, log: Path, concurrency: int = 2) -> subprocess.Popen:
    """A worker whose output goes to `log` (a pipe nobody reads until the end could fill up and
    stall the worker on a write)."""
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "engine.cli", "worker", str(path), "--concurrency",
                                 str(concurrency)], env={**os.environ, **environ}, stdout=out,
                                stderr=subprocess.STDOUT, text=True)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def test_workers_take_the_queued_events_and_survive_a_kill(tmp_path, postgres_database):
    os.environ["CONNECTOR_STATE_URL"] = postgres_database  # the catalog run below, in this process
    try:
        sandbox, path, environ = listed_sandbox(tmp_path, auto_deliver_webhooks=True)
    finally:
        del os.environ["CONNECTOR_STATE_URL"]
    environ = {**environ, "CONNECTOR_STATE_URL": postgres_database}
    server = Server([path], ServeOptions(schedule=False), environ=environ).start()
    http = LoopbackServer(server.app).start()
    logs = [tmp_path / f"worker{n}.log" for n in range(3)]
    workers = [start_worker(path, environ, logs[0]), start_worker(path, environ, logs[1])]
    try:
        assert server.jobs.distributed
        merchant = server.services["acme"].merchant
        store = merchant.store
        assert store.path is None  # PostgreSQL
        merchant.connection("tiktok_us").call("put_webhook", body={
            "event_type": "ORDER_STATUS_CHANGE", "address": f"{http.url}/webhooks/acme/tiktok_us"})

        def generate(count: int, seed: int) -> list[str]:
            return sandbox.admin("tiktok_shop", "POST", "orders/generate", json={
                "count": count, "seed": seed, "statuses": {"AWAITING_SHIPMENT": 6, "UNPAID": 1, "ON_HOLD": 1},
                "fbt_share": 0.2})["orders"]

        ids = generate(40, 5)
        wait_until(lambda: store.event_counts()["done"] >= len(ids) and store.event_counts()["pending"] == 0
                   and store.event_counts()["processing"] == 0, timeout=180)
        # A second burst; one worker is killed as soon as it is processing events.
        ids += generate(60, 6)
        wait_until(lambda: store.event_counts()["processing"] > 0, timeout=60, every=0.02)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=30)
        workers.append(start_worker(path, environ, logs[2]))

        def settled() -> bool:
            c = store.event_counts()
            return c["pending"] == c["processing"] == 0 and c["done"] + c["failed"] >= len(ids)
        try:
            wait_until(settled, timeout=120, every=0.5)
        except AssertionError:
            with psycopg.connect(postgres_database) as conn:
                jobs = conn.execute("SELECT id, task_name, lock, status::text, worker_id, attempts FROM procrastinate_jobs "
                                    "WHERE status::text <> 'succeeded' ORDER BY id").fetchall()
                workers_rows = conn.execute("SELECT * FROM procrastinate_workers").fetchall()
            workers[1].send_signal(signal.SIGKILL)
            workers[1].wait(timeout=10)
            out = tail(logs[1])
            raise AssertionError(f"not settled: {store.event_counts()} jobs={jobs} workers={workers_rows}\n{out}") from None
        tiktok = {o["id"]: o for o in sandbox.admin("tiktok_shop", "GET", "state")["orders"]}
        paid = {oid for oid in ids if tiktok[oid]["status"] not in ("UNPAID", "ON_HOLD", "CANCELLED")}
        names = shopify_names(sandbox)
        assert {name[2:] for name in names} == paid  # none lost
        assert set(names.values()) == {1}  # none twice
        assert store.event_counts()["failed"] == 0
        with psycopg.connect(postgres_database) as conn:
            statuses = dict(conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs "
                                         "GROUP BY status").fetchall())
        assert statuses.get("succeeded", 0) > 0 and not statuses.get("failed")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        http.stop()
        server.stop()
        sandbox.stop()
    # Stopped by SIGTERM, a worker finishes what it runs and exits cleanly.
    assert workers[1].returncode == 0, tail(logs[1])
