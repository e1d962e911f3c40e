"""P7: order throughput with 1, 2 and 4 `connector worker` processes sharing one PostgreSQL
(state and job queue), against 1 worker, across several merchants each with its own simulator
shops. The simulators' limits are a Plus store's and TikTok's own, far above what is sent, so the
engine is what is measured; `connector serve` receives every merchant's order webhooks and queues
them, the workers process them.

Figure: paid orders imported per second, from the burst until every event is processed. The goal
"near linear" holds where the machine has a core per worker; on a 2-core machine the workers, the
server, PostgreSQL and the simulators share 2 cores, so 4 workers cannot be 4x: the ratio shows it.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from _common import Config, Row, cpu_count, fmt_rate

WHAT = "workers 1/2/4 on PostgreSQL: orders/s vs 1 worker"
GOAL = "near linear"


def available() -> str:
    try:
        import procrastinate  # noqa: F401
        import psycopg  # noqa: F401

        from engine.state.postgres.local import find_binaries

        find_binaries()
    except Exception as exc:  # noqa: BLE001  (the row says why it did not run)
        return f"{type(exc).__name__}: {exc}"
    return ""


def measure(fleet, workers: int, orders: int, seed: int) -> dict:
    import psycopg

    for _ in range(workers):
        fleet.start_worker(concurrency=2)
    try:
        # The workers load their merchants before the clock starts: each has registered with the queue.
        with psycopg.connect(fleet.state_url) as conn:
            deadline = time.monotonic() + 120
            while conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0] < workers:
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not start within 120 s")
                time.sleep(0.2)
        time.sleep(1.0)
        expected_before = sum(len(shop.expected_orders()) for shop in fleet.shops)
        start = time.monotonic()
        for shop in fleet.shops:
            shop.order_burst(orders, seed)
        sent = time.monotonic() - start
        elapsed = sent + fleet.wait_settled(timeout=900)  # to the moment the last event was done
        imported = sum(len(shop.expected_orders()) for shop in fleet.shops) - expected_before
        throttled = sum(shop.throttled() for shop in fleet.shops)
    finally:
        fleet.stop_workers()
    return {"workers": workers, "orders": imported, "seconds": elapsed, "rate": imported / elapsed,
            "throttled": throttled}


def rows(cfg: Config) -> list[Row]:
    why = available()
    if why:
        return [Row("P7", WHAT, goal=GOAL, note=f"PostgreSQL not available: {why}"[:200])]
    import psycopg

    from engine.state.postgres.local import LocalPostgres
    from tests.jobs.fleet import Fleet

    merchants = cfg.size(4, 20)
    orders = cfg.size(40, 100)  # per merchant per measured burst
    with LocalPostgres() as pg, tempfile.TemporaryDirectory() as folder:
        database = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        fleet = Fleet(Path(folder), pg.url.rsplit("/", 1)[0] + f"/{database}", merchants)
        try:
            results = [measure(fleet, n, orders, seed=100 + n) for n in (1, 2, 4)]
        finally:
            fleet.close()
    base = results[0]["rate"]
    ratios = {r["workers"]: r["rate"] / base for r in results}
    value = " / ".join(f"{r['workers']}w {fmt_rate(r['rate'])}" for r in results)
    note = (f"{merchants} merchants, {orders} orders each per burst; ratio to 1 worker: "
            + ", ".join(f"{n}w {ratios[n]:.2f}x" for n in (2, 4))
            + f"; throttled {sum(r['throttled'] for r in results)}; {cpu_count()} cores for workers, server, "
            "PostgreSQL and simulators")
    met = ratios[2] >= 1.6 and ratios[4] >= ratios[2]
    return [Row("P7", WHAT, value, fmt_rate(base), ratios[4], GOAL, met, note=note,
                extra={"results": results, "ratios": ratios})]
