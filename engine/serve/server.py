"""`connector serve`: one process serving several merchants' webhooks, event workers and schedules.

    server = Server(["examples/acme/merchant.yaml"], ServeOptions(port=8080))
    server.start()          # workers and scheduler; `server.app` is the ASGI app
    server.serve_forever()  # uvicorn until SIGTERM or SIGINT, then a graceful stop

Stopping: the listener closes first (requests in flight are answered, each after its event is
committed), then the workers stop taking events; a run in progress stops at its next record and
its events go back to the queue without an attempt counted; scheduled runs get `drain_seconds` to
end. Whatever is left is claimed again by the next server.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConnectorError, Problem, SpecError
from engine.http.verify import build_verifier
from engine.jobs import InProcessJobs, Jobs, jobs_for
from engine.project.secrets import resolve_credentials
from engine.project.yamlpos import plain
from engine.serve.app import build_app
from engine.serve.flows import FlowRunner
from engine.serve.health import Health
from engine.serve.ingest import EventWriter
from engine.serve.metrics import Metrics
from engine.serve.options import ServeOptions
from engine.serve.receiver import Endpoint
from engine.serve.routing import Routes, routes_of
from engine.serve.scheduler import Scheduler
from engine.serve.workers import EventDispatcher
from engine.state import is_postgres_url, open_store

log = logging.getLogger(__name__)


@dataclass
class MerchantService:
    merchant: Any  # engine.flow.runner.Merchant
    routes: Routes
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    writer: EventWriter | None = None
    ingest_store: Any = None
    runner: FlowRunner | None = None
    dispatcher: EventDispatcher | None = None


class Server:
    def __init__(self, merchants: Iterable[str | Path | Any], options: ServeOptions | None = None, *,
                 environ: dict | None = None, transports: dict | None = None, events: bool = True,
                 jobs: Jobs | None = None) -> None:
        """`merchants`: merchant files, or loaded Merchant objects (which the caller closes).
        `events=False` receives and stores events without processing them (a receiver only).
        `jobs`: where the work goes; by default procrastinate jobs for `connector worker` when every
        merchant's state is in PostgreSQL, else this server's own threads (engine.jobs)."""
        from engine.flow.runner import Merchant

        self.options = options or ServeOptions()
        self.metrics = Metrics()
        self.health = Health(stuck_seconds=self.options.stuck_seconds)
        self.stop_event = threading.Event()  # workers and scheduler: stop
        self.stopping = threading.Event()  # the listener: refuse new deliveries
        self.pool = ThreadPoolExecutor(max_workers=max(self.options.workers, 1), thread_name_prefix="flow")
        self.services: dict[str, MerchantService] = {}
        self.scheduler: Scheduler | None = None
        self._events = events
        self._owned: list[Any] = []
        self._uvicorn: Any = None
        try:
            for item in merchants:
                if isinstance(item, str | Path):
                    merchant = Merchant(item, environ=environ, transports=transports)
                    self._owned.append(merchant)
                else:
                    merchant = item
                if merchant.name in self.services:
                    raise ConnectorError(f"merchant {merchant.name} is given twice")
                # A loaded merchant resolves its webhook secrets where it resolved its other credentials.
                own = environ if environ is not None else getattr(merchant, "environ", None)
                self.services[merchant.name] = self._service(merchant, own)
        except BaseException:
            self.close()
            raise
        try:
            self.jobs = jobs or self._jobs()
        except BaseException:
            self.close()
            raise
        self.metrics.watch_backlog(self._backlog_rows)
        self.app = build_app(self)

    # ------------------------------------------------------------------ setting up

    def _jobs(self) -> Jobs:
        urls = [getattr(s.merchant, "state_url", None) for s in self.services.values()]
        if self._events and urls and all(is_postgres_url(u) for u in urls):
            return jobs_for(urls[0])
        def stock(merchant: str, skus: list[str]) -> None:
            runner = self.services[merchant].runner
            for flow in runner.stock_flows():
                self.pool.submit(runner.run_skus, flow, skus)

        return InProcessJobs(lambda merchant, flow: self.pool.submit(self.services[merchant].runner.run_schedule, flow),
                             stock=stock,
                             reconcile=lambda merchant, flow: self.pool.submit(
                                 self.services[merchant].runner.run_reconcile, flow))

    def _service(self, merchant: Any, environ: dict | None) -> MerchantService:
        routes = routes_of(merchant)
        for warning in routes.warnings:
            log.warning("%s", warning)
        service = MerchantService(merchant, routes)
        store = merchant.store
        path = getattr(store, "path", None)
        # Acknowledged events are committed with their own durability setting (synchronous is per
        # SQLite connection); the flows' own writes keep the store's.
        if path and path != ":memory:":
            service.ingest_store = open_store(path, synchronous=self.options.synchronous)
        else:
            service.ingest_store = store
        service.writer = EventWriter(service.ingest_store, merchant.name,
                                     on_stored=lambda name=merchant.name: self.jobs.events_stored(name))
        for name, conn in (merchant.doc.get("connections") or {}).items():
            merchant.connection(name)  # made now, on one thread: runs on several threads share them
            self._count_calls(merchant.name, name, merchant.connection(name))
            self.health.add(merchant.name, name)
            endpoint = self._endpoint(merchant, name, conn, environ, routes)
            if endpoint is not None:
                service.endpoints[name] = endpoint
        service.runner = FlowRunner(merchant, self.metrics, self.health, self.stop_event)
        return service

    def _endpoint(self, merchant: Any, name: str, conn: dict, environ: dict | None, routes: Routes) -> Endpoint | None:
        compiled = merchant.plan.connectors.get(conn["connector"])
        webhooks = getattr(compiled, "webhooks", None)
        if webhooks is None:
            return None
        credentials = resolve_credentials(plain(conn.get("credentials") or {}), merchant.base_dir, environ)
        try:
            verifier = build_verifier(webhooks.verifier, credentials)
        except KeyError as exc:
            message = (f"connection {name} of merchant {merchant.name} has no {exc.args[0]} credential, which "
                       f"verifying {conn['connector']} webhooks needs")
            if routes.topics(name):
                raise SpecError(Problem(message, None, f"connections.{name}.credentials",
                                        f"add {exc.args[0]} under credentials: as ${{env:NAME}} or ${{file:PATH}}")) from None
            log.warning("%s; its webhook endpoint is off", message)
            return None
        return Endpoint(merchant.name, name, webhooks, verifier, max_body_bytes=self.options.max_body_bytes,
                        window_seconds=self.options.max_event_age)

    def _count_calls(self, merchant: str, connection: str, conn: Any) -> None:
        """API calls and throttles per connection, from the HTTP client's response hook."""
        client = getattr(conn, "_client", None)
        if client is None:
            return
        calls, throttled = self.metrics.api_calls, self.metrics.throttled.labels(merchant, connection)

        def count(response: Any) -> None:
            calls.labels(merchant, connection, f"{response.status_code // 100}xx").inc()
            if response.status_code == 429:
                throttled.inc()

        client.event_hooks = {**client.event_hooks, "response": [*client.event_hooks.get("response", []), count]}

    # ------------------------------------------------------------------ running

    def start(self) -> Server:
        """Start the event workers and the scheduler (the HTTP side is `app`, or serve_forever)."""
        loops = {}
        if self.jobs.distributed:
            # Events and schedules are jobs for `connector worker`; this server receives only.
            log.warning("state in PostgreSQL: events and scheduled flows are queued for `connector worker`")
        elif self._events:
            for service in self.services.values():
                service.dispatcher = EventDispatcher(service.merchant, service.routes, service.runner, self.pool,
                                                     self.options, self.metrics, self.stop_event).start()
                loops[f"events:{service.merchant.name}"] = service.dispatcher.thread
        if self.options.schedule and not self.jobs.distributed:
            scheduler = Scheduler(self.pool, self.stop_event)
            for service in self.services.values():
                for flow, cron in sorted(service.routes.schedules.items()):
                    scheduler.add(service.merchant.name, flow, cron, service.runner.run_schedule)
            if scheduler.entries:
                self.scheduler = scheduler.start()
                loops["scheduler"] = scheduler.thread
        self.health.loops.update(loops)
        return self

    def endpoint(self, merchant: str, connection: str) -> tuple[MerchantService, Endpoint] | None:
        service = self.services.get(merchant)
        endpoint = service.endpoints.get(connection) if service is not None else None
        return None if endpoint is None else (service, endpoint)

    def health_report(self) -> tuple[bool, dict]:
        backlog = {name: s.merchant.store.event_backlog() for name, s in self.services.items()}
        breakers = {merchant: {name: self.services[merchant].merchant.store.get_breaker(name)
                               for m, name in self.health.connections if m == merchant}
                    for merchant in self.services}
        return self.health.report(backlog, breakers)

    def _backlog_rows(self) -> Iterable[tuple[str, str, str, int]]:
        for name, service in self.services.items():
            waiting = service.merchant.store.event_backlog()
            for connection in service.endpoints:
                entry = waiting.get(connection) or {}
                for status in ("pending", "processing"):
                    yield name, connection, status, int(entry.get(status, 0))

    def serve_forever(self, sock: socket.socket | None = None) -> None:
        """uvicorn on host:port until SIGTERM or SIGINT; then stop gracefully."""
        import uvicorn

        # Flow runs are Python work on other threads; with the interpreter's default 5 ms switch
        # interval each hand-over on the acknowledgement path (request, writer, response) could
        # wait that long for the lock. 1 ms keeps the path short for a small cost in throughput.
        sys.setswitchinterval(0.001)
        config = uvicorn.Config(self.app, host=self.options.host, port=self.options.port, log_level="warning",
                                access_log=False, lifespan="off", timeout_graceful_shutdown=10)
        self._uvicorn = uvicorn.Server(config)
        # uvicorn runs on a thread of its own so that the signals are ours: on SIGTERM the
        # listener, then the workers, then the writers are stopped in that order.
        thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [sock] if sock else None},
                                  name="http", daemon=True)
        asked = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: asked.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            thread.start()
            while not self._uvicorn.started:
                if not thread.is_alive():
                    raise ConnectorError(f"could not listen on {self.options.host}:{self.options.port}")
                time.sleep(0.02)
            self.health.loops["http"] = thread
            log.warning("serving %d merchant%s on http://%s:%d (webhooks: %s)", len(self.services),
                        "" if len(self.services) == 1 else "s", self.options.host, self.options.port,
                        ", ".join(f"/webhooks/{m}/{c}" for m, s in self.services.items() for c in s.endpoints)
                        or "none")
            while not asked.wait(0.5):
                if not thread.is_alive():
                    raise ConnectorError("the HTTP server stopped unexpectedly")
            log.warning("stopping: no new deliveries; finishing the work in progress")
        finally:
            self.stopping.set()
            self._uvicorn.should_exit = True
            thread.join(timeout=15)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def stop(self) -> None:
        """Stop workers and scheduler (runs in progress stop at their next record), then close."""
        self.stopping.set()
        self.stop_event.set()
        for service in self.services.values():
            if service.dispatcher is not None and service.dispatcher.thread.is_alive():
                service.dispatcher.thread.join(timeout=self.options.drain_seconds)
        if self.scheduler is not None and self.scheduler.thread.is_alive():
            self.scheduler.thread.join(timeout=5)
        deadline = time.monotonic() + self.options.drain_seconds
        self.pool.shutdown(wait=False, cancel_futures=True)
        for thread in list(getattr(self.pool, "_threads", ())):
            thread.join(timeout=max(deadline - time.monotonic(), 0))
        self.close()

    def close(self) -> None:
        for service in self.services.values():
            if service.writer is not None:
                service.writer.close()
        jobs = getattr(self, "jobs", None)
        if jobs is not None:
            jobs.close()
            if service.ingest_store is not None and service.ingest_store is not service.merchant.store:
                service.ingest_store.close()
        for merchant in self._owned:
            merchant.close()
        self._owned = []


def webhook_app(merchant: Any, options: ServeOptions | None = None, **kwargs: Any) -> Any:
    """An ASGI app that receives and stores one loaded merchant's webhooks, without workers or a
    schedule (benchmarks, embedding). The Server is on `app.state.server`."""
    server = Server([merchant], options or ServeOptions(schedule=False), events=False, **kwargs)
    server.app.state.server = server
    return server.app
