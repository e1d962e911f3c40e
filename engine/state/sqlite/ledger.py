"""The idempotency ledger: each side effect claimed once, completed once."""

from __future__ import annotations

import secrets

from engine.state.sqlite.core import _require, _row_dict
from engine.state.store import (
    OnceTicket,
    dump_json,
    load_json,
)


class LedgerPart:
    """The idempotency ledger: each side effect claimed once, completed once. Part of SQLiteStore; uses the core's connections."""

    def begin_once(self, scope: str, key: str, request_hash: str | None = None, *,
                   lease_seconds: float | None = None) -> OnceTicket:
        _require(scope=scope, key=key)
        lease = self._once_lease if lease_seconds is None else float(lease_seconds)
        now = self._ts()
        expires = self._ts(lease)
        token = secrets.token_hex(8)
        with self._write() as conn:
            row = conn.execute("SELECT * FROM once_ledger WHERE scope=? AND key=?", (scope, key)).fetchone()
            if row is None:
                conn.execute(
                    """INSERT INTO once_ledger (scope, key, status, request_hash, token, attempts,
                         lease_expires_at, created_at, updated_at)
                       VALUES (?, ?, 'in_progress', ?, ?, 1, ?, ?, ?)""",
                    (scope, key, request_hash, token, expires, now, now))
                return OnceTicket(scope, key, "new", attempts=1, token=token, lease_expires_at=expires)
            changed = (request_hash is not None and row["request_hash"] is not None
                       and request_hash != row["request_hash"])
            if row["status"] == "done":
                return OnceTicket(scope, key, "done", result=load_json(row["result"]),
                                  request_changed=changed, attempts=row["attempts"])
            if row["status"] == "in_progress" and row["lease_expires_at"] > now:
                return OnceTicket(scope, key, "in_progress", request_changed=changed,
                                  attempts=row["attempts"], lease_expires_at=row["lease_expires_at"])
            # Either released by fail_once, or a holder that never answered within its lease.
            recovered = row["status"] == "in_progress"
            attempts = row["attempts"] + 1
            conn.execute(
                """UPDATE once_ledger SET status='in_progress', token=?, attempts=?,
                     lease_expires_at=?, updated_at=?, request_hash=COALESCE(?, request_hash)
                   WHERE scope=? AND key=?""",
                (token, attempts, expires, now, request_hash, scope, key))
            return OnceTicket(scope, key, "new", recovered=recovered, request_changed=changed,
                              attempts=attempts, token=token, last_error=row["error"],
                              lease_expires_at=expires)

    def complete_once(self, scope: str, key: str, result: dict) -> bool:
        _require(scope=scope, key=key)
        body = dump_json(result)
        now = self._ts()
        with self._write() as conn:
            row = conn.execute("SELECT status FROM once_ledger WHERE scope=? AND key=?",
                               (scope, key)).fetchone()
            if row is not None and row["status"] == "done":
                return False
            conn.execute(
                """INSERT INTO once_ledger (scope, key, status, result, attempts, created_at, updated_at)
                   VALUES (?, ?, 'done', ?, 1, ?, ?)
                   ON CONFLICT (scope, key) DO UPDATE SET status='done', result=excluded.result,
                     token=NULL, lease_expires_at=NULL, updated_at=excluded.updated_at""",
                (scope, key, body, now, now))
            return True

    def fail_once(self, scope: str, key: str, error: str, *, token: str | None = None) -> bool:
        _require(scope=scope, key=key)
        with self._write() as conn:
            cur = conn.execute(
                """UPDATE once_ledger SET status='failed', error=?, token=NULL, lease_expires_at=NULL,
                     updated_at=?
                   WHERE scope=? AND key=? AND status='in_progress' AND (? IS NULL OR token=?)""",
                (str(error), self._ts(), scope, key, token, token))
            return cur.rowcount > 0

    def renew_once(self, scope: str, key: str, token: str, *,
                   lease_seconds: float | None = None) -> bool:
        _require(scope=scope, key=key, token=token)
        lease = self._once_lease if lease_seconds is None else float(lease_seconds)
        with self._write() as conn:
            cur = conn.execute(
                """UPDATE once_ledger SET lease_expires_at=?, updated_at=?
                   WHERE scope=? AND key=? AND status='in_progress' AND token=?""",
                (self._ts(lease), self._ts(), scope, key, token))
            return cur.rowcount > 0

    def get_once(self, scope: str, key: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute(
                """SELECT scope, key, status, request_hash, result, error, attempts, lease_expires_at,
                     created_at, updated_at FROM once_ledger WHERE scope=? AND key=?""",
                (scope, key)).fetchone()
        return None if row is None else _row_dict(row, ("result",))
