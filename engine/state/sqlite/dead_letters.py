"""Dead letters: failed records with their payload and root error, replayable."""

from __future__ import annotations

from engine.state.sqlite.core import _require, _row_dict
from engine.state.store import (
    DEAD_LETTER_STATUSES,
    StateError,
    dump_json,
    normalize_error,
)


class DeadLettersPart:
    """Dead letters: failed records with their payload and root error, replayable. Part of SQLiteStore; uses the core's connections."""

    _DLQ_JSON = ("payload", "error")

    def add_dead_letter(self, run_id: str | None, merchant: str, flow: str, step: str, entity: str,
                        key: str, payload: dict, error: dict | BaseException) -> int:
        _require(merchant=merchant, flow=flow, step=step, entity=entity, key=key)
        err = dump_json(normalize_error(error))
        body = dump_json(payload)
        now = self._ts()
        with self._write() as conn:
            row = conn.execute(
                """SELECT id FROM dead_letter
                   WHERE merchant=? AND flow=? AND entity=? AND key=? AND status='open'""",
                (merchant, flow, entity, key)).fetchone()
            if row is not None:
                conn.execute(
                    """UPDATE dead_letter SET attempts=attempts+1, run_id=?, step=?, payload=?, error=?,
                         updated_at=? WHERE id=?""",
                    (run_id, step, body, err, now, row["id"]))
                return int(row["id"])
            cur = conn.execute(
                """INSERT INTO dead_letter (run_id, merchant, flow, step, entity, key, payload, error,
                     status, attempts, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?)""",
                (run_id, merchant, flow, step, entity, key, body, err, now, now))
            return int(cur.lastrowid)

    def list_dead_letters(self, merchant: str | None = None, flow: str | None = None,
                          status: str | None = "open") -> list[dict]:
        if status is not None and status not in DEAD_LETTER_STATUSES:
            raise StateError(f"dead-letter status must be one of {', '.join(DEAD_LETTER_STATUSES)}")
        where, args = [], []
        for col, val in (("merchant", merchant), ("flow", flow), ("status", status)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        sql = "SELECT * FROM dead_letter"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._use() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [_row_dict(r, self._DLQ_JSON, ("replay_ok",)) for r in rows]

    def open_dead_letter_ids(self, merchant: str, flow: str, key: str) -> list[int]:
        # The open letters' unique index (merchant, flow, entity, key) answers this.
        with self._use() as conn:
            rows = conn.execute(
                "SELECT id FROM dead_letter WHERE merchant=? AND flow=? AND key=? AND status='open' ORDER BY id",
                (merchant, flow, key)).fetchall()
        return [int(row["id"]) for row in rows]

    def get_dead_letter(self, dlq_id: int) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT * FROM dead_letter WHERE id=?", (int(dlq_id),)).fetchone()
        return None if row is None else _row_dict(row, self._DLQ_JSON, ("replay_ok",))

    def _update_dlq(self, dlq_id: int, sql: str, args: tuple) -> None:
        with self._write() as conn:
            cur = conn.execute(f"UPDATE dead_letter SET {sql} WHERE id=?", (*args, int(dlq_id)))
            if cur.rowcount == 0:
                raise StateError(f"unknown dead letter {dlq_id!r}")

    def update_dead_letter_payload(self, dlq_id: int, payload: dict) -> None:
        self._update_dlq(dlq_id, "payload=?, updated_at=?", (dump_json(payload), self._ts()))

    def resolve_dead_letter(self, dlq_id: int, note: str = "") -> None:
        now = self._ts()
        self._update_dlq(dlq_id, "status='resolved', note=?, resolved_at=?, updated_at=?", (note, now, now))

    def mark_replayed(self, dlq_id: int, run_id: str, ok: bool) -> None:
        now = self._ts()
        if ok:
            self._update_dlq(dlq_id, """status='replayed', replay_run_id=?, replay_ok=1, replayed_at=?,
                               resolved_at=?, updated_at=?""", (run_id, now, now, now))
        else:
            self._update_dlq(dlq_id, "replay_run_id=?, replay_ok=0, replayed_at=?, updated_at=?",
                             (run_id, now, now))
