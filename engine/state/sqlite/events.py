"""Inbound events (webhooks), stored before they are acknowledged, claimed by workers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from engine.state.sqlite.core import _SECRET_HEADERS, _require, _row_dict
from engine.state.store import (
    EVENT_FINISH_STATUSES,
    StateError,
    dump_json,
)


def content_event_id(payload_raw: bytes) -> str:
    """The id of an event whose platform sends no delivery id: the SHA-256 of its exact bytes, so
    a resent delivery is the same event and a changed one is a new event."""
    return "sha256:" + hashlib.sha256(bytes(payload_raw)).hexdigest()


class EventsPart:
    """Inbound events (webhooks), stored before they are acknowledged, claimed by workers. Part of SQLiteStore; uses the core's connections."""

    @staticmethod
    def _event_row(source: str, event_id: str | None, topic: str, payload_raw: bytes,
                   headers: dict) -> tuple[str, str, str, bytes, dict]:
        if not isinstance(payload_raw, (bytes, bytearray, memoryview)):
            raise StateError("payload_raw must be the exact bytes received (signatures cover bytes)")
        event_id = event_id or content_event_id(payload_raw)
        _require(source=source, event_id=event_id, topic=topic)
        kept = {str(k): str(v) for k, v in (headers or {}).items() if str(k).lower() not in _SECRET_HEADERS}
        return source, event_id, topic, bytes(payload_raw), kept

    def store_event(self, source: str, event_id: str | None, topic: str, payload_raw: bytes,
                    headers: dict) -> bool:
        return self.store_events([(source, event_id, topic, payload_raw, headers)])[0]

    def store_events(self, events: Iterable[tuple[str, str | None, str, bytes, dict]]) -> list[bool]:
        rows = [self._event_row(*event) for event in events]
        if not rows:
            return []
        now = self._ts()
        out = []
        with self._write() as conn:
            for source, event_id, topic, raw, kept in rows:
                cur = conn.execute(
                    """INSERT INTO inbound_event (source, event_id, topic, payload_raw, headers, status,
                         received_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)
                       ON CONFLICT (source, event_id) DO NOTHING""",
                    (source, event_id, topic, raw, dump_json(kept), now))
                out.append(cur.rowcount > 0)
        return out

    def claim_events(self, limit: int, owner: str, lease_seconds: float) -> list[dict]:
        _require(owner=owner)
        now = self._ts()
        expires = self._ts(lease_seconds)
        with self._write() as conn:
            rows = conn.execute(
                """SELECT source, event_id, topic, payload_raw, headers, attempts, received_at, outcome
                   FROM inbound_event
                   WHERE (status='pending' AND (not_before IS NULL OR not_before <= ?))
                      OR (status='processing' AND claim_expires_at <= ?)
                   ORDER BY received_at, rowid LIMIT ?""", (now, now, int(limit))).fetchall()
            out = []
            for r in rows:
                conn.execute(
                    """UPDATE inbound_event SET status='processing', claimed_by=?, claim_expires_at=?,
                         attempts=attempts+1 WHERE source=? AND event_id=?""",
                    (owner, expires, r["source"], r["event_id"]))
                ev = _row_dict(r, ("headers", "outcome"))
                ev["payload_raw"] = bytes(ev["payload_raw"])
                ev["attempts"] += 1
                out.append(ev)
            return out

    def renew_event_claims(self, owner: str, lease_seconds: float) -> int:
        _require(owner=owner)
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE inbound_event SET claim_expires_at=? WHERE status='processing' AND claimed_by=?",
                (self._ts(lease_seconds), owner))
            return cur.rowcount

    def finish_event(self, source: str, event_id: str, status: str, error: str | None = None, *,
                     retry_in: float = 0.0, count_attempt: bool = True, outcome: dict | None = None) -> bool:
        if status not in EVENT_FINISH_STATUSES:
            raise StateError(f"event status must be one of {', '.join(EVENT_FINISH_STATUSES)}, not {status!r}")
        now = self._ts()
        body = None if outcome is None else dump_json(outcome)
        with self._write() as conn:
            if status == "retry":
                cur = conn.execute(
                    """UPDATE inbound_event SET status='pending', claimed_by=NULL, claim_expires_at=NULL,
                         error=COALESCE(?, error), not_before=?, attempts=attempts-?,
                         outcome=COALESCE(?, outcome) WHERE source=? AND event_id=?""",
                    (error, self._ts(retry_in) if retry_in > 0 else None, 0 if count_attempt else 1, body,
                     source, event_id))
            else:
                cur = conn.execute(
                    """UPDATE inbound_event SET status=?, error=?, finished_at=?, claimed_by=NULL,
                         claim_expires_at=NULL, not_before=NULL, outcome=COALESCE(?, outcome)
                       WHERE source=? AND event_id=?""",
                    (status, error, now, body, source, event_id))
            return cur.rowcount > 0

    def event_claim_owners(self) -> list[str]:
        with self._use() as conn:
            rows = conn.execute("""SELECT DISTINCT claimed_by FROM inbound_event
                                   WHERE status='processing' AND claimed_by IS NOT NULL""").fetchall()
        return sorted(r[0] for r in rows)

    def release_event_claims(self, owner: str) -> int:
        _require(owner=owner)
        with self._write() as conn:
            cur = conn.execute(
                """UPDATE inbound_event SET status='pending', claimed_by=NULL, claim_expires_at=NULL
                   WHERE status='processing' AND claimed_by=?""", (owner,))
            return cur.rowcount

    def event_backlog(self) -> dict[str, dict]:
        with self._use() as conn:
            rows = conn.execute(
                """SELECT source, status, COUNT(*) AS n, MIN(received_at) AS oldest FROM inbound_event
                   WHERE status IN ('pending', 'processing') GROUP BY source, status""").fetchall()
        out: dict[str, dict] = {}
        for r in rows:
            entry = out.setdefault(r["source"], {"pending": 0, "processing": 0, "oldest": None})
            entry[r["status"]] = int(r["n"])
            if entry["oldest"] is None or r["oldest"] < entry["oldest"]:
                entry["oldest"] = r["oldest"]
        return out

    def event_counts(self, source: str | None = None) -> dict[str, int]:
        sql, args = "SELECT status, COUNT(*) FROM inbound_event", ()
        if source is not None:
            sql, args = sql + " WHERE source=?", (source,)
        with self._use() as conn:
            rows = conn.execute(sql + " GROUP BY status", args).fetchall()
        counts = {status: 0 for status in ("pending", "processing", "done", "failed")}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts

    def reclaim_failed_event(self, source: str, event_id: str, owner: str, lease_seconds: float, *,
                             topic: str | None = None, payload_raw: bytes | None = None) -> dict | None:
        _require(owner=owner)
        raw = None if payload_raw is None else bytes(payload_raw)
        with self._write() as conn:
            cur = conn.execute(
                """UPDATE inbound_event SET status='processing', claimed_by=?, claim_expires_at=?, attempts=1,
                     not_before=NULL, finished_at=NULL, topic=COALESCE(?, topic),
                     payload_raw=COALESCE(?, payload_raw)
                   WHERE source=? AND event_id=? AND status='failed'""",
                (owner, self._ts(lease_seconds), topic, raw, source, event_id))
            if cur.rowcount == 0:
                return None
            row = conn.execute(
                """SELECT source, event_id, topic, payload_raw, headers, attempts, received_at, outcome
                   FROM inbound_event WHERE source=? AND event_id=?""", (source, event_id)).fetchone()
        ev = _row_dict(row, ("headers", "outcome"))
        ev["payload_raw"] = bytes(ev["payload_raw"])
        return ev

    def purge_events(self, finished_before: str, statuses: tuple[str, ...] = ("done",)) -> int:
        kept = [s for s in statuses if s in ("done", "failed")]
        if not kept:
            return 0
        marks = ", ".join("?" for _ in kept)
        with self._write() as conn:
            cur = conn.execute(
                f"""DELETE FROM inbound_event WHERE status IN ({marks}) AND finished_at IS NOT NULL
                    AND finished_at < ?""", (*kept, finished_before))
            return cur.rowcount

    def get_event(self, source: str, event_id: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT * FROM inbound_event WHERE source=? AND event_id=?",
                               (source, event_id)).fetchone()
        if row is None:
            return None
        ev = _row_dict(row, ("headers", "outcome"))
        ev["payload_raw"] = bytes(ev["payload_raw"])
        return ev
