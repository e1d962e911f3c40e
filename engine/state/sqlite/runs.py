"""Runs and their per-record results."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from engine.state.sqlite.core import _require, _row_dict
from engine.state.store import (
    RESULT_STATUSES,
    StateError,
    dump_json,
)


class RunsPart:
    """Runs and their per-record results. Part of SQLiteStore; uses the core's connections."""

    def _new_run_id(self) -> str:
        # Time first so ids sort by start; the random tail keeps ids from two processes starting
        # in the same microsecond apart.
        t = datetime.fromtimestamp(self._clock(), tz=UTC)
        return f"{t:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"

    def start_run(self, merchant: str, flow: str, dry_run: bool, options: dict) -> str:
        _require(merchant=merchant, flow=flow)
        run_id = self._new_run_id()
        with self._write() as conn:
            conn.execute(
                """INSERT INTO run (run_id, merchant, flow, dry_run, options, status, started_at)
                   VALUES (?, ?, ?, ?, ?, 'running', ?)""",
                (run_id, merchant, flow, int(bool(dry_run)), dump_json(options or {}), self._ts()))
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict) -> None:
        _require(run_id=run_id, status=status)
        with self._write() as conn:
            cur = conn.execute("UPDATE run SET status=?, summary=?, finished_at=? WHERE run_id=?",
                               (status, dump_json(summary or {}), self._ts(), run_id))
            if cur.rowcount == 0:
                raise StateError(f"unknown run {run_id!r}")

    def record_result(self, run_id: str, entity: str, key: str, action: str, status: str,
                      detail: dict | None = None) -> None:
        _require(run_id=run_id, entity=entity, key=key, action=action)
        if status not in RESULT_STATUSES:
            raise StateError(f"result status must be one of {', '.join(RESULT_STATUSES)}, not {status!r}")
        if action in RESULT_STATUSES or action == "total":
            raise StateError(f"action {action!r} clashes with a status name in run_counts")
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM run WHERE run_id=?", (run_id,)).fetchone() is None:
                raise StateError(f"unknown run {run_id!r}")
            conn.execute(
                """INSERT INTO run_result (run_id, entity, key, action, status, detail, recorded_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (run_id, entity, key, action, status, None if detail is None else dump_json(detail),
                 self._ts()))

    _RUN_COLS = "run_id, merchant, flow, dry_run, options, status, summary, started_at, finished_at"

    def get_run(self, run_id: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute(f"SELECT {self._RUN_COLS} FROM run WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else _row_dict(row, ("options", "summary"), ("dry_run",))

    def list_runs(self, merchant: str | None = None, flow: str | None = None,
                  limit: int = 20) -> list[dict]:
        where, args = [], []
        if merchant is not None:
            where.append("merchant=?")
            args.append(merchant)
        if flow is not None:
            where.append("flow=?")
            args.append(flow)
        sql = f"SELECT {self._RUN_COLS} FROM run"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, run_id DESC LIMIT ?"
        with self._use() as conn:
            rows = conn.execute(sql, (*args, int(limit))).fetchall()
        return [_row_dict(r, ("options", "summary"), ("dry_run",)) for r in rows]

    def run_results(self, run_id: str, status: str | None = None) -> list[dict]:
        sql = ("SELECT id, run_id, entity, key, action, status, detail, recorded_at FROM run_result "
               "WHERE run_id=?")
        args: list[Any] = [run_id]
        if status is not None:
            sql += " AND status=?"
            args.append(status)
        with self._use() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [_row_dict(r, ("detail",)) for r in rows]

    def run_counts(self, run_id: str) -> dict[str, int]:
        with self._use() as conn:
            rows = conn.execute(
                "SELECT action, status, COUNT(*) FROM run_result WHERE run_id=? GROUP BY action, status",
                (run_id,)).fetchall()
        counts: dict[str, int] = {s: 0 for s in RESULT_STATUSES}
        total = 0
        for action, status, n in rows:
            counts[action] = counts.get(action, 0) + n
            counts[status] = counts.get(status, 0) + n
            total += n
        counts["total"] = total
        return counts
