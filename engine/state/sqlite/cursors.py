"""Incremental-read cursors, per flow, connection and name."""

from __future__ import annotations

from engine.state.sqlite.core import _require
from engine.state.store import StateError


class CursorsPart:
    """Incremental-read cursors, per flow, connection and name. Part of SQLiteStore; uses the core's connections."""

    def get_cursor(self, flow: str, connection: str, name: str) -> str | None:
        with self._use() as conn:
            row = conn.execute("SELECT value FROM cursor WHERE flow=? AND connection=? AND name=?",
                               (flow, connection, name)).fetchone()
        return None if row is None else row[0]

    def set_cursor(self, flow: str, connection: str, name: str, value: str) -> None:
        _require(flow=flow, connection=connection, name=name)
        if not isinstance(value, str):
            raise StateError(f"cursor value must be a string, got {type(value).__name__}")
        with self._write() as conn:
            conn.execute(
                """INSERT INTO cursor VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (flow, connection, name) DO UPDATE SET
                     value = excluded.value, updated_at = excluded.updated_at""",
                (flow, connection, name, value, self._ts()))
