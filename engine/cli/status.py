"""`connector status`: how each merchant and connection is doing, from its state (and its job
queue when the state is in PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from engine.cli.common import MERCHANT_FILE
from engine.http.breaker import breaker_label

RECENT_RUNS = 50  # the error rate is over this many latest finished runs of the connection's flows


def merchant_status(merchant: Any) -> dict:
    """Per connection: last success, error rate, event backlog, dead letters, breaker; per merchant:
    the job backlog (PostgreSQL) or "in-process" (SQLite)."""
    store = merchant.store
    flows_of: dict[str, list[str]] = {}
    for flow in merchant.flow_names():
        plan = merchant.plan.flow(merchant.name, flow)
        for conn in sorted(set(plan.roles.values())) if plan is not None else []:
            flows_of.setdefault(conn, []).append(flow)
    backlog = store.event_backlog()
    letters = store.list_dead_letters(merchant=merchant.name)
    connections = {}
    for conn in sorted(merchant.doc.get("connections") or {}):
        flows = flows_of.get(conn, [])
        runs = [r for flow in flows for r in store.list_runs(merchant=merchant.name, flow=flow, limit=RECENT_RUNS)
                if r["status"] != "running" and not r["dry_run"]]
        runs.sort(key=lambda r: r["started_at"], reverse=True)
        runs = runs[:RECENT_RUNS]
        ok = [r for r in runs if r["status"] == "ok"]
        waiting = backlog.get(conn) or {}
        dead = [d for d in letters if d["flow"] in flows
                or (d["entity"] == "event" and str(d["key"]).startswith(f"{conn}:"))]
        connections[conn] = {
            "flows": flows,
            "last_success": ok[0]["finished_at"] if ok else None,
            "error_rate": round(1 - len(ok) / len(runs), 3) if runs else None,
            "runs_counted": len(runs),
            "events_pending": int(waiting.get("pending", 0)),
            "events_processing": int(waiting.get("processing", 0)),
            "oldest_event": waiting.get("oldest"),
            "dead_letters": len(dead),
            "breaker": breaker_label(store.get_breaker(conn)),
        }
    return {"merchant": merchant.name, "backend": "postgresql" if store.path is None else "sqlite",
            "jobs": job_backlog(merchant), "connections": connections}


def job_backlog(merchant: Any) -> dict | str:
    from engine.state import is_postgres_url

    url = getattr(merchant, "state_url", None)
    if not is_postgres_url(url):
        return "in-process"
    import psycopg

    from engine.jobs.distributed import conninfo_of, queue_of

    with psycopg.connect(conninfo_of(url), connect_timeout=10) as conn:
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None:
            return {"todo": 0, "doing": 0, "failed": 0, "note": "no worker has started yet"}
        rows = conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs WHERE queue_name = %s "
                            "GROUP BY status", (queue_of(merchant.name),)).fetchall()
    counts = {"todo": 0, "doing": 0, "failed": 0}
    counts.update({status: int(n) for status, n in rows if status in counts})
    return counts


def _table(report: dict) -> str:
    jobs = report["jobs"]
    jobs_text = jobs if isinstance(jobs, str) else ", ".join(f"{k} {v}" for k, v in jobs.items())
    lines = [f"{report['merchant']} ({report['backend']}; jobs: {jobs_text})"]
    header = ("connection", "last success", "error rate", "events waiting", "dead letters", "breaker")
    rows = [header]
    for name, c in report["connections"].items():
        rate = "n/a" if c["error_rate"] is None else f"{c['error_rate']:.0%} of {c['runs_counted']}"
        rows.append((name, c["last_success"] or "never", rate,
                     f"{c['events_pending']} + {c['events_processing']} in progress", str(c["dead_letters"]),
                     c["breaker"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def register(main: click.Group) -> None:
    @main.command("status")
    @click.argument("merchant_files", nargs=-1, required=True, type=MERCHANT_FILE)
    @click.option("--json", "as_json", is_flag=True, help="One JSON document instead of tables.")
    def status(merchant_files: tuple[Path, ...], as_json: bool) -> None:
        """Show for each merchant of MERCHANT_FILE... and each of its connections: the last
        successful run, the error rate of recent runs, events waiting, open dead letters and the
        circuit breaker; and the merchant's queued jobs when its state is in PostgreSQL."""
        from engine.cli.common import open_merchant

        reports = []
        for path in merchant_files:
            with open_merchant(path) as merchant:
                reports.append(merchant_status(merchant))
        if as_json:
            click.echo(json.dumps(reports, indent=2))
        else:
            click.echo("\n\n".join(_table(r) for r in reports))
