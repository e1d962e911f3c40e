"""Four workers on one PostgreSQL, many merchants each with its own simulator shops: a burst of
order webhooks and an inventory storm at once, two workers SIGKILLed mid-run and started again.
Nothing is lost, nothing done twice, nothing oversold, and no simulator ever answers 429.

Stock changes are per-SKU jobs (lock inventory:<merchant>:<sku>); the storm collapses into fewer
jobs than changes.

Each merchant's catalog flow also runs in the middle of it, as its half-hourly tick would: the
catalog carries Shopify's own quantity, which must not land over what the stock flow offered (it
did: the SKUs the storm changed ended one unit, the safety buffer, above what may be sold).

FLEET_MERCHANTS sets how many merchants: 20 by default, the issue's figure."""

from __future__ import annotations

import concurrent.futures
import os
import time

import psycopg
import pytest

from engine.flow.runner import FlowRun
from engine.jobs.distributed import TASK_STOCK
from tests.jobs.fleet import Fleet

# Four workers and 20 merchants' simulators take both cores for minutes: beside other tests, it
# starved their timing (a 200-buyer stock race went over its 50 units). `make test` runs it after
# the others, on its own.
pytestmark = [pytest.mark.slow, pytest.mark.alone]

MERCHANTS = int(os.environ.get("FLEET_MERCHANTS", "20"))
ORDERS = 6  # per merchant
STOCK_CHANGES = 8  # per merchant


def stock_jobs(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT lock, status::text FROM procrastinate_jobs WHERE task_name = %s",
                            (TASK_STOCK,)).fetchall()


def test_four_workers_many_merchants_two_killed(tmp_path, postgres_database):
    started = time.monotonic()
    fleet = Fleet(tmp_path, postgres_database, MERCHANTS)
    try:
        workers = [fleet.start_worker() for _ in range(4)]
        fleet.wait_workers(4, timeout=60 + 15 * MERCHANTS)
        ready = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            bursts = [pool.submit(shop.order_burst, ORDERS, 7) for shop in fleet.shops]
            storms = [pool.submit(shop.inventory_storm, STOCK_CHANGES, 11) for shop in fleet.shops]
            # Two workers die while the events they took are being processed, and start again.
            assert fleet.wait_processing(timeout=60)
            fleet.kill(workers[0])
            fleet.kill(workers[1])
            for future in storms:
                future.result()
            ticks = [pool.submit(lambda shop: FlowRun(fleet.merchant(shop), "catalog").run(), shop)
                     for shop in fleet.shops]
            for future in bursts:
                future.result()
            assert all(future.result().status == "ok" for future in ticks)
        workers += [fleet.start_worker() for _ in range(2)]
        settled = fleet.wait_settled(timeout=120)
        assert fleet.event_counts()["failed"] == 0
        for shop in fleet.shops:
            expected, created = shop.expected_orders(), shop.store_orders()
            assert expected, shop.name
            letters = fleet.server.services[shop.name].merchant.store.list_dead_letters()
            assert {name[2:] for name in created} == expected, (shop.name, letters[:3])  # 0 lost
            assert set(created.values()) == {1}, shop.name  # 0 duplicated
            drift = shop.drift(fleet.merchant(shop))
            assert shop.negative_stock() == 0 and drift == [], (shop.name, drift)  # 0 oversold
            assert shop.throttled() == 0, shop.name
        assert all(w.poll() is None for w in workers[2:])  # the survivors and the restarted did the rest
        # The storm's changes were written by per-SKU jobs, each under its SKU's lock; none is left
        # failed, and a SKU changed again while its job waited was one job, not one per change.
        jobs = stock_jobs(postgres_database)
        assert jobs and {status for _, status in jobs} <= {"succeeded", "aborted"}, jobs
        assert all(lock.startswith("inventory:m") for lock, _ in jobs)
        assert len(jobs) < MERCHANTS * (STOCK_CHANGES + ORDERS * 3)
        print(f"fleet of {MERCHANTS}: set up in {ready - started:.1f} s, settled {settled:.1f} s after the "
              f"burst; {len(jobs)} stock jobs")
    finally:
        fleet.close()
