"""The knobs of `connector serve`, with the defaults the command line shows."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2  # threads that run flows (event batches and scheduled runs) at once
    schedule: bool = True  # run flows with trigger.schedule on their cron
    max_body_bytes: int = MIB  # larger deliveries are refused with 413 (a connector may declare its own)
    max_event_age: float | None = None  # seconds; None: each connector's webhooks.window_seconds
    # Store-before-ack durability. FULL: an acknowledged event survives a power loss too (the WAL
    # is synced at each commit); NORMAL survives a crash of the process only. Group commit makes
    # FULL cheap enough (README.md, "Serving webhooks and schedules", has the measurements).
    synchronous: str = "FULL"
    batch_size: int = 500  # events claimed at a time; a flow's share of them is one run
    claim_lease_seconds: float = 300.0  # a crashed worker's events are claimed again after this
    poll_seconds: float = 0.2  # how often an idle worker looks for new events
    max_attempts: int = 5  # a failing event is dead-lettered after this many attempts
    retry_base_seconds: float = 5.0  # backoff: base * 2^(attempt-1), capped
    retry_max_seconds: float = 600.0
    busy_retry_seconds: float = 2.0  # the flow was held by another run: try again this much later
    drain_seconds: float = 30.0  # at shutdown, how long scheduled runs may take to finish
    stuck_seconds: float = 900.0  # /healthz turns 503 when the oldest unprocessed event is older

    # Processed events are kept this long (their delivery ids catch the platform's redeliveries),
    # then purged, once an hour; dead-lettered events stay until `connector events purge --failed`.
    keep_events_days: float = 7.0
    purge_every_seconds: float = 3600.0

    def backoff(self, attempts: int) -> float:
        return min(self.retry_base_seconds * 2 ** max(attempts - 1, 0), self.retry_max_seconds)
