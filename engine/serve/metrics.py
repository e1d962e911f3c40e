"""What GET /metrics shows, in the Prometheus text format (prometheus-client).

Each server has its own registry (no process-wide globals), so two servers in one test process do
not add up each other's counts. Labels carry only names from the merchant files (merchant,
connection, flow), never anything a request chose, so a caller cannot grow the label set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# The `_created` timestamp series double every counter and say nothing a scrape needs.
disable_created_metrics()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class _Backlog(Collector):
    """Events not processed yet, read from the state stores at scrape time."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, str, int]]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Any]:
        family = GaugeMetricFamily("connector_event_backlog", "Stored events not finished yet, by status",
                                   labels=["merchant", "connection", "status"])
        for merchant, connection, status, count in self.read():
            family.add_metric([merchant, connection, status], count)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter("connector_webhook_events_received", "Verified events stored (new)",
                                ["merchant", "connection"], registry=r)
        self.duplicates = Counter("connector_webhook_events_duplicate", "Verified redeliveries of an event "
                                  "already stored (acknowledged, not stored again)", ["merchant", "connection"],
                                  registry=r)
        self.refused = Counter("connector_webhook_events_refused", "Deliveries refused: signature, stale, "
                               "too_large, bad_request, unknown_endpoint, unavailable",
                               ["merchant", "connection", "reason"], registry=r)
        self.ack_seconds = Histogram("connector_webhook_ack_seconds", "From the request to the stored "
                                     "event's acknowledgement", ["merchant", "connection"], buckets=ACK_BUCKETS,
                                     registry=r)
        self.processed = Counter("connector_events_processed", "Events processed through their flows "
                                 "(or with no flow to take them)", ["merchant", "connection"], registry=r)
        self.failed = Counter("connector_events_failed", "Event processing attempts that failed (retried later)",
                              ["merchant", "connection"], registry=r)
        self.dead_lettered = Counter("connector_events_dead_lettered", "Events given up on and filed in the "
                                     "dead-letter queue", ["merchant", "connection"], registry=r)
        self.runs = Counter("connector_flow_runs", "Flow runs by trigger and status",
                            ["merchant", "flow", "trigger", "status"], registry=r)
        self.run_seconds = Histogram("connector_flow_run_seconds", "Duration of flow runs",
                                     ["merchant", "flow", "trigger"], buckets=RUN_BUCKETS, registry=r)
        self.busy = Counter("connector_flow_busy", "Runs not started because another run held the flow",
                            ["merchant", "flow", "trigger"], registry=r)
        self.api_calls = Counter("connector_api_calls", "HTTP calls made to a platform, by status class",
                                 ["merchant", "connection", "status"], registry=r)
        self.throttled = Counter("connector_api_throttled", "Platform answers 429 (rate limited)",
                                 ["merchant", "connection"], registry=r)

    def watch_backlog(self, read: Callable[[], Iterable[tuple[str, str, str, int]]]) -> None:
        self.registry.register(_Backlog(read))

    def text(self) -> bytes:
        return generate_latest(self.registry)
