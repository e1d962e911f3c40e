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

Each worker runs one job at a time (`--concurrency 1`), so the number of workers is the
parallelism measured; 4 merchants are enough to keep 4 workers busy (one merchant's events are
one job at a time, in order).

The goal, near linear until a limit binds: the API limits (0 throttled answers says they did
not) or the machine. The machine's bound is read from the 1-worker run: if one worker keeps the
machine X busy (its share of the cores, with everything else), n workers cannot pass 1/X times
its rate. A row meets the goal when 2 and 4 workers reach 80% of min(n, 1/X).

Where the time goes, per order imported: CPU seconds of the workers, of this process (the
simulators and `connector serve`) and of the whole machine, PostgreSQL transactions (round trips
that commit) and, when the server has pg_stat_statements, the statements run most often; and the
mean wait of a job between being queued and being started (behind a merchant's lock or a busy
worker).
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
LATENCY_MS = 100.0  # real platform APIs answer in 100-300 ms
CONCURRENCY = 1  # jobs at once per worker: the number of workers is the parallelism measured


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


def _statements_reset(conn) -> bool:
    """Start counting statements afresh; False when pg_stat_statements is not loaded."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
        return True
    except Exception:  # noqa: BLE001  (the figures are extra; the row stands without them)
        return False


def _top_statements(conn, orders: int, top: int = 12) -> list[tuple[float, str]]:
    """The statements run most often, as (calls per order imported, the statement's first words)."""
    rows = conn.execute("SELECT calls, query FROM pg_stat_statements ORDER BY calls DESC LIMIT %s", (top,)).fetchall()
    return [(round(calls / max(orders, 1), 1), " ".join(query.split())[:110]) for calls, query in rows]


def measure(fleet, database: str, workers: int, orders: int, seed: int) -> dict:
    import psycopg

    procs = [fleet.start_worker(concurrency=CONCURRENCY) for _ in range(workers)]
    try:
        fleet.wait_workers(workers, timeout=60 + 10 * len(fleet.shops) * workers)
        time.sleep(1.0)
        with psycopg.connect(fleet.state_url, autocommit=True) as conn:
            last_job = conn.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs").fetchone()[0]
            xacts_before = _pg_xacts(conn, database)
            expected_before = sum(len(shop.expected_orders()) for shop in fleet.shops)
            cpu_before = sum(_cpu_seconds(p.pid) for p in procs)
            harness_before = _cpu_seconds(os.getpid())  # the simulators and `connector serve`
            busy_before = _machine_busy()
            counting = _statements_reset(conn)
            start = time.monotonic()
            for shop in fleet.shops:
                shop.order_burst(orders, seed)
            sent = time.monotonic() - start
            elapsed = sent + fleet.wait_settled(timeout=900)  # to the moment the last event was done
            cpu = sum(_cpu_seconds(p.pid) for p in procs) - cpu_before
            harness = _cpu_seconds(os.getpid()) - harness_before
            busy_after = _machine_busy()
            xacts_after = _pg_xacts(conn, database)
            jobs, wait = _job_waits(conn, last_job)
            imported = sum(len(shop.expected_orders()) for shop in fleet.shops) - expected_before
            statements = _top_statements(conn, imported) if counting else []
        imported = sum(len(shop.expected_orders()) for shop in fleet.shops) - expected_before
        throttled = sum(shop.throttled() for shop in fleet.shops)
    finally:
        fleet.stop_workers()
    busy = (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1)
    return {"workers": workers, "orders": imported, "seconds": elapsed, "rate": imported / elapsed,
            "throttled": throttled, "worker_cpu_ms_per_order": 1000 * cpu / max(imported, 1),
            "harness_cpu_ms_per_order": 1000 * harness / max(imported, 1),
            "machine_busy": busy, "pg_xacts_per_order": (xacts_after - xacts_before) / max(imported, 1),
            "jobs": jobs, "job_wait_ms": 1000 * wait, "statements_per_order": statements}


def _series(cfg: Config, merchants: int, orders: int, latency_ms: float) -> list[dict]:
    import psycopg

    from engine.state.postgres.local import LocalPostgres, find_binaries
    from tests.jobs.fleet import Fleet

    # pg_stat_statements (when the server has it) says which statements the transactions are.
    has_statements = (find_binaries().parent / "lib" / "pg_stat_statements.so").exists()
    settings = {"shared_preload_libraries": "'pg_stat_statements'"} if has_statements else {}
    with LocalPostgres(settings=settings) as pg, tempfile.TemporaryDirectory() as folder:
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
                     f"{r['worker_cpu_ms_per_order']:.0f} ms/order, simulators and server "
                     f"{r['harness_cpu_ms_per_order']:.0f} ms/order, machine {100 * r['machine_busy']:.0f}% busy, "
                     f"{r['pg_xacts_per_order']:.0f} PG xacts/order, job wait {r['job_wait_ms']:.0f} ms)"
                     for r in results)
    return text, ratios


def rows(cfg: Config) -> list[Row]:
    why = available()
    if why:
        return [Row("P7", WHAT, goal=GOAL, note=f"PostgreSQL not available: {why}"[:200])]
    merchants = cfg.size(4, 20)
    orders = cfg.size(40, 60)  # per merchant per measured burst: seconds of work, not the start-up
    cores = cpu_count()
    out = []
    for label, latency in (("CPU-bound", 0.0), (f"I/O-bound, {LATENCY_MS:.0f} ms per call", LATENCY_MS)):
        results = _series(cfg, merchants, orders, latency)
        text, ratios = _describe(results)
        machine = 1 / max(results[0]["machine_busy"], 0.05)  # how far the machine lets the rate grow
        bounds = {n: min(n, machine) for n in (2, 4)}
        note = (f"{label}: {merchants} merchants, {orders} orders each per burst, 1 job at a time per worker; "
                f"{text}; throttled {sum(r['throttled'] for r in results)}; {cores} cores for workers, server, "
                f"PostgreSQL and simulators: 1 worker kept the machine {100 * results[0]['machine_busy']:.0f}% "
                f"busy, so at most {bounds[2]:.1f}x / {bounds[4]:.1f}x")
        met = all(ratios[n] >= 0.8 * bound for n, bound in bounds.items())
        out.append(Row("P7", f"{WHAT} ({label}; 2 workers {ratios[2]:.2f}x)", f"4w {fmt_rate(results[-1]['rate'])}",
                       f"1w {fmt_rate(results[0]['rate'])}", ratios[4], GOAL, met, note=note,
                       extra={"results": results, "ratios": ratios, "latency_ms": latency, "bounds": bounds}))
    return out


if __name__ == "__main__":
    import json
    import sys

    from _common import print_table

    table = rows(Config(full="--full" in sys.argv))
    print_table(table, title="P7")
    print(json.dumps([row.extra for row in table], indent=1, default=str))
