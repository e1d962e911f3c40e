"""Inbound events (webhooks), stored before they are acknowledged, claimed by workers."""

from __future__ import annotations

from engine.state.sqlite.core import _SECRET_HEADERS, _require, _row_dict
from engine.state.store import (
    EVENT_FINISH_STATUSES,
    StateError,
    dump_json,
)


class EventsPart:
    """Inbound events (webhooks), stored before they are acknowledged, claimed by workers. Part of SQLiteStore; uses the core's connections."""

    def store_event(self, source: str, event_id: str, topic: str, payload_raw: bytes,
                    headers: dict) -> bool:
        _require(source=source, event_id=event_id, topic=topic)
        if not isinstance(payload_raw, (bytes, bytearray, memoryview)):
            raise StateError("payload_raw must be the exact bytes received (signatures cover bytes)")
        kept = {str(k): str(v) for k, v in (headers or {}).items() if str(k).lower() not in _SECRET_HEADERS}
        with self._write() as conn:
            cur = conn.execute(
                """INSERT INTO inbound_event (source, event_id, topic, payload_raw, headers, status,
                     received_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)
                   ON CONFLICT (source, event_id) DO NOTHING""",
                (source, event_id, topic, bytes(payload_raw), dump_json(kept), self._ts()))
            return cur.rowcount > 0

    def claim_events(self, limit: int, owner: str, lease_seconds: float) -> list[dict]:
        _require(owner=owner)
        now = self._ts()
        expires = self._ts(lease_seconds)
        with self._write() as conn:
            rows = conn.execute(
                """SELECT source, event_id, topic, payload_raw, headers, attempts, received_at
                   FROM inbound_event
                   WHERE status='pending' OR (status='processing' AND claim_expires_at <= ?)
                   ORDER BY received_at, rowid LIMIT ?""", (now, int(limit))).fetchall()
            out = []
            for r in rows:
                conn.execute(
                    """UPDATE inbound_event SET status='processing', claimed_by=?, claim_expires_at=?,
                         attempts=attempts+1 WHERE source=? AND event_id=?""",
                    (owner, expires, r["source"], r["event_id"]))
                ev = _row_dict(r, ("headers",))
                ev["payload_raw"] = bytes(ev["payload_raw"])
                ev["attempts"] += 1
                out.append(ev)
            return out

    def finish_event(self, source: str, event_id: str, status: str, error: str | None = None) -> bool:
        if status not in EVENT_FINISH_STATUSES:
            raise StateError(f"event status must be one of {', '.join(EVENT_FINISH_STATUSES)}, not {status!r}")
        now = self._ts()
        with self._write() as conn:
            if status == "retry":
                cur = conn.execute(
                    """UPDATE inbound_event SET status='pending', claimed_by=NULL, claim_expires_at=NULL,
                         error=? WHERE source=? AND event_id=?""", (error, source, event_id))
            else:
                cur = conn.execute(
                    """UPDATE inbound_event SET status=?, error=?, finished_at=?, claimed_by=NULL,
                         claim_expires_at=NULL WHERE source=? AND event_id=?""",
                    (status, error, now, source, event_id))
            return cur.rowcount > 0

    def get_event(self, source: str, event_id: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT * FROM inbound_event WHERE source=? AND event_id=?",
                               (source, event_id)).fetchone()
        if row is None:
            return None
        ev = _row_dict(row, ("headers",))
        ev["payload_raw"] = bytes(ev["payload_raw"])
        return ev
