"""The audit log: actions people took by hand, newest first."""

from __future__ import annotations

from engine.state.sqlite.core import _require, _row_dict
from engine.state.store import dump_json


class AuditPart:
    """The audit log. Part of SQLiteStore; uses the core's connections."""

    def add_audit_entry(self, merchant: str, actor: str, action: str, target: str,
                        detail: dict | None = None) -> int:
        _require(merchant=merchant, actor=actor, action=action)
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO audit_log (at, merchant, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (self._ts(), merchant, actor, action, str(target), dump_json(detail or {})))
            return int(cur.lastrowid)

    def list_audit_entries(self, merchant: str | None = None, limit: int = 100) -> list[dict]:
        sql, args = "SELECT id, at, merchant, actor, action, target, detail FROM audit_log", []
        if merchant is not None:
            sql += " WHERE merchant=?"
            args.append(merchant)
        with self._use() as conn:
            rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, int(limit))).fetchall()
        return [_row_dict(r, ("detail",)) for r in rows]
