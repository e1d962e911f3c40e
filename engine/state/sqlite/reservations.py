"""Stock held for orders the merchant system has not taken yet (a channel order on hold): counted
against what may be sold, released when the order reaches the merchant system or is cancelled."""

from __future__ import annotations

from engine.state.sqlite.core import _require
from engine.state.store import StateError


class ReservationsPart:
    """Stock reservations per (connection, order, SKU). Part of SQLiteStore; uses the core's connections."""

    def reserve_stock(self, connection: str, order_key: str, lines: dict[str, int]) -> bool:
        _require(connection=connection, order_key=order_key)
        if not lines or any(not isinstance(q, int) or q <= 0 for q in lines.values()):
            raise StateError("a reservation needs SKU -> positive quantity")
        now = self._ts()
        with self._write() as conn:
            held = {row[0]: row[1] for row in conn.execute(
                "SELECT sku, quantity FROM reservation WHERE connection=? AND order_key=? AND status='held'",
                (connection, order_key))}
            if held == lines:
                return False  # the same hold again (a re-read, a repeated webhook)
            conn.execute("DELETE FROM reservation WHERE connection=? AND order_key=?", (connection, order_key))
            conn.executemany("INSERT INTO reservation VALUES (?, ?, ?, ?, 'held', '', ?, ?)",
                             [(connection, order_key, sku, qty, now, now) for sku, qty in sorted(lines.items())])
        return True

    def release_stock(self, connection: str, order_key: str, reason: str) -> bool:
        _require(connection=connection, order_key=order_key)
        with self._write() as conn:
            return conn.execute(
                "UPDATE reservation SET status='released', reason=?, updated_at=? "
                "WHERE connection=? AND order_key=? AND status='held'",
                (reason, self._ts(), connection, order_key)).rowcount > 0

    def reservations(self, connection: str | None = None, order_key: str | None = None,
                     status: str | None = "held") -> list[dict]:
        sql, args = "SELECT * FROM reservation WHERE 1=1", []
        for column, value in (("connection", connection), ("order_key", order_key), ("status", status)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        with self._use() as conn:
            return [dict(row) for row in conn.execute(sql + " ORDER BY connection, order_key, sku", args)]

    def reserved_stock(self, connection: str | None = None) -> dict[str, int]:
        sql = "SELECT sku, SUM(quantity) FROM reservation WHERE status='held'"
        args: list = []
        if connection is not None:
            sql += " AND connection=?"
            args.append(connection)
        with self._use() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(sql + " GROUP BY sku ORDER BY sku", args)}
