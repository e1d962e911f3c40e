"""Four workers on one PostgreSQL, several merchants each with its own simulator shops: a burst
of order webhooks and an inventory storm at once, two workers SIGKILLed mid-run. Nothing is lost,
nothing done twice, nothing oversold, and no simulator ever answers 429.

FLEET_MERCHANTS (default 4, to keep the suite short) sets how many merchants; 20 runs in a few minutes on 2 cores."""

from __future__ import annotations

import concurrent.futures
import os

import pytest

from tests.jobs.fleet import Fleet

pytestmark = pytest.mark.slow

MERCHANTS = int(os.environ.get("FLEET_MERCHANTS", "4"))
ORDERS = 25  # per merchant
STOCK_CHANGES = 15  # per merchant


def test_four_workers_many_merchants_two_killed(tmp_path, postgres_database):
    fleet = Fleet(tmp_path, postgres_database, MERCHANTS)
    try:
        workers = [fleet.start_worker() for _ in range(4)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            bursts = [pool.submit(shop.order_burst, ORDERS, 7) for shop in fleet.shops]
            storms = [pool.submit(shop.inventory_storm, STOCK_CHANGES, 11) for shop in fleet.shops]
            # Two workers die while the events they took are being processed.
            while fleet.event_counts()["processing"] == 0:
                pass
            fleet.kill(workers[0])
            fleet.kill(workers[1])
            for future in bursts + storms:
                future.result()
        fleet.wait_settled(timeout=400)
        assert fleet.event_counts()["failed"] == 0
        for shop in fleet.shops:
            expected, created = shop.expected_orders(), shop.store_orders()
            assert expected, shop.name
            letters = fleet.server.services[shop.name].merchant.store.list_dead_letters()
            assert {name[2:] for name in created} == expected, (shop.name, letters[:3])  # 0 lost
            assert set(created.values()) == {1}, shop.name  # 0 duplicated
            drift = shop.drift()
            assert shop.negative_stock() == 0 and drift == [], (shop.name, drift)  # 0 oversold
            assert shop.throttled() == 0, shop.name
        assert all(w.poll() is None for w in workers[2:])  # the survivors did the rest
    finally:
        fleet.close()
