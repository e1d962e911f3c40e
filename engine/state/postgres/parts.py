"""The parts whose SQLite form relies on SQLite's single writer: each written here with
PostgreSQL's own means, so concurrent workers stay correct without taking turns on the whole
database. Everything else is shared with the SQLite backend (see ``core``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

import psycopg

from engine.state.sqlite.core import _require, _row_dict
from engine.state.store import OnceTicket, StateError, dump_json, load_json, normalize_error


class PgLedgerPart:
    """Idempotency ledger: the first writer inserts, every later one waits on the row's lock."""

    def begin_once(self, scope: str, key: str, request_hash: str | None = None, *,
                   lease_seconds: float | None = None) -> OnceTicket:
        _require(scope=scope, key=key)
        lease = self._once_lease if lease_seconds is None else float(lease_seconds)
        now = self._ts()
        expires = self._ts(lease)
        token = secrets.token_hex(8)
        with self._write() as conn:
            inserted = conn.execute(
                """INSERT INTO once_ledger (scope, key, status, request_hash, token, attempts,
                     lease_expires_at, created_at, updated_at)
                   VALUES (?, ?, 'in_progress', ?, ?, 1, ?, ?, ?)
                   ON CONFLICT (scope, key) DO NOTHING RETURNING 1""",
                (scope, key, request_hash, token, expires, now, now)).fetchone()
            if inserted is not None:
                return OnceTicket(scope, key, "new", attempts=1, token=token, lease_expires_at=expires)
            # The row exists (ON CONFLICT waited for its writer to commit): lock it, then decide.
            row = conn.execute("SELECT * FROM once_ledger WHERE scope=? AND key=? FOR UPDATE",
                               (scope, key)).fetchone()
            changed = (request_hash is not None and row["request_hash"] is not None
                       and request_hash != row["request_hash"])
            if row["status"] == "done":
                return OnceTicket(scope, key, "done", result=load_json(row["result"]),
                                  request_changed=changed, attempts=row["attempts"])
            if row["status"] == "in_progress" and row["lease_expires_at"] > now:
                return OnceTicket(scope, key, "in_progress", request_changed=changed,
                                  attempts=row["attempts"], lease_expires_at=row["lease_expires_at"])
            recovered = row["status"] == "in_progress"
            attempts = row["attempts"] + 1
            conn.execute(
                """UPDATE once_ledger SET status='in_progress', token=?, attempts=?,
                     lease_expires_at=?, updated_at=?, request_hash=COALESCE(?::text, request_hash)
                   WHERE scope=? AND key=?""",
                (token, attempts, expires, now, request_hash, scope, key))
            return OnceTicket(scope, key, "new", recovered=recovered, request_changed=changed,
                              attempts=attempts, token=token, last_error=row["error"],
                              lease_expires_at=expires)

    def complete_once(self, scope: str, key: str, result: dict) -> bool:
        _require(scope=scope, key=key)
        body = dump_json(result)
        now = self._ts()
        with self._use() as conn:
            done = conn.execute(
                """INSERT INTO once_ledger (scope, key, status, result, attempts, created_at, updated_at)
                   VALUES (?, ?, 'done', ?, 1, ?, ?)
                   ON CONFLICT (scope, key) DO UPDATE SET status='done', result=excluded.result,
                     token=NULL, lease_expires_at=NULL, updated_at=excluded.updated_at
                   WHERE once_ledger.status <> 'done' RETURNING 1""",
                (scope, key, body, now, now)).fetchone()
        return done is not None

    def fail_once(self, scope: str, key: str, error: str, *, token: str | None = None) -> bool:
        _require(scope=scope, key=key)
        with self._use() as conn:
            cur = conn.execute(
                """UPDATE once_ledger SET status='failed', error=?, token=NULL, lease_expires_at=NULL,
                     updated_at=?
                   WHERE scope=? AND key=? AND status='in_progress' AND (?::text IS NULL OR token=?)""",
                (str(error), self._ts(), scope, key, token, token))
            return cur.rowcount > 0


