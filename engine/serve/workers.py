"""Workers: claim stored events, run the flows they trigger, finish them.

One dispatcher thread per merchant claims up to `batch_size` events at a time and hands each flow
its share as one run (a burst of a thousand order events is one run that reads the orders fifty at
a time, not a thousand runs). Different flows run side by side on the shared pool of `workers`
threads; one flow's runs follow each other, as its run lease requires anyway.

Per event:

- every flow it triggers went through (records that failed are in the flow's own dead-letter
  queue, as in any run): done, with the flows and runs in its outcome;
- a flow was held by another run (a scheduled poll, a `connector run`, another server): back to
  the queue without counting an attempt, tried again in a moment;
- a flow failed (an outage, an auth failure, an error): retried with exponential backoff, only the
  flows that have not gone through yet; after `max_attempts` it goes to the dead-letter queue with
  its payload and the error. An event on its second attempt or later runs alone, so one poison
  event cannot drag a batch of good ones to the dead-letter queue with it;
- an event that cannot be read (not JSON, no topic) is dead-lettered at once: no retry changes it.

Claims are leases. The dispatcher renews its claims while runs go on; a server killed mid-batch
leaves its events claimed, and the next server on this machine takes them back at start (their
owner's process is gone), or any server once the lease expires. Nothing is lost, and the writes
the flows make are idempotent (ID map, idempotency ledger, look-up before create), so nothing is
created twice when an event is processed again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Executor, Future, wait
from typing import Any

from engine import decimal_json
from engine.flow.run_lease import _alive
from engine.project.secrets import REDACTOR
from engine.serve.flows import FlowRunner, RunOutcome
from engine.serve.metrics import Metrics
from engine.serve.options import ServeOptions
from engine.serve.receiver import UNKNOWN_TOPIC
from engine.serve.routing import Routes
from engine.state.store import utc_rfc3339

log = logging.getLogger(__name__)

# The dead-letter queue's flow name for events given up on. Not the failing flow's own name: a
# `connector dlq replay` of that flow would feed the event's payload to it as one of its records.
EVENTS_FLOW = "webhooks"


def owner_id() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/serve-{uuid.uuid4().hex[:8]}"


def _owner_gone(owner: str) -> bool:
    host, _, rest = owner.partition("/")
    pid = rest.partition("/")[0]
    return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


class EventDispatcher:
    def __init__(self, merchant: Any, routes: Routes, runner: FlowRunner, pool: Executor, options: ServeOptions,
                 metrics: Metrics, stop: threading.Event) -> None:
        self.merchant, self.routes, self.runner, self.pool = merchant, routes, runner, pool
        self.options, self.metrics, self.stop = options, metrics, stop
        self.store = merchant.store
        self.owner = owner_id()
        self.thread = threading.Thread(target=self._loop, name=f"events-{merchant.name}", daemon=True)

    def start(self) -> EventDispatcher:
        self.take_back_orphans()
        self.thread.start()
        return self

    def take_back_orphans(self) -> int:
        """Events claimed by a server on this machine whose process is gone (killed, crashed)."""
        taken = 0
        for owner in self.store.event_claim_owners():
            if owner != self.owner and _owner_gone(owner):
                taken += self.store.release_event_claims(owner)
        if taken:
            log.info("%s: took back %d events claimed by a server that is gone", self.merchant.name, taken)
        return taken

    def purge(self) -> int:
        """Processed events older than the options' keep_events_days, deleted."""
        before = utc_rfc3339(time.time() - self.options.keep_events_days * 86400)
        purged = self.store.purge_events(before)
        if purged:
            log.info("%s: purged %d processed events finished before %s", self.merchant.name, purged, before)
        return purged

    def _loop(self) -> None:
        next_purge = time.monotonic()
        while not self.stop.is_set():
            try:
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + self.options.purge_every_seconds
                    self.purge()
                worked = self.once()
            except Exception as exc:  # noqa: BLE001  (a store hiccup must not end the loop)
                log.error("%s: event worker: %s: %s", self.merchant.name, type(exc).__name__, exc,
                          exc_info=log.isEnabledFor(logging.DEBUG))
                worked = False
            if not worked:
                self.stop.wait(self.options.poll_seconds)

    def once(self) -> bool:
        """Claim and process one batch; False when there was nothing to do."""
        events = self.store.claim_events(self.options.batch_size, self.owner, self.options.claim_lease_seconds)
        if not events:
            return False
        self.process(events)
        return True

    # ------------------------------------------------------------------ one batch

    def process(self, events: list[dict]) -> None:
        work: dict[str, list[list[tuple[dict, Any]]]] = {}  # flow -> batches of (event, payload)
        wanted: dict[tuple[str, str], tuple[set[str], set[str], Any]] = {}  # key -> (to run, done before, payload)
        together: dict[str, list[tuple[dict, Any]]] = {}
        for event in events:
            key = (event["source"], event["event_id"])
            payload, problem = self._read(event)
            if problem:
                self._give_up(event, payload, problem)
                continue
            flows = self.routes.flows_for(event["source"], event["topic"])
            done_before = set((event.get("outcome") or {}).get("flows_done") or [])
            todo = [f for f in flows if f not in done_before]
            if not todo:
                note = "" if flows else f"no flow of {self.merchant.name} takes {event['topic']} events"
                self._finish(event, "done", {"flows_done": sorted(done_before), "note": note})
                continue
            wanted[key] = (set(todo), done_before, payload)
            for flow in todo:
                if event["attempts"] > 1:
                    work.setdefault(flow, []).append([(event, payload)])  # alone: it may be the poison
                else:
                    together.setdefault(flow, []).append((event, payload))
        for flow, batch in together.items():
            work.setdefault(flow, []).insert(0, batch)
        if not work:
            return
        futures: dict[Future, str] = {self.pool.submit(self._run_flow, flow, batches): flow
                                      for flow, batches in work.items()}
        results: dict[tuple[str, str], dict[str, RunOutcome]] = {}
        pending = set(futures)
        renew_every = max(self.options.claim_lease_seconds / 3, 0.5)
        while pending:
            finished, pending = wait(pending, timeout=renew_every)
            for future in finished:
                flow = futures[future]
                try:
                    outcomes = future.result()
                except Exception as exc:  # noqa: BLE001
                    outcomes = {(e["source"], e["event_id"]): RunOutcome("failed", f"{type(exc).__name__}: {exc}")
                                for batch in work[flow] for e, _ in batch}
                for key, outcome in outcomes.items():
                    results.setdefault(key, {})[flow] = outcome
            if pending:
                self.store.renew_event_claims(self.owner, self.options.claim_lease_seconds)
        by_key = {(e["source"], e["event_id"]): e for e in events}
        for key, (todo, done_before, payload) in wanted.items():
            self._settle(by_key[key], todo, done_before, payload, results.get(key, {}))

    def _run_flow(self, flow: str, batches: list[list[tuple[dict, Any]]]) -> dict[tuple[str, str], RunOutcome]:
        out: dict[tuple[str, str], RunOutcome] = {}
        for batch in batches:
            if self.stop.is_set():
                outcome = RunOutcome("stopped", "the server stopped before the run started")
            else:
                outcome = self.runner.run_events(flow, [payload for _, payload in batch],
                                                 redelivered=any(event["attempts"] > 1 for event, _ in batch))
            for event, _ in batch:
                out[(event["source"], event["event_id"])] = outcome
        return out

    def _settle(self, event: dict, todo: set[str], done_before: set[str], payload: Any,
                outcomes: dict[str, RunOutcome]) -> None:
        ok = {flow for flow, o in outcomes.items() if o.status == "ok"}
        failed = {flow: o for flow, o in outcomes.items() if o.status == "failed"}
        outcome = {"flows_done": sorted(done_before | ok),
                   "runs": {flow: o.run_id for flow, o in sorted(outcomes.items()) if o.run_id}}
        if ok >= todo:
            self._finish(event, "done", outcome)
            return
        if failed:
            flow, first = sorted(failed.items())[0]
            error = f"flow {flow}: {first.error or 'the run failed'}"
            self.metrics.failed.labels(self.merchant.name, event["source"]).inc()
            if event["attempts"] >= self.options.max_attempts:
                self._give_up(event, payload, f"{error} (after {event['attempts']} attempts)")
                return
            delay = self.options.backoff(event["attempts"])
            log.info("%s: event %s/%s: %s; retry in %.0f s", self.merchant.name, event["source"],
                     event["event_id"], error, delay)
            self.store.finish_event(event["source"], event["event_id"], "retry", error, retry_in=delay,
                                    outcome=outcome)
            return
        # Busy, stopped or down (a breaker open): nothing failed, the event was not really tried.
        reason = next((o.error for o in outcomes.values() if o.status in ("busy", "stopped", "down")), "")
        down = any(o.status == "down" for o in outcomes.values())
        wait = self.options.backoff(1) if down else self.options.busy_retry_seconds
        self.store.finish_event(event["source"], event["event_id"], "retry", None, count_attempt=False,
                                retry_in=0.0 if self.stop.is_set() else wait,
                                outcome=outcome)
        log.debug("%s: event %s/%s put back: %s", self.merchant.name, event["source"], event["event_id"], reason)

    # ------------------------------------------------------------------ pieces

    @staticmethod
    def _read(event: dict) -> tuple[Any, str]:
        raw = event["payload_raw"]
        try:
            payload = decimal_json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return {"raw": raw.decode("utf-8", "replace")[:10000]}, f"the body is not JSON: {exc}"
        if event["topic"] == UNKNOWN_TOPIC:
            return payload, "the event has no topic the connector's webhooks.topic could read"
        return payload, ""

    def _finish(self, event: dict, status: str, outcome: dict) -> None:
        self.store.finish_event(event["source"], event["event_id"], status, None, outcome=outcome)
        self.metrics.processed.labels(self.merchant.name, event["source"]).inc()

    def _give_up(self, event: dict, payload: Any, error: str) -> None:
        log.warning("%s: event %s/%s dead-lettered: %s", self.merchant.name, event["source"], event["event_id"], error)
        body = payload if isinstance(payload, dict) else {"payload": payload}
        self.store.dead_letter_event(event["source"], event["event_id"], self.merchant.name, EVENTS_FLOW,
                                     REDACTOR.data(body), {"message": REDACTOR.text(error), "type": "EventError"})
        self.metrics.dead_lettered.labels(self.merchant.name, event["source"]).inc()
