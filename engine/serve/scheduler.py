"""Flows with `trigger.schedule` run on their cron (UTC) inside `connector serve`.

Each tick takes the flow's run lease like `connector run` does: when another run holds it (a long
poll still going, a person running the flow by hand, another server), the tick is skipped, never
queued, so slow runs cannot pile up. Ticks missed while a run went on are not made up: the next
run is at the next time the cron names after now. Cron expressions are checked by `connector
validate`; croniter computes the times (day-of-week and day-of-month rules, ranges, steps), which
is more than a few lines of our own would get right.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime

from croniter import croniter

log = logging.getLogger(__name__)


@dataclass
class Entry:
    merchant: str
    flow: str
    cron: str
    start: Callable[[str], object]  # runs the flow (FlowRunner.run_schedule)
    next_due: float = 0.0
    running: Future | None = field(default=None, repr=False)
    skipped: int = 0
    started: int = 0

    def advance(self, now: float) -> None:
        self.next_due = croniter(self.cron, datetime.fromtimestamp(now, UTC)).get_next(float)


class Scheduler:
    def __init__(self, pool: Executor, stop: threading.Event, clock: Callable[[], float] = time.time) -> None:
        self.pool, self.stop, self.clock = pool, stop, clock
        self.entries: list[Entry] = []
        self.thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def add(self, merchant: str, flow: str, cron: str, start: Callable[[str], object]) -> Entry:
        if not croniter.is_valid(cron):
            raise ValueError(f"flow {flow} of merchant {merchant}: {cron!r} is not a cron expression")
        entry = Entry(merchant, flow, cron, start)
        entry.advance(self.clock())
        self.entries.append(entry)
        return entry

    def start(self) -> Scheduler:
        for entry in self.entries:
            log.info("%s / %s: scheduled %r, next at %s", entry.merchant, entry.flow, entry.cron,
                     datetime.fromtimestamp(entry.next_due, UTC).isoformat())
        self.thread.start()
        return self

    def tick(self, now: float | None = None) -> list[Entry]:
        """Start every flow that is due; the entries started."""
        now = self.clock() if now is None else now
        started = []
        for entry in self.entries:
            if entry.next_due > now:
                continue
            entry.advance(now)
            if entry.running is not None and not entry.running.done():
                entry.skipped += 1
                log.info("%s / %s: still running from the last tick; this one is skipped", entry.merchant, entry.flow)
                continue
            entry.started += 1
            entry.running = self.pool.submit(entry.start, entry.flow)
            started.append(entry)
        return started

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001  (a full pool at shutdown, a bug: never end the loop)
                if self.stop.is_set():
                    return
                log.error("scheduler: %s: %s", type(exc).__name__, exc)
            due = min((e.next_due for e in self.entries), default=self.clock() + 60)
            self.stop.wait(min(max(due - self.clock(), 0.05), 1.0))