class PgLeasesPart:
    """Leases taken by one conditional upsert: free, expired or already the owner's."""

    _TAKE = """INSERT INTO lease (name, owner, expires_at, acquired_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET owner=excluded.owner, expires_at=excluded.expires_at,
                 acquired_at=excluded.acquired_at
               WHERE lease.owner = excluded.owner OR lease.expires_at <= excluded.acquired_at
               RETURNING name"""

    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        _require(name=name, owner=owner)
        with self._use() as conn:
            return conn.execute(self._TAKE, (name, owner, self._ts(ttl_seconds), self._ts())).fetchone() is not None

    def acquire_stock_locks(self, connection: str, skus: Iterable[str], owner: str, ttl_seconds: float) -> bool:
        _require(owner=owner)
        names = self._stock_names(connection, skus)  # sorted: every taker locks rows in one order
        if not names:
            return True
        now, until = self._ts(), self._ts(ttl_seconds)
        with self._use() as conn, conn.raw.transaction() as tx:
            taken = 0
            for name in names:
                if conn.execute(self._TAKE, (name, owner, until, now)).fetchone() is not None:
                    taken += 1
                else:
                    break
            if taken == len(names):
                return True
            raise psycopg.Rollback(tx)  # undo the locks taken so far; leaves the block quietly
        return False


class PgEventsPart:
    """Event claims skip rows another worker is claiming instead of waiting for them."""

    def claim_events(self, limit: int, owner: str, lease_seconds: float) -> list[dict]:
        _require(owner=owner)
        now = self._ts()
        expires = self._ts(lease_seconds)
        with self._use() as conn:
            rows = conn.execute(
                """UPDATE inbound_event e SET status='processing', claimed_by=?, claim_expires_at=?,
                     attempts=e.attempts+1
                   FROM (SELECT source, event_id FROM inbound_event
                         WHERE (status='pending' AND (not_before IS NULL OR not_before <= ?))
                            OR (status='processing' AND claim_expires_at <= ?)
                         ORDER BY received_at, seq LIMIT ? FOR UPDATE SKIP LOCKED) picked
                   WHERE e.source = picked.source AND e.event_id = picked.event_id
                   RETURNING e.source, e.event_id, e.topic, e.payload_raw, e.headers, e.attempts,
                     e.received_at, e.outcome, e.seq""",
                (owner, expires, now, now, int(limit))).fetchall()
        out = []
        for r in sorted(rows, key=lambda r: (r["received_at"], r["seq"])):
            ev = _row_dict(r, ("headers", "outcome"))
            ev.pop("seq")
            ev["payload_raw"] = bytes(ev["payload_raw"])
            out.append(ev)
        return out

    def get_event(self, source: str, event_id: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT * FROM inbound_event WHERE source=? AND event_id=?",
                               (source, event_id)).fetchone()
        if row is None:
            return None
        ev = _row_dict(row, ("headers", "outcome"))
        ev.pop("seq")
        ev["payload_raw"] = bytes(ev["payload_raw"])
        return ev


class PgDeadLettersPart:
    """At most one open letter per record, kept by the partial unique index the upsert targets."""

    def add_dead_letter(self, run_id: str | None, merchant: str, flow: str, step: str, entity: str,
                        key: str, payload: dict, error: dict | BaseException) -> int:
        _require(merchant=merchant, flow=flow, step=step, entity=entity, key=key)
        err = dump_json(normalize_error(error))
        body = dump_json(payload)
        now = self._ts()
        with self._use() as conn:
            row = conn.execute(
                """INSERT INTO dead_letter (run_id, merchant, flow, step, entity, key, payload, error,
                     status, attempts, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?)
                   ON CONFLICT (merchant, flow, entity, key) WHERE status = 'open' DO UPDATE SET
                     attempts=dead_letter.attempts+1, run_id=excluded.run_id, step=excluded.step,
                     payload=excluded.payload, error=excluded.error, updated_at=excluded.updated_at
                   RETURNING id""",
                (run_id, merchant, flow, step, entity, key, body, err, now, now)).fetchone()
        return int(row[0])


