"""Values by namespace and key (tokens, snapshots, quotas: typed in StateStore)."""

from __future__ import annotations

from engine.state.sqlite.core import _require
from engine.state.store import (
    StateError,
    dump_json,
    load_json,
)

# Keys per `IN (...)` list: under SQLite's oldest limit of 999 variables per statement.
_IN_CHUNK = 500


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

    def kv_get_many(self, namespace: str, keys: list[str]) -> dict[str, dict]:
        """The stored values of those of `keys` that have one, in a few statements (not one per key)."""
        found: dict[str, dict] = {}
        keys = list(dict.fromkeys(keys))
        with self._use() as conn:
            for start in range(0, len(keys), _IN_CHUNK):
                chunk = keys[start:start + _IN_CHUNK]
                rows = conn.execute(f"SELECT key, value FROM kv WHERE namespace=? AND key IN ({','.join('?' * len(chunk))})",
                                    (namespace, *chunk)).fetchall()
                found.update((row[0], load_json(row[1])) for row in rows)
        return found

    def kv_set_many(self, namespace: str, items: dict[str, dict]) -> None:
        """Store several values of one namespace in one transaction."""
        _require(namespace=namespace)
        if not items:
            return
        if not all(isinstance(v, dict) for v in items.values()):
            raise StateError("kv values are dicts")
        now = self._ts()
        with self._write() as conn:
            conn.executemany(
                """INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET
                     value=excluded.value, updated_at=excluded.updated_at""",
                [(namespace, key, dump_json(value), now) for key, value in items.items()])

    def kv_clear(self, namespace: str) -> int:
        """Remove every value of a namespace; the number removed."""
        _require(namespace=namespace)
        with self._write() as conn:
            return conn.execute("DELETE FROM kv WHERE namespace=?", (namespace,)).rowcount
