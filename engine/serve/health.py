"""What GET /healthz reports: per connection, when its flows last succeeded and failed, and its
backlog of stored events; and whether the server's own loops are alive.

A connection is unhealthy while its latest run ended in a connection-level failure (auth, outage)
with no success since, or while its oldest unprocessed event is older than `stuck_seconds` (the
workers are not keeping up, or cannot process it). 200 when every part is healthy, else 503.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.state.store import utc_rfc3339


@dataclass
class ConnectionHealth:
    last_success: float | None = None
    last_failure: float | None = None
    last_error: str = ""
    last_event: float | None = None

    @property
    def failing(self) -> bool:
        return self.last_failure is not None and (self.last_success is None or self.last_failure > self.last_success)


@dataclass
class Health:
    stuck_seconds: float = 900.0
    connections: dict[tuple[str, str], ConnectionHealth] = field(default_factory=dict)
    loops: dict[str, threading.Thread] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, merchant: str, connection: str) -> None:
        self.connections.setdefault((merchant, connection), ConnectionHealth())

    def run_finished(self, merchant: str, connections: list[str], ok: bool, error: str = "") -> None:
        now = time.time()
        with self._lock:
            for name in connections:
                entry = self.connections.setdefault((merchant, name), ConnectionHealth())
                if ok:
                    entry.last_success = now
                else:
                    entry.last_failure, entry.last_error = now, error[:500]

    def event_received(self, merchant: str, connection: str) -> None:
        entry = self.connections.get((merchant, connection))
        if entry is not None:
            entry.last_event = time.time()

    def report(self, backlog: dict[str, dict[str, dict]],
               breakers: dict[str, dict[str, dict | None]] | None = None) -> tuple[bool, dict[str, Any]]:
        """`backlog`: merchant -> the store's event_backlog() (per connection); `breakers`: merchant
        -> connection -> the store's get_breaker() (an open breaker makes its connection unhealthy)."""
        now = time.time()
        healthy = True
        merchants: dict[str, Any] = {}
        with self._lock:
            items = sorted(self.connections.items())
        for (merchant, name), entry in items:
            waiting = (backlog.get(merchant) or {}).get(name) or {"pending": 0, "processing": 0, "oldest": None}
            oldest = waiting.get("oldest")
            stuck = bool(oldest) and _age(oldest, now) > self.stuck_seconds
            breaker = _breaker((breakers or {}).get(merchant, {}).get(name))
            ok = not entry.failing and not stuck and breaker["state"] == "closed"
            healthy &= ok
            merchants.setdefault(merchant, {})[name] = {
                "ok": ok,
                "last_success": _when(entry.last_success), "last_failure": _when(entry.last_failure),
                "last_error": entry.last_error if entry.failing else "",
                "last_event": _when(entry.last_event),
                "backlog": {"pending": waiting.get("pending", 0), "processing": waiting.get("processing", 0),
                            "oldest": oldest},
                "breaker": breaker,
            }
        loops = {name: thread.is_alive() for name, thread in sorted(self.loops.items())}
        healthy &= all(loops.values())
        return healthy, {"ok": healthy, "loops": loops, "merchants": merchants}


def _breaker(state: dict | None) -> dict[str, Any]:
    """A stored breaker state as /healthz shows it: state, since, next probe, reason, trips."""
    if not state:
        return {"state": "closed", "since": None, "probe_after": None, "reason": "", "trips": 0}
    return {"state": state.get("state", "closed"), "since": _when(state.get("opened_at")),
            "probe_after": _when(state.get("probe_after")), "reason": state.get("reason", ""),
            "trips": int(state.get("trips") or 0)}


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else utc_rfc3339(epoch)


def _age(stamp: str, now: float) -> float:
    try:
        return now - datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0
