"""Jobs on procrastinate, in the PostgreSQL database that holds the state.

Tasks (each job in the queue ``merchant.<name>``, so a worker takes only the merchants it has
loaded):

- ``connector.events(merchant)``: claim the merchant's stored events and take them through their
  flows, until none is left. Deferred by the receiver after each commit and every few seconds by
  a periodic sweep (events put back for a retry later, events stored while no worker ran).
  Lock ``events:<merchant>``: one worker at a time processes a merchant's events, in order;
  queueing lock of the same name: a burst of a thousand webhooks is one pending job, not a thousand.
- ``connector.flow(merchant, flow)``: one run of a flow (a ``trigger.schedule`` tick, or one asked
  for by hand). Lock ``flow:<merchant>:<flow>``: never two runs at once; queueing lock of the same
  name: ticks missed while a run went on wait as one job, not a pile. The flow's run lease in the
  state still guards against runs started outside the queue (``connector run``).
- ``connector.stock(merchant, sku)``: the SKU's stock read again from the store, computed and
  written to the channel by the merchant's stock flows (their own stock step, for this SKU only).
  Deferred by the runs that saw a change (an inventory level webhook, a channel order whose units
  are held or let go) instead of writing it themselves. Lock ``inventory:<merchant>:<sku>``: one
  SKU's stock is written by one job at a time on any machine, each after reading the store again,
  so no stale figure lands after a fresh one (the no-oversell guarantee across machines; the
  stock step's per-SKU locks in the state still guard against a scheduled or hand-made run);
  queueing lock of the same name: a storm of changes to one SKU is one pending job.
- ``connector.reconcile(merchant, flow)``: ``connector reconcile`` of a stock flow, periodic per
  merchant (``reconcile_cron``); lock and queueing lock ``reconcile:<merchant>:<flow>``.
- ``connector.recover``: every few seconds, jobs left "doing" by a worker whose heartbeat stopped
  (killed, machine lost) go back to the queue. Their events are taken back from the state: at once
  when the dead worker was on this machine, else when its claims' lease runs out. So are the
  leases (stock locks, run leases) a dead process of this machine held, which would otherwise
  keep its SKUs waiting for their time to live.

Jobs carry names only; everything they work on is in the state, so a job run twice or lost does
no harm (the next sweep finds the events).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions as pexc

from engine.errors import ConnectorError
from engine.jobs import Jobs
from engine.state.postgres.core import split_url

log = logging.getLogger(__name__)

TASK_EVENTS = "connector.events"
TASK_FLOW = "connector.flow"
TASK_RECOVER = "connector.recover"
TASK_STOCK = "connector.stock"
TASK_RECONCILE = "connector.reconcile"
RECONCILE_CRON = "30 * * * *"  # hourly
# A stock job that failed (an outage, a lock another writer kept, a write refused) is tried again:
# 1, 2, 4, 8, 16 s later.
STOCK_RETRY = procrastinate.RetryStrategy(max_attempts=6, exponential_wait=1)
RECOVER_QUEUE = "connector"
# A worker looks for due jobs at least this often. procrastinate wakes workers when a job is
# queued, but not when the job holding a waiting job's lock ends, nor when a job to try again
# becomes due; its own default (5 s) would leave such a job (a SKU's stock) waiting that long.
POLL_SECONDS = 0.5
SWEEP_CRON = "* * * * * */5"  # every 5 seconds (procrastinate's sixth field is seconds)


def queue_of(merchant: str) -> str:
    return f"merchant.{merchant}"


def events_lock(merchant: str) -> str:
    return f"events:{merchant}"


def flow_lock(merchant: str, flow: str) -> str:
    return f"flow:{merchant}:{flow}"


def stock_lock(merchant: str, sku: str) -> str:
    return f"inventory:{merchant}:{sku}"


def reconcile_lock(merchant: str, flow: str) -> str:
    return f"reconcile:{merchant}:{flow}"


def conninfo_of(state_url: str) -> str:
    """The libpq URL of the database (the store's own options, like the schema, taken out)."""
    return split_url(state_url)[0]


def ensure_schema(conninfo: str) -> None:
    """Create procrastinate's tables in the database once (the first process to get here does it)."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('connector:procrastinate-schema', 0))")
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None:
            conn.execute(procrastinate.schema.SchemaManager.get_schema())


def make_app(conninfo: str, worker: Worker | None = None, *, sync: bool = True) -> procrastinate.App:
    """The procrastinate app with the connector's tasks; ``worker`` does their work (workers only)."""
    connector = (procrastinate.SyncPsycopgConnector(conninfo=conninfo) if sync
                 else procrastinate.PsycopgConnector(conninfo=conninfo))
    app = procrastinate.App(connector=connector)

    def need_worker() -> Worker:
        if worker is None:
            raise ConnectorError("this process defers jobs; `connector worker` runs them")
        return worker

    @app.task(name=TASK_EVENTS)
    def events(merchant: str, timestamp: int | None = None) -> int:
        return need_worker().process_events(merchant)

    @app.task(name=TASK_FLOW)
    def flow(merchant: str, flow: str, timestamp: int | None = None) -> str:
        return need_worker().run_flow(merchant, flow)

    @app.task(name=TASK_STOCK, retry=STOCK_RETRY)
    def stock(merchant: str, sku: str) -> dict:
        return need_worker().write_stock(merchant, sku)

    @app.task(name=TASK_RECONCILE)
    def reconcile(merchant: str, flow: str, timestamp: int | None = None) -> str:
        return need_worker().reconcile(merchant, flow)

    @app.task(name=TASK_RECOVER, queue=RECOVER_QUEUE)
    async def recover(timestamp: int | None = None) -> int:
        seconds = need_worker().stalled_seconds
        stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds))
        if stalled:
            # Their stock locks first, or the jobs queued again would wait for them to expire.
            await asyncio.to_thread(need_worker().free_dead_leases)
        for job in stalled:
            if job.task_name == TASK_RECOVER:
                continue
            try:
                await app.job_manager.retry_job(job)
                log.warning("job %s (%s %s) was left by a worker that stopped; queued again", job.id,
                            job.task_name, job.task_kwargs)
            except pexc.UniqueViolation:
                # A job of the same key already waits (its queueing lock): it does the same work,
                # since jobs carry names only. The abandoned one ends as aborted, freeing its lock.
                await app.job_manager.finish_job(job, procrastinate.jobs.Status.ABORTED, delete_job=False)
                log.warning("job %s (%s %s) was left by a worker that stopped; the one waiting takes over",
                            job.id, job.task_name, job.task_kwargs)
        return len(stalled)

    return app


