"""Leases: named, owned, expiring locks."""

from __future__ import annotations

from engine.state.sqlite.core import _require


class LeasesPart:
    """Leases: named, owned, expiring locks. Part of SQLiteStore; uses the core's connections."""

    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        _require(name=name, owner=owner)
        now = self._ts()
        with self._write() as conn:
            row = conn.execute("SELECT owner, expires_at FROM lease WHERE name=?", (name,)).fetchone()
            if row is not None and row["owner"] != owner and row["expires_at"] > now:
                return False
            conn.execute(
                """INSERT INTO lease VALUES (?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET owner=excluded.owner,
                     expires_at=excluded.expires_at, acquired_at=excluded.acquired_at""",
                (name, owner, self._ts(ttl_seconds), now))
            return True

    def renew_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        # An expired lease nobody took is still ours to renew: taking it would have changed owner.
        with self._write() as conn:
            cur = conn.execute("UPDATE lease SET expires_at=? WHERE name=? AND owner=?",
                               (self._ts(ttl_seconds), name, owner))
            return cur.rowcount > 0

    def release_lease(self, name: str, owner: str) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM lease WHERE name=? AND owner=?", (name, owner))
            return cur.rowcount > 0

    def get_lease(self, name: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT name, owner, expires_at, acquired_at FROM lease WHERE name=?",
                               (name,)).fetchone()
        return None if row is None else dict(row)
