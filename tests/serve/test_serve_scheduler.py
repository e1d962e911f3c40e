"""Flows on their cron inside the server: a due flow runs once per tick, under the same run lease
as `connector run`, and a tick is skipped while another run holds the flow."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from engine.flow.run_lease import RunLease
from engine.flow.runner import Merchant
from engine.serve.flows import FlowRunner
from engine.serve.health import Health
from engine.serve.metrics import Metrics
from engine.serve.scheduler import Scheduler
from simulators.sandbox import start_sandbox


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_cron_times_are_utc_and_missed_ticks_are_not_made_up():
    now = [at("2026-03-01T10:07:30")]
    scheduler = Scheduler(ThreadPoolExecutor(1), threading.Event(), clock=lambda: now[0])
    started = []
    entry = scheduler.add("acme", "listing_status", "*/15 * * * *", started.append)
    assert entry.next_due == at("2026-03-01T10:15:00")
    assert scheduler.tick(at("2026-03-01T10:14:59")) == []
    assert scheduler.tick(at("2026-03-01T11:02:00")) == [entry]  # four ticks missed: one run
    assert entry.next_due == at("2026-03-01T11:15:00")
    scheduler.pool.shutdown()
    assert started == ["listing_status"]
    with pytest.raises(ValueError, match="not a cron expression"):
        scheduler.add("acme", "x", "every five minutes", started.append)


def test_a_tick_is_skipped_while_this_server_still_runs_the_flow():
    release = threading.Event()
    pool = ThreadPoolExecutor(2)
    scheduler = Scheduler(pool, threading.Event(), clock=lambda: at("2026-03-01T10:00:00"))
    entry = scheduler.add("acme", "orders", "* * * * *", lambda flow: release.wait(5))
    assert scheduler.tick(at("2026-03-01T10:01:00")) == [entry]
    assert scheduler.tick(at("2026-03-01T10:02:00")) == []
    release.set()
    pool.shutdown()
    assert (entry.started, entry.skipped) == (1, 1)


@pytest.fixture
def merchant(acme_file):
    sandbox = start_sandbox(products=0)
    found = Merchant(acme_file, environ=sandbox.environ())
    yield found
    found.close()
    sandbox.stop()


def test_a_due_flow_runs_once_and_skips_when_its_lease_is_held(merchant):
    metrics = Metrics()
    runner = FlowRunner(merchant, metrics, Health(), threading.Event())
    pool = ThreadPoolExecutor(1)
    scheduler = Scheduler(pool, threading.Event(), clock=lambda: at("2026-03-01T10:00:00"))
    entry = scheduler.add("acme", "listing_status", "*/15 * * * *", runner.run_schedule)
    assert scheduler.tick(at("2026-03-01T10:15:00")) == [entry]
    assert entry.running.result(timeout=60).status == "ok"
    runs = merchant.store.list_runs(merchant="acme", flow="listing_status")
    assert len(runs) == 1 and runs[0]["status"] == "ok"
    assert scheduler.tick(at("2026-03-01T10:15:30")) == []  # not due again until 10:30

    held = RunLease(merchant.store, "acme", "listing_status")  # a `connector run` of the same flow
    held.acquire()
    try:
        assert scheduler.tick(at("2026-03-01T10:30:00")) == [entry]
        outcome = entry.running.result(timeout=60)
    finally:
        held.release()
    assert outcome.status == "busy" and "already running" in outcome.error
    assert len(merchant.store.list_runs(merchant="acme", flow="listing_status")) == 1  # nothing ran
    assert metrics.busy.labels("acme", "listing_status", "schedule")._value.get() == 1
    pool.shutdown()