class PgAuditPart:
    """The audit log's new row id comes back from the insert (no lastrowid in PostgreSQL)."""

    def add_audit_entry(self, merchant: str, actor: str, action: str, target: str,
                        detail: dict | None = None) -> int:
        _require(merchant=merchant, actor=actor, action=action)
        with self._use() as conn:
            row = conn.execute(
                """INSERT INTO audit_log (at, merchant, actor, action, target, detail)
                   VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                (self._ts(), merchant, actor, action, str(target), dump_json(detail or {}))).fetchone()
        return int(row[0])


class PgReservationsPart:
    """An order's hold is replaced under a lock named after the order (it may have no row yet)."""

    def reserve_stock(self, connection: str, order_key: str, lines: dict[str, int]) -> bool:
        _require(connection=connection, order_key=order_key)
        if not lines or any(not isinstance(q, int) or q <= 0 for q in lines.values()):
            raise StateError("a reservation needs SKU -> positive quantity")
        now = self._ts()
        with self._write() as conn:
            self._advisory_xact_lock(conn, f"reservation:{connection}:{order_key}")
            held = {row[0]: row[1] for row in conn.execute(
                "SELECT sku, quantity FROM reservation WHERE connection=? AND order_key=? AND status='held'",
                (connection, order_key))}
            if held == lines:
                return False
            conn.execute("DELETE FROM reservation WHERE connection=? AND order_key=?", (connection, order_key))
            conn.executemany("INSERT INTO reservation VALUES (?, ?, ?, ?, 'held', '', ?, ?)",
                             [(connection, order_key, sku, qty, now, now) for sku, qty in sorted(lines.items())])
        return True


class PgIdMapPart:
    """The reverse look-up orders ties by insertion (``seq``), as SQLite does by rowid."""

    def find_key_by_remote_id(self, entity: str, connection: str, remote_id: str) -> str | None:
        with self._use() as conn:
            row = conn.execute(
                """SELECT key FROM id_map WHERE entity=? AND connection=? AND remote_id=?
                   ORDER BY updated_at DESC, seq DESC LIMIT 1""",
                (entity, connection, remote_id)).fetchone()
        return None if row is None else row[0]


class PgCallBudgetPart:
    """Call budgets shared by every process calling a connection (a generic cell rate algorithm
    on one row, updated in one statement, on the database server's clock so every machine agrees):
    a call may go at ``tat - interval - tolerance``; each call moves ``tat`` one interval on."""

    def reserve_call(self, name: str, rate: float, burst: float) -> float:
        interval = 1.0 / float(rate)
        tolerance = max(float(burst) - 1.0, 0.0) * interval
        with self._use() as conn:
            row = conn.native(
                """INSERT INTO call_budget AS b (name, tat)
                     VALUES (%(name)s, extract(epoch FROM clock_timestamp()) + %(interval)s)
                   ON CONFLICT (name) DO UPDATE
                     SET tat = GREATEST(b.tat, extract(epoch FROM clock_timestamp())) + %(interval)s
                   RETURNING tat - %(interval)s - %(tolerance)s - extract(epoch FROM clock_timestamp())""",
                {"name": name, "interval": interval, "tolerance": tolerance}).fetchone()
        return float(row[0])

    def hold_calls(self, name: str, seconds: float, rate: float, burst: float) -> None:
        # The next call may go ``seconds`` from now, and after it the budget starts empty.
        interval = 1.0 / float(rate)
        tolerance = max(float(burst) - 1.0, 0.0) * interval
        with self._use() as conn:
            conn.native(
                """INSERT INTO call_budget AS b (name, tat)
                     VALUES (%(name)s, extract(epoch FROM clock_timestamp()) + %(until)s)
                   ON CONFLICT (name) DO UPDATE
                     SET tat = GREATEST(b.tat, extract(epoch FROM clock_timestamp()) + %(until)s)""",
                {"name": name, "until": float(seconds) + tolerance})
