"""`connector serve`: receive webhooks, process them through the flows, run flows on their schedule."""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli.common import MERCHANT_FILE, merchant_argument, open_merchant


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
    @click.option("--keep-events", "keep_events", default=7.0, show_default=True, type=click.FloatRange(min=0),
                  metavar="DAYS", help="Processed events are purged after this many days (checked hourly).")
    def serve(merchant_files: tuple[Path, ...], host: str, port: int, workers: int, no_schedule: bool,
              max_body: int, max_event_age: float | None, synchronous: str, keep_events: float) -> None:
        """Serve MERCHANT_FILE...: webhooks at POST /webhooks/MERCHANT/CONNECTION (verified, stored,
        then acknowledged), processed through the flows whose trigger.webhook names their topic;
        flows with trigger.schedule run on their cron (UTC). GET /healthz and GET /metrics report.
        Stops gracefully on SIGTERM or Ctrl-C."""
        from engine.serve import ServeOptions, Server

        options = ServeOptions(host=host, port=port, workers=workers, schedule=not no_schedule,
                               max_body_bytes=max_body, max_event_age=max_event_age,
                               synchronous=synchronous.upper(), keep_events_days=keep_events)
        server = Server(list(merchant_files), options)
        server.start()
        server.serve_forever()

    @main.group("events")
    def events() -> None:
        """The stored inbound webhook events of a merchant."""

    @events.command("purge")
    @merchant_argument()
    @click.option("--older-than", "days", default=7.0, show_default=True, type=click.FloatRange(min=0),
                  metavar="DAYS", help="Only events finished more than this many days ago.")
    @click.option("--failed", is_flag=True, help="Purge dead-lettered events too (their dead letters stay).")
    def events_purge(merchant_file: Path, days: float, failed: bool) -> None:
        """Delete processed events (and with --failed, dead-lettered ones) finished more than
        DAYS ago. Pending and in-flight events are never purged."""
        import time

        from engine.state.store import utc_rfc3339

        before = utc_rfc3339(time.time() - days * 86400)
        with open_merchant(merchant_file) as merchant:
            purged = merchant.store.purge_events(before, ("done", "failed") if failed else ("done",))
        click.echo(f"purged {purged} events of {merchant.name} finished before {before}")