class ProcrastinateJobs(Jobs):
    """Defers jobs (the receiver of ``connector serve``, commands); ``connector worker`` runs them."""

    distributed = True

    def __init__(self, state_url: str) -> None:
        self.conninfo = conninfo_of(state_url)
        ensure_schema(self.conninfo)
        self.app = make_app(self.conninfo, sync=True)
        self.app.open()

    def _defer(self, task: str, lock: str, queue: str, **kwargs: Any) -> bool:
        try:
            self.app.tasks[task].configure(lock=lock, queueing_lock=lock, queue=queue).defer(**kwargs)
            return True
        except pexc.AlreadyEnqueued:
            return False  # one is waiting to start: it will see this work too

    def events_stored(self, merchant: str) -> None:
        self._defer(TASK_EVENTS, events_lock(merchant), queue_of(merchant), merchant=merchant)

    def run_flow(self, merchant: str, flow: str) -> bool:
        return self._defer(TASK_FLOW, flow_lock(merchant, flow), queue_of(merchant), merchant=merchant, flow=flow)

    def stock_changed(self, merchant: str, skus: list[str]) -> int:
        return sum(self._defer(TASK_STOCK, stock_lock(merchant, sku), queue_of(merchant), merchant=merchant, sku=sku)
                   for sku in sorted(set(skus)))

    def reconcile(self, merchant: str, flow: str) -> bool:
        return self._defer(TASK_RECONCILE, reconcile_lock(merchant, flow), queue_of(merchant),
                           merchant=merchant, flow=flow)

    def close(self) -> None:
        self.app.close()


