"""Running one merchant flow for `connector serve`: on a batch of events, or on its schedule, under
the same run lease as `connector run`, with its duration and outcome counted."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from engine.flow.runner import FlowRun
from engine.serve.health import Health
from engine.serve.metrics import Metrics
from engine.state.store import FlowBusyError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    status: str  # ok, failed (connection-level failure or error), busy (another run held the flow), stopped,
    #              down (a connection's circuit breaker is open)
    error: str = ""
    run_id: str = ""
    counts: dict | None = None


class _Until:
    """Records until the server is told to stop; `cut` says whether it stopped early."""

    def __init__(self, records: Iterable[Any], stop: threading.Event) -> None:
        self.records, self.stop, self.cut = records, stop, False

    def __iter__(self) -> Iterator[Any]:
        for record in self.records:
            if self.stop.is_set():
                self.cut = True
                return
            yield record


class FlowRunner:
    def __init__(self, merchant: Any, metrics: Metrics, health: Health, stop: threading.Event) -> None:
        self.merchant, self.metrics, self.health, self.stop = merchant, metrics, health, stop
        # Set by a worker on PostgreSQL: the stock changes events bring become per-SKU jobs.
        self.defer_stock: Any = None

    def _connections(self, local: str) -> list[str]:
        plan = self.merchant.plan.flow(self.merchant.name, local)
        return sorted(set(plan.roles.values())) if plan is not None else []

    def run_events(self, local: str, payloads: list[Any], *, redelivered: bool = False) -> RunOutcome:
        """The records the events name, read again and taken through the flow's steps.
        `redelivered`: the events were claimed before (a worker died or a run failed on them)."""
        run = FlowRun(self.merchant, local)
        run.ctx.defer_stock = self.defer_stock
        run.ctx.redelivered = redelivered
        records = _Until(run.steps[0].event_records(run.ctx, payloads), self.stop)
        return self._run(run, local, "webhook", lambda: run.run(records=iter(records)), records)

    def run_schedule(self, local: str) -> RunOutcome:
        """A full (or incremental) poll, as `connector run` does. Stopped early at shutdown, the
        read is incomplete, so its cursor stays where it was."""
        run = FlowRun(self.merchant, local)
        pull = run.steps[0]
        read = pull.records
        cut = _Until((), self.stop)

        def records(ctx: Any) -> Iterator[Any]:
            cut.records = read(ctx)
            return iter(cut)

        pull.records = records  # this run's pull only
        return self._run(run, local, "schedule", run.run, cut)

    def stock_flows(self) -> list[str]:
        """The merchant's flows that write stock (a stock step): what a per-SKU job runs."""
        writers = self.merchant.plan.stock_writers(self.merchant.name).values()
        return list(dict.fromkeys(local for flows in writers for local in flows))

    def run_skus(self, local: str, skus: list[str]) -> RunOutcome:
        """The stock of these SKUs read again, computed and written (a per-SKU job): the flow's
        own stock step, under the SKUs' locks, with nothing pulled."""
        run = FlowRun(self.merchant, local, skus=skus)
        return self._run(run, local, "sku", lambda: run.run(records=iter(())), _Until((), self.stop))

    def run_reconcile(self, local: str) -> RunOutcome:
        """`connector reconcile` of a stock flow: every SKU compared with the channel, drift repaired."""
        run = FlowRun(self.merchant, local, mode="reconcile")
        return self._run(run, local, "reconcile", run.run, _Until((), self.stop))

    def _run(self, run: FlowRun, local: str, trigger: str, go: Any, cut: _Until) -> RunOutcome:
        name = self.merchant.name
        started = time.monotonic()
        try:
            report = go()
        except FlowBusyError as exc:
            self.metrics.busy.labels(name, local, trigger).inc()
            log.info("%s / %s (%s): %s", name, local, trigger, exc)
            return RunOutcome("busy", str(exc))
        except Exception as exc:  # noqa: BLE001  (one failing flow must not stop the server)
            log.warning("%s / %s (%s) failed: %s: %s", name, local, trigger, type(exc).__name__, exc,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            self.metrics.runs.labels(name, local, trigger, "error").inc()
            return RunOutcome("failed", f"{type(exc).__name__}: {exc}")
        seconds = time.monotonic() - started
        self.metrics.run_seconds.labels(name, local, trigger).observe(seconds)
        self.metrics.runs.labels(name, local, trigger, report.status).inc()
        ok = report.status == "ok"
        self.health.run_finished(name, self._connections(local), ok, report.error)
        log.info("%s / %s (%s): run %s %s in %.1f s, counts %s", name, local, trigger, report.run_id,
                 report.status, seconds, report.counts)
        if cut.cut:
            return RunOutcome("stopped", "the server stopped before the run ended", report.run_id, report.counts)
        # "down": a connection's breaker is open; nothing was tried, so no attempt is counted.
        status = "ok" if ok else "down" if report.status == "down" else "failed"
        return RunOutcome(status, report.error, report.run_id, report.counts)
