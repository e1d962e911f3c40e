"""Per-SKU stock locks: leases named after the SKU, taken all together or not at all."""

from __future__ import annotations

from collections.abc import Iterable

from engine.state.sqlite.core import _require
from engine.state.store import StateError


class StockPart:
    """Stock locks over the lease table (one row per SKU lock, named by ``stock_lock_name``). Part
    of SQLiteStore; uses the core's connections."""

    def _stock_names(self, connection: str, skus: Iterable[str]) -> list[str]:
        _require(connection=connection)
        names = []
        for sku in sorted(set(skus)):
            if not isinstance(sku, str) or not sku:
                raise StateError(f"a stock lock needs a non-empty SKU, got {sku!r}")
            names.append(self.stock_lock_name(connection, sku))
        return names

    def acquire_stock_locks(self, connection: str, skus: Iterable[str], owner: str, ttl_seconds: float) -> bool:
        _require(owner=owner)
        names = self._stock_names(connection, skus)
        if not names:
            return True
        now, until = self._ts(), self._ts(ttl_seconds)
        with self._write() as conn:
            for start in range(0, len(names), 500):  # SQLite's bound-parameter limit
                chunk = names[start:start + 500]
                marks = ",".join("?" * len(chunk))
                taken = conn.execute(f"SELECT 1 FROM lease WHERE name IN ({marks}) AND owner != ? AND expires_at > ? "
                                     "LIMIT 1", (*chunk, owner, now)).fetchone()
                if taken is not None:
                    return False  # nothing written yet: the transaction commits no change
            conn.executemany(
                """INSERT INTO lease VALUES (?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET owner=excluded.owner,
                     expires_at=excluded.expires_at, acquired_at=excluded.acquired_at""",
                [(name, owner, until, now) for name in names])
        return True

    def release_stock_locks(self, connection: str, skus: Iterable[str], owner: str) -> int:
        names = self._stock_names(connection, skus)
        released = 0
        with self._write() as conn:
            for start in range(0, len(names), 500):
                chunk = names[start:start + 500]
                marks = ",".join("?" * len(chunk))
                released += conn.execute(f"DELETE FROM lease WHERE name IN ({marks}) AND owner=?",
                                         (*chunk, owner)).rowcount
        return released