class Worker:
    """``connector worker``: loads merchants, then runs their jobs until SIGTERM or Ctrl-C.

    concurrency: jobs run at once (each a thread: flows are blocking work); also the size of the
        pool that runs one event batch's flows side by side.
    poll_seconds: how often the worker looks for due jobs besides being woken by new ones.
    """

    def __init__(self, merchant_files: list[str | Path], *, concurrency: int = 2, environ: dict | None = None,
                 transports: dict | None = None, claim_lease_seconds: float = 60.0,
                 heartbeat_seconds: float = 2.0, stalled_seconds: float = 10.0,
                 reconcile_cron: str | None = RECONCILE_CRON, poll_seconds: float = POLL_SECONDS) -> None:
        from engine.serve import ServeOptions, Server
        from engine.serve.workers import EventDispatcher
        from engine.state import is_postgres_url

        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.reconcile_cron = reconcile_cron
        self.jobs: ProcrastinateJobs | None = None
        self.heartbeat_seconds, self.stalled_seconds = heartbeat_seconds, stalled_seconds
        self.options = ServeOptions(workers=concurrency, schedule=False, claim_lease_seconds=claim_lease_seconds)
        self.server = Server(list(merchant_files), self.options, events=False, environ=environ, transports=transports)
        try:
            databases = set()
            for name, service in self.server.services.items():
                url = getattr(service.merchant, "state_url", None)
                if not is_postgres_url(url):
                    raise ConnectorError(f"merchant {name}: `connector worker` needs its state in PostgreSQL "
                                         f"(state.url or CONNECTOR_STATE_URL postgresql://...); "
                                         "with SQLite, `connector serve` does the work itself")
                databases.add(conninfo_of(url))
            if len(databases) != 1:
                raise ConnectorError("the merchants of one worker must keep their state in the same database "
                                     "(the job queue lives there)")
            self.conninfo = databases.pop()
            # The stock changes the event runs see become per-SKU jobs, deferred on a pool of its own.
            self.jobs = ProcrastinateJobs(self.conninfo)
            for name, service in self.server.services.items():
                service.runner.defer_stock = lambda skus, name=name: self.jobs.stock_changed(name, skus)
            self.dispatchers = {name: EventDispatcher(s.merchant, s.routes, s.runner, self.server.pool, self.options,
                                                      self.server.metrics, self.server.stop_event)
                                for name, s in self.server.services.items()}
        except BaseException:
            if self.jobs is not None:
                self.jobs.close()
            self.server.close()
            raise
        self.name = f"{socket.gethostname()}/{os.getpid()}"

    # ---- the tasks' work ---------------------------------------------------------------------

    def _service(self, merchant: str) -> Any:
        service = self.server.services.get(merchant)
        if service is None:
            raise ConnectorError(f"this worker does not serve merchant {merchant}")
        return service

    def process_events(self, merchant: str) -> int:
        self._service(merchant)
        dispatcher = self.dispatchers[merchant]
        dispatcher.take_back_orphans()
        batches = 0
        while not self.server.stop_event.is_set() and dispatcher.once():
            batches += 1
        return batches

    @staticmethod
    def _status(outcome: Any, what: str) -> str:
        """The run's status; a failed run raises, so that procrastinate records the job as failed."""
        if outcome.status == "failed":
            raise ConnectorError(f"{what}: {outcome.error or 'the run failed'}")
        return outcome.status

    def run_flow(self, merchant: str, flow: str) -> str:
        return self._status(self._service(merchant).runner.run_schedule(flow), f"{merchant} / {flow}")

    def write_stock(self, merchant: str, sku: str) -> dict:
        """One SKU's stock, by each stock flow of the merchant; raises (the job is tried again)
        when a run could not write it."""
        runner = self._service(merchant).runner
        done = {}
        for flow in runner.stock_flows():
            outcome = runner.run_skus(flow, [sku])
            counts = outcome.counts or {}
            if outcome.status != "ok" or counts.get("dead_letter"):
                raise ConnectorError(f"{merchant} / {flow}: stock of {sku} not written ({outcome.status}"
                                     f"{': ' + outcome.error if outcome.error else ''}); tried again")
            done[flow] = counts
        return done

    def reconcile(self, merchant: str, flow: str) -> str:
        return self._status(self._service(merchant).runner.run_reconcile(flow), f"{merchant} / {flow} reconciliation")

    def free_dead_leases(self) -> int:
        """Leases (stock locks, run leases) held by processes of this machine that are gone."""
        from engine.serve.workers import _owner_gone

        freed, seen = 0, set()
        for service in self.server.services.values():
            store = service.merchant.store
            if id(store) in seen or not hasattr(store, "_use"):
                continue
            seen.add(id(store))
            with store._use() as conn:
                held = [(row[0], row[1]) for row in conn.execute("SELECT name, owner FROM lease").fetchall()]
            for name, owner in held:
                if _owner_gone(owner) and store.release_lease(name, owner):
                    freed += 1
        if freed:
            log.warning("worker %s: %d lease%s of stopped processes freed", self.name, freed, "" if freed == 1 else "s")
        return freed

    # ---- running -----------------------------------------------------------------------------

    def app(self) -> procrastinate.App:
        ensure_schema(self.conninfo)
        app = make_app(self.conninfo, self, sync=False)
        for name, service in sorted(self.server.services.items()):
            app.periodic(cron=SWEEP_CRON, periodic_id=f"sweep:{name}", lock=events_lock(name),
                         queueing_lock=events_lock(name), queue=queue_of(name),
                         task_kwargs={"merchant": name})(app.tasks[TASK_EVENTS])
            for flow, cron in sorted(service.routes.schedules.items()):
                app.periodic(cron=cron, periodic_id=f"flow:{name}:{flow}", lock=flow_lock(name, flow),
                             queueing_lock=flow_lock(name, flow), queue=queue_of(name),
                             task_kwargs={"merchant": name, "flow": flow})(app.tasks[TASK_FLOW])
            for flow in service.runner.stock_flows() if self.reconcile_cron else ():
                app.periodic(cron=self.reconcile_cron, periodic_id=f"reconcile:{name}:{flow}",
                             lock=reconcile_lock(name, flow), queueing_lock=reconcile_lock(name, flow),
                             queue=queue_of(name), task_kwargs={"merchant": name, "flow": flow}
                             )(app.tasks[TASK_RECONCILE])
        app.periodic(cron=SWEEP_CRON, periodic_id="recover", queueing_lock="recover",
                     queue=RECOVER_QUEUE)(app.tasks[TASK_RECOVER])
        return app

    def run(self) -> None:
        """Take jobs until SIGTERM or SIGINT; the jobs in progress finish first."""
        app = self.app()
        queues = [queue_of(name) for name in sorted(self.server.services)] + [RECOVER_QUEUE]
        log.warning("worker %s: %d merchant%s, concurrency %d", self.name, len(self.server.services),
                    "" if len(self.server.services) == 1 else "s", self.concurrency)
        try:
            app.run_worker(queues=queues, concurrency=self.concurrency, name=self.name, wait=True,
                           update_heartbeat_interval=self.heartbeat_seconds,
                           stalled_worker_timeout=self.stalled_seconds, install_signal_handlers=True,
                           fetch_job_polling_interval=self.poll_seconds)
        finally:
            self.close()

    def close(self) -> None:
        self.server.stop()
        if self.jobs is not None:
            self.jobs.close()
