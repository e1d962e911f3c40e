"""`connector serve`: receive webhooks, process them through the flows, run flows on their schedule."""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli.common import MERCHANT_FILE


def register(main: click.Group) -> None:
    @main.command("serve")
    @click.argument("merchant_files", nargs=-1, required=True, type=MERCHANT_FILE)
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
    @click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
                  help="Threads that run flows (event batches and scheduled runs) at once.")
    @click.option("--no-schedule", is_flag=True, help="Do not run flows on their trigger.schedule (webhooks only).")
    @click.option("--max-body", "max_body", default=1024 * 1024, show_default=True, type=click.IntRange(1),
                  metavar="BYTES", help="Largest webhook body accepted; larger ones get 413.")
    @click.option("--max-event-age", type=click.FloatRange(min=1), metavar="SECONDS",
                  help="Refuse deliveries whose timestamp is further from now (401); default: each "
                       "connector's webhooks.window_seconds.")
    @click.option("--synchronous", type=click.Choice(["full", "normal"]), default="full", show_default=True,
                  help="SQLite durability of received events: full survives a power loss, normal a crash.")
    @click.option("--ui-auth", metavar="REF", help="Credentials of the operations page at /ui: token:${env:NAME} or "
                  "basic:USER:${env:NAME}. Needed for the page when --host is not a loopback address.")
    def serve(merchant_files: tuple[Path, ...], host: str, port: int, workers: int, no_schedule: bool,
              max_body: int, max_event_age: float | None, synchronous: str, ui_auth: str | None) -> None:
        """Serve MERCHANT_FILE...: webhooks at POST /webhooks/MERCHANT/CONNECTION (verified, stored,
        then acknowledged), processed through the flows whose trigger.webhook names their topic;
        flows with trigger.schedule run on their cron (UTC). GET /healthz and GET /metrics report;
        the operations page is at /ui/.
        Stops gracefully on SIGTERM or Ctrl-C."""
        from engine.serve import ServeOptions, Server

        options = ServeOptions(host=host, port=port, workers=workers, schedule=not no_schedule,
                               max_body_bytes=max_body, max_event_age=max_event_age,
                               synchronous=synchronous.upper(), ui_auth=ui_auth)
        server = Server(list(merchant_files), options)
        server.start()
        server.serve_forever()
