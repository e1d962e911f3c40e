"""`connector serve`: webhooks received durably, flows run on events and on their schedule.

    receiver.py   one connection's checks: size, signature, timestamp window, delivery id, topic
    ingest.py     store-before-ack: one writer per merchant commits what arrived in one transaction
    app.py        the HTTP endpoints: POST /webhooks/<merchant>/<connection>, /healthz, /metrics
    routing.py    which flows an event starts (trigger.webhook), which run on a cron
    workers.py    claim stored events, batch them per flow, run, finish, retry, dead-letter
    flows.py      one run of a merchant flow on events or on its schedule, under its run lease
    scheduler.py  cron ticks (croniter), skipped while the flow is held
    health.py     per-connection health; metrics.py  the Prometheus metrics
    server.py     puts them together; uvicorn; graceful stop
"""

from engine.serve.options import ServeOptions
from engine.serve.server import Server, webhook_app

__all__ = ["ServeOptions", "Server", "webhook_app"]
