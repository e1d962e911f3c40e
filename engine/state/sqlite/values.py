"""Values by namespace and key (tokens, snapshots, quotas: typed in StateStore)."""

from __future__ import annotations

from engine.state.sqlite.core import _require
from engine.state.store import (
    StateError,
    dump_json,
    load_json,
)


class ValuesPart:
    """Values by namespace and key (tokens, snapshots, quotas: typed in StateStore). Part of SQLiteStore; uses the core's connections."""

    def kv_get(self, namespace: str, key: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key)).fetchone()
        return None if row is None else load_json(row[0])

    def kv_set(self, namespace: str, key: str, value: dict) -> None:
        _require(namespace=namespace, key=key)
        if not isinstance(value, dict):
            raise StateError("kv values are dicts")
        with self._write() as conn:
            conn.execute(
                """INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET
                     value=excluded.value, updated_at=excluded.updated_at""",
                (namespace, key, dump_json(value), self._ts()))

    def kv_replace(self, namespace: str, key: str, old: dict, new: dict) -> bool:
        _require(namespace=namespace, key=key)
        with self._write() as conn:
            return conn.execute(
                "UPDATE kv SET value=?, updated_at=? WHERE namespace=? AND key=? AND value=?",
                (dump_json(new), self._ts(), namespace, key, dump_json(old))).rowcount > 0

    def kv_delete(self, namespace: str, key: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM kv WHERE namespace=? AND key=?", (namespace, key)).rowcount > 0
