"""P7: order throughput with 1, 2 and 4 `connector worker` processes sharing one PostgreSQL
(state and job queue), against 1 worker, across several merchants each with its own simulator
shops. The simulators' limits are far above what is sent, so the engine is what is measured;
`connector serve` receives every merchant's order webhooks and queues them, the workers process
them (their stock changes as per-SKU jobs).

Two settings:

- CPU-bound (no simulator latency): each call is answered at once, so a worker's time is its own
  Python work. On a machine with C cores, the workers, the server, PostgreSQL and the simulators
  share them: 4 workers on 2 cores cannot pass ~2x, whatever the engine does.
- I/O-bound (every simulator call answered `LATENCY_MS` later, as real APIs are): a worker spends
  most of a job waiting, so more workers overlap more waits and the ratio can grow past the cores.

Where the time goes, per order imported: CPU seconds of the workers (and of the whole machine),
PostgreSQL transactions (round trips that commit), and the mean wait of a job between being
queued and being started (queueing behind a merchant's lock or a busy worker).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from _common import Config, Row, cpu_count, fmt_rate

WHAT = "workers 1/2/4 on PostgreSQL: orders/s vs 1 worker"
GOAL = "near linear"
LATENCY_MS = 20.0


def available() -> str:
    try:
        import procrastinate  # noqa: F401
        import psycopg  # noqa: F401

        from engine.state.postgres.local import find_binaries

        find_binaries()
    except Exception as exc:  # noqa: BLE001  (the row says why it did not run)
        return f"{type(exc).__name__}: {exc}"
    return ""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _pg_xacts(conn, database: str) -> int:
    """Transactions committed or rolled back in the database (statistics are a moment behind)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return int(conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                            (database,)).fetchone()[0])


def _job_waits(conn, since_id: int) -> tuple[int, float]:
    """Jobs started since `since_id` and their mean wait from queued (or scheduled) to started."""
    row = conn.execute(
        """SELECT count(*), coalesce(avg(extract(epoch FROM s.at - greatest(d.at, coalesce(j.scheduled_at, d.at)))), 0)
             FROM procrastinate_jobs j
             JOIN LATERAL (SELECT min(at) AS at FROM procrastinate_events WHERE job_id = j.id AND type = 'deferred') d ON true
             JOIN LATERAL (SELECT max(at) AS at FROM procrastinate_events WHERE job_id = j.id AND type = 'started') s ON true
            WHERE j.id > %s AND j.task_name <> 'connector.recover' AND s.at IS NOT NULL""", (since_id,)).fetchone()
    return int(row[0]), float(row[1])


def measure(fleet, database: str, workers: int, orders: int, seed: int) -> dict:
    import psycopg

    procs = [fleet.start_worker(concurrency=2) for _ in range(workers)]
    try:
        fleet.wait_workers(workers, timeout=60 + 10 * len(fleet.shops) * workers)
        time.sleep(1.0)
        with psycopg.connect(fleet.state_url, autocommit=True) as conn:
            last_job = conn.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs").fetchone()[0]
            xacts_before = _pg_xacts(conn, database)
            expected_before = sum(len(shop.expected_orders()) for shop in fleet.shops)
            cpu_before = sum(_cpu_seconds(p.pid) for p in procs)
            busy_before = _machine_busy()
            start = time.monotonic()
            for shop in fleet.shops:
                shop.order_burst(orders, seed)
            sent = time.monotonic() - start
            elapsed = sent + fleet.wait_settled(timeout=900)  # to the moment the last event was done
            cpu = sum(_cpu_seconds(p.pid) for p in procs) - cpu_before
            busy_after = _machine_busy()
            xacts_after = _pg_xacts(conn, database)
            jobs, wait = _job_waits(conn, last_job)
        imported = sum(len(shop.expected_orders()) for shop in fleet.shops) - expected_before
        throttled = sum(shop.throttled() for shop in fleet.shops)
    finally:
        fleet.stop_workers()
    busy = (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1)
    return {"workers": workers, "orders": imported, "seconds": elapsed, "rate": imported / elapsed,
            "throttled": throttled, "worker_cpu_ms_per_order": 1000 * cpu / max(imported, 1),
            "machine_busy": busy, "pg_xacts_per_order": (xacts_after - xacts_before) / max(imported, 1),
            "jobs": jobs, "job_wait_ms": 1000 * wait}


def _series(cfg: Config, merchants: int, orders: int, latency_ms: float) -> list[dict]:
    import psycopg

    from engine.state.postgres.local import LocalPostgres
    from tests.jobs.fleet import Fleet

    with LocalPostgres() as pg, tempfile.TemporaryDirectory() as folder:
        database = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        fleet = Fleet(Path(folder), pg.url.rsplit("/", 1)[0] + f"/{database}", merchants,
                      shopify_options={"bucket_size": 4000, "leak_per_second": 2000.0})
        try:
            for shop in fleet.shops:
                for name in ("tiktok_shop", "shopify"):
                    shop.sandbox.admin(name, "POST", "faults", json={"latency_ms": latency_ms})
            return [measure(fleet, database, n, orders, seed=100 + n) for n in (1, 2, 4)]
        finally:
            fleet.close()


def _describe(results: list[dict]) -> tuple[str, dict[int, float]]:
    base = results[0]["rate"]
    ratios = {r["workers"]: r["rate"] / base for r in results}
    text = ", ".join(f"{r['workers']}w {fmt_rate(r['rate'])} ({ratios[r['workers']]:.2f}x; worker CPU "
                     f"{r['worker_cpu_ms_per_order']:.0f} ms/order, machine {100 * r['machine_busy']:.0f}% busy, "
                     f"{r['pg_xacts_per_order']:.0f} PG xacts/order, job wait {r['job_wait_ms']:.0f} ms)"
                     for r in results)
    return text, ratios


def rows(cfg: Config) -> list[Row]:
    why = available()
    if why:
        return [Row("P7", WHAT, goal=GOAL, note=f"PostgreSQL not available: {why}"[:200])]
    merchants = cfg.size(4, 20)
    orders = cfg.size(15, 60)  # per merchant per measured burst
    cores = cpu_count()
    out = []
    for label, latency in (("CPU-bound", 0.0), (f"I/O-bound, {LATENCY_MS:.0f} ms per call", LATENCY_MS)):
        results = _series(cfg, merchants, orders, latency)
        text, ratios = _describe(results)
        ceiling = min(4, cores) if latency == 0 else 4
        note = (f"{label}: {merchants} merchants, {orders} orders each per burst; {text}; "
                f"throttled {sum(r['throttled'] for r in results)}; {cores} cores for workers, server, "
                "PostgreSQL and simulators" + (f" (so at most ~{ceiling}x)" if latency == 0 else ""))
        # Near linear, up to what the cores allow when the work is CPU-bound.
        met = ratios[2] >= 0.8 * min(2, ceiling) and ratios[4] >= 0.8 * min(4, ceiling) * (1 if latency else 0.9)
        out.append(Row("P7", f"{WHAT} ({label})", " / ".join(f"{r['workers']}w {fmt_rate(r['rate'])}" for r in results),
                       fmt_rate(results[0]["rate"]), ratios[4], GOAL, met, note=note,
                       extra={"results": results, "ratios": ratios, "latency_ms": latency}))
    return out


if __name__ == "__main__":
    import json
    import sys

    from _common import print_table

    table = rows(Config(full="--full" in sys.argv))
    print_table(table, title="P7")
    print(json.dumps([row.extra for row in table], indent=1, default=str))
